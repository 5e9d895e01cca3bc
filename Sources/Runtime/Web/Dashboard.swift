import Core
import Foundation
public import HTTP
import Synchronization

/// The web dashboard: pages served from the binary (HTML, CSS and a small script, no framework, nothing
/// from elsewhere), which read the management API through `/api/METHOD` as the CLI does, and poll it to
/// stay live (`docs/web.md`).
///
/// Reading needs no sign-in: the pages show what a viewer's key may see. Acting (stop, rerun, hold, ...)
/// needs both a key of the operator or admin role for the dashboard itself (it acts, and is audited,
/// under that key's name) and, from the browser, the sign-in link the dashboard printed at start; in a
/// cluster without keys (`baton dev`) the dashboard is read-only.
public final class Dashboard: Sendable {
    /// What the dashboard may do, from the key it talks to management with.
    public struct Access: Sendable {
        /// The key's name and role; nil without keys.
        public var key: String?
        public var role: String?
        /// Whether it offers operator actions: a key of the operator or admin role.
        public var acts: Bool

        public init(key: String?, role: String?) {
            self.key = key
            self.role = role
            acts = role == "operator" || role == "admin"
        }
    }

    /// The methods any page may call with GET: a viewer's.
    static let readMethods: Set<String> = ["status", "runs", "flows", "flow", "products", "workers", "queue", "waits", "attempts", "history", "schedule", "calendars", "ping"]
    /// The actions a signed-in operator may take with POST.
    static let actionMethods: Set<String> = ["stop", "pause", "resume", "rerun", "rerun-job", "mark-succeeded", "hold", "release"]
    /// Query fields read as numbers.
    static let numberFields: Set<String> = ["run", "from", "limit", "since", "until", "before", "shard", "next", "version"]

    public let access: Access
    /// The sign-in token: the secret of the link printed at start; nil when the dashboard cannot act.
    public let token: String?
    let relay: APIRelay
    let history: WaitHistory

    public init(access: Access, relay: APIRelay) {
        self.access = access
        self.relay = relay
        token = access.acts ? Self.randomToken() : nil
        history = WaitHistory(relay: relay)
    }

    public func stop() {
        history.stop()
        relay.stop()
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt64, radix: 16) }.map { String(repeating: "0", count: 16 - $0.count) + $0 }.joined()
    }

    /// Answers `request` if it is the dashboard's; false otherwise.
    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) -> Bool {
        let path = request.path
        if let page = DashboardAssets.pages[path] {
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed(responder) }
            responder.respond(.content(DashboardAssets.shell(page: page), type: "text/html; charset=utf-8"))
            return true
        }
        if let (type, text) = DashboardAssets.files[path] {
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed(responder) }
            responder.respond(.content(text, type: type))
            return true
        }
        switch path {
        case "/login":
            signIn(request, responder)
        case "/web/session":
            let signed = signedIn(request)
            responder.respond(.json(JSON.object([
                ("key", access.key.map(JSON.string) ?? .null), ("role", access.role.map(JSON.string) ?? .null),
                ("acts", .bool(access.acts && signed)), ("can_act", .bool(access.acts)), ("signed_in", .bool(signed)),
            ]).rendered()))
        case "/web/waits":
            responder.respond(.json(history.json().rendered()))
        default:
            guard path.hasPrefix("/api/") else { return false }
            api(String(path.dropFirst(5)), request, responder)
        }
        return true
    }

    private func methodNotAllowed(_ responder: HTTPResponder) -> Bool {
        responder.respond(HTTPResponse(status: .methodNotAllowed, headers: [("Allow", "GET, HEAD")], body: Array("405 Method Not Allowed: pages are read with GET\n".utf8)))
        return true
    }

    /// `/login?token=T`: the link printed at start sets the session cookie and goes to the products.
    private func signIn(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard let token else {
            return responder.respond(.error(.forbidden, "this dashboard cannot act (its key is \(access.role ?? "none"), not operator or admin): there is nothing to sign in to"))
        }
        guard let given = request.query["token"], Self.same(given, token) else {
            return responder.respond(.error(.forbidden, "the sign-in link's token is wrong: use the link `baton web` printed at start"))
        }
        responder.respond(HTTPResponse(status: .seeOther, headers: [
            ("Location", "/"), ("Set-Cookie", "baton_session=\(token); Path=/; HttpOnly; SameSite=Strict"),
        ]))
    }

    /// Whether the request carries the session cookie.
    func signedIn(_ request: HTTPRequest) -> Bool {
        guard let token, let cookies = request.header("cookie") else { return false }
        return cookies.split(separator: ";").contains { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return parts.count == 2 && parts[0] == "baton_session" && Self.same(parts[1], token)
        }
    }

    /// Compares in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// A GET's query as the fields of its method: the numbers ``numberFields`` names as numbers, and every
    /// other value as the string it is (`true` is a name a product, flow or job may have; no method a
    /// viewer calls takes a Boolean).
    static func fields(ofQuery query: [String: String]) -> JSON {
        .object(query.sorted { $0.key < $1.key }.map { name, value in
            if Self.numberFields.contains(name), let number = Int64(value) { return (name, .number(number)) }
            return (name, .string(value))
        })
    }

    /// `/api/METHOD`: GET for a viewer's methods, the query string as its fields; POST (signed in, with
    /// the header `X-Baton: act`, which no other site's form can send) for an operator's actions, a JSON body.
    private func api(_ method: String, _ request: HTTPRequest, _ responder: HTTPResponder) {
        var body: JSON
        switch request.method {
        case "GET", "HEAD":
            guard Self.readMethods.contains(method) else {
                return responder.respond(.error(.notFound, "the dashboard reads \(Self.readMethods.sorted().joined(separator: ", ")), not \"\(method)\""))
            }
            body = Self.fields(ofQuery: request.query)
        case "POST":
            guard Self.actionMethods.contains(method) else {
                return responder.respond(.error(.notFound, "the dashboard acts with \(Self.actionMethods.sorted().joined(separator: ", ")), not \"\(method)\""))
            }
            guard access.acts else {
                return responder.respond(.error(.forbidden, "this dashboard is read-only: it needs a key of the operator or admin role to act (`baton web --identity FILE`)"))
            }
            guard signedIn(request) else {
                return responder.respond(.error(.forbidden, "sign in first with the link `baton web` printed at start"))
            }
            guard request.header("x-baton") == "act" else {
                return responder.respond(.error(.forbidden, "an action needs the header X-Baton: act, which the dashboard's page sends and no other site's form can"))
            }
            guard let parsed = try? JSONParser.parse(String(decoding: request.body, as: UTF8.self)), parsed.members != nil else {
                return responder.respond(.error(.badRequest, "an action's body is a JSON object, such as {\"run\": 42}"))
            }
            body = parsed
        default:
            let reason = "/api/\(method) is read with GET (a viewer's methods) or acted on with POST (an operator's), not \(request.method)"
            return responder.respond(HTTPResponse(status: .methodNotAllowed, headers: [("Allow", "GET, HEAD, POST")], body: Array("405 Method Not Allowed: \(reason)\n".utf8)))
        }
        relay.call(method, body) { reply, failure in
            guard let reply else {
                return responder.respond(.json(JSON.object([("error", .string(failure ?? "no answer"))]).rendered(), status: .badGateway))
            }
            responder.respond(.json(reply.body.rendered(), status: HTTPStatus(Int(reply.status.rawValue), reply.status.isSuccess ? "OK" : "Refused")))
        }
    }
}

/// Each product's waits over the last hour, sampled from `queue` every 10 seconds, for the products
/// page's chart: at most 360 samples, of at most 100 products each.
final class WaitHistory: Sendable {
    static let interval: TimeInterval = 10
    static let samples = 360
    static let products = 100

    struct Sample: Sendable {
        var time: Int64
        var waits: [String: (p50: Int64?, p99: Int64?, pending: Int64)]
    }

    private let state = Mutex<(samples: [Sample], stopping: Bool)>(([], false))
    private let finished = DispatchSemaphore(value: 0)
    private let wake = DispatchSemaphore(value: 0)

    init(relay: APIRelay) {
        let thread = Thread { [self] in
            while !state.withLock({ $0.stopping }) {
                let answered = DispatchSemaphore(value: 0)
                relay.call("queue") { [self] reply, _ in
                    if let reply, reply.status.isSuccess { record(reply.body) }
                    answered.signal()
                }
                answered.wait()
                _ = wake.wait(timeout: .now() + Self.interval)
            }
            finished.signal()
        }
        thread.name = "web-waits"
        thread.start()
    }

    func stop() {
        state.withLock { $0.stopping = true }
        wake.signal()
        finished.wait()
    }

    private func record(_ body: JSON) {
        var waits: [String: (p50: Int64?, p99: Int64?, pending: Int64)] = [:]
        for shard in body["shards"]?.array ?? [] {
            for product in shard["products"]?.array ?? [] {
                guard let name = product["product"]?.string, waits.count < Self.products else { continue }
                waits[name] = (product["wait_p50"]?.integer, product["wait_p99"]?.integer, product["pending"]?.integer ?? 0)
            }
        }
        let time = Int64(Date().timeIntervalSince1970 * 1000)
        state.withLock { state in
            state.samples.append(Sample(time: time, waits: waits))
            if state.samples.count > Self.samples { state.samples.removeFirst(state.samples.count - Self.samples) }
        }
    }

    func json() -> JSON {
        let samples = state.withLock { $0.samples }
        return .object([
            ("interval", .number(Int(Self.interval * 1000))),
            ("samples", .array(samples.map { sample in
                .object([
                    ("time", .number(sample.time)),
                    ("products", .object(sample.waits.sorted { $0.key < $1.key }.map { name, wait in
                        (name, .object([
                            ("wait_p50", wait.p50.map(JSON.number) ?? .null), ("wait_p99", wait.p99.map(JSON.number) ?? .null),
                            ("pending", .number(wait.pending)),
                        ]))
                    })),
                ])
            })),
        ])
    }
}
