import Core
import Foundation
import Glibc

/// `baton logs RUN JOB [--attempt N] [--follow]`: an attempt's output, wherever its worker ran.
///
/// The shard keeps the last 4 KiB of every attempt's output, as its worker reported it; the whole log
/// stays on the worker's machine (`host:path`), and is read whole when that is this machine. An attempt
/// still running has told no path yet: one running on this machine is found where its pool writes logs
/// (`DATA/pool-dev/logs` of a `baton dev`, or each pool's folder of the cluster file) and followed there.
enum LogsCommand {
    static func run(run: UInt64, job: String, attempt wanted: Int?, follow: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let client = try Client(target)
        var attempts = try client.call("attempts", .object([("run", .number(run)), ("job", .string(job))]))["attempts"]?.array ?? []
        if attempts.isEmpty {
            let status = try client.status(run)
            let names = (status["jobs"]?.array ?? []).compactMap { $0["job"]?.string }
            guard names.contains(job) else {
                throw CommandFailure(code: .refused, message: "run \(run) has no job \"\(job)\" (its jobs: \(names.joined(separator: ", ")))")
            }
            guard follow else {
                let state = (status["jobs"]?.array ?? []).first { $0["job"]?.string == job }?["state"]?.string ?? "waiting"
                throw CommandFailure(code: .failure, message: "job \(job) of run \(run) has no attempt yet: it is \(state)")
            }
            console.err("job \(job) of run \(run) has no attempt yet; waiting for its first")
            while attempts.isEmpty {
                usleep(500_000)
                attempts = try client.call("attempts", .object([("run", .number(run)), ("job", .string(job))]))["attempts"]?.array ?? []
                guard attempts.isEmpty else { break }
                // A job skipped, cancelled or marked succeeded, or a run that ended, will have none.
                let now = try client.status(run)
                let state = (now["jobs"]?.array ?? []).first { $0["job"]?.string == job }?["state"]?.string ?? ""
                if ["succeeded", "failed", "cancelled", "skipped"].contains(state) || ["succeeded", "failed", "stopped"].contains(now["run"]?["state"]?.string ?? "") {
                    throw CommandFailure(code: .failure, message: "job \(job) of run \(run) ended \(state) without an attempt")
                }
            }
        }
        // The latest generation's attempt N, or each partition's latest attempt.
        let generation = attempts.compactMap { $0["generation"]?.integer }.max() ?? 0
        let current = attempts.filter { ($0["generation"]?.integer ?? 0) == generation }
        var chosen: [JSON]
        if let wanted {
            chosen = current.filter { $0["attempt"]?.integer == Int64(wanted) }
            guard !chosen.isEmpty else {
                let numbers = Set(current.compactMap { $0["attempt"]?.integer }).sorted().map(String.init).joined(separator: ", ")
                throw CommandFailure(code: .refused, message: "job \(job) of run \(run) has no attempt \(wanted) (its attempts: \(numbers))")
            }
        } else {
            var latest: [String: JSON] = [:]
            for attempt in current {
                let key = "\(attempt["step"]?.integer ?? 0)-\(attempt["partition"]?.integer ?? 0)"
                if (attempt["attempt"]?.integer ?? 0) >= (latest[key]?["attempt"]?.integer ?? 0) { latest[key] = attempt }
            }
            chosen = latest.values.sorted { ($0["step"]?.integer ?? 0, $0["partition"]?.integer ?? 0) < ($1["step"]?.integer ?? 0, $1["partition"]?.integer ?? 0) }
        }
        let several = chosen.count > 1
        let shape = try jobShape(run: run, job: job, client: client)
        let roots = logRoots(target)
        for attempt in chosen {
            // Several logs are told apart on standard output; one alone is the output itself, with its heading on standard error.
            let heading = header(attempt, job: job, partitioned: shape.partitions > 1)
            if several { console.out(heading) } else { console.err(heading) }
            try show(attempt, run: run, job: job, follow: follow, live: livePath(attempt, run: run, job: job, shape: shape, roots: roots), client: client, console: console)
        }
        return .success
    }

    /// The job's steps and the partitions of its current step, which its log paths name.
    static func jobShape(run: UInt64, job: String, client: Client) throws(CommandFailure) -> (steps: Int64, partitions: Int64) {
        let status = try client.status(run)
        guard let found = (status["jobs"]?.array ?? []).first(where: { $0["job"]?.string == job }) else { return (1, 1) }
        let tasks = found["tasks"] ?? .object([])
        let partitions = ["pending", "running", "succeeded", "failed"].reduce(Int64(0)) { $0 + (tasks[$1]?.integer ?? 0) }
        return (found["steps"]?.integer ?? 1, max(1, partitions))
    }

    /// Where workers of this machine write logs, for the target: a `baton dev`'s pool, or the cluster file's pools.
    static func logRoots(_ target: Target) -> [String] {
        var roots = ["\(target.data)/pool-dev/logs"]
        if let file = target.config, let cluster = try? Cluster.load(file) { roots += cluster.pools.map { "\($0.data)/logs" } }
        return roots.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
    }

    /// The log a running attempt writes, if it runs on this machine and the file is there: the path a
    /// worker gives it (`<logs>/<run>/<job>[.<step>-<partition>][.rerun-<N>].<attempt>.log`).
    static func livePath(_ attempt: JSON, run: UInt64, job: String, shape: (steps: Int64, partitions: Int64), roots: [String]) -> String? {
        guard attempt["state"]?.string == "running", let worker = attempt["worker"]?.string,
            worker.hasPrefix(Formatting.localHost + "/") || worker.hasPrefix(ProcessInfo.processInfo.hostName + "/")
        else { return nil }
        let step = attempt["step"]?.integer ?? 0
        let partition = attempt["partition"]?.integer ?? 0
        let generation = attempt["generation"]?.integer ?? 0
        let part = shape.steps > 1 || shape.partitions > 1 ? ".\(step)-\(partition)" : ""
        let rerun = generation > 0 ? ".rerun-\(generation)" : ""
        let name = "\(run)/\(job)\(part)\(rerun).\(attempt["attempt"]?.integer ?? 0).log"
        return roots.map { "\($0)/\(name)" }.first { FileManager.default.fileExists(atPath: $0) }
    }

    static func header(_ attempt: JSON, job: String, partitioned: Bool) -> String {
        let partition = attempt["partition"]?.integer ?? 0
        let step = attempt["step"]?.integer ?? 0
        let state = attempt["state"]?.string ?? "?"
        let exit = attempt["exit"]?.integer.map { ", exit \($0)" } ?? ""
        return "== \(job)" + (partitioned || step > 0 ? "[\(step > 0 ? "step \(step + 1) " : "")\(partition)]" : "")
            + " attempt \(attempt["attempt"]?.integer ?? 0) on \(worker(of: attempt)): \(state)\(exit) =="
    }

    /// Where an attempt ran: its worker, or, for one that ran on the shard its run was handed over from
    /// (whose worker the shard asked does not know), that shard.
    static func worker(of attempt: JSON) -> String {
        let name = attempt["worker"]?.string ?? ""
        return name.isEmpty ? "the shard its run moved from" : name
    }

    /// The attempt's whole log if it is on this machine, else the tail its shard keeps; with `follow`,
    /// what it writes until it ends.
    static func show(_ attempt: JSON, run: UInt64, job: String, follow: Bool, live: String? = nil, client: Client, console: any Console) throws(CommandFailure) {
        let location = attempt["log"]?.string ?? ""
        let local = Formatting.output(location)
        var readable = !local.isEmpty && local != location || (location.hasPrefix("/") && FileManager.default.fileExists(atPath: location))
        var path = local.hasPrefix("/") || !readable ? local : FileManager.default.currentDirectoryPath + "/" + local
        if let live {
            path = live
            readable = true
        }
        var running = underway(attempt)
        if readable, let handle = FileHandle(forReadingAtPath: path) {
            defer { try? handle.close() }
            while true {
                let chunk = handle.readDataToEndOfFile()
                if !chunk.isEmpty { console.outRaw(String(decoding: chunk, as: UTF8.self)) }
                guard follow, running else { break }
                usleep(500_000)
                running = try stillRunning(attempt, run: run, job: job, client: client)
            }
            return
        }
        if running {
            let worker = worker(of: attempt)
            guard follow else {
                console.err("attempt \(attempt["attempt"]?.integer ?? 0) still runs on \(worker): its output comes when it ends (--follow waits for it)")
                return
            }
            console.err("attempt \(attempt["attempt"]?.integer ?? 0) runs on \(worker); waiting for it to end")
            while running {
                usleep(500_000)
                running = try stillRunning(attempt, run: run, job: job, client: client)
            }
            // Its end, or, for an attempt away whose relayed end was retried, the attempt that wrote over it.
            let attempts = try client.call("attempts", .object([("run", .number(run)), ("job", .string(job))]))["attempts"]?.array ?? []
            let ended = attempts.first { same($0, attempt) } ?? attempts.last { samePartition($0, attempt) }
            // A retry still running is followed in turn.
            return try show(ended ?? attempt, run: run, job: job, follow: ended.map(underway) ?? false, live: nil, client: client, console: console)
        }
        console.outRaw(attempt["output"]?.string ?? "")
        if !location.isEmpty { console.err("(the last 4 KiB of its output, as its worker sent it; the whole log is \(location))") }
    }

    static func same(_ a: JSON, _ b: JSON) -> Bool {
        samePartition(a, b) && a["attempt"]?.integer == b["attempt"]?.integer
    }

    static func samePartition(_ a: JSON, _ b: JSON) -> Bool {
        ["generation", "step", "partition"].allSatisfy { a[$0]?.integer == b[$0]?.integer }
    }

    static func stillRunning(_ attempt: JSON, run: UInt64, job: String, client: Client) throws(CommandFailure) -> Bool {
        let attempts = try client.call("attempts", .object([("run", .number(run)), ("job", .string(job))]))["attempts"]?.array ?? []
        return attempts.first { same($0, attempt) }.map(underway) ?? false
    }

    /// Whether the attempt has not ended: it runs here, or on the shard its run was handed over from
    /// (`away`), whose end is relayed here when it comes.
    static func underway(_ attempt: JSON) -> Bool {
        ["running", "away"].contains(attempt["state"]?.string ?? "")
    }
}
