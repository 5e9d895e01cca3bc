import Wire

/// The orchestrator's place in each shard's event stream: a ``StreamCursor`` for every shard of its
/// configuration (and none other), each shard's epoch as last heard, the FETCHes of the current turn,
/// and which positions are to be stored.
///
/// A position is stored with whatever the events it covers changed. Events that changed nothing durable
/// (a job queued or running) need not be: after a restart they are fetched and applied again, to the
/// same effect. So positions alone are stored once per `positionInterval` at most.
public struct ShardStreams: Sendable {
    /// The shards, in the configuration's order (each once).
    public let shards: [UInt32]
    /// Each shard's place in `shards`.
    private let slots: [UInt32: Int]
    private var cursors: [StreamCursor]
    /// Each shard's epoch as last heard; nil until it is first heard.
    private var epochs: [UInt32?]
    /// Shards whose position moved since positions were last stored, and when that was.
    private var moved: Set<UInt32> = []
    private var stored: Timestamp
    /// FETCHes to send this turn.
    private var fetches: [UInt32: Fetch] = [:]
    private let fetchLimit: UInt32
    private let positionInterval: Int64

    /// What a message on a shard's stream asks of the orchestrator.
    struct Heard {
        /// Apply the message's statuses: they are the next in the stream.
        var apply = false
        /// The shard restarted (its epoch changed since it was last heard): what it had not accepted may
        /// be lost with its old process. The first epoch heard from a shard is no restart.
        var restarted = false
        /// The shard no longer has what the orchestrator missed: every job not known final must be
        /// submitted again, and the shard answers each with its status.
        var resynchronise = false
    }

    /// Streams resumed from their stored positions (none for a new orchestrator).
    init(configuration: OrchestratorConfiguration, positions: [UInt32: (epoch: UInt32, sequence: UInt64)], now: Timestamp) {
        var seen: Set<UInt32> = []
        let shards = configuration.shards.filter { seen.insert($0).inserted }
        self.shards = shards
        slots = Dictionary(uniqueKeysWithValues: shards.enumerated().map { ($1, $0) })
        cursors = shards.map { shard in
            let position = positions[shard] ?? (0, 0)
            return StreamCursor(
                publisher: StreamNames.shard(shard), epoch: position.epoch, sequence: position.sequence, now: now, silence: configuration.silence)
        }
        epochs = Array(repeating: nil, count: shards.count)
        stored = now
        fetchLimit = configuration.fetchLimit
        positionInterval = configuration.positionInterval
    }

    /// Whether `shard` is one of the configuration's.
    public func contains(_ shard: UInt32) -> Bool { slots[shard] != nil }

    /// The cursor of `shard`; nil for a shard not in the configuration.
    public func cursor(of shard: UInt32) -> StreamCursor? { slots[shard].map { cursors[$0] } }

    /// Judges JOB-UPDATES from `shard`, live or fetched; nil for a shard not in the configuration.
    mutating func received(_ updates: JobUpdates, from shard: UInt32, now: Timestamp) -> Heard? {
        guard let slot = slots[shard] else { return nil }
        var heard = Heard(restarted: noteEpoch(updates.epoch, slot: slot))
        switch cursors[slot].received(epoch: updates.epoch, sequence: updates.sequence, now: now) {
        case .apply:
            moved.insert(shard)
            heard.apply = true
        case .ignore: break
        case .fetch(let after): fetches[shard] = Fetch(after: after, limit: fetchLimit)
        }
        return heard
    }

    /// Judges BEACON from `shard`; nil for a shard not in the configuration.
    mutating func beacon(_ beacon: Beacon, from shard: UInt32, now: Timestamp) -> Heard? {
        guard let slot = slots[shard] else { return nil }
        if case .fetch(let after) = cursors[slot].beacon(epoch: beacon.epoch, sequence: beacon.sequence, now: now) {
            fetches[shard] = Fetch(after: after, limit: fetchLimit)
        }
        return Heard(restarted: noteEpoch(beacon.epoch, slot: slot))
    }

    /// Judges the FETCHED that ends a catch-up reply from `shard`; nil for a shard not in the configuration.
    mutating func fetched(_ fetched: Fetched, from shard: UInt32, now: Timestamp) -> Heard? {
        guard let slot = slots[shard] else { return nil }
        let outcome = cursors[slot].fetched(status: fetched.status.rawValue, epoch: fetched.epoch, sequence: fetched.sequence, first: fetched.first, now: now)
        moved.insert(shard)
        var heard = Heard(restarted: noteEpoch(fetched.epoch, slot: slot))
        switch outcome {
        case .upToDate: break
        case .fetch(let after): fetches[shard] = Fetch(after: after, limit: fetchLimit)
        case .resynchronise: heard.resynchronise = true
        }
        return heard
    }

    /// Records the epoch heard from the shard in `slot`; whether it differs from the one heard before.
    private mutating func noteEpoch(_ epoch: UInt32, slot: Int) -> Bool {
        defer { epochs[slot] = epoch }
        guard let known = epochs[slot] else { return false }
        return known != epoch
    }

    /// Fetches from shards silent too long, and again where a FETCH went unanswered.
    mutating func tick(now: Timestamp) {
        for slot in cursors.indices {
            if case .fetch(let after) = cursors[slot].tick(now: now) {
                fetches[shards[slot]] = Fetch(after: after, limit: fetchLimit)
            }
        }
    }

    /// The next time ``tick(now:)`` has something to do, or positions are due to be stored.
    func nextDeadline() -> Timestamp {
        var next = Timestamp(milliseconds: .max)
        if !moved.isEmpty { next = stored.adding(milliseconds: positionInterval) }
        for cursor in cursors { next = min(next, cursor.nextDeadline) }
        return next
    }

    /// The FETCHes of the turn, which then starts afresh.
    mutating func takeFetches() -> [UInt32: Fetch] {
        defer { fetches = [:] }
        return fetches
    }

    /// The positions to store with this turn's commit: those that moved, when the turn commits anyway
    /// (`committing`) or positions were last stored `positionInterval` ago; otherwise none.
    mutating func positionsToStore(committing: Bool, now: Timestamp) -> [StreamPosition] {
        guard !moved.isEmpty, committing || now.since(stored) >= positionInterval else { return [] }
        let positions = moved.sorted().compactMap { shard in
            cursor(of: shard).map { StreamPosition(publisher: $0.publisher, epoch: $0.epoch, sequence: $0.sequence) }
        }
        moved = []
        stored = now
        return positions
    }
}
