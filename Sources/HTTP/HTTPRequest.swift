/// An HTTP/1.1 request as Baton's HTTP server reads it: the method, the path and query decoded, the
/// header fields (names in lower case), and a body of at most ``HTTPLimits/body`` octets.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The target's path, percent-decoded: `/runs/42`.
    public var path: String
    /// The target's query, percent-decoded (`+` is a space); a name given twice keeps its last value.
    public var query: [String: String]
    /// Header fields in the order received, names in lower case.
    public var headers: [Header]
    public var body: [UInt8]
    /// HTTP/1.0 or HTTP/1.1: the minor version.
    public var minorVersion: Int

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    public init(method: String, path: String, query: [String: String] = [:], headers: [Header] = [], body: [UInt8] = [], minorVersion: Int = 1) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.minorVersion = minorVersion
    }

    /// The value of the header field `name` (any case); the last, if it was sent more than once.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.last { $0.name == lower }?.value
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        let tokens = (header("connection") ?? "").lowercased().split(separator: ",").map { $0.trimmingSpaces() }
        if tokens.contains("close") { return false }
        return minorVersion >= 1 || tokens.contains("keep-alive")
    }
}

/// The bounds a request is read within; each is checked before anything of its size is kept.
public struct HTTPLimits: Sendable {
    /// The request line: method, target and version (414 beyond it).
    public var requestLine = 8 * 1024
    /// The request line and every header field together (431 beyond it).
    public var head = 16 * 1024
    /// Header fields (431 beyond it).
    public var headerCount = 64
    /// The body (413 beyond it): the dashboard's actions are small.
    public var body = 64 * 1024

    public init() {}
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
