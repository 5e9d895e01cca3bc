import Core
import Synchronization
public import Wire
public import ZeroMQ

/// Who may connect to one socket, and which messages it takes from whom.
public struct Admission: Sendable {
    /// In words, for refusals: `the orchestrator`, `workers of pools that serve shard 2`.
    public var who: String
    /// Whether a key may connect at all.
    public var admits: @Sendable (KeyIdentity) -> Bool
    /// Whether a message of this kind is taken from this key (which ``admits`` already let in).
    public var takes: @Sendable (MessageID, KeyIdentity) -> Bool

    public init(who: String, admits: @escaping @Sendable (KeyIdentity) -> Bool, takes: @escaping @Sendable (MessageID, KeyIdentity) -> Bool = { _, _ in true }) {
        self.who = who
        self.admits = admits
        self.takes = takes
    }

    /// Keys of these roles, every message.
    public static func roles(_ roles: Set<KeyRole>, _ who: String) -> Admission {
        Admission(who: who, admits: { roles.contains($0.role) })
    }
}

/// What one service brings to the security of its sockets: its key pair, the public key of each server it
/// connects to, and who may connect to each socket it binds.
public struct ServiceKeys: Sendable {
    public var pair: KeyPair
    /// The servers' public keys, by the endpoint they bind.
    public var serverKeys: [String: String]
    /// Who may connect to each socket the service binds, by the socket's name.
    public var admissions: [String: Admission]

    public init(pair: KeyPair, serverKeys: [String: String], admissions: [String: Admission]) {
        self.pair = pair
        self.serverKeys = serverKeys
        self.admissions = admissions
    }
}

/// A process's CURVE security: the keys it trusts, who may connect to which of its sockets, and the ZAP
/// handler that answers libzmq for them. One per context, made before the first socket binds, stopped after
/// the last one closes.
///
/// It fails closed three times over: the ZAP handler refuses any key it does not trust for the socket
/// asked about; every message a guarded socket reads must carry the User-Id the handler gave its
/// connection, and that key must still be trusted (a key removed and reloaded stops counting at once); and
/// a publisher applies a subscription only from a key it admits (`ZMQ_XPUB_MANUAL`), so that even a
/// connection libzmq let in unasked receives nothing.
public final class Gatekeeper: Sendable {
    public let ring: KeyRing
    private let zap: ZAPHandler
    private let rules = Rules()
    private let refusals: RefusalLog
    private let denials = Denials()
    private let failedHandshakes = Denials()
    /// Handshakes that failed before the handler, logged apart and at most a line every 10 s: a scan
    /// without keys does not take the line that would name a refused key, and names no one itself.
    private let handshakeRefusals: RefusalLog

    /// Who may connect to each guarded socket, by its ZAP domain; shared with the handler's thread.
    final class Rules: Sendable {
        private let table = Mutex<[String: Admission]>([:])
        subscript(domain: String) -> Admission? { table.withLock { $0[domain] } }
        func set(_ admission: Admission, for domain: String) { table.withLock { $0[domain] = admission } }
    }

    /// Connections refused at the handshake, by ZAP domain; shared with the handler's thread.
    final class Denials: Sendable {
        private let table = Mutex<[String: Int]>([:])
        func count(_ domain: String) { table.withLock { $0[domain, default: 0] += 1 } }
        func total(in domains: [String]) -> Int { table.withLock { table in domains.reduce(0) { $0 + (table[$1] ?? 0) } } }
    }

    /// Starts the ZAP handler in `context` for the keys of `ring`.
    public init(context: Context, ring: KeyRing, log: Log) throws {
        let refusals = RefusalLog(log: log)
        let rules = self.rules
        let denials = self.denials
        self.ring = ring
        self.refusals = refusals
        handshakeRefusals = RefusalLog(log: log, interval: 10_000)
        zap = try ZAPHandler(context: context) { request in
            let decision = Self.decide(request, ring: ring, rules: rules, refusals: refusals)
            if case .deny = decision { denials.count(request.domain) }
            return decision
        }
    }

    /// Says who may connect to the socket of ZAP domain `domain`; called before it binds.
    func register(domain: String, _ admission: Admission) {
        rules.set(admission, for: domain)
    }

    /// The sender of what was read from the socket of `domain`, if it may connect there: its connection was
    /// approved (it carries a User-Id), and its key is still trusted for that socket.
    func sender(userID: String?, domain: String, now: Timestamp) -> KeyIdentity? {
        guard let userID else {
            refusals.record("a message on a connection no handler approved", key: "", domain: domain, now: now)
            return nil
        }
        guard let identity = ring.identity(ofKey: userID) else {
            refusals.record("a message from a key no longer trusted", key: userID, domain: domain, now: now)
            return nil
        }
        guard let admission = rules[domain], admission.admits(identity) else {
            refusals.record("a message from \(identity.name) (\(identity.role.rawValue)), which may not connect here", key: userID, domain: domain, now: now)
            return nil
        }
        return identity
    }

    /// Whether the socket of `domain` takes a message of kind `message` from `sender`.
    func takes(_ message: MessageID, from sender: KeyIdentity, domain: String, now: Timestamp) -> Bool {
        guard let admission = rules[domain], admission.takes(message, sender) else {
            refusals.record("\(message.name) from \(sender.name) (\(sender.role.rawValue)), which may not send it", key: sender.publicKey, domain: domain, now: now)
            return false
        }
        return true
    }

    /// Connections allowed and refused so far.
    public var decisions: (allowed: Int, denied: Int) { zap.decisions }

    /// Messages and subscriptions refused after their connection was made.
    public var refused: Int { refusals.count }

    /// A connection to the socket of `domain` whose CURVE handshake failed before the ZAP handler was
    /// asked, as the socket's monitor tells: a peer without CURVE (refused at the greeting), one with
    /// another server key, or one that does not speak ZeroMQ. Counted and logged as a refusal.
    func handshakeFailed(domain: String, now: Timestamp) {
        failedHandshakes.count(domain)
        handshakeRefusals.record(
            "a connection that did not complete the CURVE handshake (no CURVE, another server key, or not ZeroMQ)",
            key: "", domain: domain, now: now)
    }

    /// Connections to the sockets of `domains` whose handshake failed before the ZAP handler was asked.
    public func failedHandshakes(in domains: [String]) -> Int { failedHandshakes.total(in: domains) }

    /// Connections refused at the handshake to the sockets of `domains`: a service's share of its
    /// process's refusals (one process may run several services).
    public func deniedConnections(in domains: [String]) -> Int { denials.total(in: domains) }

    /// Stops the ZAP handler; only once every guarded socket of the context is closed.
    public func stop() { zap.stop() }

    static func decide(_ request: ZAPHandler.Request, ring: KeyRing, rules: Rules, refusals: RefusalLog) -> ZAPHandler.Decision {
        let now = SystemClock().now()
        guard request.mechanism == "CURVE" else {
            refusals.record("a connection without CURVE", key: "", domain: request.domain, now: now)
            return .deny(reason: "CURVE only")
        }
        guard let identity = ring.identity(ofKey: request.publicKey) else {
            refusals.record("an unknown key", key: request.publicKey, domain: request.domain, now: now)
            return .deny(reason: "unknown key")
        }
        guard let admission = rules[request.domain], admission.admits(identity) else {
            let who = rules[request.domain]?.who ?? "no one"
            refusals.record("\(identity.name) (\(identity.role.rawValue)); only \(who) may connect", key: request.publicKey, domain: request.domain, now: now)
            return .deny(reason: "\(identity.role.rawValue) may not connect here")
        }
        return .allow(userID: identity.publicKey)
    }
}

/// Refusals, counted, and logged at most once a second with how many were left unsaid: a flood of
/// handshakes from unknown keys, or of a worker key's forged results, fills no disk.
final class RefusalLog: Sendable {
    private let log: Log
    /// The least time between two lines, in milliseconds.
    private let interval: Int64
    private let state = Mutex<(count: Int, unsaid: Int, lastLogged: Int64?)>((0, 0, nil))

    init(log: Log, interval: Int64 = 1000) {
        self.log = log
        self.interval = interval
    }

    var count: Int { state.withLock { $0.count } }

    /// A refusal at socket `domain`, by `key` (a public key; empty when the peer had none).
    func record(_ what: String, key: String, domain: String, now: Timestamp) {
        var fields: [(String, String)] = [("socket", domain)]
        if !key.isEmpty { fields.append(("key", KeyIdentity.fingerprint(of: key))) }
        record(what, fields: fields, now: now)
    }

    /// `count` refusals of one kind, said in one line unless a line was written less than a second ago.
    func record(_ what: String, fields: @autoclosure () -> [(String, String)], count: Int = 1, now: Timestamp) {
        let say: Int? = state.withLock { state in
            state.count += count
            if let last = state.lastLogged, now.since(Timestamp(milliseconds: last)) < interval {
                state.unsaid += count
                return nil
            }
            defer {
                state.lastLogged = now.milliseconds
                state.unsaid = 0
            }
            return state.unsaid + count - 1
        }
        guard let unsaid = say else { return }
        var fields = fields()
        if unsaid > 0 { fields.append(("also refused since the last line", String(unsaid))) }
        log.warning("refused \(what)", fields: fields)
    }
}
