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
    /// What must be read from the store before `request` is decided, in order: nothing for a caller whose
    /// role may not make it. An action on a run may need both its request ID's audit entry and its run.
    public func recallsNeeded(for request: ReadAPIRequest, by caller: APICaller? = nil) -> [ManagementRecall] {
        guard permits(request, by: caller) else { return [] }
        switch request.parsed {
        case .success(.action(let action)):
            var recalls: [ManagementRecall] = []
            if !action.key.isEmpty && actions[action.key] == nil { recalls.append(.action(key: action.key)) }
            if case .success(let subject) = action.subject, case .run(let run) = subject.target, mayBeStored(run) { recalls.append(.runID(run)) }
            return recalls
        case .success(.drain(let drain)) where !drain.key.isEmpty && actions[drain.key] == nil:
            return [.action(key: drain.key)]
        case .success(.start(let start)) where !start.key.isEmpty && runsByKey[start.key] == nil:
            return [.run(key: start.key)]
        case .success(.status(let status)) where mayBeStored(status.run):
            return [.runID(status.run)]
        case .success(.shards(let query)) where query.run.map(mayBeStored) == true:
            return [.runID(query.run!)]
        default:
            return []
        }
    }

    /// Whether run `id` was started but is not in memory: the store has it, or retention deleted it.
    private func mayBeStored(_ id: UInt64) -> Bool { runs[id] == nil && id > 0 && id <= counters.lastRun }

    /// Forgets the final runs that ended before `cutoff`, and the firings before it, as retention deletes
    /// them from the store: a run deleted so must not go on answering from memory, nor its key starting
    /// nothing new. (The store may keep some of them until its next batch; a request for one recalls it
    /// meanwhile.)
    public mutating func forgetRuns(endedBefore cutoff: Timestamp) {
        for (flow, firings) in recentFirings where firings.contains(where: { $0.instant < cutoff && $0.outcome != .queued }) {
            let kept = firings.filter { $0.instant >= cutoff || $0.outcome == .queued }
            recentFirings[flow] = kept.isEmpty ? nil : kept
        }
        let kept = runsRetentionKeeps
        finishedOrder.removeAll { id in
            guard let run = runs[id] else { return true }
            guard !kept.contains(id) else { return false }
            // As the store chooses what to delete.
            guard run.finished > .zero, run.finished < cutoff else { return false }
            if !run.key.isEmpty, runsByKey[run.key] == id { runsByKey[run.key] = nil }
            runs[id] = nil
            return true
        }
    }

    /// The final runs retention must not delete yet, whatever their age: those an action was sent about
    /// and not answered (a rerun may reopen them), and those reopened and not yet seen so.
    public var runsRetentionKeeps: Set<UInt64> {
        reopening.union(pending.values.lazy.map(\.request.run).filter { $0 > 0 })
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
