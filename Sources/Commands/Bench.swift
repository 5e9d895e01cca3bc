import Core
import Foundation
import Glibc
import Runtime
import Store
import Synchronization
import Wire
import ZeroMQ

/// The options of `baton bench`.
public struct BenchOptions: Equatable, Sendable {
    /// Independent no-op jobs in the throughput part, split into `runs` runs.
    public var jobs = 100_000
    public var runs = 20
    /// Chains of `length` jobs in the latency part.
    public var chains = 20
    public var length = 50
    /// Jobs run before the throughput part, to measure it with that much history in the stores; 0 for none.
    public var history = 0
    /// Seconds of each open-loop phase (25%, 50% and 90% of the throughput measured); 0 to skip them.
    public var openLoop = 5
    /// Partitions of the one job of the partitioned part; 0 to skip it.
    public var partitions = 100_000
    public var shards = 2
    public var workers = 2
    /// Each worker's slots: for the benchmark's handlers, which run inline, one after another, only its
    /// window, the tasks handed to it and not yet reported. With 64 the cluster waited on that window,
    /// not on its cores (docs/benchmarks.md, "The workers' window").
    public var slots = 512
    public var durability = "full"
    /// Which security settings to measure: each on a cluster of its own, in every round.
    public var security = Compared.both
    public var rounds = 1
    /// Where to keep the clusters' data; a temporary folder, removed afterwards, if nil.
    public var keep: String?

    /// A cluster's security, as measured.
    public enum Security: String, Sendable, Hashable {
        case none, keys
        var title: String { self == .none ? "CURVE off (\"security\": \"none\")" : "CURVE on (keys, as baton up sets them up)" }
    }

    /// `--security`: one setting, or both side by side.
    public enum Compared: String, Sendable {
        case none, keys, both
        var settings: [Security] { self == .both ? [.none, .keys] : [Security(rawValue: rawValue)!] }
    }

    public init() {}
}

/// `baton bench`: a cluster of separate processes on 127.0.0.1, durability on, measured end to end, with
/// CURVE off and on side by side.
///
/// Throughput: `jobs` independent no-op handler jobs in `runs` runs, spread over the shards (one
/// product per shard), from the first start to the last run's end, as management recorded them.
///
/// Flow-step latency: chains of `stamp` jobs, each of which returns when its worker took it and when
/// it ran, in microseconds. A step is the time from a job's end, at its worker, to its successor being
/// handed to a worker: the result's way to the shard, the shard's commit, the event to the flow
/// orchestrator, its commit, the submission, the shard's commit and lease, and the task's way to a worker.
/// It holds the span "predecessor's success committed → successor handed to a worker" and a little
/// more (the result's way to the shard and its commit), so it is an upper bound of that span. The
/// time until the successor's handler runs on a worker thread is given too.
enum Bench {
    /// What one cluster measured: throughput, CPU per job, and the flow-step latency from the predecessor's
    /// end at its worker to the successor handed to a worker.
    struct Figures {
        var jobsPerSecond: Double
        var cpuPerJob: Double
        var stepP50: Double
        var stepP99: Double
    }

    static func run(_ options: BenchOptions, console: any Console) throws(CommandFailure) -> ExitCode {
        let folder = options.keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-\(UUID().uuidString)").path
        defer { if options.keep == nil { try? FileManager.default.removeItem(atPath: folder) } }
        console.out(
            "Baton benchmark: \(options.shards) shards, \(options.workers) workers × \(options.slots) slots, durability \(options.durability), "
                + "separate processes over tcp://127.0.0.1, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        // The machine's ceiling first, alone, with the same durability: Baton's throughput is a fraction of it.
        let ceiling: Double
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let durability: Database.Synchronous = ["off": .off, "normal": .normal][options.durability] ?? .full
            ceiling = try SQLiteCeiling.measure(durability: durability, folder: folder)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot measure SQLite's ceiling in \(folder): \(error)")
        }
        console.out(String(format: "SQLite ceiling: %.0f jobs/s (a job's row inserted and updated, 100 jobs a transaction, durability %@)", ceiling, options.durability))
        // Each security setting on a cluster of its own, interleaved round by round so that the machine's
        // drift falls on both alike.
        var figures: [BenchOptions.Security: [Figures]] = [:]
        for round in 1...options.rounds {
            for security in options.security.settings {
                console.out("\n\(security.title)\(options.rounds > 1 ? ", round \(round)" : ""):")
                let last = round == options.rounds && security == options.security.settings.last
                let measured = try measure(
                    options, security: security, folder: "\(folder)/\(security.rawValue)-\(round)", partitioned: last, ceiling: ceiling, console: console)
                figures[security, default: []].append(measured)
            }
        }
        if let off = figures[.none], let on = figures[.keys] { compare(off: off, on: on, console: console) }
        return .success
    }

    /// Starts a cluster in `folder` and measures it: throughput, latency, and at last (`partitioned`) the
    /// partitioned job.
    static func measure(
        _ options: BenchOptions, security: BenchOptions.Security, folder: String, partitioned: Bool, ceiling: Double, console: any Console
    ) throws(CommandFailure) -> Figures {
        let config = "\(folder)/cluster.json"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try clusterFile(options, security: security, data: "\(folder)/data").write(toFile: config, atomically: true, encoding: .utf8)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot prepare \(folder): \(error)")
        }
        let cluster = try Cluster.load(config)
        _ = try Up.up(config: config, console: SilentConsole())
        defer { _ = try? Up.down(config: config, console: SilentConsole()) }
        let client = try Client(Target(config: config))

        // Throughput.
        let perRun = max(1, options.jobs / max(options.runs, 1))
        var files: [JSON] = []
        for shard in 1...options.shards {
            files.append(flowFile("bench\(shard)", "independent", (0..<perRun).map { job("j\($0)", after: nil, handler: "noop") }))
            files.append(flowFile("bench\(shard)", "chain", (0..<options.length).map { job("c\($0)", after: $0 == 0 ? nil : "c\($0 - 1)", handler: "stamp") }))
            // 50 pairs of steps a run, for the open-loop phases.
            files.append(flowFile("bench\(shard)", "pairs", (0..<OpenLoop.pairs).flatMap { pair in
                [job("p\(pair)c0", after: nil, handler: "stamp"), job("p\(pair)c1", after: "p\(pair)c0", handler: "stamp")]
            }))
        }
        if partitioned && options.partitions > 0 {
            files.append(flowFile("bench1", "partitioned", [
                // `stamp`: each partition says when its worker took it, so the first hand-out is timed as a worker saw it.
                .object([("name", .string("split")), ("handler", .string("stamp")), ("partitions", .number(options.partitions))]),
            ]))
        }
        _ = try client.call("apply", .object([("files", .array(files))]))
        if options.history > 0 {
            // The same jobs, run first: their rows stay in the stores (retention is 30 days).
            let began = Date()
            let runs = (options.history + perRun - 1) / perRun
            _ = try waitAll(try startAll((0..<runs).map { "bench\($0 % options.shards + 1)/independent" }, client: client), client: client)
            console.out(String(format: "history: %d jobs run first, in %.1f s; their rows stay in the stores", runs * perRun, Date().timeIntervalSince(began)))
        }
        let before = cpuSeconds(cluster)
        let independent = try startAll((0..<options.runs).map { "bench\($0 % options.shards + 1)/independent" }, client: client)
        let throughputRuns = try waitAll(independent, client: client)
        let used = cpuSeconds(cluster).merging(before) { after, before in after - before }
        let first = throughputRuns.map { $0["started"]?.integer ?? 0 }.min() ?? 0
        let last = throughputRuns.map { $0["finished"]?.integer ?? 0 }.max() ?? 0
        let total = perRun * options.runs
        let seconds = Double(max(last - first, 1)) / 1000
        console.out(String(format: "independent no-op jobs: %d in %.2f s = %.0f jobs/s (%d runs of %d)", total, seconds, Double(total) / seconds, options.runs, perRun))
        console.out(String(format: "  %.1f%% of the SQLite ceiling", Double(total) / seconds / ceiling * 100))
        let roles = ["shard", "orchestrator", "management", "worker"].map { role in
            (role, used.filter { $0.key == role || $0.key.hasPrefix(role + "-") }.values.reduce(0, +))
        }
        let cpu = used.values.reduce(0, +)
        console.out(
            String(format: "  CPU of the services: %.0f µs per job (", cpu / Double(total) * 1e6)
                + roles.map { String(format: "%@ %.0f", $0.0 == "shard" ? "shards" : $0.0 == "worker" ? "workers" : $0.0, $0.1 / Double(total) * 1e6) }
                .joined(separator: ", ")
                + String(format: "), %.0f%% of %d cores", cpu / seconds / Double(ProcessInfo.processInfo.activeProcessorCount) * 100,
                    ProcessInfo.processInfo.activeProcessorCount))

        if options.openLoop > 0 {
            try OpenLoop.measure(options, cluster: cluster, client: client, capacity: Double(total) / seconds, console: console)
        }

        // Latency.
        let watch: SuccessWatch
        do {
            watch = try SuccessWatch(cluster)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot watch the shards' events: \(error)")
        }
        let chains = try startAll((0..<options.chains).map { "bench\($0 % options.shards + 1)/chain" }, client: client)
        _ = try waitAll(chains, client: client)
        let published = watch.stop()
        _ = try Up.down(config: config, console: SilentConsole())
        var latencies = StepLatencies()
        for shard in cluster.shards {
            try latencies.read(store: "\(shard.data)/shard.db", runs: Set(chains), length: options.length, published: published)
        }
        func line(_ label: String, _ values: [Double]) {
            console.out(
                String(format: "  %@ p50 %.2f ms, p99 %.2f ms, max %.2f ms", label, percentile(values, 0.5), percentile(values, 0.99), values.max() ?? 0))
        }
        console.out("flow-step latency (\(latencies.handedAfterPublished.count) steps of \(options.chains) chains of \(options.length) stamp jobs):")
        line("predecessor's success published → successor handed to a worker:", latencies.handedAfterPublished)
        line("predecessor ended at its worker  → successor handed to a worker:", latencies.handedAfterEnded)
        line("predecessor ended at its worker  → successor running:          ", latencies.ranAfterEnded)
        if partitioned && options.partitions > 0 { try self.partitioned(options, cluster: cluster, config: config, client: client, console: console) }
        return Figures(
            jobsPerSecond: Double(total) / seconds, cpuPerJob: cpu / Double(total) * 1e6,
            stepP50: percentile(latencies.handedAfterEnded, 0.5), stepP99: percentile(latencies.handedAfterEnded, 0.99))
    }

    /// CURVE off and on side by side: each figure's median over the rounds, and on/off.
    static func compare(off: [Figures], on: [Figures], console: any Console) {
        func median(_ values: [Double]) -> Double { percentile(values, 0.5) }
        console.out("\nCURVE off and on, \(off.count) round\(off.count == 1 ? "" : "s") each, interleaved (medians):")
        var rows = [["", "off", "on", "on/off"]]
        for (label, figure, format) in [
            ("jobs/s", \Figures.jobsPerSecond, "%.0f"), ("CPU µs per job", \Figures.cpuPerJob, "%.0f"),
            ("flow step p50 ms", \Figures.stepP50, "%.2f"), ("flow step p99 ms", \Figures.stepP99, "%.2f"),
        ] {
            let a = median(off.map { $0[keyPath: figure] }), b = median(on.map { $0[keyPath: figure] })
            rows.append([label, String(format: format, a), String(format: format, b), String(format: "%.2f", a > 0 ? b / a : 0)])
        }
        for line in Formatting.table(rows) { console.out("  " + line) }
    }

    /// One job of `partitions` no-op partitions: how long the shard takes to split it and hand out its
    /// first task, and to run them all.
    ///
    /// The first hand-out is timed as a worker saw it, from the `stamp` results: the shard stamps what a
    /// turn commits with the turn's first instant, so the job's own start says when the turn began, not
    /// when its first task left (a million partitions take a while to create and commit).
    static func partitioned(
        _ options: BenchOptions, cluster: ClusterConfiguration, config: String, client: Client, console: any Console
    ) throws(CommandFailure) {
        _ = try Up.up(config: config, console: SilentConsole())
        let run = try startAll(["bench1/partitioned"], client: client)
        let ended = try waitAll(run, client: client)
        let status = try client.call("status", .object([("run", .number(run[0]))]))
        let job = status["jobs"]?.array?.first ?? .object([])
        let started = ended[0]["started"]?.integer ?? 0
        var firstHanded = Int64.max
        for shard in cluster.shards {
            do {
                let store = try ShardStore(path: "\(shard.data)/shard.db")
                defer { store.database.close() }
                let rows = try store.database.prepare(
                    """
                    SELECT t.data FROM task_rows t JOIN jobs j ON j.id = t.job_id WHERE j.run = ?1 AND t.successes > 0
                    UNION ALL SELECT task_data FROM jobs WHERE run = ?1 AND task_id IS NOT NULL AND task_successes > 0
                    """)
                rows.bind(1, Int64(run[0]))
                while try rows.step() {
                    let data = rows.blob(0)
                    guard data.count == 16 else { continue }
                    firstHanded = min(firstHanded, Int64(data[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
                }
                rows.reset()
            } catch {
                throw CommandFailure(code: .failure, message: "cannot read \(shard.data)/shard.db: \(error)")
            }
        }
        let firstTask = firstHanded == .max ? Int64(job["started"]?.integer ?? 0) : firstHanded / 1000
        let finished = job["finished"]?.integer ?? 0
        let seconds = Double(max(finished - started, 1)) / 1000
        console.out(
            String(format: "one job of %d partitions: first task taken by a worker %d ms after the run started; all %d done in %.2f s = %.0f partitions/s",
                options.partitions, firstTask - Int64(started), job["tasks"]?["succeeded"]?.integer ?? 0, seconds, Double(options.partitions) / seconds))
    }

    /// The CPU time, user and system, each process of the cluster has used so far, in seconds, by name.
    static func cpuSeconds(_ cluster: ClusterConfiguration) -> [String: Double] {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var seconds: [String: Double] = [:]
        for process in Up.processes(cluster) {
            guard let pid = Up.readPID("\(cluster.data)/run/\(process.name).pid"),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let end = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (name) ": state is field 3, utime 14 and stime 15.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            seconds[process.name] = (user + system) / ticks
        }
        return seconds
    }

    static func clusterFile(_ options: BenchOptions, security: BenchOptions.Security, data: String) throws -> String {
        func endpoint() throws -> JSON { .string("tcp://127.0.0.1:\(try FreePort.find())") }
        var shards: [JSON] = []
        for id in 1...options.shards {
            shards.append(.object([("id", .number(id)), ("submit", try endpoint()), ("work", try endpoint()), ("events", try endpoint())]))
        }
        return JSON.object([
            ("data", .string(data)), ("durability", .string(options.durability)),
            ("security", security == .none ? .string("none") : .object([])),
            ("management", .object([("api", try endpoint())])),
            ("orchestrator", .object([("ops", try endpoint()), ("events", try endpoint())])), ("shards", .array(shards)),
            ("pools", .array([.object([("name", .string("bench")), ("slots", .number(options.slots)), ("workers", .number(options.workers))])])),
        ]).rendered(pretty: true)
    }

    static func flowFile(_ product: String, _ flow: String, _ jobs: [JSON]) -> JSON {
        let text = JSON.object([("product", .string(product)), ("flow", .string(flow)), ("jobs", .array(jobs))]).rendered()
        return .object([("path", .string("\(product)/\(flow)")), ("text", .string(text))])
    }

    static func job(_ name: String, after: String?, handler: String) -> JSON {
        var members: [(String, JSON)] = [("name", .string(name)), ("handler", .string(handler))]
        if let after { members.append(("after", .array([.string(after)]))) }
        return .object(members)
    }

    static func startAll(_ flows: [String], client: Client) throws(CommandFailure) -> [UInt64] {
        var runs: [UInt64] = []
        for flow in flows {
            let reply = try client.call("start", .object([("flow", .string(flow))]))
            runs.append(UInt64(reply["run"]?.integer ?? 0))
        }
        return runs
    }

    /// Waits until every run has ended; returns their records. Asks every 50 ms, for 10 minutes at most.
    static func waitAll(_ runs: [UInt64], client: Client) throws(CommandFailure) -> [JSON] {
        let wanted = Set(runs)
        let deadline = Date().addingTimeInterval(600)
        while Date() < deadline {
            // The benchmark's runs are the newest: a page of as many holds them all.
            let listed = try client.call("runs", .object([("limit", .number(min(max(wanted.count, 1), 10_000)))]))["runs"]?.array ?? []
            let ours = listed.filter { wanted.contains(UInt64($0["run"]?.integer ?? 0)) }
            let ended = ours.filter { ["succeeded", "failed", "stopped"].contains($0["state"]?.string ?? "") }
            if ended.count == wanted.count {
                if let failed = ended.first(where: { $0["state"]?.string != "succeeded" }) {
                    throw CommandFailure(code: .failure, message: "run \(failed["run"]?.integer ?? 0) did not succeed: \(failed["detail"]?.string ?? "")")
                }
                return ended
            }
            usleep(50_000)
        }
        throw CommandFailure(code: .failure, message: "the benchmark's runs did not end within 10 minutes")
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction + 0.5))]
    }
}

/// The chain steps' latencies in milliseconds.
struct StepLatencies {
    /// From the predecessor's success event, seen by the benchmark as the shard published it after its
    /// commit, to the successor handed to a worker: the span the target names, less the event's way to
    /// the benchmark.
    var handedAfterPublished: [Double] = []
    /// From the predecessor's end at its worker to the successor handed to a worker: that span, plus the
    /// result's way to the shard and its commit; an upper bound.
    var handedAfterEnded: [Double] = []
    /// From the predecessor's end at its worker to the successor's handler running.
    var ranAfterEnded: [Double] = []

    /// Adds the steps of the chains in one shard's store, from its `stamp` results, and the moments
    /// their successes were seen published (microseconds, by `run/job`).
    mutating func read(store path: String, runs: Set<UInt64>, length: Int, published: [String: Int64]) throws(CommandFailure) {
        do {
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            let rows = try store.database.prepare(
                """
                SELECT j.run, j.job, t.data FROM task_rows t JOIN jobs j ON j.id = t.job_id WHERE j.job LIKE '%c%' AND t.successes > 0
                UNION ALL SELECT run, job, task_data FROM jobs WHERE job LIKE '%c%' AND task_id IS NOT NULL AND task_successes > 0
                """)
            // A chain is the jobs `<group>c0`, `<group>c1`, ... of one run: the chain flow's, or each pair's.
            var stamps: [String: [Int: (handed: Int64, ran: Int64)]] = [:]
            while try rows.step() {
                let run = UInt64(rows.int64(0))
                let name = rows.text(1)
                let data = rows.blob(2)
                guard runs.contains(run), let cut = name.lastIndex(of: "c"), let index = Int(name[name.index(after: cut)...]), data.count == 16 else { continue }
                func instant(_ at: Int) -> Int64 { Int64(data[at..<at + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
                stamps["\(run)/\(name[..<cut])", default: [:]][index] = (instant(0), instant(8))
            }
            rows.reset()
            for (chainKey, chain) in stamps {
                for index in 1..<length {
                    guard let before = chain[index - 1], let after = chain[index] else { continue }
                    if let seen = published["\(chainKey)c\(index - 1)"] { handedAfterPublished.append(Double(after.handed - seen) / 1000) }
                    handedAfterEnded.append(Double(after.handed - before.ran) / 1000)
                    ranAfterEnded.append(Double(after.ran - before.ran) / 1000)
                }
            }
        } catch {
            throw CommandFailure(code: .failure, message: "cannot read \(path): \(error)")
        }
    }
}

/// Subscribes to the shards' event streams on a thread of its own and notes when each job's success
/// was seen, in microseconds since the Unix epoch, by `run/job`.
final class SuccessWatch: Sendable {
    private let seen = Mutex<[String: Int64]>([:])
    private let stopping = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)

    /// Starts watching `cluster`'s shards, with the local admin's key if it has keys; returns once the
    /// subscription has had time to reach the publishers.
    init(_ cluster: ClusterConfiguration) throws {
        let context = try Context()
        let socket = try Socket(context, type: .sub)
        try socket.setLinger(milliseconds: 0)
        try socket.subscribe(StreamNames.jobTopic)
        let curve = try ClusterKeys.client(of: cluster, key: nil)
        if let curve {
            try socket.setCurvePublicKey(curve.pair.identity.publicKey)
            try socket.setCurveSecretKey(curve.pair.secretKey)
        }
        for shard in cluster.shards {
            // Each connection takes the server key set when it is made.
            if curve != nil, case .keys(let folder) = cluster.security {
                try socket.setCurveServerKey(try KeyFiles.readPublic("\(folder)/shard-\(shard.id).key").publicKey)
            }
            try socket.connect(shard.events)
        }
        let transfer = SocketTransfer(socket)
        Thread.detachNewThread { [self] in
            let socket = transfer.socket
            var poller = Poller()
            _ = poller.add(socket)
            while !stopping.load(ordering: .acquiring) {
                guard (try? poller.poll(timeoutMilliseconds: 50)) ?? 0 > 0 else { continue }
                while let frames = try? socket.receive(dontWait: true), frames.count == 2 {
                    let now = Int64(Handlers.microseconds())
                    guard case .jobUpdates(let updates)? = try? Message.decode(frames[1]) else { continue }
                    seen.withLock { seen in
                        for status in updates.updates where status.state == .succeeded {
                            let key = "\(status.run)/\(status.job)"
                            if seen[key] == nil { seen[key] = now }
                        }
                    }
                }
            }
            socket.close()
            done.store(true, ordering: .releasing)
        }
        usleep(300_000)  // A subscription takes a moment to reach the publisher (the slow joiner).
    }

    /// Stops watching and returns what was seen.
    func stop() -> [String: Int64] {
        stopping.store(true, ordering: .releasing)
        while !done.load(ordering: .acquiring) { usleep(10_000) }
        return seen.withLock { $0 }
    }

    /// Hands a socket to the thread that will be its only user.
    private struct SocketTransfer: @unchecked Sendable {
        let socket: Socket
        init(_ socket: Socket) { self.socket = socket }
    }
}
