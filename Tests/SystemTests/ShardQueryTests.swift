import Core
import Foundation
import Runtime
import Testing
import Wire

/// `workers`, `queue` and `waits` ask the shards, through the orchestrator, what they hold now: the
/// workers with their leases, each product's queue with its estimated wait, and why a run's jobs wait.
@Suite(.serialized) struct ShardQueryTests {
    /// A flow whose `hold` job sleeps until the file `release` appears, then `nope`, which needs a
    /// handler no worker offers, and `after`, waiting for both.
    static let flow = """
        {"product": "ledger", "flow": "close", "params": {"gate": ""},
         "jobs": [
           {"name": "hold", "run": "while [ ! -e \\"$BATON_PARAM_gate\\" ]; do sleep 0.02; done", "partitions": 3},
           {"name": "nope", "handler": "ledger.nope"},
           {"name": "after", "after": ["hold", "nope"], "run": "true"}]}
        """

    @Test func shardsTellTheirWorkersQueueAndWhyJobsWait() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.shards = 2
            options.slots = 2
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([Self.flow])
            let gate = "\(folder)/gate"
            defer { _ = FileManager.default.createFile(atPath: gate, contents: nil) }
            let run = try client.start("ledger/close", params: ["gate": gate])
            // 3 partitions of hold on 2 workers of 2 slots: 3 leased, none left pending.
            var workers = JSON.object([])
            try waitUntil("3 tasks leased") {
                workers = try client.call("workers").body
                let leases = workers["shards"]?.array?.flatMap { $0["workers"]?.array ?? [] }.map { $0["leases"]?.integer ?? 0 }.reduce(0, +)
                return leases == 3
            }
            let shards = workers["shards"]?.array ?? []
            #expect(shards.count == 2, "\(workers.rendered())")
            #expect(workers["unanswered"]?.array?.isEmpty == true)
            let listed = shards.flatMap { $0["workers"]?.array ?? [] }
            #expect(listed.count == 4, "2 workers registered with each of 2 shards")
            let holding = listed.flatMap { $0["tasks"]?.array ?? [] }
            #expect(Set(holding.map { $0["partition"]?.integer ?? -1 }) == [0, 1, 2])
            #expect(holding.allSatisfy { $0["job"]?.string == "hold" && $0["run"]?.integer == Int64(run) })
            #expect(listed.allSatisfy { $0["handlers"]?.array?.contains { $0.string == "load-ledger" } == true }, "the built-in handlers")

            let status = try client.call("status", .object([("run", .number(run))])).body
            let shard = status["run"]?["shard"]?.integer ?? 0
            let queue = try client.call("queue", .object([("shard", .number(shard))]))
            #expect(queue.status == .ok, "\(queue.body.rendered())")
            let ledger = queue.body["products"]?.array?.first { $0["product"]?.string == "ledger" }
            #expect(ledger?["running"]?.integer == 3, "\(queue.body.rendered())")
            #expect(ledger?["pending"]?.integer == 1, "nope waits")
            #expect(ledger?["wait_p50"]?.integer != nil)
            #expect(queue.body["busy"]?.integer == 3)

            let waits = try client.call("waits", .object([("run", .number(run))]))
            #expect(waits.status == .ok, "\(waits.body.rendered())")
            let nope = waits.body["jobs"]?.array?.first { $0["job"]?.string == "nope" }
            #expect(nope?["why"]?.string == "no worker offers the handler \"ledger.nope\"", "\(waits.body.rendered())")
            #expect(nope?["estimate"]?.value == .null)
            let hold = waits.body["jobs"]?.array?.first { $0["job"]?.string == "hold" }
            #expect(hold?["why"]?.string == "running")

            // Bad questions are refused, naming what is wrong.
            let unknownShard = try client.call("queue", .object([("shard", .number(9))]))
            #expect(unknownShard.status == .notFound)
            #expect(unknownShard.errorText.contains("no shard 9"))
            let unknownRun = try client.call("waits", .object([("run", .number(999))]))
            #expect(unknownRun.status == .notFound)
            let noRun = try client.call("waits")
            #expect(noRun.status == .badRequest)
            #expect(noRun.errorText.contains("\"run\""))
            _ = try client.call("stop", .object([("run", .number(run))]))
        }
    }
}
