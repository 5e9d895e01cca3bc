public import Core
public import Store
import Wire
public import ZeroMQ

/// Where management listens, where the orchestrator is, and where management keeps its data.
public struct ManagementSettings: Sendable {
    public var configuration: ManagementConfiguration
    public var store: String
    public var synchronous: Database.Synchronous
    /// Endpoints to bind for the API (ROUTER).
    public var api: [String]
    /// The orchestrator's `ops` and `events` endpoints.
    public var orchestratorOps: String
    public var orchestratorEvents: String

    public init(
        shards: [UInt32], store: String, synchronous: Database.Synchronous = Database.defaultSynchronous, api: [String], orchestratorOps: String,
        orchestratorEvents: String
    ) {
        self.configuration = ManagementConfiguration(shards: shards)
        self.store = store
        self.synchronous = synchronous
        self.api = api
        self.orchestratorOps = orchestratorOps
        self.orchestratorEvents = orchestratorEvents
    }
}

/// Management as ``ServiceLoop`` runs it: the API ROUTER, a DEALER to the orchestrator, and a SUB to its
/// events, around a ``ManagementCore`` and its store.
public struct ManagementService: Service {
    static let api = 0, orchestrator = 1, orchestratorEvents = 2

    let settings: ManagementSettings
    var core: ManagementCore
    let store: ManagementStore
    let bound: @Sendable ([String]) -> Void
    /// The keys the process trusts, for `keys`; nil without keys.
    var keys: KeyRing?
    /// When retention last deleted, a little at a time, once a second.
    var lastTrim = Timestamp.zero
    /// The loop's counters: a request refused for its caller's role counts among the messages refused
    /// because of who sent them.
    var counters = ServiceCounters()

    var name: String { "management" }
    var kind: String { "management service" }
    var turnBudget: Int { 1000 }

    var sockets: [SocketPlan] {
        var api = SocketPlan.router("api", binding: settings.api, bound: bound)
        // An API request is at most a 16 MiB body: a client can make management hold no larger message.
        api.maximumMessage = Limits.chunk + 4096
        return [
            api, .dealer("orchestrator", to: settings.orchestratorOps),
            .subscriber("orchestrator events", to: [settings.orchestratorEvents], topic: StreamNames.runTopic),
        ]
    }

    /// Runs management; `bound` receives the API endpoints as bound (with the ports the OS chose).
    public static func run(
        _ settings: ManagementSettings, context: Context, clock: any WallClock = SystemClock(), log: Log,
        control: ServiceControl, counters: ServiceCounters = ServiceCounters(), security: LoopSecurity? = nil,
        bound: @escaping @Sendable ([String]) -> Void = { _ in }
    ) throws {
        var service = try open(settings, now: clock.now(), bound: bound)
        service.keys = security?.gate.ring
        service.counters = counters
        var loop = ServiceLoop(service: service, context: context, clock: clock, log: log, control: control, counters: counters, security: security)
        try loop.run(started: [
            ("api", settings.api.joined(separator: ",")), ("flows", String(service.core.flows.count)), ("runs", String(service.core.runs.count)),
        ])
    }

    /// Management over its store as committed: what ``run`` serves and the simulator drives. Throws, and
    /// serves nothing, when the configuration no longer names a shard products are bound to.
    static func open(_ settings: ManagementSettings, now: Timestamp, bound: @escaping @Sendable ([String]) -> Void = { _ in }) throws -> Self {
        let store = try ServiceStore.open("management", settings.store) {
            try ManagementStore(path: settings.store, synchronous: settings.synchronous)
        }
        let configuration = settings.configuration
        let snapshot = try store.open(
            finishedRuns: configuration.finishedRunsInMemory, audit: configuration.auditInMemory,
            recentFirings: configuration.recentFiringsInMemory)
        // Found by an operator: with a shard taken out of the cluster file while products were still bound
        // to it, management started, and every run of theirs failed at once at the orchestrator.
        if let refusal = ManagementCore.productsOnShardsDropped(snapshot.products.map { ($0.name, $0.shard) }, shards: configuration.shards) {
            throw ServiceError(refusal)
        }
        let core = ManagementCore(configuration: configuration, restoring: snapshot, now: now)
        return ManagementService(settings: settings, core: core, store: store, bound: bound)
    }

    /// Why management would not start over the store at `store` with `shards`
    /// (``ManagementCore/productsOnShardsDropped(_:shards:)``), read without opening the store as management
    /// does, while it may run on it: nil when it would start, or when there is no store yet.
    public static func refusal(store: String, shards: [UInt32]) throws -> String? {
        ManagementCore.productsOnShardsDropped(try ManagementStore.boundProducts(at: store), shards: shards)
    }

    func nextDeadline() -> Timestamp { core.nextDeadline() }

    mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
        switch (socket, message) {
        case (Self.api, .apiRequest(let request)):
            let read = ManagementAPI.read(request)
            // With keys, the caller is who its key says. The socket admits API roles only; were another let in, it
            // would be answered nothing rather than taken for a caller without keys.
            var caller: APICaller?
            if let sender {
                guard let role = APIRole(rawValue: sender.role.rawValue) else { return true }
                caller = APICaller(name: sender.name, role: role)
            }
            for recall in core.recallsNeeded(for: read, by: caller) { core.recalled(try store.recall(recall)) }
            if read.asksForKeys {
                // The keys as they stand now, read again by the last reload.
                core.trustedKeys = keys.map { $0.all.map { TrustedKey(name: $0.name, role: $0.role.rawValue, fingerprint: $0.fingerprint) } }
            }
            core.apiRequest(read, from: peer!, by: caller, now: now)
        case (Self.api, _): return false
        default: core.orchestratorMessage(message, now: now)
        }
        return true
    }

    func metrics(into metrics: inout Metrics, now: Timestamp) throws {
        metrics.gauge("baton_management_products", "Products defined.", core.products.count)
        metrics.gauge("baton_management_flows", "Flows defined.", core.flows.count)
        var states: [RunState: Int] = [:]
        for run in core.runs.values { states[run.state, default: 0] += 1 }
        for state in RunState.allCases {
            metrics.gauge("baton_management_runs", "Runs management holds in memory (those not final, and recent ones), by state.", states[state] ?? 0, .init("state", state.name))
        }
        metrics.gauge("baton_store_bytes", "Octets the service's SQLite store takes on disk, write-ahead log included.", store.database.fileBytes)
    }

    /// Deletes a batch of what is older than its retention (`docs/cluster.md`) after the turn's sends: at
    /// most a thousand rows of each kind, so that a turn never waits long behind it.
    mutating func afterTurn(now: Timestamp) throws {
        guard now.since(lastTrim) >= 1000 else { return }
        let batch = 1000
        let deleted = try store.trim(
            now: now, retention: core.configuration.retention, auditRetention: core.configuration.auditRetention,
            keeping: core.runsRetentionKeeps, batch: batch)
        core.forgetRuns(endedBefore: now.adding(milliseconds: -core.configuration.retention))
        // While whole batches are due, after every turn, so that deleting keeps up with a steady load.
        if max(deleted.runs, deleted.firings, deleted.audit) < batch { lastTrim = now }
    }

    mutating func endTurn(now: Timestamp) throws -> TurnEnd {
        core.tick(now: now)
        let turn = core.finishTurn()
        counters.countRefused(turn.refusedByRole)
        if turn.needsCommit { try ServiceStore.commit(settings.store) { try store.commit(turn) } }
        var actions = turn.deliveries.actions { destination in
            switch destination {
            case .peer: Self.api
            case .orchestrator: Self.orchestrator
            default: nil
            }
        }
        // `runs` is read from the store as committed.
        for query in turn.runLists {
            let reply = ManagementAPI.runsReply(try store.runs(query.listing), listing: query.listing, request: query.request)
            actions.append(.send(.apiReply(reply), socket: Self.api, peer: query.peer))
        }
        // An earlier version of a flow is read from the store.
        for read in turn.flowReads {
            let reply = ManagementAPI.flowReply(try store.flow(product: read.product, flow: read.flow, version: read.version), read: read)
            actions.append(.send(.apiReply(reply), socket: Self.api, peer: read.peer))
        }
        // `history` is read from the audit log as committed.
        for query in turn.histories {
            let entries = try store.history(run: query.run, product: query.product, actor: query.actor, limit: query.limit, before: query.before)
            let reply = ManagementAPI.historyReply(entries, limit: query.limit, request: query.request)
            actions.append(.send(.apiReply(reply), socket: Self.api, peer: query.peer))
        }
        return TurnEnd(committed: turn.needsCommit, actions: actions)
    }
}
