import Core
import Foundation
import Glibc
import Runtime
import Store
import Synchronization
import Testing
import Wire

/// Product policies set through management, and claimed sets run by a set handler, through every
/// service over real sockets and SQLite files.
@Suite(.serialized) struct FairDispatchTests {
    /// The most tasks that ran at once, from a trace of `S` (start) and `E` (end) lines with nanosecond times.
    static func concurrency(_ path: String) -> (most: Int, tasks: Int) {
        let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
        let events = lines.compactMap { line -> (time: UInt64, delta: Int)? in
            let words = line.split(separator: " ")
            guard words.count == 2, let time = UInt64(words[1]) else { return nil }
            return (time, words[0] == "S" ? 1 : -1)
        }
        // Ends before starts at the same instant.
        var running = 0
        var most = 0
        for event in events.sorted(by: { ($0.time, $0.delta) < ($1.time, $1.delta) }) {
            running += event.delta
            most = max(most, running)
        }
        return (most, events.filter { $0.delta == 1 }.count)
    }

    /// The system clock, read no faster than every 2 ms.
    struct SlowClock: WallClock {
        func now() -> Timestamp {
            usleep(2000)
            return SystemClock().now()
        }
    }

    @Test func aTaskHandedOutInTheTurnThatQueuedItWaitedZero() throws {
        try withTemporaryFolder { folder in
            // Every read of the shard's clock takes 2 ms, so two reads in one turn could never agree.
            var options = EmbeddedCluster.Options(data: folder)
            options.shardClock = SlowClock()
            options.timer = false
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            let jobs = ["a", "b", "c", "d"].enumerated().map { index, name in
                JSON.object([("name", .string(name)), ("handler", .string("noop"))] + (index == 0 ? [] : [("after", .array([.string(["a", "b", "c"][index - 1])]))]))
            }
            try client.apply([DistributedJobTests.flow("chain", "steps", jobs)])
            // The first run lets every worker's credit reach the shard; the second is measured.
            #expect(try client.waitForRun(try client.start("chain/steps"))["run"]?["state"]?.string == "succeeded")
            let measured = try client.start("chain/steps")
            #expect(try client.waitForRun(measured)["run"]?["state"]?.string == "succeeded")
            cluster.stop()

            let store = try ShardStore(path: "\(folder)/shard-1/shard.db")
            var waits: [String: Int64] = [:]
            for frame in try store.log.frames(after: 0, limit: 1000) {
                guard case .jobUpdates(let updates) = try Message.decode(frame) else { continue }
                for status in updates.updates where status.run == measured && status.started > 0 {
                    waits[status.job] = Int64(status.started) - Int64(status.queued)
                }
            }
            // Each job found an idle worker in the turn that queued it: that turn's one instant.
            #expect(waits == ["a": 0, "b": 0, "c": 0, "d": 0], "\(waits)")
        }
    }

    @Test func aProductsPolicySetThroughManagementAppliesWithoutARestart() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 2
            options.slots = 4
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            let work = #"echo "S $(date +%s%N)" >> "$BATON_PARAM_dir"; sleep 0.1; echo "E $(date +%s%N)" >> "$BATON_PARAM_dir""#
            try client.apply([
                DistributedJobTests.flow("ledger", "wide", [.object([("name", .string("part")), ("run", .string(work)), ("partitions", .number(12))])])
            ])

            // Bad input is refused with what was wrong, and changes nothing.
            let zero = try DistributedJobTests.act(client, "set-policy", [("product", .string("ledger")), ("weight", .number(0))], request: "bad-1")
            #expect(zero.status == .badRequest && zero.errorText.contains("\"weight\" takes a whole number from 1 to 10000"), "\(zero.errorText)")
            let none = try DistributedJobTests.act(client, "set-policy", [("product", .string("ledger"))], request: "bad-2")
            #expect(none.status == .badRequest && none.errorText.contains("at least one of"), "\(none.errorText)")
            let unknown = try DistributedJobTests.act(client, "set-policy", [("product", .string("nobody")), ("cap", .number(1))], request: "bad-3")
            #expect(unknown.status == .notFound)

            // A cap of 2: never more than 2 of the product's tasks at once, on 8 free slots.
            let capped = try DistributedJobTests.act(client, "set-policy", [("product", .string("ledger")), ("cap", .number(2))], request: "cap-2")
            #expect(capped.status == .ok, "\(capped.errorText)")
            let first = try client.start("ledger/wide", params: ["dir": "\(folder)/first"])
            #expect(try client.waitForRun(first)["run"]?["state"]?.string == "succeeded")
            let under = Self.concurrency("\(folder)/first")
            #expect(under.tasks == 12)
            #expect(under.most == 2, "at most 2 at once under a cap of 2, saw \(under.most)")

            // Raised to 6, and the weight changed: fields not given keep their values.
            let raised = try DistributedJobTests.act(client, "set-policy", [("product", .string("ledger")), ("cap", .number(6))], request: "cap-6")
            #expect(raised.status == .ok)
            let weighted = try DistributedJobTests.act(client, "set-policy", [("product", .string("ledger")), ("weight", .number(5))], request: "weight-5")
            #expect(weighted.status == .ok)
            let second = try client.start("ledger/wide", params: ["dir": "\(folder)/second"])
            #expect(try client.waitForRun(second)["run"]?["state"]?.string == "succeeded")
            let wider = Self.concurrency("\(folder)/second")
            #expect((3...6).contains(wider.most), "a cap of 6 on 8 slots, saw \(wider.most) at once")

            let products = try client.call("products").body["products"]?.array ?? []
            let ledger = try #require(products.first { $0["product"]?.string == "ledger" })
            #expect(ledger["weight"]?.integer == 5 && ledger["cap"]?.integer == 6 && ledger["rate"]?.integer == 0, "\(ledger.rendered())")
            let history = try client.call("history", .object([("product", .string("ledger"))])).body["actions"]?.array?
                .filter { $0["action"]?.string == "set-policy" } ?? []
            #expect(history.count == 3, "\(history)")
            #expect(history.last?["options"]?.string == "weight 5, cap 6, rate none, burst default")
        }
    }

    @Test func aSetHandlerRunsClaimedSetsAndFailsOnlyTheTasksItSays() throws {
        try withTemporaryFolder { folder in
            let sets = Mutex<[[UInt32]]>([])
            var handlers = Handlers.builtIn
            handlers.registerSet("post", limit: 8) { contexts in
                sets.withLock { $0.append(contexts.map(\.partition)) }
                usleep(20_000)
                return contexts.map { context in
                    context.partition == 5 ? .failure(HandlerFailure("partition 5 is rejected")) : .success(Array("p\(context.partition)".utf8))
                }
            }
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 2
            options.slots = 2
            options.handlers = handlers
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([
                DistributedJobTests.flow("payments", "post", [.object([("name", .string("post")), ("handler", .string("post")), ("partitions", .number(40))])])
            ])
            let run = try client.start("payments/post")
            let status = try client.waitForRun(run)
            let post = try #require(job(status, "post"))
            #expect(post["tasks"]?["succeeded"]?.integer == 39 && post["tasks"]?["failed"]?.integer == 1, "\(post.rendered())")
            #expect(post["detail"]?.string?.contains("partition 5 is rejected") == true)

            let claimed = sets.withLock { $0 }
            let partitions = claimed.flatMap { $0 }
            #expect(partitions.sorted() == (0..<40).map(UInt32.init), "every task in exactly one set: \(claimed)")
            #expect(claimed.allSatisfy { (1...8).contains($0.count) })
            #expect(claimed.contains { $0.count > 1 }, "tasks went as sets: \(claimed)")
        }
    }
}
