/// A reply's status code, after the status codes of malamute and HTTP.
///
/// 2xx: done. 4xx: the request was wrong and repeating it will not help. 5xx: the service could not
/// do it now; repeating it later may. The table in `docs/protocol.md` is the reference.
public struct Status: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Done.
    public static let ok = Status(rawValue: 200)
    /// Taken on, and committed; the effect follows asynchronously.
    public static let accepted = Status(rawValue: 202)
    /// The event log answered part of a FETCH; fetch again from the last sequence received.
    public static let partial = Status(rawValue: 206)
    /// The message was well formed but its content is not acceptable.
    public static let badRequest = Status(rawValue: 400)
    /// The peer has not sent READY on this connection (or the shard restarted): send READY.
    public static let unknownPeer = Status(rawValue: 401)
    /// The peer's key may not do this: a worker name bound to another key, or an API method the key's
    /// role may not call. Repeating it will not help while the binding or the role holds.
    public static let forbidden = Status(rawValue: 403)
    /// The named product, flow, run or job does not exist.
    public static let notFound = Status(rawValue: 404)
    /// The request contradicts the current state (rerunning a run that is still running).
    public static let conflict = Status(rawValue: 409)
    /// What was asked for is no longer kept: events older than the event log keeps, or the tombstone of a
    /// hand-over whose ends a relay asks for.
    public static let gone = Status(rawValue: 410)
    /// A field is larger than the service accepts.
    public static let tooLarge = Status(rawValue: 413)
    /// The content is invalid (a flow file with errors); the detail lists every problem.
    public static let invalid = Status(rawValue: 422)
    /// The service failed; the detail says how.
    public static let internalError = Status(rawValue: 500)
    /// The service cannot take the request now (stopping, store unavailable); retry later.
    public static let unavailable = Status(rawValue: 503)
    /// A service passing a question on had no answer in time (SHARD-ANSWER from the orchestrator).
    public static let gatewayTimeout = Status(rawValue: 504)
    /// The peer speaks a protocol version this service does not.
    public static let versionNotSupported = Status(rawValue: 505)

    /// Whether the code is a 2xx success.
    public var isSuccess: Bool { (200..<300).contains(rawValue) }

    public var description: String { "\(rawValue) \(reason)" }

    /// The short phrase for the code, as in the table.
    public var reason: String {
        switch rawValue {
        case 200: "OK"
        case 202: "Accepted"
        case 206: "Partial"
        case 400: "Bad request"
        case 401: "Unknown peer"
        case 403: "Forbidden"
        case 404: "Not found"
        case 409: "Conflict"
        case 410: "Gone"
        case 413: "Too large"
        case 422: "Invalid"
        case 500: "Internal error"
        case 503: "Unavailable"
        case 504: "Gateway timeout"
        case 505: "Version not supported"
        default: "Status \(rawValue)"
        }
    }
}
