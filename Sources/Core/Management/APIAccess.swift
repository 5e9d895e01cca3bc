import Wire

/// What a caller of the management API may ask, in a cluster with keys (`docs/security.md`):
///
/// | Role | Methods |
/// |---|---|
/// | `viewer` | status, runs, flows, products, history, schedule, calendars, ping |
/// | `operator` | a viewer's, and start, stop, pause, resume, rerun, rerun-job, mark-succeeded, hold, release, set-priority |
/// | `admin` | every method: an operator's, and apply, set-policy, move, drain, undrain, keys, and the timer's |
/// | `timer` | schedules, fire, ping |
public enum APIRole: String, Sendable, CaseIterable {
    case viewer, `operator`, admin, timer

    /// Whether a caller of this role may call a method that needs `needed`.
    public func may(_ needed: APIRole) -> Bool {
        switch (self, needed) {
        case (.admin, _), (.timer, .timer): true
        case (.timer, _), (_, .timer): false
        case (.operator, .admin), (.viewer, .admin), (.viewer, .operator): false
        default: true
        }
    }
}

/// Who calls the API, as the connection's key says: the key's name and its role. A cluster without keys
/// has none, and every caller may call every method under the actor name it gives.
public struct APICaller: Sendable, Equatable {
    public var name: String
    public var role: APIRole

    public init(name: String, role: APIRole) {
        self.name = name
        self.role = role
    }
}

/// A key as `keys` lists it: its name, role and fingerprint (never more of it).
public struct TrustedKey: Sendable, Equatable {
    public var name: String
    public var role: String
    public var fingerprint: String

    public init(name: String, role: String, fingerprint: String) {
        self.name = name
        self.role = role
        self.fingerprint = fingerprint
    }
}

extension ManagementCore {
    /// Whether `caller` may make `request`: always without keys; with them, when its role may call the method.
    func permits(_ request: ReadAPIRequest, by caller: APICaller?) -> Bool {
        guard let caller, let needed = request.role else { return true }
        return caller.role.may(needed)
    }

    /// Refuses a request its caller's role may not make: 403 naming the role it needs, recorded in the
    /// audit log as refused under the key's name, at most once a second a key. Those refused within the
    /// second after an entry are counted, and written as one entry when the second is over
    /// (``auditUnsaidRefusals(now:)``), so that the end of a burst is in the log too.
    mutating func refuseByRole(_ request: ReadAPIRequest, of caller: APICaller, for client: Caller, now: Timestamp) {
        let needed = request.role?.rawValue ?? ""
        let message = "\(request.method) needs the \(needed) role; \(caller.name) is \(article(caller.role)) \(caller.role.rawValue)"
        refuse(client, .forbidden, message)
        turn.refusedByRole += 1
        if let last = refusalsAudited[caller.name], now.since(last.at) < 1000 {
            refusalsAudited[caller.name]?.unsaid += 1
            refusalsAudited[caller.name]?.method = request.method
            return
        }
        let unsaid = refusalsAudited[caller.name]?.unsaid ?? 0
        refusalsAudited[caller.name] = (now, 0, request.method)
        counters.lastRequest += 1
        turn.counters = counters
        var entry = AuditEntry(
            id: counters.lastRequest, key: "#\(counters.lastRequest)", time: now, actor: caller.name, method: request.method,
            run: 0, product: "", job: "", options: "", status: Status.forbidden.rawValue,
            detail: unsaid > 0 ? "\(message) (and \(unsaid) more refused since the last entry)" : message, answered: now)
        switch request.parsed {
        case .success(.action(let action)):
            if case .success(let subject) = action.subject {
                switch subject.target {
                case .run(let run): (entry.run, entry.product) = (run, runs[run]?.product ?? "")
                case .product(let product): entry.product = product
                }
                entry.comment = ManagementCore.claimed(subject.actor, by: caller)
            }
        case .success(.status(let status)): (entry.run, entry.product) = (status.run, runs[status.run]?.product ?? "")
        case .success(.start(let start)): if case .success(let target) = start.target { entry.product = target.product }
        default: break
        }
        remember(entry)
        turn.audit.append(entry)
    }

    /// Writes one audit entry for each key whose refusals within a second of its last entry went unwritten,
    /// once that second is over; forgets the keys with none.
    mutating func auditUnsaidRefusals(now: Timestamp) {
        for (name, window) in refusalsAudited.sorted(by: { $0.key < $1.key }) where now.since(window.at) >= 1000 {
            refusalsAudited[name] = nil
            guard window.unsaid > 0 else { continue }
            counters.lastRequest += 1
            turn.counters = counters
            let entry = AuditEntry(
                id: counters.lastRequest, key: "#\(counters.lastRequest)", time: now, actor: name, method: window.method,
                run: 0, product: "", job: "", options: "", status: Status.forbidden.rawValue,
                detail: "\(window.unsaid) more requests of \(name) refused for its role in the second after the last entry (the last: \(window.method))",
                answered: now)
            remember(entry)
            turn.audit.append(entry)
        }
    }

    /// Records in the audit log a request done at once (a start, an apply): under the key's name, or without
    /// keys under no name (such requests carry none).
    mutating func audit(_ method: String, run: UInt64 = 0, product: String = "", options: String, by key: APICaller?, now: Timestamp) {
        counters.lastRequest += 1
        turn.counters = counters
        let entry = AuditEntry(
            id: counters.lastRequest, key: "#\(counters.lastRequest)", time: now, actor: key?.name ?? "", method: method, run: run,
            product: product, job: "", options: options, status: Status.ok.rawValue, detail: "", answered: now)
        remember(entry)
        turn.audit.append(entry)
    }

    /// What the audit log keeps of the actor a client named, beside the key's name: nothing when they agree.
    static func claimed(_ actor: String, by caller: APICaller) -> String {
        actor.isEmpty || actor == caller.name ? "" : "claimed actor \"\(actor)\""
    }

    private func article(_ role: APIRole) -> String { role == .admin || role == .operator ? "an" : "a" }
}
