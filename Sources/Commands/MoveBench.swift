import Core
import Foundation
import Runtime
import Synchronization

/// `baton bench --move`: a cluster of processes with two shards, CURVE on. Product `heavy` has a run of
/// `partitions` no-op tasks going on shard 1 (started 2.2 s before) when it moves to shard 2, while `light-a` (on shard 2) and
/// `light-b` (on shard 1) run 10-job flows without pause. It prints the move's answer, how long a
/// one-job run of `heavy` started at once after the move takes against the same before it (the pause
/// its new work sees), the light products' jobs a second in the seconds before the move and after it,
/// and how long the open run took to finish where it was.
enum MoveBench {
    static func run(partitions: Int, keep: String?, console: any Console) throws(CommandFailure) -> ExitCode {
        let folder = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("baton-move-\(UUID().uuidString)").path
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: folder) } }
        var bench = BenchOptions()
        bench.shards = 2
        bench.workers = 2
        bench.slots = 32
        let (config, cluster) = try ListingBench.up(in: folder) { try Bench.clusterFile(bench, security: .keys, data: $0) }
        defer { _ = try? Up.down(config: config, console: SilentConsole()) }
        let client = try ListingBench.connect(cluster)
        console.out("Baton move benchmark: heavy with \(partitions) queued tasks moves from shard 1 to 2; 2 shards, 2 workers × 32 slots, CURVE on")

        func flow(_ product: String, _ name: String, _ jobs: [JSON]) -> JSON {
            .object([("path", .string("\(product)-\(name).json")), ("text", .string(JSON.object([("product", .string(product)), ("flow", .string(name)), ("jobs", .array(jobs))]).rendered()))])
        }
        let noop = { (name: String) in JSON.object([("name", .string(name)), ("handler", .string("noop")), ("type", .string("noop"))]) }
        // Applied one at a time, so that heavy goes to shard 1, light-a to shard 2 and light-b to shard 1.
        let files = [
            flow("heavy", "backlog", [.object([("name", .string("p")), ("handler", .string("noop")), ("type", .string("noop")), ("partitions", .number(partitions))])]),
            flow("heavy", "one", [noop("only")]),
            flow("light-a", "steady", (0..<10).map { noop("j\($0)") }), flow("light-b", "steady", (0..<10).map { noop("j\($0)") }),
        ]
        for file in files {
            let reply = try ListingBench.call(client, "apply", .object([("files", .array([file]))]))
            guard reply.status == .ok else { throw CommandFailure(code: .failure, message: "apply failed: \(reply.errorText)") }
        }

        let clock = ContinuousClock()
        let origin = clock.now
        @Sendable func now() -> Double { ListingBench.seconds(since: origin, clock) }
        // One run from its start to its end, polled every 2 ms.
        @Sendable func timedRun(_ flow: String, with client: APIClient) throws(CommandFailure) -> Double {
            let began = clock.now
            let reply = try ListingBench.call(client, "start", .object([("flow", .string(flow))]))
            guard let run = reply.body["run"]?.integer else { throw CommandFailure(code: .failure, message: "start failed: \(reply.errorText)") }
            while true {
                let status = try ListingBench.call(client, "status", .object([("run", .number(run)), ("limit", .number(0))]))
                if let state = status.body["run"]?["state"]?.string, ["succeeded", "failed", "stopped"].contains(state) {
                    return ListingBench.seconds(since: began, clock) * 1000
                }
                usleep(2_000)
            }
        }
        var before: [Double] = []
        for _ in 0..<10 { before.append(try timedRun("heavy/one", with: client)) }

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
        usleep(3_000_000)

        // The backlog, then the move once its tasks are queued.
        let backlog = try ListingBench.call(client, "start", .object([("flow", .string("heavy/backlog"))]))
        guard let run = backlog.body["run"]?.integer else { throw CommandFailure(code: .failure, message: "start failed: \(backlog.errorText)") }
        // The backlog runs for 2.2 s before the move, so that the light products' two seconds before the
        // move and after it both share the workers with it.
        usleep(2_200_000)
        let moveAt = now()
        let answer = try ListingBench.timed(client, "move", .object([("product", .string("heavy")), ("to", .number(2)), ("actor", .string("bench"))]))
        var after: [Double] = []
        for _ in 0..<10 { after.append(try timedRun("heavy/one", with: client)) }
        var ended = false
        while !ended {
            let status = try ListingBench.call(client, "status", .object([("run", .number(run)), ("limit", .number(0))]))
            ended = ["succeeded", "failed", "stopped"].contains(status.body["run"]?["state"]?.string ?? "")
            if !ended { usleep(10_000) }
        }
        let drained = now() - moveAt
        usleep(2_000_000)
        stop.store(true, ordering: .releasing)
        for _ in light { finished.wait() }

        let times = ends.withLock { $0 }
        let window = 2.0
        let lightBefore = Double(times.filter { $0 >= moveAt - window && $0 < moveAt }.count * 10) / window
        let lightDuring = Double(times.filter { $0 >= moveAt && $0 < moveAt + window }.count * 10) / window
        console.out("heavy's backlog run was started 2.2 s before the move")
        console.out(String(format: "the move answered in %.1f ms", answer))
        console.out("a one-job run of heavy, from its start to its end (10 each):")
        console.out(ListingBench.line("before", before))
        console.out(ListingBench.line("after", after))
        console.out(String(format: "light products: %.0f jobs/s in the %.0f s before the move, %.0f in the %.0f s after", lightBefore, window, lightDuring, window))
        console.out(String(format: "heavy's open run finished on shard 1 %.1f s after the move (its tasks do not move)", drained))
        return .success
    }

    private struct Box: @unchecked Sendable { let client: APIClient }
}
