public import Wire

/// A worker's state machine: its links to shards, its credit, the attempts it runs and the results it
/// holds until a shard confirms them.
///
/// Invariants:
/// - The worker never holds more attempts, running or promised, than it has slots: credit given to
///   shards plus attempts running never exceeds `slots`.
/// - A result is kept until a RECEIPT covers it, and sent again after every WELCOME from its shard.
/// - An attempt past its timeout is stopped (SIGTERM, then SIGKILL after the grace period) and
///   reported as timed out.
/// - A command batch (a claimed set of command tasks) is one process: it is signalled only once every
///   attempt of the batch is stopping, and then once, however many attempts it holds. An attempt of a
///   batch stopped on its own is reported with its stopping outcome when the process ends.
///
/// The runtime carries out the effects: it sends messages, starts and signals attempts, and reopens
/// sockets.
public struct WorkerCore: Sendable {
    public let configuration: WorkerConfiguration
    /// Drawn when the worker process starts: a new one tells shards the worker restarted.
    public let session: UInt64
    /// One link per shard endpoint.
    public private(set) var links: [Link]
    /// Attempts running.
    public private(set) var running: [AttemptID: Running] = [:]
    /// Claimed sets running, by the worker's own number for each (``Running/localSet``). A set takes one
    /// slot, however many tasks it has.
    private var openSets: [UInt64: OpenSet] = [:]
    /// The last number given to a claimed set.
    private var lastLocalSet: UInt64 = 0
    /// Results not yet confirmed by a RECEIPT.
    public private(set) var unreceipted: [AttemptID: Held] = [:]
    private var linkTurn = 0
    /// The pass of the link last given credit by share: a link that starts asking again starts there.
    private var creditClock = 0.0
    private var effects: [WorkerEffect] = []
    private var outgoingResults: [Int: [TaskResult]] = [:]
    private var creditGiven: [Int: UInt32] = [:]
    /// Whether the worker is stopping: it asks for no more work.
    public private(set) var draining = false

    /// A worker's connection to one shard.
    public struct Link: Equatable, Sendable {
        public enum State: Equatable, Sendable {
            /// READY sent (at the time given), WELCOME not received.
            case registering(since: Timestamp)
            /// WELCOME received.
            case registered
            /// The shard refused this worker for good (another protocol version).
            case refused(reason: String)
        }
        public var state: State
        /// The heartbeat interval, from WELCOME (until then, the worker's own).
        public var heartbeat: Int64
        public var liveness: Int64
        public var lastHeard: Timestamp
        public var lastSent: Timestamp
        /// Credit given to this shard and not yet used.
        public var credit: Int
        /// The delay before the next reconnection, doubling while the shard stays silent.
        public var backoff: Int64
        /// The shard's epoch, from WELCOME.
        public var epoch: UInt32
        /// Tasks the shard said it has for this worker (DEMAND), less those received since.
        public var demand: UInt32 = 0
        /// The share of the worker's time the shard asked for with its DEMAND: the weight of its products
        /// with work waiting.
        public var demandWeight: UInt32 = 1
        /// The link's place in sharing the worker's slots between demanding shards: each credit given moves it
        /// on by what a credit of this shard costs (``slotTimes``' mean) over its demand weight.
        public var pass = 0.0
        /// How long this shard's recent credits kept a slot, in milliseconds: a task's run, or a set's.
        public var slotTimes = SlidingWindow(capacity: 64)
        /// Whether a RECALL to this shard awaits its RECALLED.
        public var recalling = false
        /// The largest result the shard accepts, in octets: WELCOME's `result-limit`, or
        /// ``WorkerCore/defaultResultLimit`` until the first WELCOME.
        public var resultLimit = WorkerCore.defaultResultLimit
    }

    /// The result limit assumed for a shard that has not said its own: 1 MiB, the shards' default.
    public static let defaultResultLimit: UInt32 = 1 << 20

    /// The largest result the shard of `link` accepts, in octets.
    public func resultLimit(of link: Int) -> Int {
        links.indices.contains(link) ? Int(links[link].resultLimit) : Int(Self.defaultResultLimit)
    }

    /// One attempt, named by the link it came from and its task and attempt number. Task IDs are
    /// assigned by each shard on its own, so two shards' tasks may share an ID: the link tells them apart.
    public struct AttemptID: Hashable, Sendable, CustomStringConvertible {
        public var link: Int
        public var ref: TaskRef

        public init(link: Int, ref: TaskRef) {
            self.link = link
            self.ref = ref
        }

        public var description: String { "\(link)/\(ref.task).\(ref.attempt)" }
    }

    /// An attempt the worker runs.
    public struct Running: Equatable, Sendable {
        public var link: Int
        public var spec: TaskSpec
        public var started: Timestamp
        /// When the attempt's timeout runs out.
        public var deadline: Timestamp?
        /// Why the attempt is being stopped, and when it will be killed.
        public var stopping: Stopping?
        /// The claimed set it runs in, as its shard numbered it; 0 if it runs on its own.
        public var set: UInt64 = 0
        /// The worker's own number for that set, unique in this worker's process (a shard that restarts
        /// numbers its sets from 1 again, while sets it handed out before may still run here); 0 if the
        /// attempt runs on its own.
        public var localSet: UInt64 = 0
    }

    /// A claimed set running.
    struct OpenSet: Sendable {
        var link: Int
        /// How many of its attempts still run.
        var remaining: Int
        /// How many of those are stopping.
        var stopping = 0
        /// Whether it is a command batch, one process for all its attempts (otherwise a handler's set).
        var isBatch: Bool
        /// For a command batch whose attempts are all stopping: when its process group gets SIGKILL.
        var killAt: Timestamp?
    }

    /// Why an attempt is being stopped.
    public struct Stopping: Equatable, Sendable {
        public var outcome: Outcome
        public var killAt: Timestamp
        public var reason: String
    }

    /// A finished attempt's result, waiting for its RECEIPT.
    public struct Held: Equatable, Sendable {
        public var link: Int
        public var result: TaskResult
    }

    public init(configuration: WorkerConfiguration, session: UInt64, now: Timestamp) {
        self.configuration = configuration
        self.session = session
        let heartbeat = Int64(configuration.heartbeat)
        links = (0..<configuration.shards).map { _ in
            Link(
                state: .registering(since: now), heartbeat: heartbeat, liveness: 3, lastHeard: now, lastSent: now,
                credit: 0, backoff: heartbeat, epoch: 0)
        }
    }

    /// Slots neither running an attempt nor promised to a shard.
    public var available: Int {
        let busy = running.count - openSets.values.reduce(0) { $0 + $1.remaining } + openSets.count
        return max(0, configuration.slots - busy - links.reduce(0) { $0 + $1.credit })
    }

    // MARK: - Connections

    /// Registers with every shard, splitting the slots between them: the first thing a worker does.
    public mutating func start(now: Timestamp) {
        let count = links.count
        for index in links.indices {
            register(index, opening: configuration.slots / count + (index < configuration.slots % count ? 1 : 0), now: now)
        }
    }

    /// Registers a link again (a new socket, or after DISCONNECT 401). While another link is registered it
    /// opens with no credit: its shard may be gone for a while, and slots promised to it could not be
    /// recalled. Credit reaches it after WELCOME, where there is demand.
    private mutating func register(_ index: Int, now: Timestamp) {
        links[index].credit = 0
        let othersRegistered = links.indices.contains { $0 != index && links[$0].state == .registered }
        register(index, opening: othersRegistered ? 0 : available, now: now)
    }

    private mutating func register(_ index: Int, opening share: Int, now: Timestamp) {
        guard !draining else { return }
        // A new conversation: a RECALL or DEMAND of the old one means nothing any more.
        links[index].recalling = false
        links[index].demand = 0
        links[index].credit = share
        links[index].state = .registering(since: now)
        links[index].lastHeard = now
        let held = (running.keys.filter { $0.link == index } + unreceipted.keys.filter { $0.link == index }).map(\.ref)
        send(
            index,
            .ready(
                Ready(
                    worker: configuration.name, session: session, slots: UInt32(share), heartbeat: configuration.heartbeat,
                    commands: configuration.commands ? 1 : 0, tags: configuration.tags, handlers: configuration.handlers,
                    held: held.sorted { ($0.task, $0.attempt) < ($1.task, $1.attempt) },
                    sets: configuration.sets.keys.sorted().map { SetOffer(handler: $0, limit: UInt32(configuration.sets[$0]!)) },
                    batches: configuration.commands ? 1 : 0)),
            now: now)
    }

    private func isRefused(_ index: Int) -> Bool {
        if case .refused = links[index].state { return true }
        return false
    }

    private mutating func send(_ index: Int, _ message: Message, now: Timestamp) {
        effects.append(.send(link: index, message))
        links[index].lastSent = now
    }

    /// Reopens a link whose shard went silent, then registers again.
    private mutating func reconnect(_ index: Int, now: Timestamp) {
        links[index].credit = 0
        links[index].backoff = min(links[index].backoff * 2, configuration.maximumBackoff)
        effects.append(.reconnect(link: index))
        register(index, now: now)
    }

    // MARK: - Messages from shards

    /// Handles a message from the shard of `link`.
    public mutating func received(_ message: Message, on index: Int, now: Timestamp) {
        guard links.indices.contains(index), !isRefused(index) else { return }
        links[index].lastHeard = now
        switch message {
        case .welcome(let welcome):
            links[index].state = .registered
            links[index].heartbeat = Int64(welcome.heartbeat)
            links[index].liveness = Int64(max(welcome.liveness, 1))
            links[index].backoff = Int64(welcome.heartbeat)
            links[index].epoch = welcome.epoch
            links[index].resultLimit = welcome.resultLimit
            // Results the shard has not confirmed are sent again: it may have restarted without them.
            let again = unreceipted.values.filter { $0.link == index }.map(\.result)
            if !again.isEmpty { outgoingResults[index, default: []] += again }
        case .tasks(let tasks):
            links[index].demand -= min(links[index].demand, UInt32(tasks.tasks.count))
            if tasks.set == 0 {
                for spec in tasks.tasks { accept(spec, on: index, now: now) }
            } else {
                acceptSet(tasks, on: index, now: now)
            }
        case .demand(let demand):
            if links[index].demand == 0 && demand.pending > 0 {
                // A shard asking again earns nothing for the time it did not ask.
                links[index].pass = max(links[index].pass, creditClock)
            }
            links[index].demand = demand.pending
            links[index].demandWeight = max(1, demand.weight)
        case .recalled(let recalled):
            links[index].credit = max(0, links[index].credit - Int(recalled.credit))
            links[index].recalling = false
            // Credit given back was credit the shard had no work for: any DEMAND before it is over. With
            // none given back, the shard had used it all, and a DEMAND it sent before still stands.
            if recalled.credit > 0 { links[index].demand = 0 }
        case .receipt(let receipt):
            for ref in receipt.tasks { unreceipted[AttemptID(link: index, ref: ref)] = nil }
        case .cancel(let cancel):
            for ref in cancel.tasks {
                stop(AttemptID(link: index, ref: ref), outcome: .cancelled, reason: "cancelled by the shard", grace: Int64(cancel.grace), now: now)
            }
        case .disconnect(let disconnect):
            if disconnect.status == .unknownPeer {
                register(index, now: now)
            } else if disconnect.status == .versionNotSupported {
                links[index].state = .refused(reason: disconnect.reason)
                links[index].credit = 0
                effects.append(.refused(link: index, reason: disconnect.reason))
            } else {
                reconnect(index, now: now)
            }
        case .heartbeat:
            break
        default:
            break
        }
    }

    /// Takes a claimed set: one credit, one slot, and one effect that starts all of its new tasks together.
    /// A command batch runs as one command line with one environment, so a task of it that is not of the
    /// first task's run, job and step, or not the same command, is rejected.
    private mutating func acceptSet(_ tasks: Tasks, on index: Int, now: Timestamp) {
        links[index].credit = max(0, links[index].credit - 1)
        guard let first = tasks.tasks.first else { return }
        let isBatch = first.kind == .command
        lastLocalSet += 1
        var started: [TaskSpec] = []
        for spec in tasks.tasks {
            if isBatch && !Self.sameBatch(spec, first) {
                let attempt = AttemptID(link: index, ref: spec.ref)
                guard running[attempt] == nil, unreceipted[attempt] == nil else { continue }
                let reason = "a command batch holds tasks of one run, job and step: this task is not of the first task's"
                finish(TaskResult(task: spec.task, attempt: spec.attempt, outcome: .rejected, started: now.wire, duration: 0, error: reason), link: index)
                continue
            }
            guard admit(spec, on: index, now: now) else { continue }
            let deadline = spec.timeout > 0 ? now.adding(milliseconds: Int64(spec.timeout)) : nil
            running[AttemptID(link: index, ref: spec.ref)] = Running(
                link: index, spec: spec, started: now, deadline: deadline, set: tasks.set, localSet: lastLocalSet)
            started.append(spec)
        }
        guard !started.isEmpty else { return }
        openSets[lastLocalSet] = OpenSet(link: index, remaining: started.count, isBatch: isBatch)
        effects.append(.startSet(link: index, set: tasks.set, started))
    }

    /// Whether two tasks can run in one command batch: commands of one run, job, generation and step, with
    /// one command line, parameters, entry moment and timeout.
    private static func sameBatch(_ spec: TaskSpec, _ first: TaskSpec) -> Bool {
        spec.kind == .command && spec.run == first.run && spec.job == first.job && spec.generation == first.generation
            && spec.step == first.step && spec.action == first.action && spec.params == first.params
            && spec.moment == first.moment && spec.timeout == first.timeout
    }

    private mutating func accept(_ spec: TaskSpec, on index: Int, now: Timestamp) {
        links[index].credit = max(0, links[index].credit - 1)
        guard admit(spec, on: index, now: now) else { return }
        let attempt = AttemptID(link: index, ref: spec.ref)
        let deadline = spec.timeout > 0 ? now.adding(milliseconds: Int64(spec.timeout)) : nil
        running[attempt] = Running(link: index, spec: spec, started: now, deadline: deadline)
        effects.append(.start(attempt, spec))
    }

    /// Whether a task handed out can start here: it is not one already running or finished (a repeated
    /// TASKS), and the worker can run it; one it cannot run is answered as rejected.
    private mutating func admit(_ spec: TaskSpec, on index: Int, now: Timestamp) -> Bool {
        let attempt = AttemptID(link: index, ref: spec.ref)
        guard running[attempt] == nil, unreceipted[attempt] == nil else { return false }
        let runnable =
            switch spec.kind {
            case .command: configuration.commands
            case .handler: configuration.handlers.contains(spec.action)
            }
        guard runnable else {
            let reason = spec.kind == .command ? "this worker does not run commands" : "no handler \"\(spec.action)\" in this worker"
            finish(TaskResult(task: spec.task, attempt: spec.attempt, outcome: .rejected, started: now.wire, duration: 0, error: reason), link: index)
            return false
        }
        return true
    }

    /// Stops an attempt: a command is sent SIGTERM (a command batch's process only once every attempt of
    /// the batch is stopping), a handler is abandoned.
    private mutating func stop(_ id: AttemptID, outcome: Outcome, reason: String, grace: Int64, now: Timestamp) {
        guard var attempt = running[id], attempt.stopping == nil else { return }
        attempt.stopping = Stopping(outcome: outcome, killAt: now.adding(milliseconds: grace), reason: reason)
        running[id] = attempt
        if attempt.localSet != 0, var open = openSets[attempt.localSet], open.isBatch {
            open.stopping += 1
            if open.stopping == open.remaining {
                // The last attempt of the batch that ran on: the process has nothing left to do.
                open.killAt = now.adding(milliseconds: grace)
                effects.append(.signal(id, .terminate))
            }
            openSets[attempt.localSet] = open
            return
        }
        effects.append(attempt.spec.kind == .command ? .signal(id, .terminate) : .abandon(id))
        if attempt.spec.kind == .handler {
            // A handler cannot be killed: its slot is freed and its late return is ignored.
            attemptEnded(id, outcome: outcome, exitCode: 0, output: "", log: "", error: reason, data: [], now: now)
        }
    }

    // MARK: - Attempts

    /// Records the end of an attempt the runtime ran. An attempt stopped for its timeout or a CANCEL is
    /// reported with that outcome, whatever the process did on its way out, and without a result. A
    /// successful attempt whose result is over its shard's limit fails here, so the result is never sent.
    public mutating func attemptEnded(
        _ id: AttemptID, outcome: Outcome, exitCode: Int32, output: String, log: String, error: String, data: [UInt8],
        now: Timestamp
    ) {
        guard let attempt = running.removeValue(forKey: id) else { return }
        if attempt.localSet != 0, var open = openSets[attempt.localSet] {
            open.remaining -= 1
            if attempt.stopping != nil && open.isBatch { open.stopping -= 1 }
            if open.remaining == 0 {
                openSets[attempt.localSet] = nil
                links[id.link].slotTimes.add(Double(max(0, now.since(attempt.started))))
            } else {
                openSets[attempt.localSet] = open
            }
        } else {
            links[id.link].slotTimes.add(Double(max(0, now.since(attempt.started))))
        }
        let ref = id.ref
        var outcome = outcome
        var error = error
        var data = data
        let limit = resultLimit(of: attempt.link)
        if let stopping = attempt.stopping {
            outcome = stopping.outcome
            error = stopping.reason
            data = []
        } else if outcome == .succeeded && data.count > limit {
            outcome = .failed
            error = "its result is \(data.count) octets, over the shard's limit of \(limit)"
            data = []
        }
        let result = TaskResult(
            task: ref.task, attempt: ref.attempt, outcome: outcome, exitCode: exitCode, started: attempt.started.wire,
            duration: UInt32(clamping: max(0, now.since(attempt.started))), output: output, log: log, error: error,
            data: data)
        finish(result, link: attempt.link)
    }

    private mutating func finish(_ result: TaskResult, link: Int) {
        unreceipted[AttemptID(link: link, ref: result.ref)] = Held(link: link, result: result)
        if links[link].state == .registered { outgoingResults[link, default: []].append(result) }
    }

    // MARK: - Time

    /// Heartbeats, reconnects silent links, and stops attempts past their timeout.
    public mutating func tick(now: Timestamp) {
        for index in links.indices where !isRefused(index) {
            let link = links[index]
            let silentFor = now.since(link.lastHeard)
            switch link.state {
            case .registered where silentFor >= link.heartbeat * link.liveness:
                reconnect(index, now: now)
            case .registering(let since) where now.since(since) >= max(link.backoff, link.heartbeat * link.liveness):
                reconnect(index, now: now)
            case .registered where now.since(link.lastSent) >= link.heartbeat:
                send(index, .heartbeat, now: now)
            default:
                break
            }
        }
        let attempts = running.sorted { ($0.key.link, $0.key.ref.task, $0.key.ref.attempt) < ($1.key.link, $1.key.ref.task, $1.key.ref.attempt) }
        for (id, attempt) in attempts {
            if let stopping = attempt.stopping {
                // A command batch's process is killed once, for the whole batch, below.
                if stopping.killAt <= now && !isInBatch(attempt) {
                    effects.append(.signal(id, .kill))
                    running[id]!.stopping!.killAt = now.adding(milliseconds: configuration.killGrace)
                }
            } else if let deadline = attempt.deadline, deadline <= now {
                let limit = DurationText.format(Int64(attempt.spec.timeout))
                stop(id, outcome: .timedOut, reason: "timed out after \(limit)", grace: configuration.killGrace, now: now)
            }
        }
        for (number, open) in openSets.sorted(by: { $0.key < $1.key }) {
            guard let killAt = open.killAt, killAt <= now else { continue }
            // Any attempt of the batch names its process: the first, in the order above.
            guard let (id, _) = attempts.first(where: { $0.value.localSet == number }) else { continue }
            effects.append(.signal(id, .kill))
            openSets[number]!.killAt = now.adding(milliseconds: configuration.killGrace)
        }
    }

    /// Whether an attempt runs in a command batch.
    private func isInBatch(_ attempt: Running) -> Bool {
        attempt.localSet != 0 && openSets[attempt.localSet]?.isBatch == true
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        var next = Timestamp(milliseconds: .max)
        for link in links {
            switch link.state {
            case .registered:
                next = min(next, link.lastSent.adding(milliseconds: link.heartbeat))
                next = min(next, link.lastHeard.adding(milliseconds: link.heartbeat * link.liveness))
            case .registering(let since):
                next = min(next, since.adding(milliseconds: max(link.backoff, link.heartbeat * link.liveness)))
            case .refused:
                break
            }
        }
        for attempt in running.values {
            if let stopping = attempt.stopping {
                if !isInBatch(attempt) { next = min(next, stopping.killAt) }
            } else if let deadline = attempt.deadline {
                next = min(next, deadline)
            }
        }
        for open in openSets.values {
            if let killAt = open.killAt { next = min(next, killAt) }
        }
        return next
    }

    /// Gives free slots to shards as credit: to those that sent DEMAND first, in proportion to the weight
    /// each asked for and to what its credits cost in slot time (stride scheduling, so that equal products
    /// get equal worker time whichever shard they are bound to); with none demanding, to every shard in
    /// turn. With no slot free, a demanding shard out of credit gets credit recalled from a shard that
    /// holds some and has not said it has work: a shard with credit and work would already have used it.
    private mutating func giveCredit(now: Timestamp) {
        let registered = links.indices.filter { links[$0].state == .registered }
        guard !registered.isEmpty else { return }
        let demanding = registered.filter { links[$0].demand > 0 }
        var free = available
        while free > 0 {
            let index: Int
            if demanding.isEmpty {
                index = registered[linkTurn % registered.count]
                linkTurn += 1
            } else {
                index = demanding.min { (links[$0].pass, $0) < (links[$1].pass, $1) }!
                creditClock = max(creditClock, links[index].pass)
                links[index].pass += slotTime(of: index) / Double(links[index].demandWeight)
            }
            links[index].credit += 1
            creditGiven[index, default: 0] += 1
            free -= 1
        }
        for (index, credit) in creditGiven.sorted(by: { $0.key < $1.key }) {
            send(index, .pull(Pull(credit: credit)), now: now)
        }
        guard demanding.contains(where: { links[$0].credit == 0 }) else { return }
        // Only from shards that have not said they have work: those use the credit they hold.
        for index in registered where links[index].credit > 0 && links[index].demand == 0 && !links[index].recalling {
            links[index].recalling = true
            send(index, .recall(Recall(credit: UInt32(links[index].credit))), now: now)
        }
    }

    /// What one credit given to the shard of `link` is expected to keep a slot for: its recent mean, else
    /// that of every shard, else 1 ms.
    private func slotTime(of link: Int) -> Double {
        if links[link].slotTimes.count > 0 { return max(1, links[link].slotTimes.mean) }
        let known = links.filter { $0.slotTimes.count > 0 }
        guard !known.isEmpty else { return 1 }
        return max(1, known.reduce(0) { $0 + $1.slotTimes.mean } / Double(known.count))
    }

    /// Stops asking for work; running attempts go on and their results are still sent.
    public mutating func drain() { draining = true }

    /// Whether a draining worker has nothing left: no attempt running, no result unconfirmed.
    public var isIdle: Bool { running.isEmpty && unreceipted.isEmpty }

    // MARK: - The end of a turn

    /// Ends the turn: sends results in one batch per shard, then gives the free slots to shards as credit.
    public mutating func finishTurn(now: Timestamp) -> [WorkerEffect] {
        for index in outgoingResults.keys.sorted() {
            send(index, .results(Results(results: outgoingResults[index]!)), now: now)
        }
        outgoingResults = [:]
        if !draining {
            giveCredit(now: now)
        }
        creditGiven = [:]
        defer { effects = [] }
        return effects
    }
}

/// What the worker runtime must do.
public enum WorkerEffect: Equatable, Sendable {
    /// Send a message to the shard of a link.
    case send(link: Int, Message)
    /// Start an attempt: a command in a child process, or a handler.
    case start(WorkerCore.AttemptID, TaskSpec)
    /// Start the tasks of a claimed set (the attempts are the link's and the tasks' own): for handler
    /// tasks, one call of their set handler with all of them; for command tasks (a command batch), one
    /// process for all of them (`docs/flows.md`, "Command batches").
    case startSet(link: Int, set: UInt64, [TaskSpec])
    /// Signal a running command's process group. For a command batch, the attempt is any one of the
    /// batch's, and the signal goes to the batch's one process.
    case signal(WorkerCore.AttemptID, WorkerSignal)
    /// Forget a handler attempt that was stopped: its return will be ignored.
    case abandon(WorkerCore.AttemptID)
    /// Close the link's socket and open a new one (before the READY that follows).
    case reconnect(link: Int)
    /// The shard refused the worker for good.
    case refused(link: Int, reason: String)
}

/// How to stop a command.
public enum WorkerSignal: Equatable, Sendable {
    /// SIGTERM to the process group: please stop.
    case terminate
    /// SIGKILL to the process group.
    case kill
}

/// A worker's settings.
public struct WorkerConfiguration: Sendable {
    /// The worker's logical name, stable across restarts (`host/pool/n`).
    public var name: String
    /// How many attempts it runs at once.
    public var slots: Int
    /// The heartbeat interval it asks for, in milliseconds.
    public var heartbeat: UInt32 = 1000
    /// Its capability tags.
    public var tags: [String] = []
    /// The handlers registered in it.
    public var handlers: [String] = []
    /// Whether it runs commands.
    public var commands = true
    /// The handlers that take tasks as sets, with the most tasks in one set (at least 2).
    public var sets: [String: Int] = [:]
    /// How many shards it connects to.
    public var shards: Int
    /// The time between SIGTERM and SIGKILL for an attempt past its timeout, in milliseconds.
    public var killGrace: Int64 = 5000
    /// The longest delay between reconnections, in milliseconds.
    public var maximumBackoff: Int64 = 8000

    public init(name: String, slots: Int, shards: Int) {
        precondition(slots > 0 && shards > 0, "a worker needs slots and shards")
        self.name = name
        self.slots = slots
        self.shards = shards
    }
}

extension WorkerEffect {
    /// The message this effect sends, as every core's turns deliver theirs; nil for the effects that are
    /// not messages (attempts started and signalled, sockets reopened).
    public var delivery: Delivery? {
        if case .send(let link, let message) = self { return Delivery(message, to: .link(link)) }
        return nil
    }
}
