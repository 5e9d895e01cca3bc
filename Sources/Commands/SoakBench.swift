import Core
import Foundation
import Glibc
import Runtime

/// The options of `baton bench --soak`.
public struct SoakBenchOptions: Equatable, Sendable {
    /// How long to run, and the cluster's retention, in milliseconds.
    public var duration: Int64 = 600_000
    public var retention: Int64 = 120_000
    /// Runs kept going at once, each of `jobs` no-op jobs.
    public var runs = 8
    public var jobs = 500
    public var keep: String?

    public init() {}
}

/// `baton bench --soak`: a steady load on a cluster of processes with a short retention, for a long
/// time. Each minute it prints jobs per second, the size of each store on disk, and each service's
/// resident memory: with retention deleting as fast as the load adds, both stay flat.
enum SoakBench {
    static func run(_ options: SoakBenchOptions, console: any Console) throws(CommandFailure) -> ExitCode {
        let folder = options.keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("baton-soak-\(UUID().uuidString)").path
        defer { if options.keep == nil { try? FileManager.default.removeItem(atPath: folder) } }
        let (config, cluster) = try ListingBench.up(in: folder) { data in
            // The cluster file's first field, then the retention, of the audit log too: every start is in it.
            let retention = DurationText.format(options.retention)
            // The shape its figures were measured with: workers of 64 slots.
            var bench = BenchOptions()
            bench.slots = 64
            return try Bench.clusterFile(bench, security: .keys, data: data).replacingOccurrences(
                of: "\"data\"", with: "\"retention\": \"\(retention)\", \"audit_retention\": \"\(retention)\", \"data\"")
        }
        defer { _ = try? Up.down(config: config, console: SilentConsole()) }
        let client = try ListingBench.connect(cluster)
        let jobs = (0..<options.jobs).map { JSON.object([("name", .string("j\($0)")), ("handler", .string("noop")), ("type", .string("noop"))]) }
        let flow = JSON.object([("product", .string("soak")), ("flow", .string("steady")), ("jobs", .array(jobs))]).rendered()
        _ = try ListingBench.call(client, "apply", .object([("files", .array([.object([("path", .string("soak.json")), ("text", .string(flow))])]))]))
        console.out(
            "Baton soak: \(options.runs) runs of \(options.jobs) no-op jobs kept going for \(DurationText.format(options.duration)), "
                + "retention \(DurationText.format(options.retention)) (the audit log's too), CURVE on")
        console.out("minute  jobs/s  stores in MB (management, orchestrator, shards)  resident memory in MB")

        let begun = Date()
        var going: Set<Int64> = []
        var ended = 0
        var minute = 0
        var endedAtMinute = 0
        while Date().timeIntervalSince(begun) * 1000 < Double(options.duration) {
            while going.count < options.runs {
                let reply = try ListingBench.call(client, "start", .object([("flow", .string("soak/steady"))]))
                if let run = reply.body["run"]?.integer { going.insert(run) }
            }
            let listed = try ListingBench.call(client, "runs", .object([("product", .string("soak")), ("limit", .number(options.runs * 4))]))
            for run in listed.body["runs"]?.array ?? [] where ["succeeded", "failed", "stopped"].contains(run["state"]?.string ?? "") {
                if let id = run["run"]?.integer, going.remove(id) != nil { ended += 1 }
            }
            let elapsed = Int(Date().timeIntervalSince(begun))
            if elapsed / 60 > minute {
                minute = elapsed / 60
                let rate = Double((ended - endedAtMinute) * options.jobs) / 60
                endedAtMinute = ended
                console.out(String(format: "%6d  %6.0f  %@  %@", minute, rate, stores(cluster), memory(cluster)))
            }
            usleep(200_000)
        }
        return .success
    }

    /// The size of each service's store with its write-ahead log, in MB.
    static func stores(_ cluster: ClusterConfiguration) -> String {
        func size(_ path: String) -> Double {
            ["", "-wal"].reduce(0.0) { total, suffix in
                let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
                return total + Double((attributes?[.size] as? NSNumber)?.int64Value ?? 0) / 1_048_576
            }
        }
        let paths = ([ServiceRole.management, .orchestrator] + cluster.shards.map { ServiceRole.shard(id: $0.id) }).compactMap(cluster.storePath(of:))
        return paths.map { String(format: "%.1f", size($0)) }.joined(separator: " ")
    }

    /// Each process's resident memory, in MB, in start order.
    static func memory(_ cluster: ClusterConfiguration) -> String {
        Up.processes(cluster).compactMap { process -> String? in
            guard !process.name.hasPrefix("timer"),
                let pid = Up.readPID("\(cluster.data)/run/\(process.name).pid"),
                let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                let kilobytes = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
            else { return nil }
            return String(format: "%@ %.0f", process.name, kilobytes / 1024)
        }.joined(separator: ", ")
    }
}
