public import Core
public import Store
import Wire
public import ZeroMQ

/// Where a shard listens and keeps its data.
public struct ShardSettings: Sendable {
    /// The core's settings (ID, heartbeat terms, limits).
    public var configuration: ShardConfiguration
    /// The store's path, and how hard it syncs.
    public var store: String
    public var synchronous: Database.Synchronous
    /// Endpoints to bind: submissions (PULL), workers and catch-up (ROUTER), events (PUB).
    public var submit: [String]
    public var work: [String]
    public var events: [String]
    /// A test seam for write failures, such as a full disk: given each writing statement, a non-nil
    /// SQLite result code makes it fail as if SQLite had returned it (13 is SQLITE_FULL).
    public var storeFault: (@Sendable (String) -> Int32?)?
    /// How many open jobs that only wait a restarted shard reads and puts back a turn: it serves workers
    /// from the first batch while it puts back the rest, so that a deep queue does not hold up the first
    /// task.
    public var restoreBatch = 20_000
    /// How much a shard putting its queue back holds of submissions and hand-overs, in jobs (and of
    /// questions, one each); beyond, it answers questions 503 and lets those go, for the orchestrator
    /// to send again on its resend schedule. Controls and partitions' ends are always held: few and small.
    public var heldBackLimit = 200_000
    /// The products each worker pool is limited to, by pool name; a pool not named may run any. Only in a
    /// cluster with keys, where a worker's pool is its key's.
    public var poolProducts: [String: Set<String>] = [:]
    /// Receives the `work` endpoints as bound, with the ports the system chose for `*`.
    public var workBound: @Sendable ([String]) -> Void = { _ in }
    /// The tags each worker pool has in the cluster file, by pool name: all its workers may claim.
    public var poolTags: [String: Set<String>] = [:]
    /// How long finished jobs, their tasks and results are kept, and every event, in milliseconds (`docs/cluster.md`).
    public var retention = Defaults.retention
    public var eventRetention = Defaults.eventRetention
    /// The most the event log keeps, in octets.
    public var eventLogSize = Defaults.eventLogSize

    public init(configuration: ShardConfiguration, store: String, synchronous: Database.Synchronous = Database.defaultSynchronous, submit: [String], work: [String], events: [String]) {
        self.configuration = configuration
        self.store = store
        self.synchronous = synchronous
        self.submit = submit
        self.work = work
        self.events = events
    }
}

/// A shard broker as ``ServiceLoop`` runs it: a PULL for submissions, a ROUTER for workers, the
/// orchestrator's CONTROL and catch-up, and a PUB for its event stream, around a ``ShardCore`` and its
/// store. If a commit fails (a full disk, a read-only folder) the service stops: it never sends what it
/// could not store.
public struct ShardService: Service {
    static let submit = 0, work = 1, events = 2

    let settings: ShardSettings
    var core: ShardCore
    let store: ShardStore
    let epoch: UInt32
    let log: Log
    let counters: ServiceCounters
    /// Workers' refusals, each kind logged at most once a second: READYs under another key's name, and
    /// results for leases the sender does not hold.
    let refusedReadies: RefusalLog
    let refusedResults: RefusalLog
    /// READYs of a second process under a registered worker's name, and tags a READY claimed that its
    /// pool may not: each said at most once a second.
    let namesInUse: RefusalLog
    let ignoredTags: RefusalLog
    /// FETCHes of this turn, answered from the event log after the commit.
    var fetches: [(Peer, Fetch)] = []
    /// `attempts` questions of this turn, answered from the store after the commit.
    var attemptQueries: [(Peer, ShardQuery)] = []
    var lastTrim: Timestamp
    var lastRetention = Timestamp.zero
    /// Messages held back while the core puts back a deep queue restored (``ShardCore/isRestoring``):
    /// submissions, controls, hand-overs and questions may name any job, so they are taken once every job
    /// is back, in the order they came, a turn's budget at a time.
    var heldBack: [(message: Message, socket: Int, peer: Peer?, sender: KeyIdentity?)] = []
    /// Where reading the open jobs left to put back has got to, while any are left, and how many open jobs
    /// the store held at the start.
    var restoring: ShardStore.RestoreCursor?
    var openAtStart = 0
    /// Questions answered 503 this turn, while the queue is put back.
    var unavailableAnswers: [(Peer, ShardAnswer)] = []
    /// What ``heldBack`` holds, in ``heldBackLimit``'s units.
    var heldBackJobs = 0
    /// Messages naming jobs let go because ``heldBack`` was full, since the start, and their log.
    var heldBackRefused = 0
    let refusedHeldBack: RefusalLog
    /// Told each turn once it is committed, before anything of it is sent: the simulator's view of what
    /// the shard decided (the tasks that succeeded).
    var committed: ((ShardTurn) -> Void)?

    let name: String
    var kind: String { "shard" }
    var turnBudget: Int { 2000 }

    /// What a held-back message weighs against ``ShardSettings/heldBackLimit``: its jobs, for a submission
    /// or a hand-over; 1 for a question; nothing for what is never let go.
    static func heldBackWeight(of message: Message) -> Int {
        switch message {
        case .submit(let submit): max(1, submit.jobs.count)
        case .takeOver(let takeOver): max(1, takeOver.jobs.count)
        case .shardQuery: 1
        default: 0
        }
    }

    /// A SUBMIT weighs a tenth of the tasks its jobs start with, so that a turn takes in at most about
    /// 20,000 new tasks: a flood of submissions (a run of 250,000 jobs arrives as 250 SUBMITs) is taken
    /// in over several turns, between which workers hear from the shard, instead of in one turn of
    /// seconds after which they would have given it up for dead.
    func weight(of message: Message) -> Int {
        guard case .submit(let submit) = message else { return 1 }
        let tasks = submit.jobs.reduce(0) { $0 + Int($1.steps.first?.partitions ?? 1) }
        return max(1, (tasks + 9) / 10)
    }

    var sockets: [SocketPlan] {
        [
            .pull("submit", binding: settings.submit), .router("work", binding: settings.work, bound: settings.workBound),
            .publisher("events", binding: settings.events, topic: StreamNames.jobTopic + settings.configuration.publisher),
        ]
    }

    /// Runs the shard until `control` says stop.
    public static func run(
        _ settings: ShardSettings, context: Context, clock: any WallClock = SystemClock(), log: Log, control: ServiceControl,
        counters: ServiceCounters = ServiceCounters(), security: LoopSecurity? = nil
    ) throws {
        let (service, started) = try open(settings, now: clock.now(), log: log, counters: counters)
        var loop = ServiceLoop(service: service, context: context, clock: clock, log: log, control: control, counters: counters, security: security)
        try loop.run(started: started)
    }

    /// The shard over its store as committed, a new epoch begun: what ``run`` serves and the simulator
    /// drives; with what its start is logged with.
    static func open(_ settings: ShardSettings, now: Timestamp, log: Log, counters: ServiceCounters) throws -> (Self, started: [(String, String)]) {
        let store = try ServiceStore.open("shard-\(settings.configuration.shard)", settings.store) {
            try ShardStore(path: settings.store, synchronous: settings.synchronous)
        }
        store.database.faultInjector = settings.storeFault
        let (epoch, snapshot, rest) = try store.open(firstBatch: settings.restoreBatch)
        // What the event log holds is counted once, before the shard serves, not in its first turn.
        _ = try store.log.size()
        let restored = (jobs: snapshot.openJobs, tasks: snapshot.tasks.count)
        let core = ShardCore(configuration: settings.configuration, epoch: epoch, restoring: consume snapshot, now: now)
        // The rows read are freed once the core holds what it needs; a deep queue's would otherwise stay in
        // the process's heap, resident, for its whole life.
        if restored.jobs > 10_000 { FreedMemory.returnToSystem() }
        if restored.jobs > 0 && rest == nil {
            log.info("every job restored is back in the queue", ["jobs": String(restored.jobs), "held back": "0"])
        }
        var service = ShardService(
            settings: settings, core: core, store: store, epoch: epoch, log: log, counters: counters, refusedReadies: RefusalLog(log: log), refusedResults: RefusalLog(log: log),
            namesInUse: RefusalLog(log: log), ignoredTags: RefusalLog(log: log), lastTrim: now,
            refusedHeldBack: RefusalLog(log: log), name: settings.configuration.publisher)
        service.restoring = rest
        service.openAtStart = restored.jobs
        return (service, [
            ("epoch", String(epoch)), ("jobs", String(restored.jobs)), ("tasks", String(restored.tasks)),
            ("work", settings.work.joined(separator: ",")),
        ])
    }

    func nextDeadline() -> Timestamp { core.nextDeadline() }

    func metrics(into metrics: inout Metrics, now: Timestamp) throws {
        core.metrics(into: &metrics, now: now)
        metrics.counter("baton_shard_starving_total", "Episodes of a product found waiting far past its own expected wait, and served first.", counters.starving)
        metrics.gauge(
            "baton_shard_restoring", "1 while the jobs a restart found are still being put back in the queue (the job and task gauges count those back), else 0.",
            restoring == nil ? 0 : 1)
        metrics.gauge(
            "baton_shard_held_back_messages", "Messages that may name jobs (submissions, hand-overs, controls, partitions' ends, questions), held back until the queue restored is all back.",
            heldBack.count)
        metrics.counter(
            "baton_shard_held_back_refused_total", "Submissions and hand-overs let go, and questions answered 503, because a shard putting its queue back held as much as it may; the orchestrator sends the first two again.",
            heldBackRefused)
        metrics.gauge("baton_event_log_bytes", "Octets the event log's frames take in the store.", try store.log.size())
        metrics.gauge("baton_store_bytes", "Octets the service's SQLite store takes on disk, write-ahead log included.", store.database.fileBytes)
    }

    /// Puts back the next batch of a deep queue restored, or takes the next messages held back meanwhile,
    /// without waiting for a message.
    var hasWork: Bool { restoring != nil || !heldBack.isEmpty }

    mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
        if restoring != nil, case .shardQuery(let query) = message, query.kind == "queue" || query.kind == "waits" {
            // Asked of a queue not all back, these would be wrong: said so at once, not held for seconds.
            guard let peer else { return true }  // Not on the socket questions come by: no one to answer.
            unavailableAnswers.append((peer, ShardAnswer(
                request: query.request, shard: settings.configuration.shard, status: .unavailable,
                body: JSON.object([("error", .string(
                    "shard \(settings.configuration.shard) is putting back its queue after a restart (\(core.jobs.count) of \(openAtStart) open jobs back); ask again in a few seconds"))]).rendered())))
            return true
        }
        // Held back while jobs are still to come back, and after, until every one held before is taken:
        // the order they came in is kept.
        if (restoring != nil || !heldBack.isEmpty) && Self.namesAnyJob(message, on: socket) {
            let weight = Self.heldBackWeight(of: message)
            guard weight == 0 || heldBackJobs + weight <= settings.heldBackLimit || heldBack.isEmpty else {
                // Full: nothing of it was accepted. A question is answered 503; a submission or a hand-over
                // comes again on the orchestrator's resend schedule.
                heldBackRefused += 1
                if case .shardQuery(let query) = message, let peer {
                    unavailableAnswers.append((peer, ShardAnswer(
                        request: query.request, shard: settings.configuration.shard, status: .unavailable,
                        body: JSON.object([("error", .string(
                            "shard \(settings.configuration.shard) is putting back its queue after a restart and holds as much as it may meanwhile; ask again in a few seconds"))]).rendered())))
                }
                refusedHeldBack.record(
                    "a message naming jobs while the queue comes back, as much being held back as may be (a question is answered 503; the orchestrator sends the others again)",
                    fields: [("held back", String(heldBack.count)), ("jobs", String(heldBackJobs)), ("let go", String(heldBackRefused))], now: now)
                return true
            }
            heldBackJobs += weight
            heldBack.append((message, socket, peer, sender))
            return true
        }
        return try take(message, on: socket, from: peer, sender: sender, now: now)
    }

    /// Takes a message the shard is ready for.
    private mutating func take(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
        switch (socket, message) {
        case (Self.submit, .submit(let submit)):
            // What the store has committed of keys the shard no longer holds: read before the core decides.
            let unknown = submit.jobs.map(\.identity).filter { !core.knows($0) }
            core.submitted(submit.jobs, lookup: try store.lookup(for: submit.jobs, unknown: unknown, now: now), now: now)
        case (Self.submit, .takeOver(let takeOver)):
            let unknown = takeOver.jobs.map(\.identity).filter { !core.knows($0) }
            var lookup = try store.lookup(for: takeOver.jobs, unknown: unknown, now: now)
            lookup.carried = [:]  // What the old shard carried says where each job had got, not an earlier generation here.
            core.takenOver(takeOver, lookup: lookup, now: now)
        case (Self.work, .fetch(let fetch)):
            fetches.append((peer!, fetch))
        case (Self.work, .control(let control)) where control.action == .handOver:
            let lookup = try store.handOverLookup(run: control.run, generation: control.generation, from: control.from, now: now)
            core.handOverReceived(control, lookup: lookup, from: peer!, now: now)
        case (Self.work, .control(let control)) where control.action == .reportJob:
            // A job that has ended has left memory: its status is read as the store committed it.
            let identity = JobIdentity(reporting: control)
            let stored = core.knows(identity) ? nil : try store.statuses(of: [identity], now: now)[identity]
            core.reportReceived(control, stored: stored, from: peer!, now: now)
        case (Self.work, .control(let control)):
            core.controlReceived(control, from: peer!, now: now)
        case (Self.work, .partitionsEnded(let ended)):
            core.partitionsEnded(ended, from: peer!, now: now)
        case (Self.work, .shardQuery(let query)) where query.kind == "attempts":
            attemptQueries.append((peer!, query))
        case (Self.work, .shardQuery(let query)):
            core.queried(query, from: peer!, counters: [("malformed", counters.malformed), ("refused", counters.refused)])
        case (Self.work, _):
            // Without keys there is no sender; with them, only a worker pool's key speaks the worker protocol
            // (the socket lets no other through), and none is taken for keyless.
            if let sender {
                guard let credentials = credentials(of: sender) else { return true }
                core.received(message, from: peer!, credentials: credentials, now: now)
            } else {
                core.received(message, from: peer!, now: now)
            }
        default:
            return false
        }
        return true
    }

    /// Whether `message` may name a job not yet put back after a restart: anything but a worker's
    /// messages (whose tasks were leased, and so are back first), catch-up FETCHes, and the questions
    /// about workers and attempts (read from the registry and the store).
    static func namesAnyJob(_ message: Message, on socket: Int) -> Bool {
        switch message {
        case .submit, .takeOver, .control, .partitionsEnded: true
        case .shardQuery(let query): query.kind != "workers" && query.kind != "attempts"
        default: false
        }
    }

    mutating func endTurn(now: Timestamp) throws -> TurnEnd {
        if var cursor = restoring {
            let batch = try store.openJobs(from: &cursor, limit: settings.restoreBatch)
            core.restore(batch, last: cursor.isDone, now: now)
            restoring = cursor.isDone ? nil : cursor
            if restoring == nil {
                log.info("every job restored is back in the queue", ["jobs": String(openAtStart), "held back": String(heldBack.count)])
            }
        } else if !heldBack.isEmpty {
            // What was held back, a turn's budget at a time, as the loop reads messages.
            var budget = turnBudget
            var taken = 0
            while taken < heldBack.count && budget > 0 {
                budget -= weight(of: heldBack[taken].message)
                taken += 1
            }
            let held = heldBack.prefix(taken)
            heldBack.removeFirst(taken)
            heldBackJobs -= held.reduce(0) { $0 + Self.heldBackWeight(of: $1.message) }
            for (message, socket, peer, sender) in held { _ = try take(message, on: socket, from: peer, sender: sender, now: now) }
        }
        core.tick(now: now)
        // An `attempts` answer reads the store: each job of its run held must have its row there.
        for (_, query) in attemptQueries {
            if let run = (try? JSONParser.parse(query.body))?["run"]?.integer, run > 0 { core.writeRows(of: UInt64(run)) }
        }
        var end = try finish(now: now)
        // Catch-up answers come from the log as committed, this turn's event included.
        for (peer, fetch) in fetches { end.actions += try EventLogReplay.answer(fetch, to: peer, on: Self.work, log: store.log, epoch: epoch) }
        fetches = []
        for (peer, query) in attemptQueries { end.actions.append(.send(.shardAnswer(try attempts(answering: query)), socket: Self.work, peer: peer)) }
        attemptQueries = []
        for (peer, answer) in unavailableAnswers { end.actions.append(.send(.shardAnswer(answer), socket: Self.work, peer: peer)) }
        unavailableAnswers = []
        return end
    }

    /// Every attempt of a run's job the store holds, as committed (`docs/protocol.md`, "Queries").
    func attempts(answering query: ShardQuery) throws -> ShardAnswer {
        func reply(_ status: Status, _ body: JSON) -> ShardAnswer {
            ShardAnswer(request: query.request, shard: settings.configuration.shard, status: status, body: body.rendered())
        }
        guard let arguments = try? JSONParser.parse(query.body), let run = arguments["run"]?.integer, run > 0 else {
            return reply(.badRequest, .object(["error": .string("the attempts query needs \"run\", a run ID (and \"job\", a job's name, for one job)")]))
        }
        let job = arguments["job"]?.string
        let limit = 10_000
        var rows = try store.attempts(run: UInt64(run), job: job, limit: limit + 1)
        // At most about 4 MiB, well within an answer's frame, however much output each attempt kept.
        var octets = 0
        let fitting = rows.prefix { row in
            octets += 300 + row.output.utf8.count * 2 + row.log.utf8.count + row.error.utf8.count * 2 + row.worker.utf8.count
            return octets <= Self.attemptsOctets
        }
        let truncated = rows.count > min(limit, fitting.count)
        rows = Array(fitting.prefix(limit))
        let list: [JSON] = rows.map { row in
            let state = row.state == .pending ? "lost" : String(describing: row.state)
            return .object([
                ("job", .string(row.job)), ("generation", .number(row.generation)), ("step", .number(row.step)), ("partition", .number(row.partition)),
                ("attempt", .number(row.attempt)), ("worker", .string(row.worker)),
                ("started", row.started == .zero ? .null : .number(row.started.milliseconds)),
                ("finished", row.finished == .zero ? .null : .number(row.finished.milliseconds)), ("state", .string(state)),
                ("exit", [.running, .pending, .away].contains(row.state) ? .null : .number(row.exitCode)), ("output", .string(row.output)),
                ("log", .string(row.log)), ("error", .string(row.error)),
            ])
        }
        return reply(.ok, .object([
            ("shard", .number(settings.configuration.shard)), ("run", .number(run)), ("attempts", .array(list)), ("truncated", .bool(truncated)),
        ]))
    }

    /// The most octets an `attempts` answer takes, about: output tails escaped as JSON may double.
    static let attemptsOctets = 4 << 20

    mutating func peerLost(_ peer: Peer, on socket: Int, now: Timestamp) throws -> [LoopAction] {
        core.peerLost(peer, now: now)
        return try finish(now: now).actions
    }

    mutating func keysRemoved(trusted: (String) -> Bool, now: Timestamp) throws -> [LoopAction] {
        let ended = core.keysRemoved(trusted: trusted, now: now)
        guard !ended.isEmpty else { return [] }
        log.warning("ended the workers of removed keys, and took their tasks back", ["workers": ended.sorted().joined(separator: ",")])
        return try finish(now: now).actions
    }

    /// Takes the core's turn, commits it, and says what to send: its event, then its deliveries.
    /// What a worker's key may do here: its pool's, and the products the pool is limited to.
    func credentials(of sender: KeyIdentity) -> WorkerCredentials? {
        guard sender.role == .worker, sender.name.hasPrefix("pool-") else { return nil }
        let pool = String(sender.name.dropFirst(5))
        return WorkerCredentials(key: sender.publicKey, pool: pool, products: settings.poolProducts[pool], tags: settings.poolTags[pool] ?? [])
    }

    private mutating func finish(now: Timestamp) throws -> TurnEnd {
        let turn = core.finishTurn(now: now)
        Self.logStarving(turn.starving, log: log, counters: counters)
        Self.logRefused(turn, readies: refusedReadies, results: refusedResults, counters: counters, now: now)
        if let worker = turn.namesInUse.first {
            namesInUse.record(
                "a READY of a second process under a worker's name (DISCONNECT 409; it registers once the first stops)",
                fields: [("worker", worker)], count: turn.namesInUse.count, now: now)
        }
        if let (worker, tags) = turn.ignoredTags.first {
            ignoredTags.record(
                "tags a worker claimed that its pool's key may not claim: they are ignored, and tasks that need them wait for another worker",
                fields: [("worker", worker), ("tags", tags.joined(separator: ","))], count: turn.ignoredTags.count, now: now)
        }
        Self.logHandOvers(turn, log: log)
        let frames = try ServiceStore.commit(settings.store) { try store.commit(turn, now: now) }
        committed?(turn)
        var actions: [LoopAction] = frames.map { .frame($0, socket: Self.events) }
        actions += turn.deliveries.actions { destination in
            switch destination {
            case .peer: Self.work
            case .stream: Self.events
            default: nil
            }
        }
        return TurnEnd(committed: turn.needsCommit, actions: actions)
    }

    mutating func afterTurn(now: Timestamp) throws {
        // Retention, a batch at a time: once a second, or after every turn while a whole batch was due, so
        // that deleting keeps up with a steady load.
        if now.since(lastRetention) >= 1000 {
            let batch = 1000
            let deleted = try store.trim(now: now, retention: settings.retention, below: core.lowestLoggedJobID, batch: batch)
            // Tombstones of runs handed over that long ago leave memory with their rows.
            let forgotten = try store.trimTombstones(now: now, retention: settings.retention, keeping: core.runsFinishing, batch: batch)
            core.forgetTombstones(of: forgotten)
            if deleted < batch && forgotten.count < batch { lastRetention = now }
        }
        // The event log, likewise: a batch at a time, every second while whole batches are due.
        guard now.since(lastTrim) >= 1000 else { return }
        let batch = 10_000
        if try store.log.trim(now: now, retention: min(settings.eventRetention, settings.retention), size: settings.eventLogSize, batch: batch) < batch { lastTrim = now }
    }

    /// Logs what a turn refused of workers (a name bound to another key, results for leases the sender does
    /// not hold), each kind at most a line a second with how many were left unsaid, and counts them.
    static func logRefused(_ turn: ShardTurn, readies: RefusalLog, results: RefusalLog, counters: ServiceCounters, now: Timestamp) {
        let refused = turn.refusedRegistrations.count + turn.foreignResults.count
        guard refused > 0 else { return }
        counters.countRefused(refused)
        func key(_ key: String?) -> String { key.map(KeyIdentity.fingerprint(of:)) ?? "none" }
        if let registration = turn.refusedRegistrations.first {
            readies.record(
                "a READY: the worker name is another key's",
                fields: [("worker", registration.worker), ("key", key(registration.key)), ("holder", key(registration.holder))],
                count: turn.refusedRegistrations.count, now: now)
        }
        if let foreign = turn.foreignResults.first {
            results.record(
                "results for leases the sender does not hold",
                fields: [
                    ("worker", foreign.worker), ("key", key(foreign.key)),
                    ("tasks", foreign.tasks.prefix(5).map { "\($0.task)/\($0.attempt)" }.joined(separator: ",")),
                ],
                count: turn.foreignResults.count, now: now)
        }
    }

    /// Logs the runs a turn handed over to moves, and the submissions it dropped because their run was.
    static func logHandOvers(_ turn: ShardTurn, log: Log) {
        if !turn.tombstones.isEmpty {
            let runs = turn.tombstones.keys.sorted()
            log.info("handed runs over to a move of their product", ["runs": String(runs.count), "first": runs.prefix(5).map(String.init).joined(separator: ",")])
        }
        if !turn.takenOver.isEmpty {
            let runs = Set(turn.takenOver).sorted()
            log.info(
                "took over runs from a move of their product",
                ["runs": String(runs.count), "first": runs.prefix(5).map(String.init).joined(separator: ","), "results": String(turn.importedResults.count)])
        }
        if !turn.awayEnds.isEmpty {
            log.info("tasks of runs handed over finished here, their ends kept for the runs' new shards", ["tasks": String(turn.awayEnds.count)])
        }
        if turn.appliedEnds > 0 {
            log.info("applied the ends of tasks that finished on the shard their run came from", ["tasks": String(turn.appliedEnds)])
        }
        if !turn.droppedSubmissions.isEmpty {
            log.info(
                "dropped submissions of runs handed over by a move",
                ["jobs": String(turn.droppedSubmissions.count), "first": turn.droppedSubmissions.prefix(3).map(\.description).joined(separator: ",")])
        }
    }

    /// Logs the starving episodes a turn found, a few lines at most, and counts them.
    static func logStarving(_ reports: [StarvationReport], log: Log, counters: ServiceCounters) {
        guard !reports.isEmpty else { return }
        counters.countStarving(reports.count)
        for report in reports.prefix(5) {
            log.warning(
                "a product is starving: served first", ["product": report.product, "waited_ms": String(report.waited), "expected_ms": String(report.expected)])
        }
        if reports.count > 5 { log.warning("more products are starving", ["more": String(reports.count - 5)]) }
    }
}

/// Answers FETCH for any publisher with an event log.
enum EventLogReplay {
    /// The most messages in one answer, whatever FETCH's `limit`.
    static let messages = 1000
    /// The octets of messages past which an answer takes no more (it always has one if any is left): a
    /// turn's message may hold up to 8 MiB of statuses, and a thousand of those would be gigabytes queued
    /// for one subscriber.
    static let budget = 32 << 20

    /// The logged messages after `fetch.after` (at most its limit and 1,000, and no more once they take
    /// `budget` octets), then FETCHED: 200 when the subscriber is up to date, 206 when more remain, 410
    /// when `after` is older than the log keeps.
    static func answer(
        _ fetch: Fetch, to peer: Peer, on socket: Int, log: EventLog, epoch: UInt32, budget: Int = budget
    ) throws -> [LoopAction] {
        let newest = try log.newest()
        let oldest = try log.oldest()
        let first = try log.epochFirst()
        if oldest > 0 && fetch.after + 1 < oldest {
            return [.send(.fetched(Fetched(status: .gone, epoch: epoch, sequence: newest, oldest: oldest, first: first)), socket: socket, peer: peer)]
        }
        let limit = min(max(Int(fetch.limit), 1), messages)
        let frames = try log.frames(after: fetch.after, limit: limit, budget: budget)
        let last = fetch.after + UInt64(frames.count)
        let status: Status = last < newest ? .partial : .ok
        return frames.map { LoopAction.frame($0, socket: socket, peer: peer) }
            + [.send(.fetched(Fetched(status: status, epoch: epoch, sequence: newest, oldest: oldest, first: first)), socket: socket, peer: peer)]
    }
}
