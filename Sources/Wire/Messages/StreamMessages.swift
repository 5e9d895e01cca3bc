// The event stream: a publisher's PUB to its subscribers' SUB, and catching up over the
// subscriber's DEALER to the publisher's ROUTER (the Clone pattern).
//
//     stream = *( S:JOB-UPDATES / S:RUN-UPDATES / S:BEACON )
//     catch-up = C:FETCH *( S:JOB-UPDATES / S:RUN-UPDATES ) S:FETCHED

/// The names on the event streams (`docs/protocol.md`, "Framing"): each message goes out under a topic
/// of its kind followed by its publisher's name, `job.shard-1` or `run.orchestrator`.
public enum StreamNames {
    /// The topic of JOB-UPDATES, a shard's.
    public static let jobTopic = "job."
    /// The topic of RUN-UPDATES, the orchestrator's.
    public static let runTopic = "run."
    /// The orchestrator's name as a publisher.
    public static let orchestrator = "orchestrator"
    /// A shard's name as a publisher.
    public static func shard(_ id: UInt32) -> String { "shard-\(id)" }
}

/// Job statuses committed in one turn of a shard, numbered in the shard's event log: one message, or several
/// in a row of at most ``statusBudget`` octets of statuses each.
public struct JobUpdates: WireValue {
    /// The publisher's name (`shard-3`).
    public var publisher: String
    /// The publisher's epoch: one more at each start.
    public var epoch: UInt32
    /// The message's sequence number in the publisher's log: one more than the previous message's.
    public var sequence: UInt64
    /// The statuses.
    public var updates: [JobStatus]

    public init(publisher: String, epoch: UInt32, sequence: UInt64, updates: [JobStatus]) {
        self.publisher = publisher
        self.epoch = epoch
        self.sequence = sequence
        self.updates = updates
    }

    public static let minimumSize = 1 + 4 + 8 + 4

    /// The most octets of statuses a publisher puts in one JOB-UPDATES or RUN-UPDATES (8 MiB): a turn that
    /// changed more sends several, each a message of its own in the log (`docs/protocol.md`, "Limits").
    /// Far below the frame limit, and below the count a list may hold, whatever the statuses say.
    public static let statusBudget = 8 << 20

    /// `statuses` cut, in their order, into runs of at most `budget` octets encoded (a status larger than
    /// that alone): the statuses of each JOB-UPDATES a turn sends.
    public static func batches(_ statuses: [JobStatus], budget: Int = statusBudget) -> [[JobStatus]] {
        cut(statuses, budget: budget) { JobStatus.minimumSize + $0.job.utf8.count + $0.output.utf8.count + $0.detail.utf8.count }
    }

    public func encode(to writer: inout FrameWriter) {
        writer.string(publisher)
        writer.number4(epoch)
        writer.number8(sequence)
        writer.values(updates)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        publisher = try reader.string("publisher")
        epoch = try reader.number4("epoch")
        sequence = try reader.number8("sequence")
        updates = try reader.values("updates")
    }
}

/// Run statuses committed in one turn of the orchestrator, numbered in its event log: one message, or several
/// in a row of at most ``JobUpdates/statusBudget`` octets of statuses each.
public struct RunUpdates: WireValue {
    /// The publisher's name (`flow`).
    public var publisher: String
    /// The publisher's epoch.
    public var epoch: UInt32
    /// The message's sequence number in the publisher's log.
    public var sequence: UInt64
    /// The statuses.
    public var updates: [RunStatus]

    public init(publisher: String, epoch: UInt32, sequence: UInt64, updates: [RunStatus]) {
        self.publisher = publisher
        self.epoch = epoch
        self.sequence = sequence
        self.updates = updates
    }

    public static let minimumSize = 1 + 4 + 8 + 4

    /// `statuses` cut, in their order, into runs of at most `budget` octets encoded (a status larger than
    /// that alone): the statuses of each RUN-UPDATES a turn sends.
    public static func batches(_ statuses: [RunStatus], budget: Int = JobUpdates.statusBudget) -> [[RunStatus]] {
        cut(statuses, budget: budget) { RunStatus.minimumSize + $0.product.utf8.count + $0.flow.utf8.count + $0.detail.utf8.count }
    }

    public func encode(to writer: inout FrameWriter) {
        writer.string(publisher)
        writer.number4(epoch)
        writer.number8(sequence)
        writer.values(updates)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        publisher = try reader.string("publisher")
        epoch = try reader.number4("epoch")
        sequence = try reader.number8("sequence")
        updates = try reader.values("updates")
    }
}

/// A publisher's heartbeat, sent when it has published nothing for an interval.
public struct Beacon: WireValue {
    /// The publisher's name.
    public var publisher: String
    /// The publisher's epoch.
    public var epoch: UInt32
    /// The sequence number of the last message published; a subscriber behind it fetches.
    public var sequence: UInt64

    public init(publisher: String, epoch: UInt32, sequence: UInt64) {
        self.publisher = publisher
        self.epoch = epoch
        self.sequence = sequence
    }

    public static let minimumSize = 1 + 4 + 8

    public func encode(to writer: inout FrameWriter) {
        writer.string(publisher)
        writer.number4(epoch)
        writer.number8(sequence)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        publisher = try reader.string("publisher")
        epoch = try reader.number4("epoch")
        sequence = try reader.number8("sequence")
    }
}

/// Asks a publisher for the messages of its log after a sequence number.
public struct Fetch: WireValue {
    /// The last sequence number the subscriber has applied; the reply starts after it.
    public var after: UInt64
    /// The most messages to send in this reply.
    public var limit: UInt32

    public init(after: UInt64, limit: UInt32) {
        self.after = after
        self.limit = limit
    }

    public static let minimumSize = 12

    public func encode(to writer: inout FrameWriter) {
        writer.number8(after)
        writer.number4(limit)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        after = try reader.number8("after")
        limit = try reader.number4("limit")
    }
}

/// Ends the reply to FETCH.
public struct Fetched: WireValue {
    /// 200: the subscriber is up to date; 206: more follow, fetch again; 410: `after` is older than the log keeps.
    public var status: Status
    /// The publisher's epoch.
    public var epoch: UInt32
    /// The last sequence number in the publisher's log.
    public var sequence: UInt64
    /// The oldest sequence number the log still holds (0 when empty).
    public var oldest: UInt64
    /// The sequence number of the publisher's first message in this epoch (0 when not known): a subscriber
    /// that applied it or a later one under an earlier epoch has applied messages the publisher lost.
    public var first: UInt64

    public init(status: Status, epoch: UInt32, sequence: UInt64, oldest: UInt64, first: UInt64 = 0) {
        self.status = status
        self.epoch = epoch
        self.sequence = sequence
        self.oldest = oldest
        self.first = first
    }

    public static let minimumSize = 2 + 4 + 8 + 8 + 8

    public func encode(to writer: inout FrameWriter) {
        writer.number2(status.rawValue)
        writer.number4(epoch)
        writer.number8(sequence)
        writer.number8(oldest)
        writer.number8(first)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        status = Status(rawValue: try reader.number2("status"))
        epoch = try reader.number4("epoch")
        sequence = try reader.number8("sequence")
        oldest = try reader.number8("oldest")
        first = try reader.number8("first")
    }
}

/// `values` cut, in their order, into runs whose sizes add up to at most `budget` (a value larger than that
/// alone), none empty.
func cut<Value>(_ values: [Value], budget: Int, size: (Value) -> Int) -> [[Value]] {
    var batches: [[Value]] = []
    var start = 0
    var total = 0
    for (index, value) in values.enumerated() {
        let octets = size(value)
        if index > start && total + octets > budget {
            batches.append(Array(values[start..<index]))
            start = index
            total = 0
        }
        total += octets
    }
    if start < values.count { batches.append(start == 0 ? values : Array(values[start...])) }
    return batches
}
