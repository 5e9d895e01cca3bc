public import Core
import Foundation
import Synchronization
public import Store
public import ZeroMQ

/// All of Baton in one process: management, the orchestrator, shards and workers, each on its own
/// event-loop thread, talking over `inproc://` (or `tcp://127.0.0.1`), with their stores in one folder.
///
/// This is `baton dev` and `baton demo`, and the harness of the system tests. The services are the
/// same ones that run as separate processes; only the endpoints differ.
public final class EmbeddedCluster {
    /// How to assemble the cluster.
    public struct Options: Sendable {
        /// The folder for the stores and the attempts' logs.
        public var data: String
        public var shards: Int = 1
        public var workers: Int = 2
        /// Slots per worker.
        public var slots: Int = 4
        /// How the shards choose among products with work waiting.
        public var fairness: Fairness = .fair
        /// Free worker slots each shard holds back for products under their fair share (fair mode).
        public var headroom = 0
        public var handlers: Handlers = .builtIn
        /// Where the management API listens for the CLI, besides inproc; `tcp://127.0.0.1:*` picks a free port.
        public var api: String? = "tcp://127.0.0.1:*"
        /// Whether services talk over TCP on 127.0.0.1 instead of inproc.
        public var overTCP = false
        public var synchronous: Database.Synchronous = .normal
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
    }

    /// The shared context; inproc endpoints live in it.
    public let context: Context
    /// The management API's endpoints: the inproc one first, then the TCP one if any.
    public private(set) var api: [String] = []
    /// Every service's thread, in start order.
    public private(set) var services: [ServiceThread] = []
    public let options: Options
    /// Each shard's endpoints, as clients reach them.
    public private(set) var shardAddresses: [ShardAddress] = []
    /// The endpoints of the orchestrator.
    public private(set) var orchestratorOps = ""
    /// Each service's counters, by service name (`shard-1`, `flow`, `management`).
    public private(set) var counters: [String: ServiceCounters] = [:]

    /// Starts every service; throws (after stopping what started) if any cannot start.
    public init(_ options: Options) throws {
        self.options = options
        context = try Context()
        do {
            try start()
        } catch {
            stop()
            throw error
        }
    }

    private func endpoint(_ name: String) throws -> String {
        options.overTCP ? "tcp://127.0.0.1:\(try FreePort.find())" : "inproc://baton/\(name)"
    }

    private func start() throws {
        try FileManager.default.createDirectory(atPath: options.data, withIntermediateDirectories: true)
        let log = Log(service: "baton", level: options.log)
        let context = self.context
        for shard in 1...UInt32(options.shards) {
            let address = ShardAddress(
                shard: shard, submit: try endpoint("shard-\(shard)/submit"), work: try endpoint("shard-\(shard)/work"),
                events: try endpoint("shard-\(shard)/events"))
            var configuration = ShardConfiguration(shard: shard)
            configuration.fairness = options.fairness
            configuration.headroom = options.headroom
            var settings = ShardSettings(
                configuration: configuration, store: "\(options.data)/shard-\(shard).db",
                synchronous: options.synchronous, submit: [address.submit], work: [address.work], events: [address.events])
            settings.storeFault = options.shardFault
            let shardSettings = settings
            let counters = counter("shard-\(shard)")
            let clock = options.shardClock
            try launch("shard-\(shard)") { control in
                try ShardService.run(
                    shardSettings, context: context, clock: clock, log: log.named("shard-\(shard)"), control: control, counters: counters)
            }
            shardAddresses.append(address)
        }
        let ops = try endpoint("flow/ops")
        let events = try endpoint("flow/events")
        let orchestrator = OrchestratorSettings(
            store: "\(options.data)/flow.db", synchronous: options.synchronous, ops: [ops], events: [events],
            shards: shardAddresses)
        orchestratorOps = ops
        let flowCounters = counter("flow")
        try launch("flow") { control in
            try OrchestratorService.run(orchestrator, context: context, log: log.named("flow"), control: control, counters: flowCounters)
        }
        let inprocAPI = "inproc://baton/api"
        var settings = ManagementSettings(
            shards: shardAddresses.map(\.shard), store: "\(options.data)/management.db", synchronous: options.synchronous,
            api: [inprocAPI] + (options.api.map { [$0] } ?? []), orchestratorOps: ops, orchestratorEvents: events)
        settings.configuration.zones = options.zones
        let management = settings
        let bound = BoundEndpoints()
        let managementCounters = counter("management")
        try launch("management") { control in
            try ManagementService.run(
                management, context: context, log: log.named("management"), control: control, counters: managementCounters
            ) { bound.set($0) }
        }
        api = bound.get()
        if options.timer {
            var timer = TimerSettings(api: inprocAPI, name: "\(WorkerService.hostName())/dev/timer")
            timer.zones = options.zones
            let timerSettings = timer
            try launch("timer") { control in
                try TimerService.run(timerSettings, context: context, log: log.named("timer"), control: control)
            }
        }
        for index in 0..<options.workers {
            let settings = WorkerSettings(
                name: "\(WorkerService.hostName())/dev/\(index + 1)", slots: options.slots, shards: shardAddresses.map(\.work),
                logs: "\(options.data)/logs", handlers: options.handlers)
            try launch("worker-\(index + 1)") { control in
                try WorkerService.run(settings, context: context, log: log.named("worker-\(index + 1)"), control: control)
            }
        }
    }

    private func counter(_ name: String) -> ServiceCounters {
        let counters = ServiceCounters()
        self.counters[name] = counters
        return counters
    }

    private func launch(_ name: String, _ body: @escaping @Sendable (ServiceControl) throws -> Void) throws {
        let service = try ServiceThread(name: name, body: body)
        try service.start()
        services.append(service)
    }

    /// The first service that stopped on its own, with its error: a cluster with a failed service is broken.
    public var failure: (name: String, error: any Error)? {
        for service in services { if let error = service.failure { return (service.name, error) } }
        return nil
    }

    /// Stops every service, in reverse start order.
    public func stop() {
        for service in services.reversed() { service.stop() }
        services = []
    }

    deinit { stop() }
}

/// The API endpoints management bound, handed from its thread to the cluster's.
final class BoundEndpoints: Sendable {
    private let value = Mutex<[String]>([])
    func set(_ endpoints: [String]) { value.withLock { $0 = endpoints } }
    func get() -> [String] { value.withLock { $0 } }
}
