// Questions to a shard about what it holds now: its workers, its queue, why a run's jobs wait.
// Management asks the orchestrator, which passes the question to the shard and its answer back.
//
//     queries = *( C:SHARD-QUERY S:SHARD-ANSWER )

/// A question for a shard, read-only: management → orchestrator → shard.
public struct ShardQuery: WireValue {
    /// The request's ID, echoed in SHARD-ANSWER.
    public var request: UInt64
    /// The shard asked.
    public var shard: UInt32
    /// What is asked: `workers`, `queue` or `waits` (`docs/protocol.md`, "Queries").
    public var kind: String
    /// The question's arguments, a JSON object (`{"run": 42}` for `waits`).
    public var body: String

    public init(request: UInt64, shard: UInt32, kind: String, body: String = "{}") {
        self.request = request
        self.shard = shard
        self.kind = kind
        self.body = body
    }

    /// The most octets a question's arguments take.
    public static let bodyLimit = 64 * 1024

    public static let minimumSize = 8 + 4 + 1 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number4(shard)
        writer.string(kind)
        writer.longstr(body)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        shard = try reader.number4("shard")
        kind = try reader.string("kind")
        body = try reader.longstr("body", limit: Self.bodyLimit)
    }
}

/// A shard's answer to SHARD-QUERY, committed state only: shard → orchestrator → management.
public struct ShardAnswer: WireValue {
    /// The request answered.
    public var request: UInt64
    /// The shard that answers (or, from the orchestrator, the one that was asked).
    public var shard: UInt32
    /// 200; 400 for a question the shard cannot read; 404 for an unknown kind or shard; 504 when the
    /// orchestrator had no answer from the shard in time.
    public var status: Status
    /// A JSON value; on failure an object with `error`.
    public var body: String

    public init(request: UInt64, shard: UInt32, status: Status, body: String) {
        self.request = request
        self.shard = shard
        self.status = status
        self.body = body
    }

    public static let minimumSize = 8 + 4 + 2 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number4(shard)
        writer.number2(status.rawValue)
        writer.longstr(body)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        shard = try reader.number4("shard")
        status = Status(rawValue: try reader.number2("status"))
        body = try reader.longstr("body", limit: Limits.chunk)
    }
}
