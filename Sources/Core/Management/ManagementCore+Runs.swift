import Wire

/// Runs: started by `start` or a firing, each with a run ID and a job entry moment management never gives
/// twice, and kept current from the orchestrator's RUN-UPDATES.
extension ManagementCore {
    /// `start`: a new run of a flow, with its parameters checked against the flow's declaration. A start
    /// with a key that started a run before returns that run, if it asks for the same flow and gives the
    /// same parameters (a client sending its start again); another start under the key is refused.
    mutating func start(_ request: StartRequest, by key: APICaller?, for caller: Caller, now: Timestamp) {
        guard let target = accept(request.target, for: caller) else { return }
        // A start with a value that is no parameter's is refused below, naming it, key or not.
        let valid = request.params.allSatisfy { if case .success = $0.value { true } else { false } }
        if !request.key.isEmpty, valid, let existing = runsByKey[request.key], let run = runs[existing] {
            if let conflict = Self.otherStart(request, target: target, than: run) {
                refuse(caller, .conflict, "key \"\(request.key)\" started run \(run.id) of \(run.product)/\(run.flow)\(conflict): a key names one start; use another key")
                return
            }
            reply(caller, .run(run, repeated: true))
            return
        }
        guard let product = products[target.product] else { return refuse(caller, .notFound, unknownProduct(target.product)) }
        guard let flow = flows[request.flow] else { return refuse(caller, .notFound, unknownFlow(target.flow, of: target.product)) }
        var params = flow.params ?? [:]
        var problems: [String] = []
        for parameter in request.params {
            let value: String
            switch parameter.value {
            case .success(let text): value = text
            case .failure(let problem):
                problems.append(problem.message)
                continue
            }
            if let declared = flow.params, declared[parameter.name] == nil {
                let names = declared.keys.sorted()
                problems.append(
                    "parameter \"\(parameter.name)\" is not declared by \(request.flow)"
                        + (names.isEmpty ? " (it declares none)" : " (it declares: \(names.joined(separator: ", ")))"))
                continue
            }
            if let problem = parameter.nameProblem {
                problems.append(problem.message)
                continue
            }
            params[parameter.name] = value
        }
        var priority = RunPriority.normal
        switch request.priority {
        case .success(let given)?: priority = given
        case .failure(let problem)?: problems.append(problem.message)
        case nil: break
        }
        // Every job of the run carries its parameters to the shard: what could not be carried is refused
        // now, naming the limit, rather than accepted and never started.
        let tooLarge = ParameterLimits.problems(ofRun: params)
        if let first = tooLarge.first {
            refuse(caller, .tooLarge, "the run was not started: \(first)", problems: problems + tooLarge)
            return
        }
        guard problems.isEmpty else {
            refuse(caller, .invalid, "the run was not started", problems: problems)
            return
        }
        let run = startRun(of: flow, on: product, params: params, key: request.key, priority: priority, now: now)
        audit("start", run: run.id, product: run.product, options: "flow \(run.flow) version \(run.version)", by: key, now: now)
        reply(caller, .run(run, repeated: false, held: product.held))
    }

    /// How `request` differs from the start that made `run`, under the same key; nil if it asks for the
    /// same: the same flow, and each parameter it gives as the run has it (a name given twice, its last
    /// value, as a start takes it). Its priority is not compared.
    static func otherStart(_ request: StartRequest, target: (product: String, flow: String), than run: RunRecord) -> String? {
        if target.product != run.product || target.flow != run.flow { return "" }
        var given: [String: String] = [:]
        for parameter in request.params { if case .success(let value) = parameter.value { given[parameter.name] = value } }
        for (name, value) in given.sorted(by: { $0.key < $1.key }) where run.params[name] != value {
            let had = run.params[name].map { "\"\($0)\"" } ?? "none"
            return ", whose parameter \"\(name)\" was \(had)"
        }
        return nil
    }

    /// The refusal of a product no flow was applied for, naming those that were.
    func unknownProduct(_ product: String) -> String {
        "unknown product \"\(product)\"" + Self.someOf(products.keys, near: product, kind: "products")
    }

    /// The refusal of a flow not applied for a known product, naming its flows.
    func unknownFlow(_ flow: String, of product: String) -> String {
        let known = flows.values.filter { $0.product == product }.map(\.flow).sorted()
        return "unknown flow \"\(flow)\" of product \"\(product)\" (its flows: \(known.joined(separator: ", ")))"
    }

    /// `runs`: listed by the runtime from the store after the turn's commit; a product or flow never
    /// applied is refused 404, naming the known ones, as `start` does, not answered with no runs.
    mutating func listRuns(_ listing: RunListing, for caller: Caller) {
        if let product = listing.product {
            guard products[product] != nil else { return refuse(caller, .notFound, unknownProduct(product)) }
            if let flow = listing.flow, flows["\(product)/\(flow)"] == nil { return refuse(caller, .notFound, unknownFlow(flow, of: product)) }
        }
        turn.runLists.append(RunListQuery(peer: caller.peer, request: caller.request, listing: listing))
    }

    /// Records a new run of the latest version of `flow`, a flow of `product`, and sends its start to the orchestrator.
    mutating func startRun(
        of flow: FlowRecord, on product: ProductRecord, params: [String: String], key: String, priority: UInt8, now: Timestamp
    ) -> RunRecord {
        counters.lastRun += 1
        counters.lastMoment = max(counters.lastMoment + 1, UInt64(max(now.milliseconds, 0)) * 1000)
        counters.lastRequest += 1
        let run = RunRecord(
            id: counters.lastRun, product: flow.product, flow: flow.flow, version: flow.version,
            shard: product.shard, moment: counters.lastMoment, params: params, key: key,
            state: .running, jobs: UInt32(flow.jobs), started: now, priority: priority)
        runs[run.id] = run
        if !key.isEmpty { runsByKey[key] = run.id }
        turn.runs.append(run)
        turn.counters = counters
        let operation = OperationRequest(
            request: counters.lastRequest, action: .start, run: run.id, product: run.product, flow: run.flow,
            version: run.version, shard: run.shard, moment: run.moment, params: params, definition: flow.definition,
            priority: priority)
        send(operation, now: now)
        return run
    }

    /// How the detail of a run whose start the orchestrator refused begins.
    public static let refusedStart = "the orchestrator refused the run: "

    /// Whether `status` is of `run`. After a power loss under durability normal took management's last
    /// commits, management may give out a run ID the orchestrator already has; the orchestrator refuses
    /// that start (409) and goes on publishing its own run under the ID. Its statuses are of another run
    /// when their product or flow differ, and always once the refusal has come: the orchestrator holds
    /// no run of a start it refused.
    static func takes(_ status: RunStatus, for run: RunRecord) -> Bool {
        status.product == run.product && status.flow == run.flow && !(run.state == .failed && run.detail.hasPrefix(refusedStart))
    }

    /// The orchestrator's answer to a run's start. A refusal ends the run: the orchestrator will never report on
    /// it, so management records why.
    mutating func startAnswered(_ operation: OperationRequest, _ result: OperationResult, now: Timestamp) {
        guard !result.status.isSuccess, var run = runs[operation.run] else { return }
        run.state = .failed
        run.detail = Self.refusedStart + result.detail
        run.finished = now
        runs[run.id] = run
        turn.runs.append(run)
        finishedOrder.append(run.id)
        startQueuedFiring(of: "\(run.product)/\(run.flow)", now: now)
    }

    /// A run the orchestrator answered its start for, and no longer has: its store lost the start's commit,
    /// as `durability normal` allows on a power loss. The run ends failed, saying so, rather than being
    /// listed as running for ever; a run whose start is still unanswered is not lost, only on its way.
    mutating func lost(_ id: UInt64, now: Timestamp) {
        guard var run = runs[id], !run.state.isFinal,
            !pending.values.contains(where: { $0.request.action == .start && $0.request.run == id })
        else { return }
        run.state = .failed
        run.detail = "the orchestrator no longer has this run: it lost the run's start with its last commits, "
            + "as durability normal allows on a power loss; start the flow again"
        run.finished = now
        run.updated = now
        runs[run.id] = run
        turn.runs.append(run)
        finishedOrder.append(run.id)
        startQueuedFiring(of: "\(run.product)/\(run.flow)", now: now)
    }

    /// Whether the orchestrator's 404 for run `id`, which management holds, says its retention deleted it:
    /// the run has ended, past the retention or about to be (the orchestrator trims on its own clock, a
    /// batch a second), so that an action or a `status` just then is answered 410, as a moment later.
    func orchestratorDeleted(_ id: UInt64, now: Timestamp) -> Bool {
        guard let run = runs[id], run.state.isFinal else { return false }
        return run.finished.adding(milliseconds: configuration.retention) <= now.adding(milliseconds: 60_000)
    }

    /// What a refusal of an unknown name says of the known ones: a likely typo, and at most ten of them
    /// with how many there are (found by an operator: with 534 products, a mistyped start was answered
    /// with every name, 3 KB on one line).
    static func someOf(_ names: some Collection<String>, near name: String, kind: String) -> String {
        guard !names.isEmpty else { return " (no flows have been applied)" }
        let sorted = names.sorted()
        let guess = Names.suggestion(for: name, among: sorted).map { "did you mean \"\($0)\"? " } ?? ""
        let shown = sorted.prefix(10).joined(separator: ", ") + (sorted.count > 10 ? ", … (\(sorted.count) in all: `baton \(kind)`)" : "")
        return " (\(guess)\(kind): \(shown))"
    }

    /// Why run `id`, started but neither in memory nor in the store, is no more.
    func deletedByRetention(_ id: UInt64) -> String {
        "run \(id) is older than the \(DurationText.format(configuration.retention)) retention: its record was deleted"
    }

    /// `status`: asks the orchestrator for the run's detail; the reply goes out when RUN-DETAIL arrives.
    mutating func status(_ request: StatusRequest, for caller: Caller, now: Timestamp) {
        let run = request.run
        // Every run is stored when it starts, and run IDs only increase: one at or below the last that is
        // neither in memory nor in the store (recalled first) was deleted by retention.
        if runs[run] == nil && run > 0 && run <= counters.lastRun {
            refuse(caller, .gone, deletedByRetention(run))
            return
        }
        // The orchestrator holds no run of a start it refused: management's record, which `runs` lists, is
        // all there is (found by an operator: a run refused for a shard taken out of the cluster file was
        // listed by `runs`, and `status` said "unknown run", 404).
        if let held = runs[run], held.state == .failed, held.detail.hasPrefix(Self.refusedStart) {
            return reply(caller, .runRecord(held))
        }
        query(run: run, jobs: request.from, limit: request.limit, for: caller, now: now)
    }

    /// Sends RUN-QUERY for `run` and a page of its jobs, for a client's `status` or, without a caller and
    /// without jobs, to read its state again.
    mutating func query(run: UInt64, jobs first: UInt32 = 0, limit: UInt32 = 0, for caller: Caller?, now: Timestamp) {
        counters.lastRequest += 1
        turn.counters = counters
        queries[counters.lastRequest] = PendingQuery(
            caller: caller, run: run, deadline: now.adding(milliseconds: configuration.queryTimeout), record: runs[run])
        turn.toOrchestrator.append(.runQuery(RunQuery(request: counters.lastRequest, run: run, first: first, limit: limit)))
    }

    /// At most this many RUN-QUERYs of a resynchronisation are out at once, so that reading thousands of
    /// runs again does not bury the orchestrator.
    static let resyncQueries = 16

    /// Queues `ids` to be read again from the orchestrator, in order, but those already queued, and sends
    /// the first queries.
    mutating func readAgain(_ ids: some Sequence<UInt64>, now: Timestamp) {
        let waiting = Set(resync)
        resync += ids.filter { !waiting.contains($0) }.sorted()
        sendResyncQueries(now: now)
    }

    /// Sends the next queries of a resynchronisation, keeping ``resyncQueries`` out at once.
    mutating func sendResyncQueries(now: Timestamp) {
        var out = queries.values.filter { $0.caller == nil }.count
        while out < Self.resyncQueries, !resync.isEmpty {
            let run = resync.removeFirst()
            guard runs[run] != nil else { continue }
            query(run: run, for: nil, now: now)
            out += 1
        }
    }

    /// A run's status read again after a resynchronisation: applied if it says something management
    /// does not hold.
    mutating func reread(_ status: RunStatus, now: Timestamp) {
        guard let run = runs[status.run] else { return }
        let changed = run.state != status.state || run.succeeded != status.succeeded || run.failed != status.failed
            || run.active != status.active || run.detail != status.detail || run.finished != Timestamp(wire: status.finished)
            || (status.shard != 0 && run.shard != status.shard) || run.finishing != status.finishing
        // A run an answered action reopened is read after the answer: what it says is newer than what is
        // held, whatever its time (the orchestrator's clock, or a status not stamped again).
        if changed { runUpdated(status, inOrder: reopening.contains(run.id), now: now) }
    }

    /// Applies a run's status: from RUN-UPDATES (`inOrder`: the stream's order is the orchestrator's, so
    /// each status is newer than the last applied, whatever its clock says), or read again with RUN-DETAIL,
    /// which may cross the stream, and is applied to an ended run only if it is newer by its time.
    mutating func runUpdated(_ status: RunStatus, inOrder: Bool, now: Timestamp) {
        guard var run = runs[status.run], Self.takes(status, for: run) else { return }
        // A clock stepped back does not make a status of the stream older: a rerun's is applied.
        guard inOrder || !run.state.isFinal || Timestamp(wire: status.time) > run.updated else { return }
        reopening.remove(run.id)
        let ended = Int(status.succeeded) + Int(status.failed) - Int(run.succeeded) - Int(run.failed)
        load.ended(ended, of: run.product, now: now)
        run.state = status.state
        run.succeeded = status.succeeded
        run.failed = status.failed
        run.active = status.active
        run.finished = Timestamp(wire: status.finished)
        run.detail = status.detail
        // A move hands over the runs of its product that have not started, and the orchestrator says where.
        if status.shard != 0 { run.shard = status.shard }
        run.finishing = status.finishing
        run.updated = Timestamp(wire: status.time)
        runs[run.id] = run
        turn.runs.append(run)
        if run.state.isFinal {
            finishedOrder.append(run.id)
            startQueuedFiring(of: "\(run.product)/\(run.flow)", now: now)
        }
    }

    /// The run as RUN-DETAIL reports it, over what management holds of it (for `status`).
    func run(reportedIn detail: RunDetail, over held: RunRecord? = nil) -> RunRecord {
        let status = detail.run
        // Another run under the same ID (``takes(_:for:)``): management's own record is the answer.
        if let own = runs[status.run] ?? held, !Self.takes(status, for: own) { return own }
        var run = runs[status.run] ?? held ?? RunRecord(
            id: status.run, product: status.product, flow: status.flow, version: 0, shard: 0, moment: 0, params: [:],
            state: status.state, jobs: status.jobs, started: Timestamp(wire: status.started))
        run.state = status.state
        run.jobs = status.jobs
        run.succeeded = status.succeeded
        run.failed = status.failed
        run.active = status.active
        run.finished = Timestamp(wire: status.finished)
        run.detail = status.detail
        if status.shard != 0 { run.shard = status.shard }
        run.finishing = status.finishing
        return run
    }
}
