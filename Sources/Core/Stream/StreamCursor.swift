/// A subscriber's position in one publisher's event stream, and the decisions of the Clone pattern:
/// apply the next message, ignore a repeat, fetch what was missed.
///
/// PUB/SUB loses messages silently (slow joiners, high-water marks, reconnects), so the cursor treats it
/// as a notification channel: a gap, a beacon ahead of the cursor, a new epoch or a silent publisher all
/// lead to a FETCH from the publisher's durable log, and only contiguous messages are applied.
public struct StreamCursor: Equatable, Sendable {
    /// The publisher's name.
    public let publisher: String
    /// The publisher's epoch when last heard.
    public private(set) var epoch: UInt32
    /// The sequence of the last message applied.
    public private(set) var sequence: UInt64
    /// When the publisher was last heard from.
    public private(set) var lastHeard: Timestamp
    /// When the outstanding FETCH was sent, if one is.
    public private(set) var fetchSent: Timestamp?
    /// How long the publisher may be silent before the cursor fetches.
    public var silence: Int64
    /// How long to wait for FETCHED before asking again.
    public var fetchTimeout: Int64

    /// What to do with a message.
    public enum Verdict: Equatable, Sendable {
        /// It is the next one: apply it.
        case apply
        /// It was applied before, or a fetch will bring it: drop it.
        case ignore
        /// Messages are missing: send FETCH after this sequence.
        case fetch(after: UInt64)
    }

    /// What a FETCHED means.
    public enum Catch: Equatable, Sendable {
        /// The cursor is at the publisher's last message.
        case upToDate
        /// More remain: send FETCH after this sequence.
        case fetch(after: UInt64)
        /// The publisher no longer has what the cursor missed (its log was trimmed or lost): the subscriber
        /// must resynchronise by other means. The cursor has moved to the publisher's last message.
        case resynchronise
    }

    public init(publisher: String, epoch: UInt32 = 0, sequence: UInt64 = 0, now: Timestamp, silence: Int64 = 3000, fetchTimeout: Int64 = 2000) {
        self.publisher = publisher
        self.epoch = epoch
        self.sequence = sequence
        self.lastHeard = now
        self.silence = silence
        self.fetchTimeout = fetchTimeout
    }

    /// Judges a JOB-UPDATES or RUN-UPDATES message, live or fetched.
    public mutating func received(epoch: UInt32, sequence: UInt64, now: Timestamp) -> Verdict {
        lastHeard = now
        // A message of the epoch known, or of an earlier one (a fetched message keeps the epoch it was
        // published in); any message to a cursor that has applied nothing, and so can have lost nothing.
        if epoch <= self.epoch || self.sequence == 0 {
            if sequence == self.sequence + 1 {
                self.sequence = sequence
                self.epoch = max(self.epoch, epoch)
                return .apply
            }
            if sequence <= self.sequence { return .ignore }
        }
        // A gap, or a new epoch, even for the next sequence: its FETCHED says where the epoch began, and
        // so whether the publisher lost messages this cursor applied.
        return startFetch(now: now)
    }

    /// Judges a BEACON.
    public mutating func beacon(epoch: UInt32, sequence: UInt64, now: Timestamp) -> Verdict {
        lastHeard = now
        if sequence > self.sequence || epoch != self.epoch { return startFetch(now: now) }
        return .ignore
    }

    /// Judges the FETCHED that ends a catch-up reply: `first` is the sequence of the publisher's first
    /// message in `epoch` (0 when it does not say).
    public mutating func fetched(status: UInt16, epoch: UInt32, sequence: UInt64, first: UInt64 = 0, now: Timestamp) -> Catch {
        lastHeard = now
        fetchSent = nil
        defer { self.epoch = epoch }
        // Behind the cursor in the same epoch: live messages applied while the fetch was answered moved
        // the cursor on, and nothing is missing. Behind it in a new epoch, or a new epoch that began at or
        // before the last message applied: the publisher lost messages this cursor applied (its log, or
        // its last commits on a power loss under durability normal), and sent others under their numbers.
        let wentBack = epoch != self.epoch && (sequence < self.sequence || (first > 0 && first <= self.sequence))
        if status == 410 || wentBack {
            self.sequence = sequence
            return .resynchronise
        }
        if self.sequence < sequence {
            fetchSent = now
            return .fetch(after: self.sequence)
        }
        return .upToDate
    }

    /// Fetches when the publisher has been silent too long, or a FETCH went unanswered.
    public mutating func tick(now: Timestamp) -> Verdict {
        if let sent = fetchSent {
            guard now.since(sent) >= fetchTimeout else { return .ignore }
            fetchSent = now
            return .fetch(after: sequence)
        }
        guard now.since(lastHeard) >= silence else { return .ignore }
        return startFetch(now: now)
    }

    /// The next time ``tick(now:)`` may have something to do.
    public var nextDeadline: Timestamp {
        if let sent = fetchSent { return sent.adding(milliseconds: fetchTimeout) }
        return lastHeard.adding(milliseconds: silence)
    }

    private mutating func startFetch(now: Timestamp) -> Verdict {
        // One FETCH at a time; its FETCHED says whether to fetch again.
        guard fetchSent == nil else { return .ignore }
        fetchSent = now
        return .fetch(after: sequence)
    }
}
