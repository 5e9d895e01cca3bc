public import HTTP

/// The HTTP server of a Baton process: `/metrics` for the services it runs, and, where it has one, the
/// dashboard (``Dashboard``). What else is asked for is answered 404, naming what it serves.
public final class WebServer: Sendable {
    public let server: HTTPServer

    /// Binds `address` (throwing a clear error if it cannot) and serves.
    public let dashboard: Dashboard?

    public init(_ address: HTTPServer.Configuration, name: String, metrics: MetricsEndpoint?, dashboard: Dashboard? = nil) throws {
        self.dashboard = dashboard
        let serves = [metrics.map { _ in "/metrics" }, dashboard.map { _ in "the dashboard at /" }].compactMap { $0 }.joined(separator: " and ")
        let loopback = address.host.hasPrefix("127.")
        server = try HTTPServer(address, name: name) { request, responder in
            // On loopback, only names of this machine: a page of another site whose name was pointed at
            // 127.0.0.1 (DNS rebinding) reads nothing.
            if loopback, !Self.local(request.header("host")) {
                return responder.respond(.error(HTTPStatus(421, "Misdirected Request"), "this server answers for 127.0.0.1 and localhost only"))
            }
            if let metrics, metrics.handle(request, responder) { return }
            if let dashboard, dashboard.handle(request, responder) { return }
            responder.respond(.error(.notFound, "\(request.path) is not here: this \(name) serves \(serves)"))
        }
    }

    /// Whether a Host header names this machine's loopback: `127.x.x.x`, `localhost` or `[::1]`, with any port.
    static func local(_ host: String?) -> Bool {
        guard var name = host?.lowercased() else { return true }  // HTTP/1.0 sends none.
        if name.hasPrefix("[") { return name.hasPrefix("[::1]") }
        if let colon = name.lastIndex(of: ":") { name = String(name[..<colon]) }
        return name == "localhost" || (name.hasPrefix("127.") && name.allSatisfy { $0 == "." || ("0"..."9").contains($0) })
    }

    /// `http://HOST:PORT`.
    public var url: String { server.url }

    public func stop() {
        server.stop()
        dashboard?.stop()
    }
}
