public import Wire

/// Management's state machine: products and the shard each is bound to, versioned flows, and runs.
///
/// It decides on the requests of the management API as ``ManagementAPI`` reads them, turns operator actions
/// into OPERATION-REQUESTs for the orchestrator, and keeps each run's status from the orchestrator's
/// RUN-UPDATES. Flows and products are in `ManagementCore+Flows.swift`, runs in `+Runs`, operator actions
/// and their audit log in `+Actions`, schedules and calendars in `+Schedules`.
///
/// Invariants:
/// - A request that changes anything is answered only after its change is committed.
/// - An operation request is committed before it is sent, and sent again until the orchestrator answers.
/// - A refused request (an invalid flow file, an unknown flow, an undeclared parameter) changes nothing.
/// - Run IDs and job entry moments only increase.
public struct ManagementCore: Sendable {
    public let configuration: ManagementConfiguration
    /// Products by name.
    public internal(set) var products: [String: ProductRecord]
    /// The latest version of each flow, by `product/flow`.
    public internal(set) var flows: [String: FlowRecord]
    /// Runs not final, and the most recent final ones.
    public internal(set) var runs: [UInt64: RunRecord]
    /// The jobs each product ended over the last minutes: its load on its shard.
    public internal(set) var load: LoadMeter
    /// The shards an operator drained (`ManagementCore+Drains.swift`): no new product is bound to them,
    /// and none moves onto them, until `undrain`.
    public internal(set) var drained: Set<UInt32>
    /// Products' and flows' names in order, for their listings' pages, and each product's count of flows.
    var productNames = SortedNames()
    var flowNames = SortedNames()
    var flowCounts: [String: Int] = [:]
    /// The orchestrator's stream position.
    public private(set) var cursor: StreamCursor
    var counters: ManagementCounters
    var runsByKey: [String: UInt64]
    /// Operation requests the orchestrator has not answered, by request ID.
    var pending: [UInt64: PendingOperation]
    /// Final runs an action reopened (answered so) whose reopening management has not yet seen in the
    /// orchestrator's stream: retention keeps them, as it keeps a run an action is pending on.
    var reopening: Set<UInt64> = []
    /// The latest unanswered set-policy of each product, by its request: a further set-policy changes that
    /// one. A product's own policy changes when the orchestrator answers.
    var pendingPolicies: [String: (request: UInt64, policy: ProductPolicy)] = [:]
    /// The unanswered move of each product, by its request, with the shard it goes to: a product moves
    /// (its new runs go there) when the orchestrator answers.
    var pendingMoves: [String: (request: UInt64, shard: UInt32)] = [:]
    /// The request of the set-policy each product's policy came from, so that a late answer to an older
    /// one (its first answer lost, its resend answered after a newer one) does not undo the newer.
    var appliedPolicies: [String: UInt64] = [:]
    /// `status` requests waiting for the orchestrator's RUN-DETAIL, by the ID of the query sent for each.
    var queries: [UInt64: PendingQuery] = [:]
    /// `workers`, `queue` and `waits` asked of shards, by request.
    var shardGathers: [UInt64: ShardGather] = [:]
    /// Runs to read again from the orchestrator after its log lost events management had not applied,
    /// a few at a time (``resyncQueries``).
    var resync: [UInt64] = []
    /// Operator actions by their client's request ID (the most recent ``ManagementConfiguration/auditInMemory``),
    /// so that an action sent again is applied once.
    var actions: [String: AuditEntry]
    var actionOrder: [String]
    var actionKeys: [UInt64: String] = [:]
    /// The keys management trusts, as the runtime last read them for `keys`; nil in a cluster without keys.
    public var trustedKeys: [TrustedKey]?
    /// By key name, when a request refused by role was last written to the audit log, how many were
    /// refused since without being written (one entry says how many once the second is over), and the
    /// method of the last: at most one entry a second each, so that no key fills the disk.
    var refusalsAudited: [String: (at: Timestamp, unsaid: Int, method: String)] = [:]
    /// Clients waiting for the answer to an action, by operation request.
    var waiting: [UInt64: [Caller]] = [:]
    var finishedOrder: [UInt64] = []

    // What the current turn has produced.
    var turn = ManagementTurn()

    // Schedules (`ManagementCore+Schedules.swift`).
    /// Business calendars by name.
    public internal(set) var calendars: [String: CalendarRecord]
    /// Where each scheduled flow's schedule stands, by `product/flow`.
    public internal(set) var schedules: [String: ScheduleState]
    /// Each scheduled flow's schedule as its latest version declares it, and as resolved (nil when its zone cannot be found).
    var scheduleDefinitions: [String: ScheduleDefinition] = [:]
    var resolved: [String: Schedule] = [:]
    /// Firings waiting for runs going to end, by flow, oldest first.
    var queued: [String: [FiringRecord]]
    /// The latest firings of each flow, oldest first.
    var recentFirings: [String: [FiringRecord]]
    /// Changes whenever a schedule or a calendar does, so that a timer can ask whether its copy is current;
    /// with the time management started, since a restart counts from 0 again.
    var scheduleGeneration: UInt64 = 0
    let scheduleEpoch: Int64
    /// Whether queued firings may be able to start (after a restart).
    var drainQueues = true

    /// Who asked: the client, and the ID of its request, which the reply echoes.
    struct Caller: Sendable {
        var peer: Peer
        var request: UInt64
    }

    struct PendingOperation: Sendable {
        var request: OperationRequest
        var resend: ResendSchedule
    }

    /// A RUN-QUERY sent: for a client's `status`, or (with no caller) to read a run's state again after
    /// the orchestrator's log lost events management had not applied.
    struct PendingQuery: Sendable {
        var caller: Caller?
        var run: UInt64
        var deadline: Timestamp
        /// What management held of the run when asked (from the store, for a run no longer in memory).
        var record: RunRecord?
    }

    public init(configuration: ManagementConfiguration, restoring snapshot: ManagementSnapshot, now: Timestamp) {
        self.configuration = configuration
        self.products = Dictionary(uniqueKeysWithValues: snapshot.products.map { ($0.name, $0) })
        self.flows = Dictionary(uniqueKeysWithValues: snapshot.flows.map { ($0.qualifiedName, $0) })
        for flow in snapshot.flows { flowCounts[flow.product, default: 0] += 1 }
        self.runs = Dictionary(uniqueKeysWithValues: snapshot.runs.map { ($0.id, $0) })
        self.runsByKey = Dictionary(
            snapshot.runs.compactMap { run in run.key.isEmpty ? nil : (run.key, run.id) }, uniquingKeysWith: max)
        self.load = snapshot.load.isEmpty ? LoadMeter(since: now) : LoadMeter(restoring: snapshot.load, now: now)
        self.counters = snapshot.counters
        self.cursor = StreamCursor(
            publisher: snapshot.position.publisher, epoch: snapshot.position.epoch, sequence: snapshot.position.sequence, now: now,
            silence: configuration.silence)
        // Operations never answered may never have arrived: they are sent again at once.
        self.pending = Dictionary(
            uniqueKeysWithValues: snapshot.pending.map {
                ($0.request, PendingOperation(request: $0, resend: ResendSchedule(dueAt: now, policy: configuration.resend)))
            })
        for operation in snapshot.pending.sorted(by: { $0.request < $1.request }) {
            if operation.action == .setPolicy { pendingPolicies[operation.product] = (operation.request, operation.policy) }
            if operation.action == .move { pendingMoves[operation.product] = (operation.request, operation.shard) }
        }
        finishedOrder = snapshot.runs.filter { $0.state.isFinal }.sorted { $0.id < $1.id }.map(\.id)
        // Every open run is read again from the orchestrator once started: a reading begun before a crash
        // is lost with memory, and the stream position stored may already be past what called for it (the
        // orchestrator losing its last commits to a power loss, under durability normal).
        resync = snapshot.runs.filter { !$0.state.isFinal }.map(\.id).sorted()
        actions = Dictionary(snapshot.audit.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
        actionOrder = snapshot.audit.map(\.key)
        for entry in snapshot.audit { actionKeys[entry.id] = entry.key }
        scheduleEpoch = now.milliseconds
        calendars = Dictionary(uniqueKeysWithValues: snapshot.calendars.map { ($0.name, $0) })
        schedules = Dictionary(uniqueKeysWithValues: snapshot.schedules.map { ($0.flow, $0) })
        queued = Dictionary(grouping: snapshot.queuedFirings, by: \.flow)
        recentFirings = Dictionary(grouping: snapshot.recentFirings, by: \.flow)
        // A shard drained and since taken out of the configuration is forgotten: were one of its ID added
        // again, it would be a new shard, open to products.
        drained = Set(snapshot.drained.filter(configuration.shards.contains))
        for shard in snapshot.drained where !drained.contains(shard) { turn.drains[shard] = false }
        for flow in flows.values { restoreSchedule(of: flow) }
    }

    // MARK: - The API

    /// Handles one API-REQUEST from `key`'s caller (nil in a cluster without keys).
    public mutating func apiRequest(_ request: APIRequest, from peer: Peer, by key: APICaller? = nil, now: Timestamp) {
        apiRequest(ManagementAPI.read(request), from: peer, by: key, now: now)
    }

    /// Handles one API-REQUEST already read, once what it needed from the store was recalled
    /// (``recallsNeeded(for:by:)``). With keys, a method the caller's role may not call is refused first, and
    /// audited; an action is recorded under the key's name.
    public mutating func apiRequest(_ request: ReadAPIRequest, from peer: Peer, by key: APICaller? = nil, now: Timestamp) {
        let caller = Caller(peer: peer, request: request.id)
        if let key, !permits(request, by: key) {
            refuseByRole(request, of: key, for: caller, now: now)
            return
        }
        switch request.parsed {
        case .failure(let refusal): reply(caller, .refused(refusal))
        case .success(.apply(let apply)): self.apply(apply, by: key, for: caller, now: now)
        case .success(.start(let start)): self.start(start, by: key, for: caller, now: now)
        case .success(.status(let request)): status(request, for: caller, now: now)
        case .success(.runs(let listing)): listRuns(listing, for: caller)
        case .success(.flows(let page)): listFlows(page, for: caller)
        case .success(.products(let page)): listProducts(page, for: caller, now: now)
        case .success(.action(let action)): act(action, by: key, for: caller, now: now)
        case .success(.drain(let drain)): self.drain(drain, by: key, for: caller, now: now)
        case .success(.history(let history)): self.history(history, for: caller)
        case .success(.schedules(let known)): listSchedules(known: known, for: caller)
        case .success(.fire(let fire)): self.fire(fire, for: caller, now: now)
        case .success(.schedule(let flow, let next)): showSchedule(of: flow, next: next, for: caller, now: now)
        case .success(.calendars(let next)): listCalendars(next: next, for: caller, now: now)
        case .success(.shards(let request)): askShards(request, for: caller, now: now)
        case .success(.flow(let name, let version)): showFlow(name, version: version, for: caller)
        case .success(.ping): reply(caller, .pong)
        case .success(.keys): reply(caller, .keys(trustedKeys))
        }
    }

    mutating func reply(_ caller: Caller, _ reply: ManagementReply) {
        turn.replies.append((caller.peer, .apiReply(ManagementAPI.reply(reply, request: caller.request))))
    }

    mutating func refuse(_ caller: Caller, _ status: Status, _ error: String, problems: [String] = []) {
        reply(caller, .refused(APIRefusal(status, error, problems: problems)))
    }

    /// A part of a request read with a refusal kept for its turn: the part, or nil once the refusal is the reply.
    mutating func accept<Value>(_ part: Result<Value, APIRefusal>, for caller: Caller) -> Value? {
        switch part {
        case .success(let value): return value
        case .failure(let refusal):
            reply(caller, .refused(refusal))
            return nil
        }
    }

    // MARK: - The orchestrator

    /// Handles a message from the orchestrator's `ops` ROUTER or its event stream.
    public mutating func orchestratorMessage(_ message: Message, now: Timestamp) {
        switch message {
        case .operationResult(let result):
            guard let operation = pending.removeValue(forKey: result.request) else { return }
            turn.answered.append(operation.request.request)
            if operation.request.action == .start {
                startAnswered(operation.request, result, now: now)
            } else {
                actionAnswered(operation.request, result, now: now)
            }
        case .runDetail(let detail):
            guard let query = queries.removeValue(forKey: detail.request) else { return }
            guard let caller = query.caller else {
                if detail.status.isSuccess { reread(detail.run, now: now) }
                if detail.status == .notFound { lost(query.run, now: now) }
                sendResyncQueries(now: now)
                return
            }
            if detail.status == .notFound, orchestratorDeleted(query.run, now: now) {
                refuse(caller, .gone, deletedByRetention(query.run))
            } else if detail.status == .notFound {
                refuse(caller, .notFound, "unknown run \(detail.run.run)")
            } else {
                reply(caller, .runDetail(run(reportedIn: detail, over: query.record), jobs: detail.jobs, first: detail.first))
            }
        case .shardAnswer(let answer):
            shardAnswered(answer)
        case .runUpdates(let updates):
            switch cursor.received(epoch: updates.epoch, sequence: updates.sequence, now: now) {
            case .apply:
                turn.position = StreamPosition(publisher: cursor.publisher, epoch: cursor.epoch, sequence: cursor.sequence)
                for status in updates.updates { runUpdated(status, inOrder: true, now: now) }
            case .ignore: break
            case .fetch(let after): turn.toOrchestrator.append(.fetch(Fetch(after: after, limit: 1000)))
            }
        case .beacon(let beacon):
            if case .fetch(let after) = cursor.beacon(epoch: beacon.epoch, sequence: beacon.sequence, now: now) {
                turn.toOrchestrator.append(.fetch(Fetch(after: after, limit: 1000)))
            }
        case .fetched(let fetched):
            let restarted = cursor.sequence > 0 && fetched.epoch != cursor.epoch
            switch cursor.fetched(status: fetched.status.rawValue, epoch: fetched.epoch, sequence: fetched.sequence, first: fetched.first, now: now) {
            case .upToDate: break
            case .resynchronise:
                // The orchestrator's log no longer has what was missed: read every run held again, the
                // ended ones too (an operator may have rerun one in the lost events).
                readAgain(runs.keys, now: now)
            case .fetch(let after): turn.toOrchestrator.append(.fetch(Fetch(after: after, limit: 1000)))
            }
            if restarted {
                // The orchestrator started again. What it answered before may not have survived (a power
                // loss under durability normal loses its last commits, its answers' too), and its stream
                // cannot say so for a run whose start it answered and never published: every run still
                // open is read again.
                readAgain(runs.values.filter { !$0.state.isFinal }.map(\.id), now: now)
            }
            turn.position = StreamPosition(publisher: cursor.publisher, epoch: cursor.epoch, sequence: cursor.sequence)
        default:
            break
        }
    }

    /// Records an operation request as sent, and sends it once the turn is committed.
    mutating func send(_ operation: OperationRequest, now: Timestamp) {
        pending[operation.request] = PendingOperation(request: operation, resend: ResendSchedule(sentAt: now, policy: configuration.resend))
        turn.operations.append(operation)
        turn.toOrchestrator.append(.operationRequest(operation))
    }

    // MARK: - Time and the end of a turn

    /// Resends unanswered operations, times out unanswered queries, fetches from a silent orchestrator.
    public mutating func tick(now: Timestamp) {
        if drainQueues {
            drainQueues = false
            for flow in queued.keys.sorted() { startQueuedFiring(of: flow, now: now) }
        }
        for (id, var operation) in pending.filter({ $0.value.resend.isDue(at: now) }).sorted(by: { $0.key < $1.key }) {
            operation.resend.resent(at: now, policy: configuration.resend)
            pending[id] = operation
            turn.toOrchestrator.append(.operationRequest(operation.request))
        }
        for (id, query) in queries.filter({ $0.value.deadline <= now }).sorted(by: { $0.key < $1.key }) {
            queries[id] = nil
            if let caller = query.caller {
                refuse(caller, .unavailable, "the orchestrator did not answer within \(configuration.queryTimeout / 1000) s")
            } else if runs[query.run] != nil {
                resync.append(query.run)
            }
        }
        expireShardGathers(now: now)
        auditUnsaidRefusals(now: now)
        sendResyncQueries(now: now)
        if case .fetch(let after) = cursor.tick(now: now) { turn.toOrchestrator.append(.fetch(Fetch(after: after, limit: 1000))) }
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        var next = cursor.nextDeadline
        for operation in pending.values { next = min(next, operation.resend.due) }
        for query in queries.values { next = min(next, query.deadline) }
        for gather in shardGathers.values { next = min(next, gather.deadline) }
        for window in refusalsAudited.values where window.unsaid > 0 { next = min(next, window.at.adding(milliseconds: 1000)) }
        return next
    }

    /// How many runs, start keys and audit entries management holds in memory: each bounded by its
    /// configuration (``ManagementConfiguration/finishedRunsInMemory`` beside the runs not final, and
    /// ``ManagementConfiguration/auditInMemory``), however many the store holds.
    public var inMemory: (runs: Int, keys: Int, actions: Int) { (runs.count, runsByKey.count, actions.count) }

    /// Ends the turn: the rows to commit, then the messages to send.
    public mutating func finishTurn() -> ManagementTurn {
        while finishedOrder.count > configuration.finishedRunsInMemory {
            let id = finishedOrder.removeFirst()
            if let key = runs[id]?.key, !key.isEmpty, runsByKey[key] == id { runsByKey[key] = nil }
            runs[id] = nil
        }
        turn.load = load.takeChanges()
        defer { turn = ManagementTurn() }
        return turn
    }
}
