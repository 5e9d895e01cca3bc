public import Core
public import Store

/// A cluster of Baton services: where every service listens, the shards, the worker pools, where data
/// goes and how durable commits are. A cluster file describes one (`docs/cluster.md`), and every process
/// of the cluster and every client command reads the same file; `baton dev` and the test harness build
/// one in memory. Either way, ``ServicePlan`` turns it into the services that run.
public struct ClusterConfiguration: Sendable, Equatable {
    /// The file it was read from (empty for one built in memory).
    public var file: String
    /// The folder under which each service keeps its data, unless it names its own.
    public var data: String
    /// How hard SQLite syncs each commit.
    public var durability = Database.defaultSynchronous
    /// The heartbeat interval workers ask for, in milliseconds.
    public var heartbeat = Defaults.heartbeat
    /// Whether its connections are CURVE, and where its keys are.
    public var security: Security
    /// How long finished runs (and their firings) are kept, and the audit log, in milliseconds.
    public var retention = Defaults.retention
    public var auditRetention = Defaults.auditRetention
    /// How long the orchestrator's and the shards' event logs keep every message (beyond their last
    /// 100,000), in milliseconds: at most `retention`.
    public var eventRetention = Defaults.eventRetention
    /// The most each event log keeps, in octets.
    public var eventLogSize = Defaults.eventLogSize
    public var management: Management
    public var orchestrator: Orchestrator
    public var shards: [Shard]
    public var pools: [Pool]
    public var timer: Timer
    /// What the file said in the words of an earlier release, which still work: each a sentence
    /// naming the old form and the new, for the reader to warn about.
    public var deprecations: [String] = []

    public init(
        file: String = "", data: String, management: Management, orchestrator: Orchestrator, shards: [Shard], pools: [Pool],
        timer: Timer
    ) {
        self.file = file
        self.data = data
        self.security = .keys(folder: DataLayout.keys(under: data))
        self.management = management
        self.orchestrator = orchestrator
        self.shards = shards
        self.pools = pools
        self.timer = timer
    }

    /// How the cluster's processes trust each other (`docs/security.md`).
    public enum Security: Sendable, Equatable {
        /// Every TCP connection is CURVE, with the keys of this folder: `NAME.key` public keys, and each
        /// process's own `NAME.secret`.
        case keys(folder: String)
        /// Plain TCP: anyone who reaches a port owns the cluster. Only for `baton dev` on inproc and
        /// loopback, or on purpose, with a warning at every start.
        case none
    }

    public struct Management: Sendable, Equatable {
        /// The API's endpoint (ROUTER): bound by management, connected to by clients and timers.
        public var api: String
        public var data: String
        /// Where it serves `/metrics` over HTTP (`HOST:PORT`); nil for nowhere.
        public var metrics: String?

        public init(api: String, data: String) {
            self.api = api
            self.data = data
        }
    }

    public struct Orchestrator: Sendable, Equatable {
        /// Operations from management, and catch-up (ROUTER).
        public var ops: String
        /// Run events (PUB).
        public var events: String
        public var data: String
        /// Where it serves `/metrics` over HTTP (`HOST:PORT`); nil for nowhere.
        public var metrics: String?

        public init(ops: String, events: String, data: String) {
            self.ops = ops
            self.events = events
            self.data = data
        }
    }

    public struct Shard: Sendable, Equatable {
        public var id: UInt32
        /// Submissions (PULL).
        public var submit: String
        /// Workers, and catch-up (ROUTER).
        public var work: String
        /// Job events (PUB).
        public var events: String
        public var data: String
        /// How it chooses among products with work waiting.
        public var fairness = Fairness.fair
        /// Free worker slots held back for products under their fair share (see ``ShardConfiguration/headroom``).
        public var headroom = Defaults.headroom
        /// Where it serves `/metrics` over HTTP (`HOST:PORT`); nil for nowhere.
        public var metrics: String?

        public init(id: UInt32, submit: String, work: String, events: String, data: String) {
            self.id = id
            self.submit = submit
            self.work = work
            self.events = events
            self.data = data
        }

        /// The shard's endpoints as its clients reach them.
        public var address: ShardAddress { ShardAddress(shard: id, submit: submit, work: work, events: events) }
    }

    public struct Pool: Sendable, Equatable {
        public var name: String
        /// Where its first worker serves `/metrics` (`HOST:PORT`); worker N on the port N - 1 above it.
        public var metrics: String?
        /// Tasks each worker of the pool runs at once.
        public var slots = Defaults.slots
        /// The shards its workers pull from.
        public var shards: [UInt32]
        public var tags: [String] = []
        /// Whether its workers run commands (else handlers only).
        public var commands = true
        /// Worker processes `baton up` starts for the pool, and workers `baton dev` runs.
        public var workers = 1
        /// The products whose tasks its workers may take; nil for any.
        public var products: Set<String>?
        /// How long a stopping worker lets its running attempts finish, in milliseconds.
        public var drain = Defaults.drain
        public var data: String

        public init(name: String, shards: [UInt32], data: String) {
            self.name = name
            self.shards = shards
            self.data = data
        }
    }

    public struct Timer: Sendable, Equatable {
        public var data: String
        /// How late a firing may be and still count as on time, in milliseconds.
        public var grace = Defaults.timerGrace
        /// Where it serves `/metrics` over HTTP (`HOST:PORT`); nil for nowhere.
        public var metrics: String?

        public init(data: String) { self.data = data }
    }

    /// The shard with `id`.
    public func shard(_ id: UInt32) -> Shard? { shards.first { $0.id == id } }
    /// The pool named `name`.
    public func pool(_ name: String) -> Pool? { pools.first { $0.name == name } }
}

/// Where each service keeps its data, written once for the cluster file, `baton dev` and the tests.
public enum DataLayout {
    /// A service's folder under the cluster's data folder, when the configuration names none.
    public static func management(under base: String) -> String { "\(base)/management" }
    public static func orchestrator(under base: String) -> String { "\(base)/orchestrator" }
    public static func shard(_ id: UInt32, under base: String) -> String { "\(base)/shard-\(id)" }
    public static func pool(_ name: String, under base: String) -> String { "\(base)/pool-\(name)" }
    public static func timer(under base: String) -> String { "\(base)/timer" }
    /// The folder of a cluster's keys, when the configuration names none.
    public static func keys(under base: String) -> String { "\(base)/keys" }

    /// A service's store, in its folder.
    public static func managementStore(in folder: String) -> String { "\(folder)/management.db" }
    public static func orchestratorStore(in folder: String) -> String { "\(folder)/orchestrator.db" }
    public static func shardStore(in folder: String) -> String { "\(folder)/shard.db" }
    /// Where a pool's workers write their attempts' logs.
    public static func logs(in poolFolder: String) -> String { "\(poolFolder)/logs" }

    /// Stores of earlier releases that a service adopts (moves to its current path) when its own store
    /// does not exist yet: the orchestrator's was `flow.db` in the `flow` folder, and `baton dev` kept
    /// every store directly in its data folder.
    static func legacyStores(of role: ServiceRole, in cluster: ClusterConfiguration) -> [String] {
        switch role {
        case .management:
            return ["\(cluster.data)/management.db"]
        case .orchestrator:
            return ["\(cluster.orchestrator.data)/flow.db", "\(cluster.data)/flow/flow.db", "\(cluster.data)/flow.db"]
        case .shard(let id):
            return ["\(cluster.data)/shard-\(id).db"]
        case .worker, .timer:
            return []
        }
    }
}

extension ClusterConfiguration {
    /// The store of `role`'s service, if it has one.
    public func storePath(of role: ServiceRole) -> String? {
        switch role {
        case .management: DataLayout.managementStore(in: management.data)
        case .orchestrator: DataLayout.orchestratorStore(in: orchestrator.data)
        case .shard(let id): shard(id).map { DataLayout.shardStore(in: $0.data) }
        case .worker, .timer: nil
        }
    }
}
