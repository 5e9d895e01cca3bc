import Core
import Foundation
import Glibc
import Runtime
import Testing

/// `baton web` on an encrypted cluster of processes: with a viewer's key it only reads; with an
/// operator's it acts, but only for a browser signed in with the link it printed, and only with the
/// header no other site's page can send; the audit log names the key.
@Suite(.serialized) struct DashboardAccessTests {
    /// Starts `baton web` with `identity`; returns the process, its port and its banner.
    static func web(config: String, identity: String) throws -> (Process, UInt16, String) {
        let port = try FreePort.find()
        let (web, banner) = try startServing(["web", "--config", config, "--identity", identity, "--listen", "127.0.0.1:\(port)"])
        return (web, port, banner)
    }

    @Test func onlyASignedInBrowserActsAndOnlyWithAnOperatorsKey() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            try ChaosTests.clusterFile(data: "\(folder)/data").replacingOccurrences(of: #""durability": "normal","#, with: "")
                .write(toFile: config, atomically: true, encoding: .utf8)
            let (upStatus, upOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(upStatus == 0, "\(upOutput)")
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
            let keys = "\(folder)/data/keys"
            #expect(try ChaosTests.baton(["keys", "new", "alice", "--role", "operator", "--dir", keys]).0 == 0)
            #expect(try ChaosTests.baton(["keys", "new", "wall", "--role", "viewer", "--dir", keys]).0 == 0)
            #expect(try ChaosTests.baton(["keys", "reload", "--config", config]).0 == 0)

            let flow = #"{"product": "ledger", "flow": "hold", "jobs": [{"name": "nap", "run": "sleep 30"}]}"#
            try flow.write(toFile: "\(folder)/flow.json", atomically: true, encoding: .utf8)
            #expect(try ChaosTests.baton(["apply", "--config", config, "\(folder)/flow.json"]).0 == 0)
            let (started, output) = try ChaosTests.baton(["start", "--config", config, "ledger/hold", "--json"])
            #expect(started == 0, "\(output)")
            let run = (try? JSONParser.parse(output))?["run"]?.integer ?? 0

            // A viewer's key: pages read, actions refused.
            let (wall, wallPort, wallBanner) = try Self.web(config: config, identity: "\(keys)/wall.secret")
            defer {
                wall.interrupt()
                wall.waitUntilExit()
            }
            #expect(wallBanner.contains("read-only: wall is a viewer"), "\(wallBanner)")
            #expect(try httpGet(port: wallPort, "/api/status?run=\(run)").code == 200)
            let refused = try httpRequest(port: wallPort, "POST", "/api/stop", headers: ["X-Baton": "act"], body: #"{"run": \#(run)}"#)
            #expect(refused.code == 403 && refused.body.contains("read-only"), "\(refused)")

            // An operator's key: acts for a signed-in browser only.
            let (desk, port, banner) = try Self.web(config: config, identity: "\(keys)/alice.secret")
            defer {
                desk.interrupt()
                desk.waitUntilExit()
            }
            let link = try #require(banner.split(separator: "\n").first { $0.contains("/login?token=") }, "\(banner)")
            let token = String(link.split(separator: "=").last!)
            let stop = #"{"run": \#(run)}"#
            let anonymous = try httpRequest(port: port, "POST", "/api/stop", headers: ["X-Baton": "act"], body: stop)
            #expect(anonymous.code == 403 && anonymous.body.contains("sign in"), "\(anonymous)")
            #expect(try httpGet(port: port, "/login?token=0000").code == 403)
            let signIn = try httpRequest(port: port, "GET", "/login?token=\(token)")
            #expect(signIn.code == 303)
            #expect(signIn.head.contains("Set-Cookie: baton_session=\(token); Path=/; HttpOnly; SameSite=Strict"), "\(signIn.head)")
            let cookie = ["Cookie": "baton_session=\(token)"]
            // A form another site posts carries the cookie but cannot add the header.
            let forged = try httpRequest(port: port, "POST", "/api/stop", headers: cookie, body: stop)
            #expect(forged.code == 403 && forged.body.contains("needs the header X-Baton: act"), "\(forged)")
            // Another method is refused with a sentence naming the two it takes.
            let put = try httpRequest(port: port, "PUT", "/api/stop", headers: cookie, body: stop)
            #expect(put.code == 405 && put.body.contains("not PUT") && put.head.contains("Allow: GET, HEAD, POST"), "\(put)")
            let notAnAction = try httpRequest(port: port, "POST", "/api/apply", headers: cookie.merging(["X-Baton": "act"]) { $1 }, body: "{}")
            #expect(notAnAction.code == 404, "the dashboard never applies flows: \(notAnAction)")
            let acted = try httpRequest(port: port, "POST", "/api/stop", headers: cookie.merging(["X-Baton": "act"]) { $1 }, body: stop)
            #expect(acted.code == 200, "\(acted)")
            let session = try httpRequest(port: port, "GET", "/web/session", headers: cookie)
            #expect(session.body.contains(#""acts":true"#), "\(session.body)")

            // The audit log names the dashboard's key.
            let history = try ChaosTests.baton(["history", "--config", config, String(run), "--json"])
            let actions = (try? JSONParser.parse(history.1))?["actions"]?.array ?? []
            let stopped = try #require(actions.first { $0["action"]?.string == "stop" }, "\(history.1)")
            #expect(stopped["actor"]?.string == "alice")
        }
    }
}
