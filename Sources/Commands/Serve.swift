import Core
import Foundation
import Glibc
import Runtime
import Store
import ZeroMQ

/// Reading the cluster file, for every command that takes `--config`.
enum Cluster {
    static func load(_ file: String) throws(CommandFailure) -> ClusterConfiguration {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw CommandFailure(code: .failure, message: "\(file): cannot read the cluster file")
        }
        switch ClusterFile.parse(text, file: file) {
        case .success(let configuration): return configuration
        case .failure(let error):
            throw CommandFailure(code: .failure, message: "the cluster file is invalid:\n" + error.description)
        }
    }
}

/// One service of a cluster as a process: `baton shard --config FILE --id 2`, and the others.
enum Serve {
    static func run(_ role: ServiceRole, config file: String, console: any Console) throws(CommandFailure) -> ExitCode {
        let cluster = try Cluster.load(file)
        let (name, folder, body) = try plan(role, cluster: cluster)
        let lock = try DataLock(folder)
        defer { lock.release() }
        var signals = StopSignals()
        let context: Context
        let service: ServiceThread
        do {
            context = try Context()
            service = try ServiceThread(name: name) { control in try body(context, control) }
            try service.start()
        } catch {
            throw CommandFailure(code: .failure, message: "\(name) cannot start: \(error)")
        }
        // `baton up` waits on this descriptor for the word that the service is ready.
        if let text = ProcessInfo.processInfo.environment["BATON_READY_FD"], let descriptor = Int32(text) {
            _ = "ready\n".withCString { write(descriptor, $0, 6) }
            close(descriptor)
        }
        while true {
            if let failure = service.failure {
                throw CommandFailure(code: .failure, message: "\(name) stopped: \(failure)")
            }
            if signals.wait(milliseconds: 500) != nil { break }
        }
        if let failure = service.stop() {
            throw CommandFailure(code: .failure, message: "\(name) stopped: \(failure)")
        }
        return .success
    }

    typealias Body = @Sendable (Context, ServiceControl) throws -> Void

    /// The service's name, its data folder, and the loop to run.
    static func plan(_ role: ServiceRole, cluster: ClusterConfiguration) throws(CommandFailure) -> (String, String, Body) {
        let log = Log(service: role.name(), level: Log.Level(named: ProcessInfo.processInfo.environment["BATON_LOG"]) ?? .info)
        let durability = cluster.durability
        switch role {
        case .management:
            var settings = ManagementSettings(
                shards: cluster.shards.map(\.id), store: "\(cluster.management.data)/management.db", synchronous: durability,
                api: [cluster.management.api], orchestratorOps: cluster.flow.ops, orchestratorEvents: cluster.flow.events)
            settings.configuration.zones = SystemZones.shared.lookup
            let management = settings
            return (role.name(), cluster.management.data, { try ManagementService.run(management, context: $0, log: log, control: $1) })
        case .flow:
            let settings = OrchestratorSettings(
                store: "\(cluster.flow.data)/flow.db", synchronous: durability, ops: [cluster.flow.ops],
                events: [cluster.flow.events], shards: cluster.shards.map(\.address))
            return (role.name(), cluster.flow.data, { try OrchestratorService.run(settings, context: $0, log: log, control: $1) })
        case .shard(let id):
            guard let shard = cluster.shard(id) else {
                throw CommandFailure(code: .failure, message: "\(cluster.file) defines no shard \(id) (it defines \(cluster.shards.map { String($0.id) }.joined(separator: ", ")))")
            }
            var configuration = ShardConfiguration(shard: id)
            configuration.heartbeat = cluster.heartbeat
            configuration.fairness = shard.fairness
            configuration.headroom = shard.headroom
            let settings = ShardSettings(
                configuration: configuration, store: "\(shard.data)/shard.db", synchronous: durability, submit: [shard.submit],
                work: [shard.work], events: [shard.events])
            return (role.name(), shard.data, { try ShardService.run(settings, context: $0, log: log, control: $1) })
        case .worker(let name, let index):
            guard let pool = name.flatMap(cluster.pool) ?? (name == nil && cluster.pools.count == 1 ? cluster.pools[0] : nil) else {
                let known = cluster.pools.map(\.name).joined(separator: ", ")
                throw CommandFailure(
                    code: .failure,
                    message: name.map { "\(cluster.file) defines no pool \"\($0)\" (pools: \(known))" } ?? "give the pool with --pool NAME (pools: \(known))")
            }
            let processName = role.name(pool: pool.name)
            var settings = WorkerSettings(
                name: "\(hostName())/\(pool.name)/\(index)", slots: pool.slots,
                shards: pool.shards.compactMap { cluster.shard($0)?.work }, logs: "\(pool.data)/logs")
            settings.configuration.tags = pool.tags
            settings.configuration.commands = pool.commands
            settings.configuration.heartbeat = cluster.heartbeat
            settings.drain = 30_000
            let worker = settings
            return (processName, "\(pool.data)/worker-\(index)", { try WorkerService.run(worker, context: $0, log: log.named(processName), control: $1) })
        case .timer(let index):
            var settings = TimerSettings(api: cluster.management.api, name: "\(hostName())/timer/\(index)")
            settings.grace = cluster.timer.grace
            let timer = settings
            return (role.name(), Self.timerFolder(cluster, index), { try TimerService.run(timer, context: $0, log: log, control: $1) })
        }
    }

    static func hostName() -> String { Formatting.localHost }

    /// The folder timer `index` locks: the cluster file's for the first, beside it for the others.
    static func timerFolder(_ cluster: ClusterConfiguration, _ index: Int) -> String {
        index == 1 ? cluster.timer.data : "\(cluster.timer.data)-\(index)"
    }
}
