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
        server = try HTTPServer(address, name: name) { request, responder in
            if let metrics, metrics.handle(request, responder) { return }
            if let dashboard, dashboard.handle(request, responder) { return }
            responder.respond(.error(.notFound, "\(request.path) is not here: this \(name) serves \(serves)"))
        }
    }

    /// `http://HOST:PORT`.
    public var url: String { server.url }

    public func stop() {
        server.stop()
        dashboard?.stop()
    }
}
