import Core
import Foundation
import Testing
import Wire

/// The management API by role, in a cluster with keys: what each role may call, the refusal and its audit
/// entry, and the actor recorded.
@Suite struct APIAccessTests {
    static let alice = APICaller(name: "alice", role: .operator)
    static let vera = APICaller(name: "vera", role: .viewer)
    static let root = APICaller(name: "root", role: .admin)
    static let timer = APICaller(name: "timer", role: .timer)

    @Test func eachRoleMayCallItsMethodsAndThoseOfTheRolesBelow() {
        let roles: [String: APIRole?] = Dictionary(uniqueKeysWithValues: ManagementAPI.methods.map { ($0.name, $0.role) })
        #expect(roles["status"] == .viewer && roles["history"] == .viewer && roles["runs"] == .viewer && roles["flows"] == .viewer)
        #expect(roles["start"] == .operator && roles["stop"] == .operator && roles["mark-succeeded"] == .operator && roles["hold"] == .operator)
        #expect(roles["apply"] == .admin && roles["set-policy"] == .admin)
        #expect(roles["fire"] == .timer && roles["schedules"] == .timer)
        #expect(roles["ping"] == .some(nil))
        #expect(APIRole.viewer.may(.viewer) && !APIRole.viewer.may(.operator) && !APIRole.viewer.may(.admin))
        #expect(APIRole.operator.may(.viewer) && APIRole.operator.may(.operator) && !APIRole.operator.may(.admin))
        #expect(APIRole.admin.may(.viewer) && APIRole.admin.may(.operator) && APIRole.admin.may(.admin) && APIRole.admin.may(.timer))
        #expect(APIRole.timer.may(.timer) && !APIRole.timer.may(.viewer) && !APIRole.timer.may(.operator))
        #expect(!APIRole.operator.may(.timer) && !APIRole.viewer.may(.timer))
    }

    @Test func aRequestItsRoleMayNotMakeIsRefused403NamingTheRoleAndAuditedAsRefused() {
        var management = ManagementHarness()
        _ = management.call("apply", Self.files(ManagementHarness.flow), by: Self.root)
        let (turn, reply, body) = management.call("apply", Self.files(ManagementHarness.flow), by: Self.alice)
        #expect(reply.status == .forbidden)
        #expect(body["error"]?.string == "apply needs the admin role; alice is an operator")
        #expect(turn.flows.isEmpty && turn.products.isEmpty)
        #expect(turn.refusedByRole == 1, "counted, for the refused-messages metric")
        #expect(turn.audit.count == 1)
        let entry = turn.audit[0]
        #expect(entry.actor == "alice" && entry.method == "apply" && entry.status == 403 && entry.outcome == "refused")
        #expect(entry.detail == "apply needs the admin role; alice is an operator")

        let (stopTurn, stop, _) = management.call("hold", #"{"product": "payments", "actor": "mallory"}"#, by: Self.vera)
        #expect(stop.status == .forbidden)
        #expect(stopTurn.toOrchestrator.isEmpty)
        #expect(stopTurn.audit.first?.product == "payments")
        #expect(stopTurn.audit.first?.comment == "claimed actor \"mallory\"")

        let (fireTurn, fire, _) = management.call("fire", #"{"flow": "payments/eod", "instant": 1}"#, by: Self.alice)
        #expect(fire.status == .forbidden && fireTurn.runs.isEmpty)
        let (_, status, _) = management.call("status", #"{"run": 1}"#, by: Self.timer)
        #expect(status.status == .forbidden)
        #expect(management.call("ping", "{}", by: Self.timer).1.status == .ok)
    }

    @Test func refusalsAreAuditedAtMostOnceASecondAKeyWithHowManyWereNot() {
        var management = ManagementHarness()
        for _ in 0..<3 {
            let (turn, reply, _) = management.call("apply", Self.files(ManagementHarness.flow), by: Self.vera)
            #expect(reply.status == .forbidden && turn.refusedByRole == 1, "each counted, however few are audited")
        }
        #expect(management.call("status", #"{"run": 1}"#, by: Self.timer).0.audit.count == 1)  // another key: its own second
        // The second over, the two left unwritten are written as one entry, with no request needed to do it.
        #expect(management.core.nextDeadline() == management.now.adding(milliseconds: 1000))
        management.now = management.now.adding(milliseconds: 1000)
        management.core.tick(now: management.now)
        let summary = management.core.finishTurn().audit
        #expect(summary.map(\.detail) == ["2 more requests of vera refused for its role in the second after the last entry (the last: apply)"])
        #expect(summary.allSatisfy { $0.actor == "vera" && $0.status == 403 && $0.outcome == "refused" })
        // The next refusal opens a new second of its own.
        let (turn, reply, _) = management.call("hold", #"{"product": "payments"}"#, by: Self.vera)
        #expect(reply.status == .forbidden)
        #expect(turn.audit.map(\.detail) == ["hold needs the operator role; vera is a viewer"])
        // Refused twice more within a second, then a request a second later before any tick: it says so itself.
        _ = management.call("hold", #"{"product": "payments"}"#, by: Self.vera)
        management.now = management.now.adding(milliseconds: 1000)
        let (late, _, _) = management.call("apply", Self.files(ManagementHarness.flow), by: Self.vera)
        #expect(late.audit.map(\.detail) == ["apply needs the admin role; vera is a viewer (and 1 more refused since the last entry)"])
    }

    /// `keys` lists the keys management trusts, by name, role and fingerprint, to admins alone.
    @Test func onlyAnAdminListsTheKeys() {
        var management = ManagementHarness()
        management.core.trustedKeys = [TrustedKey(name: "vera", role: "viewer", fingerprint: "rq:rJ^D5pW7G")]
        #expect(management.call("keys", "{}", by: Self.alice).1.status == .forbidden)
        let (_, reply, body) = management.call("keys", "{}", by: Self.root)
        #expect(reply.status == .ok)
        #expect(body.rendered() == #"{"security":"keys","keys":[{"name":"vera","role":"viewer","fingerprint":"rq:rJ^D5pW7G"}]}"#)
        management.core.trustedKeys = nil
        #expect(management.call("keys", "{}").2.rendered() == #"{"security":"none","keys":[]}"#)
    }

    @Test func anActionIsAuditedUnderTheKeysNameWithTheClaimedActorBesideIt() {
        var management = ManagementHarness()
        _ = management.call("apply", Self.files(ManagementHarness.flow), by: Self.root)
        let (turn, reply, _) = management.call("hold", #"{"product": "payments", "actor": "bob"}"#, by: Self.alice)
        #expect(reply.status == .internalError && turn.toOrchestrator.count == 1)  // answered once the orchestrator has applied it
        #expect(turn.audit.map(\.actor) == ["alice"])
        #expect(turn.audit.first?.comment == "claimed actor \"bob\"")
        // The key's name is enough: no actor needed, and the same name is no comment.
        let (release, _, _) = management.call("release", #"{"product": "payments"}"#, by: Self.alice)
        #expect(release.audit.map(\.actor) == ["alice"] && release.audit.first?.comment == "")
        let (same, _, _) = management.call("hold", #"{"product": "payments", "actor": "alice"}"#, by: Self.alice)
        #expect(same.audit.first?.comment == "")
    }

    @Test func withoutKeysEveryCallerMayCallEveryMethodUnderTheActorItGives() {
        var management = ManagementHarness()
        #expect(management.apply(ManagementHarness.flow).1.status == .ok)
        let (turn, _, _) = management.call("hold", #"{"product": "payments", "actor": "bob"}"#)
        #expect(turn.audit.map(\.actor) == ["bob"] && turn.audit.first?.comment == "")
        // A request ID like management's own (#N) would collide with one of them in the audit log.
        let (mimic, same, said) = management.call("hold", ##"{"product": "payments", "actor": "bob", "request": "#7"}"##)
        #expect(same.status == .badRequest && mimic.audit.isEmpty)
        #expect(said["error"]?.string == "\"request\" may not start with '#', which management's own IDs do")
        let (_, refused, body) = management.call("hold", #"{"product": "payments"}"#)
        #expect(refused.status == .badRequest)
        #expect(body["error"]?.string?.contains("needs \"actor\"") == true)
    }

    @Test func theRolesTableOfTheAPIDocumentSaysWhatTheCodeDoes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/api.md"), encoding: .utf8)
        let section = document.components(separatedBy: "## Roles\n").dropFirst().first?.components(separatedBy: "\n## ").first ?? ""
        var named: [String: [String]] = [:]
        for row in section.split(separator: "\n") where row.hasPrefix("| `") {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            named[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[1].components(separatedBy: "`").enumerated()
                .filter { $0.offset % 2 == 1 }.map(\.element)
        }
        for method in ManagementAPI.methods {
            let roles = APIRole.allCases.filter { role in method.role.map { role.may($0) } ?? true }
            for role in APIRole.allCases {
                // A role's row names its own methods; `admin` names only those no operator may call.
                let listed = named[role.rawValue]?.contains(method.name) == true
                let own = method.role == role || (method.role == nil && role != .admin && role != .operator)
                #expect(listed == own, "docs/api.md's roles: \(role.rawValue) and \(method.name)")
            }
            #expect(!roles.isEmpty)
        }
    }

    static func files(_ texts: String...) -> String { files(texts) }

    static func files(_ texts: [String]) -> String {
        let files = texts.enumerated().map { JSON.object([("path", .string("f\($0.offset).json")), ("text", .string($0.element))]) }
        return JSON.object([("files", .array(files))]).rendered()
    }
}

/// Large replies are refused with their limit named, never sent as frames a client cannot read.
@Suite struct LargeReplyTests {
    @Test func aReplyOverTheLimitIs413NamingIt() throws {
        let entry = AuditEntry(
            id: 1, key: "#1", time: .zero, actor: "a", method: "stop", run: 1, product: "p", job: "", options: "",
            detail: String(repeating: "x", count: 1 << 20))
        let small = ManagementAPI.historyReply([entry], limit: 1000, request: 7)
        #expect(small.status == .ok && small.request == 7)
        let large = ManagementAPI.historyReply(Array(repeating: entry, count: 17), limit: 1000, request: 8)
        #expect(large.status == .tooLarge && large.request == 8)
        let error = try JSONParser.parse(large.body)["error"]?.string ?? ""
        #expect(error.hasPrefix("the reply would be ") && error.contains("more than the 16777216 an API reply may carry"), "\(error)")
    }
}
