import Core
import Foundation
import Runtime
import Store
import Testing
import Wire

/// Fair dispatch measured on a real embedded cluster: worker time per product, read back from the
/// shards' stores, while every product has work waiting.
@Suite(.serialized) struct FairShareSystemTests {
    /// A flow of one job of `partitions` tasks of the `sleep` handler, each `ms` long.
    static func flow(_ product: String, partitions: Int, ms: Int) -> String {
        JSON.object([
            ("product", .string(product)), ("flow", .string("work")), ("params", .object([("ms", .string(String(ms)))])),
            ("jobs", .array([.object([("name", .string("part")), ("handler", .string("sleep")), ("partitions", .number(partitions))])])),
        ]).rendered()
    }

    /// Worker time per run, in the window from the first task handed out to the first run's last task's
    /// end: while every run still had work waiting.
    static func contendedTime(stores: [String]) throws -> [UInt64: Int64] {
        var spans: [(run: UInt64, started: Int64, finished: Int64)] = []
        for path in stores {
            let store = try ShardStore(path: path)
            let rows = try store.database.prepare("SELECT j.run, t.started, t.finished FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.state = 4")
            while try rows.step() { spans.append((UInt64(rows.int64(0)), rows.int64(1), rows.int64(2))) }
            rows.reset()
            store.database.close()
        }
        let start = spans.map(\.started).min() ?? 0
        let lastByRun = Dictionary(grouping: spans, by: \.run).mapValues { $0.map(\.finished).max() ?? 0 }
        let end = lastByRun.values.min() ?? 0
        var time: [UInt64: Int64] = [:]
        for span in spans {
            let overlap = min(span.finished, end) - max(span.started, start)
            if overlap > 0 { time[span.run, default: 0] += overlap }
        }
        return time
    }

    static func shares(_ time: [UInt64: Int64]) -> [UInt64: Double] {
        let total = Double(time.values.reduce(0, +))
        return time.mapValues { Double($0) / max(total, 1) }
    }

    @Test func twoProductsRunningTheSameHandlerFor100And10MillisecondsShareTheWorkersEvenly() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 4
            options.slots = 4
            options.timer = false
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([Self.flow("slow", partitions: 400, ms: 100), Self.flow("quick", partitions: 4_000, ms: 10)])
            let slow = try client.start("slow/work")
            let quick = try client.start("quick/work")
            for run in [slow, quick] { #expect(try client.waitForRun(run, limit: 120_000)["run"]?["state"]?.string == "succeeded") }
            cluster.stop()

            let shares = Self.shares(try Self.contendedTime(stores: ["\(folder)/shard-1/shard.db"]))
            print(String(format: "fair share: slow %.3f, quick %.3f of the worker time", shares[slow] ?? 0, shares[quick] ?? 0))
            // Within 10% of 50/50.
            #expect(abs((shares[slow] ?? 0) - 0.5) <= 0.05, "worker time shares: slow \(shares[slow] ?? 0), quick \(shares[quick] ?? 0)")
        }
    }

    @Test func threeEqualProductsOnTwoShardsGetAThirdOfTheWorkersEach() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.shards = 2
            options.workers = 4
            options.slots = 4
            options.timer = false
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            // Bound in turn to the shard with the fewest products: shard 1, shard 2, shard 1.
            for product in ["one", "two", "three"] { try client.apply([Self.flow(product, partitions: 600, ms: 50)]) }
            let products = try client.call("products").body["products"]?.array ?? []
            let shards = Dictionary(uniqueKeysWithValues: products.map { ($0["product"]?.string ?? "", $0["shard"]?.integer ?? 0) })
            #expect(shards == ["one": 1, "two": 2, "three": 1])
            let runs = try ["one", "two", "three"].map { try client.start("\($0)/work") }
            for run in runs { #expect(try client.waitForRun(run, limit: 120_000)["run"]?["state"]?.string == "succeeded") }
            cluster.stop()

            let shares = Self.shares(try Self.contendedTime(stores: ["\(folder)/shard-1/shard.db", "\(folder)/shard-2/shard.db"]))
            print("fair share across shards: " + runs.map { String(format: "%.3f", shares[$0] ?? 0) }.joined(separator: ", "))
            // Within 10% of a third each.
            for run in runs { #expect(abs((shares[run] ?? 0) - 1.0 / 3) <= 1.0 / 30, "worker time shares by run: \(shares)") }
        }
    }

    @Test func raisingARunsPriorityWhileItWaitsPutsItsTasksBeforeTheProductsOthers() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 1
            options.slots = 1
            options.timer = false
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([Self.flow("ledger", partitions: 20, ms: 30)])
            let first = try client.start("ledger/work")
            let lowly = try client.call("start", .object([("flow", .string("ledger/work")), ("priority", .number(5))]))
            #expect(lowly.status == .ok && lowly.body["priority"]?.integer == 5)
            let second = UInt64(lowly.body["run"]?.integer ?? 0)
            // While the first run's tasks go out one by one, the second is raised above it.
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let done = try client.call("status", .object([("run", .number(first))])).body["jobs"]?.array?.first?["tasks"]?["succeeded"]?.integer
                if (done ?? 0) >= 3 { break }
                usleep(5_000)
            }
            let raised = try DistributedJobTests.act(client, "set-priority", [("run", .number(second)), ("priority", .string("urgent"))], request: "raise")
            #expect(raised.status == .ok, "\(raised.errorText)")
            for run in [first, second] { #expect(try client.waitForRun(run)["run"]?["state"]?.string == "succeeded") }
            #expect(try client.call("runs").body["runs"]?.array?.first { $0["run"]?.integer == Int64(second) }?["priority"]?.string == "urgent")
            cluster.stop()

            // Every task of the second run started before the first run's last one.
            let store = try ShardStore(path: "\(folder)/shard-1/shard.db")
            let rows = try store.database.prepare("SELECT j.run, MAX(t.started) FROM tasks t JOIN jobs j ON j.id = t.job_id GROUP BY j.run")
            var last: [UInt64: Int64] = [:]
            while try rows.step() { last[UInt64(rows.int64(0))] = rows.int64(1) }
            rows.reset()
            store.database.close()
            #expect((last[second] ?? .max) < (last[first] ?? 0), "\(last)")
        }
    }
}
