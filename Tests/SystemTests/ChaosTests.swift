import Core
import Foundation
import Glibc
import Runtime
import Store
import Synchronization
import Testing
import Wire

/// Baton as separate processes on 127.0.0.1, with a shard, the orchestrator and a worker killed with
/// SIGKILL at random moments and restarted, and products moved between the shards meanwhile, while a
/// mix of flows of more than 2,000 jobs runs.
///
/// The schedule comes from a seed (BATON_CHAOS_SEED, or the clock), printed so that a failure can be
/// replayed. The checks read every service's store once the cluster is down.
@Suite(.serialized) struct ChaosTests {
    struct Kill: CustomStringConvertible {
        var process: String
        var at: Double
        var downFor: Double
        var description: String { String(format: "%@ at %.2fs for %.2fs", process, at, downFor) }
    }

    /// Runs `baton` to completion from the repository's root.
    static func baton(_ arguments: [String]) throws -> (Int32, String) {
        let (status, output) = try runProgram(CommandLineTests.baton, arguments)
        return (status, output)
    }

    static func clusterFile(data: String) throws -> String {
        func endpoint() throws -> JSON { .string("tcp://127.0.0.1:\(try FreePort.find())") }
        func shard(_ id: Int) throws -> JSON {
            .object([("id", .number(id)), ("submit", try endpoint()), ("work", try endpoint()), ("events", try endpoint())])
        }
        return JSON.object([
            ("data", .string(data)), ("durability", .string("normal")), ("heartbeat", .string("250ms")),
            ("management", .object([("api", try endpoint())])),
            ("orchestrator", .object([("ops", try endpoint()), ("events", try endpoint())])),
            ("shards", .array([try shard(1), try shard(2)])),
            ("pools", .array([.object([("name", .string("chaos")), ("slots", .number(8)), ("workers", .number(2))])])),
        ]).rendered(pretty: true)
    }

    /// A command that leaves a line in the trace each time an attempt starts.
    static let traced = #"echo "$BATON_RUN $BATON_JOB $BATON_ATTEMPT" >> "$BATON_PARAM_trace""#

    static func job(_ name: String, after: [String] = [], run: String = traced, retries: Int = 0) -> JSON {
        .object([
            ("name", .string(name)), ("after", .array(after.map(JSON.string))), ("run", .string(run)),
            ("retries", .number(retries)), ("backoff", .string("50ms")),
        ])
    }

    /// Four shapes: a chain of 20, a fan-out/fan-in of 1 + 100 + 1, 50 jobs that each fail their first
    /// attempt then join, and a ladder of two interleaved chains with handler jobs.
    static func flows() -> [(String, String)] {
        func flow(_ product: String, _ name: String, _ jobs: [JSON]) -> (String, String) {
            ("\(product)/\(name)", JSON.object([
                ("product", .string(product)), ("flow", .string(name)), ("params", .object([("trace", .string(""))])),
                ("jobs", .array(jobs)),
            ]).rendered())
        }
        let chain = (0..<20).map { job("c\($0)", after: $0 == 0 ? [] : ["c\($0 - 1)"]) }
        let fan = [job("split")] + (0..<100).map { job("f\($0)", after: ["split"]) } + [job("join", after: (0..<100).map { "f\($0)" })]
        let flaky = #"echo "$BATON_RUN $BATON_JOB $BATON_ATTEMPT" >> "$BATON_PARAM_trace"; [ "$BATON_ATTEMPT" -ge 2 ]"#
        let retry = (0..<50).map { job("r\($0)", run: flaky, retries: 2) } + [job("done", after: (0..<50).map { "r\($0)" })]
        var ladder: [JSON] = []
        for step in 0..<15 {
            ladder.append(job("left\(step)", after: step == 0 ? [] : ["left\(step - 1)", "right\(step - 1)"]))
            ladder.append(.object([
                ("name", .string("right\(step)")), ("after", .array(step == 0 ? [] : [.string("right\(step - 1)")])),
                ("handler", .string("noop")),
            ]))
        }
        return [flow("alpha", "chain", chain), flow("beta", "fan", fan), flow("gamma", "retry", retry), flow("delta", "ladder", ladder)]
    }

    @Test func killingAShardTheOrchestratorAndAWorkerLosesNothingAndRunsNothingTwice() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["BATON_CHAOS_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        var random = SplitMix64(seed: seed)
        let keep = ProcessInfo.processInfo.environment["BATON_CHAOS_KEEP"]
        try withTemporaryFolder { temporary in
            // With BATON_CHAOS_KEEP=DIR the cluster's data and logs stay in DIR for a post-mortem.
            let folder = keep ?? temporary
            if let keep { try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true) }
            let config = "\(folder)/cluster.json"
            try Self.clusterFile(data: "\(folder)/data").write(toFile: config, atomically: true, encoding: .utf8)
            let (upStatus, upOutput) = try Self.baton(["up", "--config", config])
            #expect(upStatus == 0, "\(upOutput)")
            defer { _ = try? Self.baton(["down", "--config", config]) }
            let cluster = try {
                if case .success(let cluster) = ClusterFile.parse(try String(contentsOfFile: config, encoding: .utf8), file: config) { return cluster }
                throw ServiceError("the generated cluster file is invalid")
            }()
            let client = try APIClient(cluster: cluster)
            try client.apply(Self.flows().map(\.1))
            let trace = "\(folder)/trace"
            var runs: [UInt64] = []
            var jobs = 0
            let jobsOf = try Dictionary(uniqueKeysWithValues: Self.flows().map { ($0.0, try FlowFile.parse($0.1, file: $0.0).get().jobs.count) })
            for _ in 0..<6 {
                for (flow, _) in Self.flows() {
                    runs.append(try client.start(flow, params: ["trace": trace]))
                    jobs += jobsOf[flow]!
                }
            }
            // Meanwhile, from another client, after each of the first four kills and restarts: a product
            // moves to a shard drawn from the seed (its open runs follow, their running tasks finishing where
            // they are), then a round of runs starts, on the shards their products are on now.
            let moves = (0..<4).map { _ in (product: ["alpha", "beta", "gamma", "delta"][Int.random(in: 0...3, using: &random)], to: Int.random(in: 1...2, using: &random)) }
            let later = Mutex<(runs: [UInt64], failure: String?)>(([], nil))
            let moved = DispatchSemaphore(value: 0)
            let killedOrRestarted = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                defer { moved.signal() }
                do {
                    let mover = try APIClient(cluster: cluster)
                    for move in moves {
                        killedOrRestarted.wait()
                        let reply = try mover.call("move", .object([("product", .string(move.product)), ("to", .number(move.to)), ("actor", .string("chaos"))]))
                        guard reply.status == .ok || reply.status == .conflict else { throw ServiceError("move: \(reply.status) \(reply.errorText)") }
                        for (flow, _) in Self.flows() {
                            let run = try mover.start(flow, params: ["trace": trace])
                            later.withLock { $0.runs.append(run) }
                        }
                    }
                } catch {
                    later.withLock { $0.failure = "\(error)" }
                }
            }

            let kills = [
                Kill(process: "shard-\(Int.random(in: 1...2, using: &random))", at: Double.random(in: 0.3...2.5, using: &random), downFor: Double.random(in: 0.2...1.5, using: &random)),
                Kill(process: "orchestrator", at: Double.random(in: 0.3...2.5, using: &random), downFor: Double.random(in: 0.2...1.5, using: &random)),
                Kill(process: "worker-chaos-\(Int.random(in: 1...2, using: &random))", at: Double.random(in: 0.3...2.5, using: &random), downFor: Double.random(in: 0.2...1.5, using: &random)),
            ].sorted { $0.at < $1.at }
            print("chaos: seed \(seed) (set BATON_CHAOS_SEED to replay); kills: \(kills); moves: \(moves)")

            // Kill each at its moment; restart it with `baton up`, which starts only what is not running.
            let began = Date()
            var restarts: [(Double, String, pid_t)] = []
            for kill in kills {
                let wait = kill.at - Date().timeIntervalSince(began)
                if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
                let pidFile = "\(cluster.data)/run/\(kill.process).pid"
                let pid = try #require(pid_t(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
                Glibc.kill(pid, SIGKILL)
                killedOrRestarted.signal()
                restarts.append((kill.at + kill.downFor, kill.process, pid))
            }
            for (at, process, pid) in restarts.sorted(by: { $0.0 < $1.0 }) {
                let wait = at - Date().timeIntervalSince(began)
                if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
                // A SIGKILLed process may take a moment to be gone and release its folder's lock.
                try waitUntilExited(pid)
                let (status, output) = try Self.baton(["up", "--config", config])
                #expect(status == 0, "restarting \(process): \(output)")
                killedOrRestarted.signal()
            }
            moved.wait()
            let (startedLater, failure) = later.withLock { ($0.runs, $0.failure) }
            #expect(failure == nil, "\(failure ?? "")")
            runs += startedLater
            jobs += startedLater.count / Self.flows().count * jobsOf.values.reduce(0, +)
            #expect(jobs >= 2000)

            // Every run ends, and succeeds.
            let deadline = Date().addingTimeInterval(180)
            var states: [UInt64: String] = [:]
            while Date() < deadline {
                let reply = try client.call("runs", .object([("limit", .number(1000))]))
                for run in reply.body["runs"]?.array ?? [] { states[UInt64(run["run"]?.integer ?? 0)] = run["state"]?.string }
                if runs.allSatisfy({ ["succeeded", "failed", "stopped"].contains(states[$0] ?? "") }) { break }
                usleep(200_000)
            }
            print("chaos: every run ended after \(String(format: "%.1f", Date().timeIntervalSince(began))) s")
            #expect(runs.allSatisfy { states[$0] == "succeeded" }, "\(states.filter { $0.value != "succeeded" })")
            _ = try Self.baton(["down", "--config", config])

            // The stores: each job released once and its success acted on once by the orchestrator.
            let flow = try OrchestratorStore(path: cluster.storePath(of: .orchestrator)!)
            let rows = try flow.database.prepare("SELECT run, name, state, releases, successes FROM jobs")
            var checked = 0
            while try rows.step() {
                checked += 1
                let where_ = "run \(rows.int64(0)) job \(rows.text(1))"
                #expect(rows.int(2) == Int(JobState.succeeded.rawValue), "\(where_) is not succeeded")
                #expect(rows.int(3) == 1, "\(where_) was released \(rows.int(3)) times")
                #expect(rows.int(4) == 1, "\(where_) had \(rows.int(4)) successes acted on")
            }
            rows.reset()
            flow.database.close()
            #expect(checked == jobs)

            // Each task succeeded exactly once, and no attempt was handed out after the one that succeeded.
            var attempts: [String: Int] = [:]
            for line in try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 3, let attempt = Int(parts[2]) else { continue }
                attempts["\(parts[0]) \(parts[1])"] = max(attempts["\(parts[0]) \(parts[1])"] ?? 0, attempt)
            }
            var tasks = 0
            // Where each job's task ran, by shard and generation: once in all, wherever its run was moved to.
            var ran: [String: [String]] = [:]
            for shard in cluster.shards {
                let store = try ShardStore(path: "\(shard.data)/shard.db")
                let tasksOf = try store.database.prepare(
                    "SELECT j.run, j.job, j.state, t.state, t.attempt, t.successes, j.generation FROM tasks t JOIN jobs j ON j.id = t.job_id")
                while try tasksOf.step() {
                    tasks += 1
                    let key = "\(tasksOf.int64(0)) \(tasksOf.text(1))"
                    ran[key, default: []].append("shard \(shard.id) generation \(tasksOf.int(6)) attempt \(tasksOf.int(4))")
                    #expect(tasksOf.int(2) == Int(JobState.succeeded.rawValue) && tasksOf.int(3) == Int(TaskState.succeeded.rawValue), "\(key) did not succeed")
                    #expect(tasksOf.int(5) == 1, "\(key) succeeded \(tasksOf.int(5)) times")
                    if let traced = attempts[key] {
                        #expect(traced <= tasksOf.int(4), "\(key): attempt \(traced) started after attempt \(tasksOf.int(4)) succeeded")
                    }
                }
                tasksOf.reset()
                store.database.close()
            }
            #expect(ran.filter { $0.value.count > 1 }.isEmpty, "\(ran.filter { $0.value.count > 1 })")
            #expect(tasks == jobs)
        }
    }
}
