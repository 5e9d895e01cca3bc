public import Core
import Foundation
import Synchronization
public import Store
public import ZeroMQ

/// All of Baton in one process: management, the orchestrator, shards, a timer and workers, each on its
/// own event-loop thread, talking over `inproc://` (or `tcp://127.0.0.1`, or a cluster file's
/// endpoints), with their stores under one folder.
///
/// This is `baton dev` and `baton demo`, and the harness of the system tests. Its services are planned
/// by ``ServicePlan`` from a ``ClusterConfiguration``, exactly as the processes of `baton up` are;
/// only the endpoints and the environment differ.
public final class EmbeddedCluster {
    /// A cluster of one machine's shape, for `baton dev` and the tests. What is left nil takes the
    /// cluster's default (``ClusterConfiguration``).
    public struct Options: Sendable {
        /// The folder for the stores and the attempts' logs.
        public var data: String
        public var shards: Int = 1
        /// Workers, in one pool named `dev` that pulls from every shard.
        public var workers: Int = 2
        /// Slots per worker.
        public var slots: Int?
        /// How the shards choose among products with work waiting.
        public var fairness: Fairness?
        /// Free worker slots each shard holds back for products under their fair share (fair mode).
        public var headroom: Int?
        /// How long a stopping worker lets running attempts finish, in milliseconds: 0 unless set,
        /// since a test harness stops at once; nil for the cluster's default, as `baton dev` has it.
        public var drain: Int64? = 0
        public var handlers: Handlers = .builtIn
        /// Where the management API listens for the CLI, besides inproc; `tcp://127.0.0.1:*` picks a free port.
        public var api: String? = "tcp://127.0.0.1:*"
        /// Whether services talk over TCP on 127.0.0.1 instead of inproc.
        public var overTCP = false
        public var synchronous: Database.Synchronous?
        public var log: Log.Level = .warning
        /// Whether a timer runs, firing the flows' schedules.
        public var timer = true
        /// Where time zones are found.
        public var zones: ZoneLookup = SystemZones.shared.lookup
        /// A write-fault seam for the shards' stores, for tests (see ``ShardSettings/storeFault``).
        public var shardFault: (@Sendable (String) -> Int32?)?
        /// The shards' clock: a seam for tests.
        public var shardClock: any WallClock = SystemClock()

        public init(data: String) { self.data = data }

        /// The cluster these options describe: its endpoints inproc (or on free ports of 127.0.0.1 with
        /// ``overTCP``), its folders under ``data`` as a cluster file's would be.
        public func configuration() throws -> ClusterConfiguration {
            let endpoint = { (name: String) throws -> String in
                overTCP ? "tcp://127.0.0.1:\(try FreePort.find())" : "inproc://baton/\(name)"
            }
            let shards = try (1...UInt32(max(self.shards, 1))).map { id in
                var shard = ClusterConfiguration.Shard(
                    id: id, submit: try endpoint("shard-\(id)/submit"), work: try endpoint("shard-\(id)/work"),
                    events: try endpoint("shard-\(id)/events"), data: DataLayout.shard(id, under: data))
                if let fairness { shard.fairness = fairness }
                if let headroom { shard.headroom = headroom }
                return shard
            }
            var pool = ClusterConfiguration.Pool(name: "dev", shards: shards.map(\.id), data: DataLayout.pool("dev", under: data))
            pool.workers = workers
            if let slots { pool.slots = slots }
            if let drain { pool.drain = drain }
            // inproc and loopback only: the one keyless way to run Baton.
            var cluster = ClusterConfiguration(
                data: data, management: .init(api: "inproc://baton/api", data: DataLayout.management(under: data)),
                orchestrator: .init(
                    ops: try endpoint("orchestrator/ops"), events: try endpoint("orchestrator/events"),
                    data: DataLayout.orchestrator(under: data)),
                shards: shards, pools: workers > 0 ? [pool] : [], timer: .init(data: DataLayout.timer(under: data)))
            if let synchronous { cluster.durability = synchronous }
            cluster.security = .none
            return cluster
        }

        /// What the services take from this process.
        var environment: ServiceEnvironment {
            var environment = ServiceEnvironment(log: Log(service: "baton", level: log))
            environment.handlers = handlers
            environment.zones = zones
            environment.shardFault = shardFault
            environment.shardClock = shardClock
            environment.additionalAPI = api.map { [$0] } ?? []
            return environment
        }
    }

    /// The shared context; inproc endpoints live in it.
    public let context: Context
    /// The cluster its services were planned from.
    public let configuration: ClusterConfiguration
    /// The management API's endpoints as bound: the cluster's first, then any other (`baton dev`'s TCP one).
    public private(set) var api: [String] = []
    /// Each shard's `work` endpoints as bound, by shard: the cluster's first, then any other (`baton dev`'s
    /// loopback TCP one, for workers in other processes).
    public var work: [UInt32: [String]] { boundWork.get() }
    private let boundWork = BoundWork()
    /// Every service's thread, in start order.
    public private(set) var services: [ServiceThread] = []
    /// Each service's counters, by service name (`shard-1`, `orchestrator`, `management`).
    public private(set) var counters: [String: ServiceCounters] = [:]
    /// The data folders the services hold, as their processes would.
    private var locks: [DataLock] = []
    /// Who may connect to the services' sockets, in a cluster with keys.
    public private(set) var gate: Gatekeeper?

    /// Each shard's endpoints, as clients reach them.
    public var shardAddresses: [ShardAddress] { configuration.shards.map(\.address) }
    /// The orchestrator's operations endpoint.
    public var orchestratorOps: String { configuration.orchestrator.ops }

    /// Starts a cluster of `options`' shape; throws (after stopping what started) if any service cannot start.
    public convenience init(_ options: Options) throws {
        try self.init(try options.configuration(), environment: options.environment, timer: options.timer)
    }

    /// Starts every service of `configuration` in this process (the timer only if `timer`); throws
    /// (after stopping what started) if any cannot start.
    public init(_ configuration: ClusterConfiguration, environment: ServiceEnvironment, timer: Bool = true) throws {
        self.configuration = configuration
        context = try Context()
        do {
            try FileManager.default.createDirectory(atPath: configuration.data, withIntermediateDirectories: true)
            let bound = BoundEndpoints()
            var environment = environment
            environment.apiBound = { bound.set($0) }
            let work = boundWork
            environment.workBound = { work.set($1, of: $0) }
            // With keys, the gatekeeper answers for every socket of the context: before the first binds.
            if case .keys(let folder) = configuration.security {
                let ring = try environment.keyRing ?? KeyRing(folder: folder)
                environment.keyRing = ring
                gate = try Gatekeeper(context: context, ring: ring, log: environment.log.named("gate"))
            }
            for role in configuration.roles where timer || role != .timer(index: 1) {
                let plan = try ServicePlan(role, of: configuration, environment: environment)
                try launch(plan)
                // Management answers on its API once bound: wait for that, as a process's "ready" does.
                if role == .management { api = bound.get() }
            }
        } catch {
            stop()
            throw error
        }
    }

    private func launch(_ plan: ServicePlan) throws {
        locks.append(try DataLock(plan.folder))
        counters[plan.name] = plan.counters
        let context = self.context
        let gate = self.gate
        let service = try ServiceThread(name: plan.name) { control in try plan.run(context: context, gate: gate, control: control) }
        try service.start()
        services.append(service)
    }

    /// The first service that stopped on its own, with its error: a cluster with a failed service is broken.
    public var failure: (name: String, error: any Error)? {
        for service in services { if let error = service.failure { return (service.name, error) } }
        return nil
    }

    /// Stops every service, in reverse start order, and lets go of their folders.
    public func stop() {
        for service in services.reversed() { service.stop() }
        services = []
        gate?.stop()
        for lock in locks { lock.release() }
        locks = []
    }

    deinit { stop() }
}

/// Each shard's `work` endpoints as its thread bound them.
final class BoundWork: Sendable {
    private let value = Mutex<[UInt32: [String]]>([:])
    func set(_ endpoints: [String], of shard: UInt32) { value.withLock { $0[shard] = endpoints } }
    func get() -> [UInt32: [String]] { value.withLock { $0 } }
}

/// The API endpoints management bound, handed from its thread to the cluster's.
final class BoundEndpoints: Sendable {
    private let value = Mutex<[String]>([])
    func set(_ endpoints: [String]) { value.withLock { $0 = endpoints } }
    func get() -> [String] { value.withLock { $0 } }
}
