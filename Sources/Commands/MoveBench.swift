import Core
import Foundation
import Runtime
import Store
import Synchronization

/// `baton bench --move`: a cluster of processes with two shards, CURVE on, 3 workers × 32 slots.
/// Product `heavy` (capped at 64 tasks running a shard) holds 64 tasks running on shard 1, and behind
/// them `partitions` no-op tasks queued there in runs of 100 partitions that have not started, when it
/// moves to shard 2; meanwhile `light-a` (on shard 2) and `light-b` (on shard 1) run 10-job flows without
/// pause. It prints the move's answer; from shard 2's own stamps, how long after the move it took in the
/// first and the last run handed over and handed out the backlog's first task (the pause the backlog
/// sees); when the backlog was done; the light products' jobs a second in the seconds before the move
/// and after it; and that the 64 running tasks stayed where they ran.
///
/// With `oneJob`, heavy's work is one run of one job of 64 + `partitions` partitions, its first 64
/// running (sleeping 15 s) and the rest queued: the run is handed over at once, the 64 finishing on
/// shard 1 with their ends relayed to shard 2, which runs the rest.
enum MoveBench {
    /// Tasks each queued run of the backlog holds.
    static let runSize = 100
    /// heavy's running tasks, and its cap.
    static let running = 64

    static func run(partitions: Int, oneJob: Bool = false, keep: String?, console: any Console) throws(CommandFailure) -> ExitCode {
        let folder = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("baton-move-\(UUID().uuidString)").path
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: folder) } }
        var bench = BenchOptions()
        bench.shards = 2
        bench.workers = 3
        bench.slots = 32
        let (config, cluster) = try ListingBench.up(in: folder) { try Bench.clusterFile(bench, security: .keys, data: $0) }
        defer { _ = try? Up.down(config: config, console: SilentConsole()) }
        let client = try ListingBench.connect(cluster)
        let runs = oneJob ? 1 : max(1, partitions / runSize)
        let queued = oneJob ? partitions : runs * runSize
        console.out(
            "Baton move benchmark: heavy, \(running) tasks running and \(queued) queued "
                + (oneJob ? "(one job of one run)" : "(\(runs) runs not started)") + " on shard 1, moves to shard 2; "
                + "2 shards, 3 workers × 32 slots, CURVE on")

        func flow(_ product: String, _ name: String, _ jobs: [JSON]) -> JSON {
            .object([("path", .string("\(product)-\(name).json")), ("text", .string(JSON.object([("product", .string(product)), ("flow", .string(name)), ("jobs", .array(jobs))]).rendered()))])
        }
        let noop = { (name: String) in JSON.object([("name", .string(name)), ("handler", .string("noop")), ("type", .string("noop"))]) }
        func partitioned(_ handler: String, _ count: Int, params: [(String, JSON)] = []) -> JSON {
            .object([("name", .string("p")), ("handler", .string(handler)), ("type", .string(handler)), ("partitions", .number(count)), ("params", .object(params))])
        }
        // Applied one at a time, so that heavy goes to shard 1, light-a to shard 2 and light-b to shard 1.
        let files = [
            flow("heavy", "hold", [partitioned("sleep", running, params: [("ms", .string("15000"))])]),
            flow("heavy", "backlog", [partitioned("noop", runSize)]),
            flow("heavy", "big", [partitioned("sleep", running + partitions, params: [("ms", .string("15000")), ("first", .string(String(running)))])]),
            flow("light-a", "steady", (0..<10).map { noop("j\($0)") }), flow("light-b", "steady", (0..<10).map { noop("j\($0)") }),
        ]
        for file in files {
            let reply = try ListingBench.call(client, "apply", .object([("files", .array([file]))]))
            guard reply.status == .ok else { throw CommandFailure(code: .failure, message: "apply failed: \(reply.errorText)") }
        }
        let capped = try ListingBench.call(client, "set-policy", .object([("product", .string("heavy")), ("cap", .number(running)), ("actor", .string("bench"))]))
        guard capped.status.isSuccess else { throw CommandFailure(code: .failure, message: "set-policy failed: \(capped.errorText)") }

        let clock = ContinuousClock()
        let origin = clock.now
        @Sendable func now() -> Double { ListingBench.seconds(since: origin, clock) }
        func status(_ run: Int64) throws(CommandFailure) -> JSON { try Self.status(run, client) }
        func start(_ flow: String) throws(CommandFailure) -> Int64 { try Self.start(flow, client) }
        func waitFor(_ what: String, _ done: () throws(CommandFailure) -> Bool) throws(CommandFailure) { try Self.waitFor(what, done) }
        // One run from its start to its end, polled every 2 ms.
        @Sendable func timedRun(_ flow: String, with client: APIClient) throws(CommandFailure) -> Double {
            let began = clock.now
            let run = try Self.start(flow, client)
            try Self.waitFor("run \(run)") { () throws(CommandFailure) in
                ["succeeded", "failed", "stopped"].contains(try Self.status(run, client)["run"]?["state"]?.string ?? "")
            }
            return ListingBench.seconds(since: began, clock) * 1000
        }
        // heavy's 64 running tasks, then its backlog: runs queued behind them, none of them started; or
        // one job, its first 64 partitions running and the rest queued.
        let hold = try start(oneJob ? "heavy/big" : "heavy/hold")
        try waitFor("heavy's \(running) tasks to run") { () throws(CommandFailure) in
            try status(hold)["jobs"]?.array?.first?["tasks"]?["running"]?.integer == Int64(running)
        }
        var backlog: [Int64] = []
        if oneJob {
            backlog = [hold]
        } else {
            for _ in 0..<runs { backlog.append(try start("heavy/backlog")) }
        }
        for run in oneJob ? [] : [backlog[0], backlog[runs - 1]] {
            try waitFor("run \(run) to be queued") { () throws(CommandFailure) in
                try status(run)["jobs"]?.array?.first?["state"]?.string == "queued"
            }
        }

        // The light products, four clients each starting runs back to back; each run's end is noted.
        let stop = Atomic<Bool>(false)
        let ends = Mutex<[Double]>([])
        let finished = DispatchSemaphore(value: 0)
        var light: [APIClient] = []
        for _ in 0..<4 { light.append(try ListingBench.connect(cluster)) }
        for (index, lightClient) in light.enumerated() {
            let box = Box(client: lightClient)
            Thread.detachNewThread {
                defer { finished.signal() }
                while !stop.load(ordering: .acquiring) {
                    guard (try? timedRun(index % 2 == 0 ? "light-a/steady" : "light-b/steady", with: box.client)) != nil else { return }
                    let end = now()
                    ends.withLock { $0.append(end) }
                }
            }
        }
        usleep(2_500_000)

        let moveAt = now()
        let moveWall = Int64(Date().timeIntervalSince1970 * 1000)
        let answer = try ListingBench.timed(client, "move", .object([("product", .string("heavy")), ("to", .number(2)), ("actor", .string("bench"))]))
        var queuedDone = 0.0
        if oneJob {
            // The queued partitions done on shard 2, while the 64 still sleep on shard 1.
            try waitFor("the queued partitions to be done") { () throws(CommandFailure) in
                (try status(hold)["jobs"]?.array?.first?["tasks"]?["succeeded"]?.integer ?? 0) >= Int64(partitions)
            }
            queuedDone = now() - moveAt
        }
        for run in backlog {
            try waitFor("run \(run) to end") { () throws(CommandFailure) in try status(run)["run"]?["state"]?.string == "succeeded" }
        }
        let done = now() - moveAt
        let shards = try Set(backlog.map { run throws(CommandFailure) in try status(run)["run"]?["shard"]?.integer ?? 0 })
        let held = try status(hold)
        // The light products' window after the move is whole before they stop.
        let rest = moveAt + 2.5 - now()
        if rest > 0 { usleep(UInt32(rest * 1_000_000)) }
        stop.store(true, ordering: .releasing)
        for _ in light { finished.wait() }

        // Shard 2's own stamps of the jobs it took over: when it queued them and handed out their first task;
        // and, of one job, how many of the partitions that were running at the move it ran again.
        var taken: (first: Int64, last: Int64, handed: Int64) = (.max, 0, .max)
        var rerun: Int64 = 0
        do {
            let store = try ShardStore(path: "\(cluster.shards[1].data)/shard.db")
            defer { store.database.close() }
            let rows = try store.database.prepare("SELECT queued, started FROM jobs WHERE generation = 1")
            while try rows.step() {
                // A job whose partitions were all away (running on shard 1) was never handed out here.
                let started = rows.int64(1) > 0 ? rows.int64(1) : Int64.max
                taken = (min(taken.first, rows.int64(0)), max(taken.last, rows.int64(0)), min(taken.handed, started))
            }
            rows.reset()
            let again = try store.database.prepare(
                """
                SELECT (SELECT COUNT(*) FROM task_rows t JOIN jobs j ON j.id = t.job_id WHERE j.generation = 1 AND t.partition < ?1 AND t.attempt > 1)
                    + (SELECT COUNT(*) FROM jobs WHERE generation = 1 AND task_id IS NOT NULL AND task_attempt > 1 AND 0 < ?1)
                """)
            again.bind(1, Int64(running))
            if try again.step() { rerun = again.int64(0) }
            again.reset()
        } catch {
            throw CommandFailure(code: .failure, message: "cannot read shard 2's store: \(error)")
        }
        let times = ends.withLock { $0 }
        let window = 2.0
        let lightBefore = Double(times.filter { $0 >= moveAt - window && $0 < moveAt }.count * 10) / window
        let lightDuring = Double(times.filter { $0 >= moveAt && $0 < moveAt + window }.count * 10) / window
        console.out(String(format: "the move answered in %.1f ms", answer))
        console.out("after the move was asked, shard 2 (by its own stamps):")
        console.out("  took in the first run handed over after \(taken.first - moveWall) ms, and the last after \(taken.last - moveWall) ms")
        console.out("  handed out the backlog's first task after \(taken.handed - moveWall) ms")
        if oneJob {
            console.out(String(format: "  had done the %d queued partitions %.2f s after the move", partitions, queuedDone))
            let state = held["run"]?["state"]?.string ?? "?"
            let shard = held["run"]?["shard"]?.integer ?? 0
            console.out(
                "the run ended \(state) on shard \(shard) " + String(format: "%.2f", done)
                    + " s after the move, once its \(running) tasks finishing on shard 1 had ended")
            console.out("of those \(running), shard 2 ran \(rerun) again")
        } else {
            console.out(String(format: "all %d runs of the backlog done %.2f s after the move", runs, done))
            console.out("the backlog's runs ended on shard\(shards.count == 1 ? "" : "s") \(shards.sorted().map(String.init).joined(separator: ", "))")
            console.out("heavy's run of \(running) running tasks ended \(held["run"]?["state"]?.string ?? "?") on shard \(held["run"]?["shard"]?.integer ?? 0)")
        }
        console.out(String(format: "light products: %.0f jobs/s in the %.0f s before the move, %.0f in the %.0f s after", lightBefore, window, lightDuring, window))
        return .success
    }

    static func status(_ run: Int64, _ client: APIClient) throws(CommandFailure) -> JSON {
        try ListingBench.call(client, "status", .object([("run", .number(run)), ("limit", .number(1))])).body
    }

    static func start(_ flow: String, _ client: APIClient) throws(CommandFailure) -> Int64 {
        let reply = try ListingBench.call(client, "start", .object([("flow", .string(flow))]))
        guard let run = reply.body["run"]?.integer else { throw CommandFailure(code: .failure, message: "start failed: \(reply.errorText)") }
        return run
    }

    /// Polls every 2 ms until `done`, for at most two minutes.
    static func waitFor(_ what: String, _ done: () throws(CommandFailure) -> Bool) throws(CommandFailure) {
        let clock = ContinuousClock()
        let began = clock.now
        while try !done() {
            guard ListingBench.seconds(since: began, clock) < 120 else { throw CommandFailure(code: .failure, message: "gave up waiting for \(what)") }
            usleep(2_000)
        }
    }

    private struct Box: @unchecked Sendable { let client: APIClient }
}
