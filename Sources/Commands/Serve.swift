import Core
import Foundation
import Glibc
import HTTP
import Runtime
import Store
import ZeroMQ

/// Reading the cluster file, for every command that takes `--config`.
enum Cluster {
    /// The file's cluster; what it says in an earlier release's words is warned about on `console`
    /// (services warn; clients, which only look for the API, do not).
    static func load(_ file: String, console: (any Console)? = nil) throws(CommandFailure) -> ClusterConfiguration {
        let text: String
        switch TextFile.read(file) {
        case .success(let read): text = read
        case .failure(let unreadable): throw CommandFailure(code: .failure, message: "\(file): cannot read the cluster file: \(unreadable)")
        }
        switch ClusterFile.parse(text, file: file) {
        case .success(let configuration):
            for deprecation in configuration.deprecations { console?.err("baton: warning: \(deprecation)") }
            return configuration
        case .failure(let error):
            throw CommandFailure(code: .failure, message: "the cluster file is invalid:\n" + error.description)
        }
    }
}

/// One service of a cluster as a process: `baton shard --config FILE --id 2`, and the others.
enum Serve {
    static func run(_ role: ServiceRole, config file: String, console: any Console) throws(CommandFailure) -> ExitCode {
        let cluster = try Cluster.load(file, console: console)
        let log = Log(service: "baton", level: Log.Level(named: ProcessInfo.processInfo.environment["BATON_LOG"]) ?? .info)
        var environment = ServiceEnvironment(log: log)
        let plan: ServicePlan
        let lock: DataLock
        do {
            environment.keyRing = try ClusterKeys.ring(of: cluster)
            plan = try ServicePlan(role, of: cluster, environment: environment)
            lock = try DataLock(plan.folder)
        } catch {
            throw CommandFailure(code: .failure, message: "\(error)")
        }
        defer { lock.release() }
        let name = plan.name
        ClusterKeys.warnIfPlain(cluster, log: log.named(name))
        var signals = StopSignals()
        let context: Context
        let gate: Gatekeeper?
        let service: ServiceThread
        do {
            context = try Context()
            // The gatekeeper answers for the context's sockets: made before the service binds any.
            gate = try environment.keyRing.map { try Gatekeeper(context: context, ring: $0, log: log.named(name)) }
            service = try ServiceThread(name: name) { control in try plan.run(context: context, gate: gate, control: control) }
            try service.start()
        } catch {
            throw CommandFailure(code: .failure, message: "\(name) cannot start: \(error)")
        }
        defer { gate?.stop() }
        var metrics: WebServer?
        if let address = plan.metrics {
            do {
                metrics = try WebServer(address, name: name, metrics: MetricsEndpoint(services: [(name, plan.counters)]))
            } catch {
                _ = service.stop()
                throw CommandFailure(code: .failure, message: "\(name) cannot serve its metrics: \(error)")
            }
            log.named(name).info("metrics", ["url": metrics!.url + "/metrics"])
        }
        defer { metrics?.stop() }
        // `baton up` waits on this descriptor for the word that the service is ready.
        if let text = ProcessInfo.processInfo.environment["BATON_READY_FD"], let descriptor = Int32(text) {
            _ = "ready\n".withCString { write(descriptor, $0, 6) }
            close(descriptor)
        }
        while true {
            if let failure = service.failure {
                throw CommandFailure(code: .failure, message: "\(name) stopped: \(failure)")
            }
            guard let signal = signals.wait(milliseconds: 500) else { continue }
            guard signal == SIGHUP else { break }
            ClusterKeys.reload(environment.keyRing, log: log.named(name))
            service.wake()
        }
        if let failure = service.stop() {
            throw CommandFailure(code: .failure, message: "\(name) stopped: \(failure)")
        }
        return .success
    }
}
