import Core
import Foundation
import Glibc
import HTTP
import Runtime

/// `baton dev`: every service in this process until Ctrl-C: a cluster of `--shards`, `--workers` and
/// `--slots` on inproc endpoints, or the whole of a cluster file (`--config`), with every setting the
/// file's processes would have.
enum Dev {
    static func run(_ options: DevOptions, console: any Console) throws(CommandFailure) -> ExitCode {
        let configuration: ClusterConfiguration
        var environment = ServiceEnvironment(log: Log(service: "baton", level: options.quiet ? .warning : .info))
        let api = "tcp://127.0.0.1:\(options.port == 0 ? "*" : String(options.port))"
        if let file = options.config {
            configuration = try Cluster.load(file, console: console)
            // All of a cluster on one machine, as `baton up` runs it: the keys it lacks are made first.
            do {
                let made = try ClusterKeys.createMissing(in: configuration)
                if !made.isEmpty { console.out("made the keys of \(made.joined(separator: ", "))") }
            } catch {
                throw CommandFailure(code: .failure, message: "cannot make the cluster's keys: \(error)")
            }
        } else {
            var shape = EmbeddedCluster.Options(data: options.data)
            shape.shards = options.shards
            shape.workers = options.workers
            shape.slots = options.slots
            shape.drain = nil
            do {
                configuration = try shape.configuration()
            } catch {
                throw CommandFailure(code: .failure, message: "cannot plan the cluster: \(error)")
            }
            environment.additionalAPI = [api]
            // Each shard's `work` socket on a loopback port too, for workers in other processes and languages.
            environment.additionalWork = ["tcp://127.0.0.1:*"]
        }
        let data = configuration.data
        let lock = try DataLock.take(data)
        defer { lock.release() }
        environment.heldFolders = [data]
        // Block the stop signals before any service thread starts, so that threads inherit the mask and
        // only this thread receives them, through sigtimedwait.
        var signals = StopSignals()
        var cluster: EmbeddedCluster
        do {
            environment.keyRing = try ClusterKeys.ring(of: configuration)
            cluster = try EmbeddedCluster(configuration, environment: environment)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot start: \(error)")
        }
        let endpoint = cluster.api.last ?? ""
        let file = "\(data)/api"
        do {
            try (endpoint + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            cluster.stop()
            throw CommandFailure(code: .failure, message: "cannot write \(file): \(error)")
        }
        let web: WebServer?
        do {
            web = try startWeb(options, cluster: cluster)
        } catch {
            cluster.stop()
            try? FileManager.default.removeItem(atPath: file)
            throw error
        }
        defer { web?.stop() }
        // The client commands find this Baton by its cluster file, or by the api file in its data folder.
        let target = options.config.map { " --config \($0)" } ?? (data == DevOptions().data ? "" : " --data \(data)")
        var webLine = web.map { "\ndashboard:      \($0.url)/\nmetrics:        \($0.url)/metrics" } ?? ""
        // Where a worker of another process connects: the loopback endpoint bound beside inproc, or the
        // cluster file's.
        for (shard, endpoints) in cluster.work.sorted(by: { $0.key < $1.key }) {
            guard let work = endpoints.last(where: { $0.hasPrefix("tcp://") }) else { continue }
            webLine += "\nshard \(shard) work:   \(work)  (workers: docs/protocol.md)"
        }
        if let web, let token = web.dashboard?.token { webLine += "\nsign in to act: \(web.url)/login?token=\(token)" }
        console.out("""
            Baton is running: \(shape(configuration)), data in \(data)/
            management API: \(endpoint)  (written to \(file))\(webLine)
            \(security(configuration, console: console))
            Try:  baton apply\(target) examples/payments-end-of-day.json
                  baton start\(target) payments/end-of-day --wait
            Press Ctrl-C to stop.
            """)
        var code = ExitCode.success
        while true {
            if let signal = signals.wait(milliseconds: 500) {
                if signal == SIGHUP {
                    ClusterKeys.reload(environment.keyRing, log: environment.log)
                    for service in cluster.services { service.wake() }
                    continue
                }
                console.out("\nstopping (\(signal == SIGINT ? "interrupt" : "terminate"))")
                break
            }
            if let failure = cluster.failure {
                console.err("baton: \(failure.name) stopped: \(failure.error)")
                code = .failure
                break
            }
        }
        cluster.stop()
        try? FileManager.default.removeItem(atPath: file)
        return code
    }

    /// The web server of `--web`: on the default address, or any free port of 127.0.0.1 if that is taken;
    /// on a given address, or not at all.
    static func startWeb(_ options: DevOptions, cluster: EmbeddedCluster) throws(CommandFailure) -> WebServer? {
        guard let text = options.web, var address = try? HTTPServer.Configuration(address: text) else { return nil }
        let metrics = MetricsEndpoint(services: cluster.counters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        // The dashboard reads the API inproc; with a cluster file's keys it speaks with the local admin's.
        let curve: (pair: KeyPair, serverKey: String)?
        do {
            curve = try ClusterKeys.client(of: cluster.configuration, key: nil)
        } catch {
            throw CommandFailure(code: .failure, message: "the dashboard cannot speak to management: \(error)")
        }
        let endpoint = cluster.api[0]
        let context = cluster.context
        func serve(_ address: HTTPServer.Configuration) throws -> WebServer {
            let dashboard = Dashboard(
                access: .init(key: curve?.pair.identity.name, role: curve?.pair.identity.role.rawValue),
                relay: APIRelay { try APIClient(endpoint: endpoint, context: context, curve: curve) })
            do {
                return try WebServer(address, name: "dev", metrics: metrics, dashboard: dashboard)
            } catch {
                dashboard.stop()
                throw error
            }
        }
        do {
            return try serve(address)
        } catch where !options.webGiven {
            address.port = 0
            do {
                return try serve(address)
            } catch {
                throw CommandFailure(code: .failure, message: "cannot serve the web pages: \(error)")
            }
        } catch {
            throw CommandFailure(code: .failure, message: "cannot serve the web pages on \(text): \(error) (choose another with --web HOST:PORT, or --no-web)")
        }
    }

    /// How the services trust each other, in a line.
    static func security(_ cluster: ClusterConfiguration, console: any Console) -> String {
        switch cluster.security {
        case .keys(let folder): return "encrypted (CURVE) with the keys in \(folder)/"
        case .none where cluster.file.isEmpty:
            return "keyless: inproc:// inside this process, and the API and the shards' work sockets on 127.0.0.1 only"
        case .none: return "NOT encrypted: \"security\": \"none\"; anyone who reaches a port can act on it"
        }
    }

    /// `1 shard, 2 workers × 4 slots`.
    static func shape(_ cluster: ClusterConfiguration) -> String {
        let workers = cluster.pools.map(\.workers).reduce(0, +)
        let slots = Set(cluster.pools.map(\.slots))
        let each = slots.count == 1 ? " × \(slots.first!) slots" : ""
        return "\(cluster.shards.count) shard\(cluster.shards.count == 1 ? "" : "s"), \(workers) worker\(workers == 1 ? "" : "s")\(each)"
    }
}

/// SIGINT, SIGTERM and SIGHUP, blocked in every thread and taken synchronously by one.
struct StopSignals {
    private var set = sigset_t()

    init() {
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The signal received, or nil after `milliseconds`.
    mutating func wait(milliseconds: Int) -> Int32? {
        var timeout = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        let signal = sigtimedwait(&set, nil, &timeout)
        return signal > 0 ? signal : nil
    }
}

extension DataLock {
    /// The lock of `folder`, or the reason it cannot be had, for a command to report.
    static func take(_ folder: String) throws(CommandFailure) -> DataLock {
        do {
            return try DataLock(folder)
        } catch {
            throw CommandFailure(code: .failure, message: error.message)
        }
    }
}
