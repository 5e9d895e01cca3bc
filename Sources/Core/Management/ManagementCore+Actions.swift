import Wire

/// Operator actions (stop, pause, resume, rerun, rerun-job, mark-succeeded, hold, release, set-policy,
/// set-priority and move) and their audit log.
///
/// An action is checked, recorded in the audit log with who asked and when, sent to the orchestrator, and
/// answered when the orchestrator has applied (or refused) it. An action sent again with the same `request` ID
/// is answered with the first one's outcome and applied once.
extension ManagementCore {
    /// What the action of audit entry `entry` was on, if `request` names another run, product or job.
    static func otherTarget(of request: ActionRequest, than entry: AuditEntry) -> String? {
        switch request.subject {
        case .success(let subject):
            switch subject.target {
            case .run(let run) where run != entry.run: return "run \(entry.run)"
            case .product(let product) where product != entry.product: return "product \(entry.product)"
            default: break
            }
        case .failure: break
        }
        if case .success(let details) = request.details, details.job != entry.job { return "job \(entry.job) of run \(entry.run)" }
        return nil
    }

    mutating func act(_ request: ActionRequest, by key: APICaller?, for caller: Caller, now: Timestamp) {
        let method = request.method
        if !request.key.isEmpty, let entry = actions[request.key] {
            guard entry.method == method else {
                refuse(caller, .conflict, "request ID \"\(request.key)\" was already used for \(entry.method) at \(entry.time.utcText)")
                return
            }
            // The same action on another run, product or job is not the same action sent again: answered as a
            // repeat, it was never applied (found by an explorer pausing two runs under one ticket number).
            if let other = Self.otherTarget(of: request, than: entry) {
                refuse(
                    caller, .conflict,
                    "request ID \"\(request.key)\" was already used for \(entry.method) of \(other) at \(entry.time.utcText): give each action its own")
                return
            }
            if entry.status == 0 {
                waiting[entry.id, default: []].append(caller)
            } else {
                reply(caller, .action(entry, status: Status(rawValue: entry.status), repeated: true))
            }
            return
        }
        guard let subject = accept(request.subject, for: caller) else { return }
        guard key != nil || !subject.actor.isEmpty else {
            refuse(caller, .badRequest, "\(method) needs \"actor\": who asks (1 to 255 octets), for the audit log")
            return
        }
        var operation = OperationRequest(request: 0, action: request.action, run: 0)
        var options: [String] = []
        switch subject.target {
        case .product(let product):
            guard products[product] != nil else {
                refuse(caller, .notFound, "unknown product \"\(product)\"")
                return
            }
            operation.product = product
        case .run(let run):
            guard run <= counters.lastRun else {
                refuse(caller, .notFound, "unknown run \(run)")
                return
            }
            // A run not in memory was recalled from the store before this, if the store has it.
            guard runs[run] != nil else {
                refuse(caller, .gone, deletedByRetention(run))
                return
            }
            operation.run = run
            operation.product = runs[run]!.product
        }
        guard let details = accept(request.details, for: caller) else { return }
        if let target = details.shard, let product = products[operation.product] {
            guard configuration.shards.contains(target) else {
                let known = configuration.shards.map(String.init).joined(separator: ", ")
                refuse(caller, .badRequest, "move: shard \(target) is not one of the cluster's (\(known))")
                return
            }
            guard !drained.contains(target) else {
                refuse(caller, .conflict, "move: shard \(target) is drained: it takes no products; `baton undrain \(target)` opens it again")
                return
            }
            if let moving = pendingMoves[product.name] {
                refuse(caller, .conflict, "product \(product.name) is already moving to shard \(moving.shard); try again once it has")
                return
            }
            guard target != product.shard else {
                refuse(caller, .conflict, "product \(product.name) is already on shard \(target)")
                return
            }
            operation.shard = target
            operation.policy = pendingPolicies[product.name]?.policy ?? product.policy
            options.append("from shard \(product.shard) to shard \(target)")
        }
        if details.policy != nil, let moving = pendingMoves[operation.product] {
            refuse(caller, .conflict, "product \(operation.product) is moving to shard \(moving.shard); set its policy once it has")
            return
        }
        if let change = details.policy {
            guard let product = products[operation.product] else {
                refuse(caller, .notFound, "unknown product \"\(operation.product)\"")
                return
            }
            switch change.applied(over: pendingPolicies[product.name]?.policy ?? product.policy) {
            case .success(let policy):
                operation.policy = policy
                operation.shard = product.shard
                options.append(policy.summary)
            case .failure(let problem):
                refuse(caller, .badRequest, "set-policy: \(problem.message)")
                return
            }
        }
        operation.job = details.job
        if let priority = details.priority {
            operation.priority = priority
            options.append("priority \(RunPriority.name(priority))")
        }
        if details.downstream { operation.options |= OperationRequest.downstream }
        guard let fresh = accept(request.fresh, for: caller) else { return }
        if fresh {
            counters.lastMoment = max(counters.lastMoment + 1, UInt64(max(now.milliseconds, 0)) * 1000)
            operation.moment = counters.lastMoment
        }
        counters.lastRequest += 1
        operation.request = counters.lastRequest
        turn.counters = counters
        if operation.action == .setPolicy { pendingPolicies[operation.product] = (operation.request, operation.policy) }
        if operation.action == .move { pendingMoves[operation.product] = (operation.request, operation.shard) }
        if details.downstream { options.append("downstream") }
        if fresh { options.append("fresh moment \(operation.moment)") }
        // With keys, the actor is the key's name; the name the client gave is kept beside it.
        var entry = AuditEntry(
            id: operation.request, key: request.key.isEmpty ? "#\(operation.request)" : request.key, time: now,
            actor: key?.name ?? subject.actor, method: method, run: operation.run, product: operation.product, job: operation.job,
            options: options.joined(separator: ", "))
        if let key { entry.comment = ManagementCore.claimed(subject.actor, by: key) }
        remember(entry)
        turn.audit.append(entry)
        waiting[operation.request] = [caller]
        send(operation, now: now)
    }

    /// Keeps an action by its request ID, forgetting the oldest beyond ``ManagementConfiguration/auditInMemory``.
    mutating func remember(_ entry: AuditEntry) {
        if actions.updateValue(entry, forKey: entry.key) == nil { actionOrder.append(entry.key) }
        actionKeys[entry.id] = entry.key
        while actionOrder.count > configuration.auditInMemory {
            if let forgotten = actions.removeValue(forKey: actionOrder.removeFirst()) { actionKeys[forgotten.id] = nil }
        }
    }

    /// The orchestrator's answer to an action: recorded with the action, and given to the clients waiting.
    mutating func actionAnswered(_ operation: OperationRequest, _ result: OperationResult, now: Timestamp) {
        var entry = actionKeys[operation.request].flatMap { actions[$0] }
            ?? AuditEntry(id: operation.request, key: "#\(operation.request)", time: now, actor: "", method: operation.action.name,
                          run: operation.run, product: operation.product, job: operation.job, options: "")
        // An answer without a status is an internal error, for the client as for the audit log.
        var status = result.status.rawValue == 0 ? Status.internalError : result.status
        entry.detail = result.detail
        // The orchestrator's retention deleted the run a moment before management's did.
        if status == .notFound, result.detail == OrchestratorCore.unknownRun(operation.run), orchestratorDeleted(operation.run, now: now) {
            status = .gone
            entry.detail = deletedByRetention(operation.run)
        }
        entry.status = status.rawValue
        entry.answered = now
        remember(entry)
        turn.auditAnswers.append(entry)
        // A final run reopened: it is not final for retention until its stream says what it is now (unless
        // it said so already, since the action came). It is read again at once, too: its change on the
        // stream may be lost with a restart of the orchestrator, after which management reads again only
        // the runs it holds open (found by the simulator, seed 12300 under durability normal: a run
        // marked succeeded across such a restart stayed failed in management).
        if status.isSuccess, [.rerunFailed, .rerunJob, .markSucceeded].contains(operation.action), let run = runs[operation.run],
            run.state.isFinal, run.updated <= entry.time
        {
            reopening.insert(run.id)
            query(run: run.id, for: nil, now: now)
        }
        if operation.action == .setPolicy {
            // The policy is the product's once applied, unless a newer one was applied first; a refused one
            // changes nothing.
            if status.isSuccess, operation.request > appliedPolicies[operation.product, default: 0], var product = products[operation.product] {
                product.policy = operation.policy
                products[product.name] = product
                appliedPolicies[product.name] = operation.request
                turn.products.append(product)
            }
            if pendingPolicies[operation.product]?.request == operation.request { pendingPolicies[operation.product] = nil }
        }
        if status.isSuccess, operation.action == .hold || operation.action == .release, var product = products[operation.product] {
            product.held = operation.action == .hold
            products[product.name] = product
            turn.products.append(product)
        }
        if operation.action == .move {
            // The map switches: the product's new runs go to the shard it moved to; those open elsewhere
            // finish where they are.
            if status.isSuccess, var product = products[operation.product], product.shard != operation.shard {
                product.shard = operation.shard
                products[product.name] = product
                turn.products.append(product)
            }
            if pendingMoves[operation.product]?.request == operation.request { pendingMoves[operation.product] = nil }
        }
        if status.isSuccess, operation.moment != 0, var run = runs[operation.run] {
            run.moment = operation.moment
            runs[run.id] = run
            turn.runs.append(run)
        }
        if status.isSuccess, operation.action == .setPriority, var run = runs[operation.run] {
            run.priority = operation.priority
            runs[run.id] = run
            turn.runs.append(run)
        }
        for waiter in waiting.removeValue(forKey: operation.request) ?? [] {
            reply(waiter, .action(entry, status: status, repeated: false))
        }
    }

    /// `history`: the audit log of a run, or of a product; the runtime reads it from the store once the
    /// turn is committed. A product never applied is refused 404, naming the known ones.
    mutating func history(_ request: HistoryRequest, for caller: Caller) {
        if case .product(let product) = request.subject, products[product] == nil { return refuse(caller, .notFound, unknownProduct(product)) }
        let query = switch request.subject {
        case .run(let run):
            HistoryQuery(peer: caller.peer, request: caller.request, run: run, product: "", limit: request.limit, before: request.before)
        case .product(let product):
            HistoryQuery(peer: caller.peer, request: caller.request, run: 0, product: product, limit: request.limit, before: request.before)
        case .actor(let actor):
            HistoryQuery(peer: caller.peer, request: caller.request, run: 0, product: "", actor: actor, limit: request.limit, before: request.before)
        }
        turn.histories.append(query)
    }
}
