public import Core
public import Store
import Wire
public import ZeroMQ

/// The endpoints of one shard, as its clients reach them.
public struct ShardAddress: Sendable, Equatable {
    public var shard: UInt32
    public var submit: String
    public var work: String
    public var events: String

    public init(shard: UInt32, submit: String, work: String, events: String) {
        self.shard = shard
        self.submit = submit
        self.work = work
        self.events = events
    }
}

/// Where an orchestrator listens, where its shards are, and where it keeps its data.
public struct OrchestratorSettings: Sendable {
    public var configuration: OrchestratorConfiguration
    public var store: String
    public var synchronous: Database.Synchronous
    /// Endpoints to bind: operations and catch-up (ROUTER), run events (PUB).
    public var ops: [String]
    public var events: [String]
    /// The shards to submit to and subscribe to.
    public var shards: [ShardAddress]
    /// How long finished runs and answers are kept, and every event, in milliseconds (`docs/cluster.md`).
    public var retention = Defaults.retention
    public var eventRetention = Defaults.eventRetention
    /// The most the event log keeps, in octets.
    public var eventLogSize = Defaults.eventLogSize

    public init(store: String, synchronous: Database.Synchronous = Database.defaultSynchronous, ops: [String], events: [String], shards: [ShardAddress]) {
        self.configuration = OrchestratorConfiguration(shards: shards.map(\.shard))
        self.store = store
        self.synchronous = synchronous
        self.ops = ops
        self.events = events
        self.shards = shards
    }
}

/// The orchestrator as ``ServiceLoop`` runs it: a ROUTER for management (`ops`), a PUB for run events,
/// a SUB to every shard's events, and for each shard a PUSH for submissions and a DEALER for CONTROL and
/// catch-up, around an ``OrchestratorCore`` and its store.
public struct OrchestratorService: Service {
    static let ops = 0, events = 1, shardEvents = 2
    /// The PUSH of the `n`-th shard (from 0) is socket `3 + 2n`, its DEALER `4 + 2n`.
    static func push(_ n: Int) -> Int { 3 + 2 * n }
    static func dealer(_ n: Int) -> Int { 4 + 2 * n }

    let settings: OrchestratorSettings
    var core: OrchestratorCore
    let store: OrchestratorStore
    let epoch: UInt32
    let log: Log
    /// Each shard's place in `settings.shards`, and each publisher's shard.
    let shardIndex: [UInt32: Int]
    let shardOf: [String: UInt32]
    var fetches: [(Peer, Fetch)] = []
    var lastTrim: Timestamp
    var lastRetention = Timestamp.zero

    var name: String { "orchestrator" }
    var turnBudget: Int { 2000 }

    var sockets: [SocketPlan] {
        var plans: [SocketPlan] = [
            .router("ops", binding: settings.ops),
            .publisher("events", binding: settings.events, topic: StreamNames.runTopic + settings.configuration.publisher),
            .subscriber("shard events", to: settings.shards.map(\.events), topic: StreamNames.jobTopic),
        ]
        for shard in settings.shards {
            plans.append(.push("shard-\(shard.shard) submit", to: shard.submit))
            plans.append(.dealer("shard-\(shard.shard) work", to: shard.work))
        }
        return plans
    }

    public static func run(
        _ settings: OrchestratorSettings, context: Context, clock: any WallClock = SystemClock(), log: Log, control: ServiceControl,
        counters: ServiceCounters = ServiceCounters(), security: LoopSecurity? = nil
    ) throws {
        let (service, started) = try open(settings, now: clock.now(), log: log)
        var loop = ServiceLoop(service: service, context: context, clock: clock, log: log, control: control, counters: counters, security: security)
        try loop.run(started: started)
    }

    /// The orchestrator over its store as committed, a new epoch begun: what ``run`` serves and the
    /// simulator drives; with what its start is logged with.
    static func open(_ settings: OrchestratorSettings, now: Timestamp, log: Log) throws -> (Self, started: [(String, String)]) {
        let store = try ServiceStore.open("the orchestrator", settings.store) {
            try OrchestratorStore(path: settings.store, synchronous: settings.synchronous)
        }
        let (epoch, snapshot) = try store.open(shards: settings.configuration.shards)
        // What the event log holds is counted once, before the orchestrator serves, not in its first turn.
        _ = try store.log.size()
        let restored = snapshot.runs.count
        // Given up to the core, which moves the runs out of it rather than copying them.
        let core = OrchestratorCore(configuration: settings.configuration, epoch: epoch, restoring: consume snapshot, now: now)
        let service = OrchestratorService(
            settings: settings, core: core, store: store, epoch: epoch, log: log,
            shardIndex: Dictionary(uniqueKeysWithValues: settings.shards.enumerated().map { ($1.shard, $0) }),
            shardOf: Dictionary(uniqueKeysWithValues: settings.shards.map { (StreamNames.shard($0.shard), $0.shard) }), lastTrim: now)
        return (service, [("epoch", String(epoch)), ("runs", String(restored)), ("shards", String(settings.shards.count))])
    }

    func nextDeadline() -> Timestamp { core.nextDeadline() }

    mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
        switch (socket, message) {
        case (Self.ops, .operationRequest(let request)):
            // An action on a run that has left memory: the core says which, and gets it as committed.
            let stored = try core.storedRunNeeded(for: request).flatMap { try store.run($0) }
            let answered = core.storedAnswerNeeded(for: request) ? try store.answer(request.request) : nil
            core.operationReceived(request, from: peer!, stored: stored, answered: answered, now: now)
        case (Self.ops, .runQuery(let query)):
            core.runQueried(query, from: peer!)
        case (Self.ops, .shardQuery(let query)):
            // An attempts question about a job of a run that has left memory: the job is checked against it.
            let stored = try core.storedRunNeeded(for: query).flatMap { try store.run($0) }
            core.shardQueried(query, from: peer!, stored: stored, now: now)
        case (Self.ops, .fetch(let fetch)):
            fetches.append((peer!, fetch))
        case (Self.ops, _):
            return false
        case (_, .jobUpdates(let updates)) where socket != Self.ops:
            guard let shard = shardOf[updates.publisher] else { return false }
            core.updatesReceived(updates, from: shard, now: now)
        case (_, .beacon(let beacon)) where socket != Self.ops:
            guard let shard = shardOf[beacon.publisher] else { return false }
            core.beaconReceived(beacon, from: shard, now: now)
        case (_, .fetched(let fetched)) where socket > Self.shardEvents:
            core.fetchedReceived(fetched, from: settings.shards[(socket - Self.dealer(0)) / 2].shard, now: now)
        case (_, .controlResult(let result)) where socket > Self.shardEvents:
            core.controlResultReceived(result, now: now)
        case (_, .handedOver(let handed)) where socket > Self.shardEvents:
            core.handedOverReceived(handed, now: now)
        case (_, .shardAnswer(let answer)) where socket > Self.shardEvents:
            core.shardAnswerReceived(answer)
        default:
            return false
        }
        return true
    }

    mutating func endTurn(now: Timestamp) throws -> TurnEnd {
        core.tick(now: now)
        let turn = core.finishTurn(now: now)
        let frames = try ServiceStore.commit(settings.store) { try store.commit(turn, now: now) }
        Self.logUnsent(turn.unsent, log: log)
        var actions: [LoopAction] = frames.map { .frame($0, socket: Self.events) }
        actions += turn.deliveries.actions { destination in
            switch destination {
            case .peer: Self.ops
            case .stream: Self.events
            case .submissions(let shard): shardIndex[shard].map(Self.push)
            case .shard(let shard): shardIndex[shard].map(Self.dealer)
            default: nil
            }
        }
        // Answers read from the store, as committed: runs no longer in memory, and catch-up.
        for (peer, query) in turn.storedQueries {
            actions.append(.send(.runDetail(try Self.storedDetail(query, store: store)), socket: Self.ops, peer: peer))
        }
        for (peer, fetch) in fetches { actions += try EventLogReplay.answer(fetch, to: peer, on: Self.ops, log: store.log, epoch: epoch) }
        fetches = []
        return TurnEnd(committed: turn.needsCommit, actions: actions)
    }

    /// Logs the jobs a turn failed because no shard would take them, a few lines at most.
    static func logUnsent(_ failures: [JobStatus], log: Log) {
        for failure in failures.prefix(5) {
            log.warning("a job failed without being sent", ["run": String(failure.run), "job": failure.job, "why": failure.detail])
        }
        if failures.count > 5 { log.warning("more jobs failed without being sent", ["more": String(failures.count - 5)]) }
    }

    func metrics(into metrics: inout Metrics, now: Timestamp) throws {
        let states = core.runs.states
        for state in RunState.allCases {
            metrics.gauge("baton_orchestrator_runs", "Runs the flow scheduler holds in memory, by state (final ones until they are forgotten).", states[state] ?? 0, .init("state", state.name))
        }
        metrics.counter("baton_orchestrator_jobs_resent_total", "Jobs sent to their shard again because it had not acknowledged them.", core.resentJobs)
        metrics.gauge("baton_orchestrator_held_products", "Products an operator holds: none of their jobs is sent to a shard.", core.heldProducts.count)
        metrics.gauge("baton_orchestrator_moves", "Runs being taken over by another shard, and relays of partitions finishing on the old one.", core.takeOvers.count, .init("phase", "take-over"))
        metrics.gauge("baton_orchestrator_moves", "", core.relays.count, .init("phase", "relay"))
        metrics.gauge("baton_event_log_bytes", "Octets the event log's frames take in the store.", try store.log.size())
        metrics.gauge("baton_store_bytes", "Octets the service's SQLite store takes on disk, write-ahead log included.", store.database.fileBytes)
    }

    mutating func afterTurn(now: Timestamp) throws {
        // Retention, a batch at a time: once a second, or after every turn while a whole batch was due, so
        // that deleting keeps up with a steady load.
        if now.since(lastRetention) >= 1000 {
            let batch = 1000
            let deleted = try store.trim(now: now, retention: settings.retention, batch: batch)
            core.forgetDeleted(runs: deleted.runs)
            if deleted.runs.count < batch && deleted.answers < batch { lastRetention = now }
        }
        // The event log, likewise: a batch at a time, every second while whole batches are due.
        guard now.since(lastTrim) >= 1000 else { return }
        let batch = 10_000
        if try store.log.trim(now: now, retention: min(settings.eventRetention, settings.retention), size: settings.eventLogSize, batch: batch) < batch { lastTrim = now }
    }

    /// The detail of a run no longer in memory, from the store; 404 if the orchestrator never had it.
    static func storedDetail(_ query: RunQuery, store: OrchestratorStore) throws -> RunDetail {
        guard let run = try store.run(query.run) else {
            let unknown = RunStatus(run: query.run, product: "", flow: "", state: .failed, jobs: 0, started: 0, time: 0)
            return RunDetail(request: query.request, status: .notFound, run: unknown, jobs: [])
        }
        return run.detail(answering: query)
    }
}
