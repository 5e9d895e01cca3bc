/// An HTTP status: its code and reason phrase.
public struct HTTPStatus: Sendable, Equatable, Hashable {
    public var code: Int
    public var reason: String

    public init(_ code: Int, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static let ok = HTTPStatus(200, "OK")
    public static let noContent = HTTPStatus(204, "No Content")
    public static let seeOther = HTTPStatus(303, "See Other")
    public static let badRequest = HTTPStatus(400, "Bad Request")
    public static let forbidden = HTTPStatus(403, "Forbidden")
    public static let notFound = HTTPStatus(404, "Not Found")
    public static let methodNotAllowed = HTTPStatus(405, "Method Not Allowed")
    public static let requestTimeout = HTTPStatus(408, "Request Timeout")
    public static let contentTooLarge = HTTPStatus(413, "Content Too Large")
    public static let uriTooLong = HTTPStatus(414, "URI Too Long")
    public static let headerFieldsTooLarge = HTTPStatus(431, "Request Header Fields Too Large")
    public static let internalServerError = HTTPStatus(500, "Internal Server Error")
    public static let notImplemented = HTTPStatus(501, "Not Implemented")
    public static let badGateway = HTTPStatus(502, "Bad Gateway")
    public static let serviceUnavailable = HTTPStatus(503, "Service Unavailable")
    public static let gatewayTimeout = HTTPStatus(504, "Gateway Timeout")
    public static let versionNotSupported = HTTPStatus(505, "HTTP Version Not Supported")
}

/// A response: its status, header fields and body. The server adds `Content-Length`, `Connection` and
/// the security headers every response carries (``HTTPResponse/serialized(forHead:keepAlive:)``).
public struct HTTPResponse: Sendable, Equatable {
    public var status: HTTPStatus
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: HTTPStatus = .ok, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body && lhs.headers.elementsEqual(rhs.headers) { $0 == $1 }
    }

    /// A body of `type` (`text/html; charset=utf-8`).
    public static func content(_ text: String, type: String, status: HTTPStatus = .ok) -> Self {
        HTTPResponse(status: status, headers: [("Content-Type", type)], body: Array(text.utf8))
    }

    public static func text(_ text: String, status: HTTPStatus = .ok) -> Self {
        content(text, type: "text/plain; charset=utf-8", status: status)
    }

    public static func json(_ text: String, status: HTTPStatus = .ok) -> Self {
        content(text, type: "application/json", status: status)
    }

    /// An error, said in plain text: the status, then why.
    public static func error(_ status: HTTPStatus, _ reason: String) -> Self {
        text("\(status.code) \(status.reason): \(reason)\n", status: status)
    }

    /// Every response's headers beyond its own: no caching of live figures, no sniffing of types, no
    /// framing by another site, and nothing loaded from elsewhere.
    static let guardHeaders: [(String, String)] = [
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"),
    ]

    /// The octets on the wire: the status line, the headers, and the body unless it answers a HEAD.
    public func serialized(forHead head: Bool = false, keepAlive: Bool) -> [UInt8] {
        var text = "HTTP/1.1 \(status.code) \(status.reason)\r\n"
        for (name, value) in headers where !Self.framing(name) { text += "\(name): \(value)\r\n" }
        for (name, value) in Self.guardHeaders where !headers.contains(where: { $0.name.lowercased() == name.lowercased() }) {
            text += "\(name): \(value)\r\n"
        }
        text += "Content-Length: \(body.count)\r\n"
        text += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        var octets = Array(text.utf8)
        if !head { octets += body }
        return octets
    }

    /// Headers the server sets itself.
    private static func framing(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower == "content-length" || lower == "connection" || lower == "transfer-encoding"
    }
}
