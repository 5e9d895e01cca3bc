public import Core
import Foundation
public import HTTP
public import ZeroMQ

/// What a service takes from where it runs rather than from the cluster's configuration. A process
/// of a cluster takes these defaults; `baton dev` and the tests put their own in.
public struct ServiceEnvironment: Sendable {
    /// The log each service writes to, under its own name.
    public var log: Log
    /// This machine's name, in the names of workers and timers (`HOST/POOL/N`, `HOST/timer/N`).
    public var host = WorkerService.hostName()
    /// The handlers workers offer.
    public var handlers: Handlers = .builtIn
    /// Where time zones are found.
    public var zones: ZoneLookup = SystemZones.shared.lookup
    /// The shards' clock: a seam for tests.
    public var shardClock: any WallClock = SystemClock()
    /// A write-fault seam for the shards' stores, for tests (see ``ShardSettings/storeFault``).
    public var shardFault: (@Sendable (String) -> Int32?)?
    /// Endpoints management's API binds besides the cluster's (`baton dev`'s TCP one beside inproc).
    public var additionalAPI: [String] = []
    /// Receives the API endpoints as management bound them, with the ports the system chose.
    public var apiBound: @Sendable ([String]) -> Void = { _ in }
    /// Endpoints each shard's `work` socket binds besides the cluster's (`baton dev`'s loopback TCP one
    /// beside inproc, for workers in other processes), and what each shard bound, with the ports chosen.
    public var additionalWork: [String] = []
    public var workBound: @Sendable (_ shard: UInt32, _ endpoints: [String]) -> Void = { _, _ in }
    /// The keys this process trusts, when the cluster has keys: read once per process, shared by its
    /// gatekeeper and its services, read again on SIGHUP.
    public var keyRing: KeyRing?
    /// Folders this process already holds the lock of (`baton dev`'s data folder): a service adopting a
    /// store of the earlier layout from one of them need not, and could not, lock it again.
    public var heldFolders: Set<String> = []

    public init(log: Log) { self.log = log }
}

/// One service of a cluster, ready to run: built from the cluster's configuration and its environment
/// alone, the same way for a process of `baton up` and for a thread of `baton dev`, so that every
/// setting and every default means the same in both.
public struct ServicePlan: Sendable {
    public let role: ServiceRole
    /// Its name in logs, pid files and counters.
    public let name: String
    /// The folder it keeps its data in, which its process locks.
    public let folder: String
    /// What it counts, readable while it runs.
    public let counters = ServiceCounters()
    /// Its keys, in a cluster with keys.
    public let keys: ServiceKeys?
    /// Where its process serves `/metrics`, if the cluster file says (`metrics` of its section).
    public let metrics: HTTPServer.Configuration?
    private let body: @Sendable (Context, ServiceControl, ServiceCounters, LoopSecurity?) throws -> Void

    /// Runs the service on the calling thread until `control` stops it. In a cluster with keys, `gate` is
    /// its process's gatekeeper, made for `context` before any service binds.
    public func run(context: Context, gate: Gatekeeper?, control: ServiceControl) throws {
        var security: LoopSecurity?
        if let keys {
            guard let gate else { throw ServiceError("\(name) has keys but its process has no gatekeeper to check who connects") }
            security = LoopSecurity(service: name, keys: keys, gate: gate)
        }
        try body(context, control, counters, security)
    }

    /// Plans `role`'s service of `cluster`; throws if the configuration has no such service, or if, in a
    /// cluster with keys, its own secret key or the public key of a server it connects to is missing.
    public init(_ role: ServiceRole, of cluster: ClusterConfiguration, environment: ServiceEnvironment) throws(ServiceError) {
        self.role = role
        let durability = cluster.durability
        let log = environment.log
        let place = try Self.place(of: role, in: cluster)
        var pool: ClusterConfiguration.Pool?
        if case .worker(let poolName, _) = role { pool = poolName.flatMap(cluster.pool) ?? cluster.pools.first }
        metrics = Self.metricsAddress(of: role, pool: pool, in: cluster)
        switch cluster.security {
        case .none:
            keys = nil
        case .keys(let folder):
            guard let ring = environment.keyRing else { throw ServiceError("the cluster has keys in \(folder), but they were not read") }
            do {
                keys = try ClusterPolicy.keys(for: role, pool: pool?.name, in: cluster, folder: folder, ring: ring)
            } catch let error as ServiceError {
                throw error
            } catch {
                throw ServiceError("\(error)")
            }
        }
        switch role {
        case .management:
            (name, folder) = place
            let store = DataLayout.managementStore(in: folder)
            var settings = ManagementSettings(
                shards: cluster.shards.map(\.id), store: store, synchronous: durability,
                api: [cluster.management.api] + environment.additionalAPI, orchestratorOps: cluster.orchestrator.ops,
                orchestratorEvents: cluster.orchestrator.events)
            settings.configuration.zones = environment.zones
            settings.configuration.retention = cluster.retention
            settings.configuration.auditRetention = cluster.auditRetention
            let management = settings
            let legacy = DataLayout.legacyStores(of: role, in: cluster)
            let bound = environment.apiBound
            let held = environment.heldFolders
            body = { [name] context, control, counters, security in
                try LegacyStore.adopt(legacy, as: store, held: held, log: log.named(name))
                try ManagementService.run(management, context: context, log: log.named(name), control: control, counters: counters, security: security, bound: bound)
            }
        case .orchestrator:
            (name, folder) = place
            let store = DataLayout.orchestratorStore(in: folder)
            var settings = OrchestratorSettings(
                store: store, synchronous: durability, ops: [cluster.orchestrator.ops], events: [cluster.orchestrator.events],
                shards: cluster.shards.map(\.address))
            settings.retention = cluster.retention
            settings.eventRetention = cluster.eventRetention
            settings.eventLogSize = cluster.eventLogSize
            let orchestrator = settings
            let legacy = DataLayout.legacyStores(of: role, in: cluster)
            let held = environment.heldFolders
            body = { [name] context, control, counters, security in
                try LegacyStore.adopt(legacy, as: store, held: held, log: log.named(name))
                try OrchestratorService.run(orchestrator, context: context, log: log.named(name), control: control, counters: counters, security: security)
            }
        case .shard(let id):
            let shard = cluster.shard(id)!
            (name, folder) = place
            var configuration = ShardConfiguration(shard: id)
            configuration.heartbeat = cluster.heartbeat
            configuration.fairness = shard.fairness
            configuration.headroom = shard.headroom
            let store = DataLayout.shardStore(in: folder)
            var settings = ShardSettings(
                configuration: configuration, store: store, synchronous: durability, submit: [shard.submit],
                work: [shard.work] + environment.additionalWork, events: [shard.events])
            settings.storeFault = environment.shardFault
            let workBound = environment.workBound
            settings.workBound = { workBound(id, $0) }
            settings.retention = cluster.retention
            settings.eventRetention = cluster.eventRetention
            settings.eventLogSize = cluster.eventLogSize
            for pool in cluster.pools {
                if let products = pool.products { settings.poolProducts[pool.name] = products }
                settings.poolTags[pool.name] = Set(pool.tags)
            }
            let shardSettings = settings
            let legacy = DataLayout.legacyStores(of: role, in: cluster)
            let clock = environment.shardClock
            let held = environment.heldFolders
            body = { [name] context, control, counters, security in
                try LegacyStore.adopt(legacy, as: store, held: held, log: log.named(name))
                try ShardService.run(shardSettings, context: context, clock: clock, log: log.named(name), control: control, counters: counters, security: security)
            }
        case .worker(_, let index):
            let pool = pool!
            (name, folder) = place
            var settings = WorkerSettings(
                name: "\(environment.host)/\(pool.name)/\(index)", slots: pool.slots,
                shards: pool.shards.compactMap { cluster.shard($0)?.work }, logs: DataLayout.logs(in: pool.data),
                handlers: environment.handlers)
            settings.configuration.tags = pool.tags
            settings.configuration.commands = pool.commands
            settings.configuration.heartbeat = cluster.heartbeat
            settings.drain = pool.drain
            let worker = settings
            body = { [name] context, control, counters, security in
                try WorkerService.run(worker, context: context, log: log.named(name), control: control, counters: counters, security: security)
            }
        case .timer(let index):
            (name, folder) = place
            var settings = TimerSettings(api: cluster.management.api, name: "\(environment.host)/timer/\(index)", zones: environment.zones)
            settings.configuration.grace = cluster.timer.grace
            let timer = settings
            body = { [name] context, control, counters, security in
                try TimerService.run(timer, context: context, log: log.named(name), control: control, counters: counters, security: security)
            }
        }
    }
}

extension ServicePlan {
    /// Where `role`'s service serves `/metrics`: its section's `metrics`; a pool's worker N on the port
    /// N - 1 above its pool's.
    static func metricsAddress(of role: ServiceRole, pool: ClusterConfiguration.Pool?, in cluster: ClusterConfiguration) -> HTTPServer.Configuration? {
        let text: String?
        var offset = 0
        switch role {
        case .management: text = cluster.management.metrics
        case .orchestrator: text = cluster.orchestrator.metrics
        case .shard(let id): text = cluster.shard(id)?.metrics
        case .timer(let index): text = index == 1 ? cluster.timer.metrics : nil
        case .worker(_, let index):
            text = pool?.metrics
            offset = index - 1
        }
        guard let text, var address = try? HTTPServer.Configuration(address: text), let port = UInt16(exactly: Int(address.port) + offset) else {
            return nil
        }
        address.port = port
        return address
    }

    /// The name and the data folder of `role`'s service, without its keys: what `baton up` and `down`
    /// need to find its process.
    public static func place(of role: ServiceRole, in cluster: ClusterConfiguration) throws(ServiceError) -> (name: String, folder: String) {
        switch role {
        case .management: return (role.name(), cluster.management.data)
        case .orchestrator: return (role.name(), cluster.orchestrator.data)
        case .shard(let id):
            guard let shard = cluster.shard(id) else {
                throw ServiceError("\(cluster.source) defines no shard \(id) (it defines \(cluster.shards.map { String($0.id) }.joined(separator: ", ")))")
            }
            return (role.name(), shard.data)
        case .worker(let poolName, let index):
            guard let pool = poolName.flatMap(cluster.pool) ?? (poolName == nil && cluster.pools.count == 1 ? cluster.pools[0] : nil) else {
                let known = cluster.pools.map(\.name).joined(separator: ", ")
                throw ServiceError(
                    poolName.map { "\(cluster.source) defines no pool \"\($0)\" (pools: \(known))" } ?? "give the pool with --pool NAME (pools: \(known))")
            }
            return (role.name(pool: pool.name), "\(pool.data)/worker-\(index)")
        case .timer(let index):
            return (role.name(), index == 1 ? cluster.timer.data : "\(cluster.timer.data)-\(index)")
        }
    }
}

extension ClusterConfiguration {
    /// Every service of the cluster, in start order: shards, the orchestrator, management, one timer,
    /// then each pool's workers. Clients' endpoints are bound before their clients connect, though
    /// ZeroMQ would wait for them.
    public var roles: [ServiceRole] {
        shards.map { .shard(id: $0.id) } + [.orchestrator, .management, .timer(index: 1)]
            + pools.flatMap { pool in (0..<pool.workers).map { ServiceRole.worker(pool: pool.name, index: $0 + 1) } }
    }

    /// How to name the configuration in an error: its file, or what built it.
    var source: String { file.isEmpty ? "the cluster" : file }
}
