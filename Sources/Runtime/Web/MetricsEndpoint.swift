public import Core
import Foundation
public import HTTP
import Synchronization

/// Serves `/metrics` for the services of one process: each service's figures, collected from its loop
/// between turns (``ServiceCounters/collectMetrics(_:)``), and the process's own. Where a process runs
/// several services (`baton dev`), each series carries a `service` label.
public struct MetricsEndpoint: Sendable {
    public let services: [(name: String, counters: ServiceCounters)]

    public init(services: [(name: String, counters: ServiceCounters)]) { self.services = services }

    /// Answers `request` if it is for `/metrics`; false otherwise.
    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) -> Bool {
        guard request.path == "/metrics" else { return false }
        guard request.method == "GET" || request.method == "HEAD" else {
            responder.respond(HTTPResponse(status: .methodNotAllowed, headers: [("Allow", "GET, HEAD")], body: Array("405 Method Not Allowed: /metrics is read with GET\n".utf8)))
            return true
        }
        collect { metrics in
            responder.respond(.content(metrics.rendered(), type: "text/plain; version=0.0.4; charset=utf-8"))
        }
        return true
    }

    /// Every service's metrics and the process's, delivered once all services have answered (from the
    /// thread of the last to answer; a stopped service answers empty at once).
    public func collect(_ deliver: @escaping @Sendable (Metrics) -> Void) {
        let labelled = services.count > 1
        let gathered = Mutex<(left: Int, parts: [Int: Metrics])>((services.count, [:]))
        // Merged, read from /proc and rendered off the services' threads: a loop only hands over its figures.
        let finish: @Sendable () -> Void = {
            DispatchQueue.global().async {
                let parts = gathered.withLock { $0.parts }
                var all = Metrics()
                for index in parts.keys.sorted() { all.merge(parts[index]!) }
                all.merge(ProcessMetrics.read())
                deliver(all)
            }
        }
        guard !services.isEmpty else { return finish() }
        for (index, service) in services.enumerated() {
            service.counters.collectMetrics { metrics in
                let part = labelled ? metrics.labelled(.init("service", service.name)) : metrics
                let done = gathered.withLock { state -> Bool in
                    state.parts[index] = part
                    state.left -= 1
                    return state.left == 0
                }
                if done { finish() }
            }
        }
    }
}

/// The process's own figures, under the names Prometheus's client libraries give them.
enum ProcessMetrics {
    static func read() -> Metrics {
        var metrics = Metrics()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        // /proc/self/stat: fields after the command's closing parenthesis; utime and stime are the 12th and
        // 13th of them, starttime the 20th, vsize the 21st, rss the 22nd.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]), let start = Double(fields[19]),
                let virtual = Double(fields[20]), let resident = Double(fields[21])
            {
                metrics.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", seconds: (user + system) / ticks)
                metrics.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", resident * page)
                metrics.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", virtual)
                if let boot = bootTime() {
                    metrics.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", boot + start / ticks)
                }
            }
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            metrics.gauge("process_open_fds", "Number of open file descriptors.", descriptors.count)
        }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            metrics.gauge("process_max_fds", "Maximum number of open file descriptors.", Double(limit.rlim_cur))
        }
        return metrics
    }

    /// When the machine booted, in seconds since the epoch (`btime` of /proc/stat).
    private static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6)) }
    }
}
