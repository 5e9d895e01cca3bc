import Core
import Foundation
import Glibc
import HTTP
import Runtime

/// `baton web`: the dashboard, served by a process of its own that reads the management API as the CLI
/// does, until Ctrl-C.
enum Web {
    static let defaultListen = "127.0.0.1:8700"

    static func run(target: Target, listen: String, console: any Console) throws(CommandFailure) -> ExitCode {
        let address: HTTPServer.Configuration
        do {
            address = try HTTPServer.Configuration(address: listen)
        } catch {
            throw CommandFailure(code: .usage, message: "--listen: \(error)")
        }
        let (endpoint, curve) = try Client.resolve(target)
        // Management must answer before the dashboard says it is serving.
        _ = try Client(target).call("ping")
        var signals = StopSignals()
        let access = Dashboard.Access(key: curve?.pair.identity.name, role: curve?.pair.identity.role.rawValue)
        let dashboard = Dashboard(access: access, relay: APIRelay { try APIClient(endpoint: endpoint, curve: curve) })
        let server: WebServer
        do {
            server = try WebServer(address, name: "web", metrics: nil, dashboard: dashboard)
        } catch {
            dashboard.stop()
            throw CommandFailure(code: .failure, message: "cannot serve the dashboard: \(error) (choose another address with --listen HOST:PORT)")
        }
        console.out(banner(server, dashboard: dashboard, endpoint: endpoint))
        while true {
            guard let signal = signals.wait(milliseconds: 1000) else { continue }
            if signal != SIGHUP { break }
        }
        server.stop()
        return .success
    }

    /// What the dashboard serves, and how to act with it.
    static func banner(_ server: WebServer, dashboard: Dashboard, endpoint: String) -> String {
        var lines = ["dashboard: \(server.url)/  (management API: \(endpoint))"]
        switch (dashboard.access.key, dashboard.token) {
        case (nil, _):
            lines.append("read-only: a cluster without keys offers no actions from the web")
        case (let key?, let token?):
            lines.append("acts as \(key) (\(dashboard.access.role ?? "")); to act from a browser, sign in once with:")
            lines.append("  \(server.url)/login?token=\(token)")
        case (let key?, nil):
            lines.append("read-only: \(key) is a \(dashboard.access.role ?? "key") (an operator's or admin's key acts)")
        }
        lines.append("Press Ctrl-C to stop.")
        return lines.joined(separator: "\n")
    }
}
