// The management API: a client's DEALER (the CLI, the timer, tools) to management's ROUTER.
// Bodies are JSON: this conversation is for people and scripts, not the hot path.
//
//     api = *( C:API-REQUEST S:API-REPLY )

/// A call of one of management's methods.
public struct APIRequest: WireValue {
    /// The request's ID, echoed in API-REPLY.
    public var request: UInt64
    /// The method (`apply`, `start`, `status`, `runs`, ...).
    public var method: String
    /// The arguments as a JSON object.
    public var body: String

    public init(request: UInt64, method: String, body: String = "{}") {
        self.request = request
        self.method = method
        self.body = body
    }

    public static let minimumSize = 8 + 1 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.string(method)
        writer.longstr(body)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        method = try reader.string("method")
        body = try reader.longstr("body", limit: Limits.chunk)
    }
}

/// The answer to API-REQUEST.
public struct APIReply: WireValue {
    /// The request answered.
    public var request: UInt64
    /// 200, or why not.
    public var status: Status
    /// The result as a JSON value; on failure an object with `error` (and `problems` for 422).
    public var body: String

    public init(request: UInt64, status: Status, body: String) {
        self.request = request
        self.status = status
        self.body = body
    }

    public static let minimumSize = 8 + 2 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number2(status.rawValue)
        writer.longstr(body)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        status = Status(rawValue: try reader.number2("status"))
        body = try reader.longstr("body", limit: Limits.chunk)
    }
}
