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
/// Its two halves: the links to shards, with registration, reconnection and credit
/// (`WorkerCore+Links.swift`), and the attempts with their results (`WorkerCore+Attempts.swift`).
/// The runtime carries out the effects: it sends messages, starts and signals attempts, and reopens
/// sockets.
public struct WorkerCore: Sendable {
    public let configuration: WorkerConfiguration
    /// Drawn when the worker process starts: a new one tells shards the worker restarted.
    public let session: UInt64

    // The links.
    /// One link per shard endpoint.
    public internal(set) var links: [Link]
    var linkTurn = 0
    /// The pass of the link last given credit by share: a link that starts asking again starts there.
    var creditClock = 0.0
    var creditGiven: [Int: UInt32] = [:]

    // The attempts.
    /// Attempts running.
    public internal(set) var running: [AttemptID: Running] = [:]
    /// Claimed sets running, by the worker's own number for each (``Running/localSet``). A set takes one
    /// slot, however many tasks it has.
    var openSets: [UInt64: OpenSet] = [:]
    /// The last number given to a claimed set.
    var lastLocalSet: UInt64 = 0
    /// Results not yet confirmed by a RECEIPT.
    public internal(set) var unreceipted: [AttemptID: Held] = [:]
    var outgoingResults: [Int: [TaskResult]] = [:]

    var effects: [WorkerEffect] = []
    /// Whether something decided outside a turn (a drain's RECALLs) waits for the next turn to be sent.
    public var hasEffects: Bool { !effects.isEmpty }
    /// Whether the worker is stopping: it asks for no more work.
    public private(set) var draining = false

    public init(configuration: WorkerConfiguration, session: UInt64, now: Timestamp) {
        self.configuration = configuration
        self.session = session
        let heartbeat = Int64(configuration.heartbeat)
        let backoff = configuration.reconnectBackoff(heartbeat: heartbeat)
        links = (0..<configuration.shards).map { _ in
            Link(
                state: .registering(since: now), heartbeat: heartbeat, liveness: Int64(Defaults.liveness), lastHeard: now, lastSent: now,
                credit: 0, backoff: ResendSchedule(sentAt: now, policy: backoff), epoch: 0)
        }
    }

    /// Slots neither running an attempt nor promised to a shard.
    public var available: Int {
        let busy = running.count - openSets.values.reduce(0) { $0 + $1.remaining } + openSets.count
        return max(0, configuration.slots - busy - links.reduce(0) { $0 + $1.credit })
    }

    // MARK: - Messages from shards

    /// Handles a message from the shard of `link`.
    public mutating func received(_ message: Message, on index: Int, now: Timestamp) {
        guard links.indices.contains(index), !isRefused(index) else { return }
        links[index].lastHeard = now
        switch message {
        case .welcome(let welcome):
            welcomed(welcome, on: index, now: now)
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
            demanded(demand, on: index)
        case .recalled(let recalled):
            self.recalled(recalled, on: index, now: now)
        case .receipt(let receipt):
            for ref in receipt.tasks { unreceipted[AttemptID(link: index, ref: ref)] = nil }
        case .cancel(let cancel):
            for ref in cancel.tasks {
                stop(AttemptID(link: index, ref: ref), outcome: .cancelled, reason: "cancelled by the shard", grace: Int64(cancel.grace), now: now)
            }
        case .disconnect(let disconnect):
            disconnected(disconnect, on: index, now: now)
        default:
            break
        }
    }

    // MARK: - Time

    /// Heartbeats, reconnects silent links, and stops attempts past their timeout.
    public mutating func tick(now: Timestamp) {
        tickLinks(now: now)
        tickAttempts(now: now)
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        min(linksDeadline(), attemptsDeadline())
    }

    /// Stops asking for work (`docs/protocol.md`, "A graceful stop"): the credit each shard holds is
    /// recalled and none is given again; running attempts go on and their results are still sent, through
    /// a shard's restart too (a link registers again with no credit, claiming what it holds).
    public mutating func drain(now: Timestamp) {
        guard !draining else { return }
        draining = true
        for index in links.indices where links[index].state == .registered && links[index].credit > 0 && !links[index].recalling {
            links[index].recalling = true
            send(index, .recall(Recall(credit: UInt32(links[index].credit))), now: now)
        }
    }

    /// Whether a draining worker has nothing left: no attempt running, no result unconfirmed.
    public var isIdle: Bool { running.isEmpty && unreceipted.isEmpty }

    // MARK: - The end of a turn

    /// The most octets of results in one RESULTS message: a result (at most 16 MiB of data) joins one not
    /// yet this full, within the frame limit.
    static let resultsBudget = 32 << 20

    /// The effects decided so far this turn (the attempts to start among them), before ``finishTurn(now:)``
    /// adds the turn's results and credit: the runtime starts the attempts, takes those that ended at once
    /// (inline handlers), and then finishes the turn with their results in it.
    public mutating func takeEffects() -> [WorkerEffect] {
        defer { effects = [] }
        return effects
    }

    /// Ends the turn: sends results in as few batches per shard as the frame limit allows, then gives the
    /// free slots to shards as credit.
    public mutating func finishTurn(now: Timestamp) -> [WorkerEffect] {
        for (index, results) in outgoingResults.sorted(by: { $0.key < $1.key }) {
            // As a rule one message holds them all: sent as they are, not copied into a batch.
            if results.reduce(0, { $0 + $1.encodedSize }) <= Self.resultsBudget {
                send(index, .results(Results(results: results)), now: now)
                continue
            }
            var batch: [TaskResult] = []
            var size = 0
            for result in results {
                let octets = result.encodedSize
                if !batch.isEmpty && size + octets > Self.resultsBudget {
                    send(index, .results(Results(results: batch)), now: now)
                    batch = []
                    size = 0
                }
                batch.append(result)
                size += octets
            }
            if !batch.isEmpty { send(index, .results(Results(results: batch)), now: now) }
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
