public import Wire

/// What a request's answer depends on that memory no longer holds, read from the store before the
/// request is decided (as the shard reads what it committed of a SUBMIT's jobs): an operator action's
/// request ID older than the ``ManagementConfiguration/auditInMemory`` kept in memory, or a start's
/// key whose run ended before the ``ManagementConfiguration/finishedRunsInMemory`` kept. So an action
/// sent again is applied once, and a key starts one run, however long ago they were first used.
public enum ManagementRecall: Equatable, Sendable {
    /// The audit entry of the action with this request ID.
    case action(key: String)
    /// The run started with this key.
    case run(key: String)
    /// The run of this ID, for `status`: what management recorded of it (version, shard, entry moment).
    case runID(UInt64)
}

/// What the store holds for a ``ManagementRecall``: nothing, when the ID or key is new.
public enum ManagementRecalled: Sendable {
    case action(AuditEntry?)
    case run(RunRecord?)
}

/// An API-REQUEST read into a typed request (or the refusal to answer it with), before management
/// decides on it.
public struct ReadAPIRequest {
    let id: UInt64
    /// The method as the request names it, and the role it needs (nil: any caller, or an unknown method).
    let method: String
    let role: APIRole?
    let parsed: Result<ManagementRequest, APIRefusal>

    /// Whether it is `keys`, which the runtime answers from the keys it read (``ManagementCore/trustedKeys``).
    public var asksForKeys: Bool { if case .success(.keys) = parsed { true } else { false } }
}

extension ManagementAPI {
    /// Reads an API-REQUEST for ``ManagementCore/apiRequest(_:from:now:)``.
    public static func read(_ request: APIRequest) -> ReadAPIRequest {
        let method = methods.first { $0.name == request.method }
        return ReadAPIRequest(id: request.request, method: request.method, role: method?.role, parsed: self.request(request))
    }
}

extension ManagementCore {
    /// What must be read from the store before `request` is decided, if anything: nothing for a caller
    /// whose role may not make it.
    public func recallNeeded(for request: ReadAPIRequest, by caller: APICaller? = nil) -> ManagementRecall? {
        guard permits(request, by: caller) else { return nil }
        return switch request.parsed {
        case .success(.action(let action)) where !action.key.isEmpty && actions[action.key] == nil:
            .action(key: action.key)
        case .success(.start(let start)) where !start.key.isEmpty && runsByKey[start.key] == nil:
            .run(key: start.key)
        case .success(.status(let status)) where runs[status.run] == nil && status.run > 0 && status.run <= counters.lastRun:
            .runID(status.run)
        case .success(.shards(let query)) where query.run.map { runs[$0] == nil && $0 <= counters.lastRun } == true:
            .runID(query.run!)
        default:
            nil
        }
    }

    /// Takes back into memory what the store held for a recall. Nothing changes in the store: what is
    /// taken back was committed, and goes out of memory again as newer entries come.
    public mutating func recalled(_ found: ManagementRecalled) {
        switch found {
        case .action(let entry?):
            remember(entry)
        case .run(let run?):
            if !run.key.isEmpty { runsByKey[run.key] = run.id }
            guard runs[run.id] == nil else { return }
            runs[run.id] = run
            if run.state.isFinal { finishedOrder.append(run.id) }
        case .action(nil), .run(nil):
            break
        }
    }
}
