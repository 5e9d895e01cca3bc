public import Wire

/// Answers given to OPERATION-REQUESTs, by request ID: a request is applied once, and a repeat is
/// answered with the first answer.
struct OperationAnswers: Sendable {
    /// How many answers memory keeps, the newest; the store keeps every one, and is asked for older ones.
    static let inMemory = 10_000

    private var given: [UInt64: OperationResult]
    /// The requests of `given`, oldest first from `head`, to forget the oldest.
    private var order: [UInt64]
    private var head = 0
    /// The highest request answered: a request above it has had no answer, and the store need not be asked.
    private(set) var highest: UInt64
    /// Answers given this turn, to store.
    private var new: [(UInt64, OperationResult)] = []

    init(_ given: [UInt64: OperationResult]) {
        self.given = given
        order = given.keys.sorted()
        highest = order.last ?? 0
    }

    /// The answer given to `request`, if memory still holds it.
    subscript(request: UInt64) -> OperationResult? { given[request] }

    /// Whether `request` may have been answered longer ago than memory holds: the store is to be asked.
    func mayBeStored(_ request: UInt64) -> Bool { given[request] == nil && request <= highest }

    mutating func record(_ answer: OperationResult) {
        remember(answer)
        new.append((answer.request, answer))
    }

    /// Keeps an answer in memory (given now, or read back from the store), forgetting the oldest past ``inMemory``.
    mutating func remember(_ answer: OperationResult) {
        guard given.updateValue(answer, forKey: answer.request) == nil else { return }
        order.append(answer.request)
        highest = max(highest, answer.request)
        while order.count - head > Self.inMemory {
            given[order[head]] = nil
            head += 1
        }
        if head > Self.inMemory {
            order.removeFirst(head)
            head = 0
        }
    }

    /// The answers given this turn; the next turn starts afresh.
    mutating func takeNew() -> [(UInt64, OperationResult)] {
        defer { new = [] }
        return new
    }
}

/// Flow versions parsed, with their DAGs, by `product/flow/version`: a flow runs many times, and a
/// large one costs more to parse than to run. Past 1000 versions all are forgotten.
struct ParsedFlows: Sendable {
    private var versions: [String: (FlowDefinition, FlowGraph)] = [:]

    /// The flow version a start request carries, parsed once.
    mutating func parse(_ request: OperationRequest) -> Result<(FlowDefinition, FlowGraph), FlowFileError> {
        let name = "\(request.product)/\(request.flow)/\(request.version)"
        if let parsed = versions[name] { return .success(parsed) }
        switch FlowFile.parse(request.definition, file: "\(request.product)/\(request.flow) v\(request.version)") {
        case .success(let definition):
            if versions.count >= 1000 { versions = [:] }
            let parsed = (definition, FlowGraph(definition))
            versions[name] = parsed
            return .success(parsed)
        case .failure(let error):
            return .failure(error)
        }
    }
}

// MARK: - Operations

extension OrchestratorCore {
    /// The run an operation acts on that has left memory, which the runtime reads back from the store
    /// for ``operationReceived(_:from:stored:now:)``; nil when none is needed.
    public func storedRunNeeded(for request: OperationRequest) -> UInt64? {
        guard answers[request.request] == nil, request.action != .start, request.run != 0, runs[request.run] == nil else { return nil }
        return request.run
    }

    /// Whether the answer to `request` is to be read from the store: one given longer ago than memory keeps.
    public func storedAnswerNeeded(for request: OperationRequest) -> Bool { answers.mayBeStored(request.request) }

    /// Handles OPERATION-REQUEST from management. An action on a run that has left memory comes with the
    /// run as the store has it (`stored`), which the core takes back in; without it, the run is unknown. A
    /// request answered longer ago than memory keeps comes with its answer from the store
    /// (``storedAnswerNeeded(for:)``), and is answered so again, not applied twice.
    public mutating func operationReceived(
        _ request: OperationRequest, from peer: Peer, stored: FlowRun? = nil, answered: OperationResult? = nil, now: Timestamp
    ) {
        if let answered, answered.request == request.request { answers.remember(answered) }
        if let answer = answers[request.request] {
            replies.append((peer, .operationResult(answer)))
            return
        }
        if let stored, stored.id == request.run { runs.add(stored) }
        let answer: OperationResult
        switch request.action {
        case .start: answer = start(request, now: now)
        case .hold, .release: answer = holdProduct(request, now: now)
        case .setPolicy, .move: answer = setPolicy(request, now: now)
        case .stop, .pause, .resume, .rerunFailed, .rerunJob, .markSucceeded, .setPriority: answer = act(request, now: now)
        }
        answers.record(answer)
        replies.append((peer, .operationResult(answer)))
    }

    /// Handles RUN-QUERY: answered as the turn ends, with the run as the turn leaves it, and sent after
    /// the turn's commit; a run no longer in memory is read from the store after the commit
    /// (``OrchestratorTurn/storedQueries``).
    public mutating func runQueried(_ query: RunQuery, from peer: Peer) {
        queries.append((peer, query))
    }

    /// The answer to `query` for a run held in memory.
    public func detail(answering query: RunQuery) -> RunDetail? {
        runs[query.run]?.detail(answering: query)
    }

    private func answer(_ request: OperationRequest, _ status: Status, _ detail: String) -> OperationResult {
        OperationResult(request: request.request, status: status, detail: detail)
    }

    private mutating func start(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        if let existing = runs[request.run] {
            // The same start sent again; or, after management lost its last commits to a power loss under
            // `durability normal`, another run under an ID it had given out: refused, not merged.
            guard existing.product == request.product, existing.flow == request.flow, existing.moment == request.moment else {
                return answer(
                    request, .conflict,
                    "run \(request.run) is already \(existing.product)/\(existing.flow) with entry moment \(existing.moment): "
                        + "management gave out its ID again after losing its last commits")
            }
            return answer(request, .ok, "run \(request.run) was already started")
        }
        guard streams.contains(request.shard) else {
            return answer(request, .badRequest, "shard \(request.shard) is not one this orchestrator knows")
        }
        // Each job carries the run's parameters with its own: more than a run's may take could not be submitted.
        if let problem = ParameterLimits.problems(ofRun: request.params).first { return answer(request, .tooLarge, problem) }
        let definition: FlowDefinition
        let graph: FlowGraph
        switch flows.parse(request) {
        case .success(let parsed): (definition, graph) = parsed
        case .failure(let error): return answer(request, .invalid, error.description)
        }
        var run = FlowRun(
            id: request.run, product: request.product, flow: request.flow, version: request.version,
            shard: request.shard, moment: request.moment, params: request.params, definition: definition, graph: graph,
            started: now)
        run.priority = min(request.priority, RunPriority.last)
        run.held = heldProducts.contains(request.product)
        newRuns.insert(run.id)
        noteChange(run.id)
        let roots = run.dependencies.start()
        release(&run, jobs: roots, now: now)
        runs.add(run)
        return answer(request, .accepted, "run \(run.id) started")
    }

    /// The answer to an action on, or a question about, a job the run does not have: its first ten jobs named.
    static func noJob(_ job: String, in run: FlowRun) -> String {
        let names = run.jobs.prefix(10).map(\.name).joined(separator: ", ")
        return "run \(run.id) has no job \"\(job)\" (its jobs: \(names)\(run.jobs.count > 10 ? ", …" : ""))"
    }

    /// The answer to an action on a run the orchestrator does not have (management, which may still hold
    /// it, tells retention's deletion from it).
    public static func unknownRun(_ id: UInt64) -> String { "unknown run \(id)" }

    /// stop, pause, resume, rerun-failed, rerun-job, mark-succeeded and set-priority: checks the request
    /// against the run's state, then applies it. A refused request changes nothing. The run is taken out
    /// of the table meanwhile, so that the action changes it along with the rest of the core.
    private mutating func act(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        guard var run = runs.take(request.run) else { return answer(request, .notFound, Self.unknownRun(request.run)) }
        defer { runs.put(run) }
        var index = 0
        if request.action == .rerunJob || request.action == .markSucceeded {
            guard let found = run.graph.index[request.job] else { return answer(request, .notFound, Self.noJob(request.job, in: run)) }
            index = found
        }
        // A rerun submits a new generation, which the tombstone of a hand-over under way would not drop:
        // the old shard could run it while the new one runs the generation after.
        if request.action == .rerunFailed || request.action == .rerunJob, controls.handingOver(run.id) {
            return answer(request, .conflict, "run \(run.id) is being handed over to its product's new shard: rerun it once it has moved, in a moment")
        }
        switch request.action {
        case .stop: return stop(request, &run, now: now)
        case .pause: return pause(request, &run, now: now)
        case .resume: return resume(request, &run, now: now)
        case .rerunFailed: return rerunFailed(request, &run, now: now)
        case .rerunJob: return rerunJob(request, &run, index: index, now: now)
        case .markSucceeded: return markSucceeded(request, &run, index: index, now: now)
        case .setPriority: return setPriority(request, &run, now: now)
        case .start, .hold, .release, .setPolicy, .move: return answer(request, .badRequest, "\(request.action.name) is not an action on a run")
        }
    }

    /// Jobs not started are skipped, and the shard cancels the rest: the run is stopping until none is
    /// active, then stopped.
    private mutating func stop(_ request: OperationRequest, _ run: inout FlowRun, now: Timestamp) -> OperationResult {
        let id = run.id
        if run.state.isFinal { return answer(request, .conflict, "run \(id) has already ended: it \(run.state.name)") }
        if run.stopping { return answer(request, .ok, "run \(id) is already stopping") }
        let wasParking = run.isParking
        let skipped = run.stop(now: now)
        for index in skipped { turnJobs.mark(JobRef(run: id, job: index), .changed) }
        let active = run.activeJobs
        if active > 0 { sendControl(.cancelRun, run: id, shard: run.shard, now: now) }
        // Sent after the cancel on the same connection, so the shard cancels the held tasks first.
        if wasParking { sendControl(.resumeRun, run: id, shard: run.shard, now: now) }
        touch(&run)
        return answer(request, .ok, "run \(id) stopping: \(active) active job\(active == 1 ? "" : "s") cancelled, \(skipped.count) not run")
    }

    /// Why an action on a run an operator stopped is refused: it is still stopping, or it has stopped.
    static func stopped(_ run: FlowRun) -> String {
        run.state == .stopped
            ? "run \(run.id) was stopped by an operator: `rerun` runs again its jobs that did not succeed"
            : "run \(run.id) is stopping: its running tasks are being cancelled"
    }

    private mutating func pause(_ request: OperationRequest, _ run: inout FlowRun, now: Timestamp) -> OperationResult {
        let id = run.id
        if run.state.isFinal { return answer(request, .conflict, "run \(id) has already ended: it \(run.state.name)") }
        if run.stopping { return answer(request, .conflict, Self.stopped(run)) }
        if run.paused { return answer(request, .ok, "run \(id) is already paused") }
        run.paused = true
        if !run.held { sendControl(.pauseRun, run: id, shard: run.shard, now: now) }
        touch(&run)
        return answer(request, .ok, "run \(id) paused: running tasks finish, nothing more starts")
    }

    private mutating func resume(_ request: OperationRequest, _ run: inout FlowRun, now: Timestamp) -> OperationResult {
        let id = run.id
        guard run.paused else {
            if run.held { return answer(request, .conflict, "run \(id) is held with its product \(run.product): release the product") }
            return answer(request, .conflict, "run \(id) is not paused: " + (run.state.isFinal ? "it has ended (\(run.state.name))" : "it is \(run.state.name)"))
        }
        run.paused = false
        if !run.held { unpark(&run, now: now) }
        touch(&run)
        return answer(request, .ok, run.held ? "run \(id) resumed, but its product \(run.product) is held" : "run \(id) resumed")
    }

    /// hold and release: every open run of the product is paused (held) or let go, and runs started while
    /// the product is held start paused.
    private mutating func holdProduct(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        let product = request.product
        guard !product.isEmpty else { return answer(request, .badRequest, "\(request.action.name) needs a product") }
        let open = runs.ids { $0.product == product && !$0.state.isFinal && !$0.stopping }
        let holding = request.action == .hold
        if holding {
            guard heldProducts.insert(product).inserted else { return answer(request, .ok, "product \(product) is already held") }
        } else {
            guard heldProducts.remove(product) != nil else {
                // Its shard may still pause its runs: under durability normal a power loss can take back
                // the commit of a hold whose pauses were already sent. A resume of a run not paused there
                // changes nothing.
                for id in open {
                    guard let run = runs[id], !run.paused else { continue }
                    sendControl(.resumeRun, run: id, shard: run.shard, now: now)
                }
                return answer(request, .ok, "product \(product) is not held")
            }
        }
        holdChanges[product] = holding
        for id in open {
            guard var run = runs.take(id) else { continue }
            if run.held != holding {
                run.held = holding
                if !run.paused {
                    if holding { sendControl(.pauseRun, run: id, shard: run.shard, now: now) } else { unpark(&run, now: now) }
                }
                touch(&run)
            }
            runs.put(run)
        }
        let count = "\(open.count) open run\(open.count == 1 ? "" : "s")"
        if holding { return answer(request, .ok, "product \(product) held: \(count) paused") }
        // A run an operator paused stays paused: the release does not let it go.
        let paused = open.count { runs[$0]?.paused == true }
        let free = open.count - paused
        let stays = paused == 0 ? "" : ", \(paused) paused by an operator stay\(paused == 1 ? "s" : "") paused (resume to let go)"
        return answer(request, .ok, "product \(product) released: \(free) open run\(free == 1 ? "" : "s") let go" + stays)
    }

    /// Sends a product's policy to its shard, which applies it to the next tasks it hands out; for a move,
    /// to the shard it moves to, before its first run there.
    private mutating func setPolicy(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        guard !request.product.isEmpty, request.policy.product == request.product else {
            return answer(request, .badRequest, "\(request.action.name) needs a product and a policy for it")
        }
        guard streams.contains(request.shard) else {
            return answer(request, .badRequest, "shard \(request.shard) is not one this orchestrator knows")
        }
        controls.send(
            Control(request: 0, action: .setPolicy, run: 0, policy: request.policy), to: request.shard, now: now,
            policy: configuration.resend)
        if request.action == .move {
            let handed = handOverRuns(of: request.product, to: request.shard, now: now)
            let runs = handed == 0 ? "" : "; \(handed) run\(handed == 1 ? "" : "s") asked to follow"
            return answer(request, .ok, "product \(request.product) moves to shard \(request.shard): its policy is sent there\(runs)")
        }
        return answer(request, .ok, "policy of product \(request.product) sent to shard \(request.shard)")
    }

    /// Changes a run's priority: its jobs submitted from now on carry it, those waiting to be sent go at
    /// it (``OrchestratorCore/reprioritiseSends(of:)``), and its shard reorders the tasks it holds queued.
    private mutating func setPriority(_ request: OperationRequest, _ run: inout FlowRun, now: Timestamp) -> OperationResult {
        let id = run.id
        guard request.priority <= RunPriority.last else { return answer(request, .badRequest, "priority \(request.priority) is out of range") }
        if run.state.isFinal { return answer(request, .conflict, "run \(id) has already ended: it \(run.state.name)") }
        let name = RunPriority.name(request.priority)
        if run.priority == request.priority { return answer(request, .ok, "run \(id) is already at priority \(name)") }
        run.priority = request.priority
        touch(&run)
        reprioritiseSends(of: run)
        let control = Control(request: 0, action: .setPriority, run: id, priority: request.priority)
        if run.activeJobs > 0 {
            controls.send(control, to: run.shard, now: now, policy: configuration.resend)
        } else {
            // Nothing of the run is at its shard to reorder; an older priority still on its way is stale.
            controls.withdraw(settingOf: control, at: run.shard)
        }
        return answer(request, .ok, "run \(id) at priority \(name)")
    }

    /// Lets a paused run go: the shard hands out its held tasks, and jobs released meanwhile are submitted,
    /// a bounded number a turn (``OrchestratorCore/releaseInTurns(_:jobs:now:unsent:)``).
    private mutating func unpark(_ run: inout FlowRun, now: Timestamp) {
        sendControl(.resumeRun, run: run.id, shard: run.shard, now: now)
        let parked = run.unpark()
        releaseInTurns(&run, jobs: parked, now: now, unsent: true)
    }

    /// Reruns the failed, cancelled and skipped jobs of an ended run that did not succeed: failed and
    /// cancelled ones from where they stopped (steps and partitions that completed are not run again).
    /// With a fresh entry moment they run whole, from their first step: what completed was made at the
    /// old moment, and a later step would combine it with what the rerun makes at the new one.
    private mutating func rerunFailed(_ request: OperationRequest, _ run: inout FlowRun, now: Timestamp) -> OperationResult {
        let id = run.id
        guard run.state.isFinal else {
            return answer(request, .conflict, "run \(id) is still \(run.state.name): it can be rerun from failure once it has ended (stop it first)")
        }
        guard run.state != .succeeded else {
            return answer(request, .conflict, "run \(id) succeeded: nothing failed (rerun-job, `baton rerun RUN JOB`, reruns a job that succeeded)")
        }
        // fail-run ends a run at once, its other jobs' cancellations still on their way: a rerun before
        // they stopped would be failed again by their ends. Their ends decide whether they run again.
        if let busy = run.jobs.first(where: { $0.state.isActive }) {
            let asked = askForEnds(of: run, now: now)
            return answer(
                request, .conflict,
                "job \(busy.name) of run \(id) is still \(busy.state.name), its cancellation on its way to its shard (\(stillActive(busy, of: run, asked: asked))): rerun the run once it has stopped")
        }
        let failed = run.jobs.indices.filter { [.failed, .cancelled, .skipped].contains(run.jobs[$0].state) }
        reopen(&run, moment: request.moment, now: now)
        let fresh = request.moment != 0
        for index in failed {
            let resume = run.jobs[index].state != .skipped && !fresh
            renew(&run, index, resume: resume)
        }
        let ready = run.dependencies.reset(Set(failed))
        release(&run, jobs: ready, now: now)
        let from = fresh ? (failed.count == 1 ? "from its start" : "from their start") : "from failure"
        return answer(request, .ok, "run \(id) rerunning \(failed.count) job\(failed.count == 1 ? "" : "s") \(from)" + freshNote(request))
    }

    /// The most jobs one refused action asks a shard about (``askForEnds(of:now:)``).
    static let endsAskedAtOnce = 100

    /// Asks the shard of a run that has ended for the status of its jobs still active here (report-job):
    /// a run fail-run ended had their cancellations on their way, and their ends, if they came while the
    /// run was out of memory (a restart, or a thousand other runs ending since), were not applied. The
    /// shard publishes each one's status again, from its store once the job has ended, and the run, held
    /// in memory since the action that asked, takes it as any status. The run's shard is asked, not one
    /// it was handed over from, where tasks of it may still finish: the run's shard decides its jobs'
    /// states. At most ``endsAskedAtOnce`` jobs an action, counting those asked and not yet answered,
    /// which are not asked again, and none the shard said it does not have (``MissedEnds``); each action
    /// goes on from the job after the last one asked about, round the run's jobs. Returns how many jobs
    /// are asked about or waited for.
    @discardableResult
    mutating func askForEnds(of run: FlowRun, now: Timestamp) -> Int {
        guard run.state.isFinal, !run.jobs.isEmpty else { return 0 }
        let pending = controls.reportsPending(run: run.id)
        var asked = pending.count
        let start = missedEnds.start(of: run.id)
        for offset in run.jobs.indices {
            guard asked < Self.endsAskedAtOnce else { break }
            let index = (start + offset) % run.jobs.count
            let job = run.jobs[index]
            let identity = JobIdentity(run: run.id, job: job.name, generation: job.generation)
            guard job.state.isActive, !pending.contains(identity), missedEnds.shard(of: run.id, job: job) == nil else {
                continue
            }
            let control = Control(request: 0, action: .reportJob, run: run.id, job: job.name, generation: job.generation)
            controls.send(control, to: run.shard, now: now, policy: configuration.resend)
            missedEnds.asked(run.id, upTo: index)
            asked += 1
        }
        return asked
    }

    /// Why an action is refused for a job still active in a run that has ended, after ``askForEnds(of:now:)``.
    private func stillActive(_ job: FlowRunJob, of run: FlowRun, asked: Int) -> String {
        if let shard = missedEnds.shard(of: run.id, job: job) {
            return "shard \(shard) has no job \(job.name) (generation \(job.generation)), so its end will never come: mark-succeeded it"
        }
        return asked > 0 ? "its shard is asked for its status again" : "its end has not come"
    }

    /// Reruns one job from the start, and with the `downstream` option every job after it; jobs after it
    /// that were skipped because it failed run again in any case.
    private mutating func rerunJob(_ request: OperationRequest, _ run: inout FlowRun, index: Int, now: Timestamp) -> OperationResult {
        let id = run.id
        let job = run.jobs[index]
        if run.stopping { return answer(request, .conflict, Self.stopped(run)) }
        if job.state.isActive || job.state == .waiting {
            let ended = run.state.isFinal && job.state.isActive
            let note = ended ? " (the run has ended: \(stillActive(job, of: run, asked: askForEnds(of: run, now: now))))" : ""
            return answer(request, .conflict, "job \(job.name) of run \(id) is \(job.state.name): only a job that has ended can be rerun" + note)
        }
        if let blocker = run.graph.predecessors[index].first(where: { [.failed, .cancelled, .skipped].contains(run.jobs[$0].state) }) {
            let before = run.jobs[blocker]
            return answer(
                request, .conflict,
                "job \(job.name) of run \(id) cannot run: \(before.name), before it, \(before.state.name) (rerun \(before.name) with its downstream jobs, or the run from failure)")
        }
        let after = run.graph.downstream(of: index).sorted()
        let downstream = (request.options & OperationRequest.downstream) != 0
        if downstream, let busy = after.first(where: { run.jobs[$0].state.isActive }) {
            let other = run.jobs[busy]
            let note = run.state.isFinal ? " (the run has ended: \(stillActive(other, of: run, asked: askForEnds(of: run, now: now))))" : ""
            return answer(request, .conflict, "job \(other.name) after \(job.name) in run \(id) is \(other.state.name): wait for it or stop it" + note)
        }
        let selected = [index] + after.filter { downstream ? run.jobs[$0].state != .waiting : run.jobs[$0].state == .skipped }
        if run.state.isFinal {
            reopen(&run, moment: request.moment, now: now)
        } else if request.moment != 0 {
            run.moment = request.moment
        }
        for job in selected { renew(&run, job, resume: false) }
        // Jobs after it released while the run was paused or held, and parked, never went: their release is
        // taken back, and comes again when the rerun job succeeds (``FlowRun/unpark()``). Left released,
        // they were submitted at the resume, before it ran again.
        let parkedAfter = after.filter { run.jobs[$0].state == .waiting && run.dependencies.released[$0] }
        let ready = run.dependencies.reset(Set(selected).union(parkedAfter))
        skipBlocked(&run)
        release(&run, jobs: ready, now: now)
        touch(&run)
        // Those selected that also wait for a job that failed stay skipped: only the others are rerun.
        let others = selected.dropFirst().count { run.jobs[$0].state != .skipped }
        let stay = selected.count - 1 - others
        let staying = stay > 0 ? "; \(stay) job\(stay == 1 ? "" : "s") after it stay\(stay == 1 ? "s" : "") skipped, waiting for one that did not succeed" : ""
        return answer(
            request, .ok,
            "run \(id): rerunning \(job.name)" + (others > 0 ? " and \(others) job\(others == 1 ? "" : "s") after it" : "") + freshNote(request) + staying)
    }

    /// Marks a job succeeded without running it (cancelling it if active), so that its successors run.
    private mutating func markSucceeded(_ request: OperationRequest, _ run: inout FlowRun, index: Int, now: Timestamp) -> OperationResult {
        let id = run.id
        let job = run.jobs[index]
        if run.stopping { return answer(request, .conflict, Self.stopped(run)) }
        if job.state == .succeeded { return answer(request, .ok, "job \(job.name) of run \(id) has already succeeded") }
        if job.state.isActive { sendControl(.cancelJob, run: id, shard: run.shard, job: job.name, generation: job.generation, now: now) }
        let skipped = run.graph.downstream(of: index).sorted().filter { run.jobs[$0].state == .skipped }
        if run.state.isFinal { reopen(&run, moment: 0, now: now) }
        run.markSucceeded(index)
        turnJobs.mark(JobRef(run: id, job: index), .changed)
        for later in skipped { renew(&run, later, resume: false) }
        var ready = run.dependencies.reset(Set(skipped))
        ready += run.dependencies.markSucceeded(index)
        skipBlocked(&run)
        release(&run, jobs: ready.sorted(), now: now)
        touch(&run)
        return answer(request, .ok, "job \(job.name) of run \(id) marked succeeded" + (job.state.isActive ? " (its tasks are cancelled)" : ""))
    }

    private func freshNote(_ request: OperationRequest) -> String {
        request.moment != 0 ? ", with the fresh entry moment \(request.moment)" : ""
    }

    /// Makes an ended run open again for a rerun (``FlowRun/reopen(moment:held:)``). Its shard may still
    /// hold it paused: a run that ended while its product was held was not resumed when the product was
    /// released, and the jobs of the rerun would wait there for ever. Unless it is held now, the shard is
    /// told to let it go (a run it does not hold paused is answered all the same).
    private mutating func reopen(_ run: inout FlowRun, moment: UInt64, now: Timestamp) {
        // A job still active in it (a rerun-job or a mark of another job reopens it) would keep it open
        // for ever if its end was missed: its shard is asked for it.
        askForEnds(of: run, now: now)
        run.reopen(moment: moment, held: heldProducts.contains(run.product))
        // Its status is as of now: RUN-DETAIL says so, and management takes a status of an ended run only if
        // newer than what it holds (found by the simulator, seed 22 under durability normal: a run marked
        // succeeded was read again with its failure's time, and stayed failed in management).
        run.lastChange = now
        runs.reopened(run.id)
        if !run.isParking { sendControl(.resumeRun, run: run.id, shard: run.shard, now: now) }
        touch(&run)
    }

    /// Skips, and stores, the jobs made to wait again that cannot run (``FlowRun/skipBlocked()``).
    private mutating func skipBlocked(_ run: inout FlowRun) {
        for index in run.skipBlocked() { turnJobs.mark(JobRef(run: run.id, job: index), .changed) }
    }

    /// Makes a job wait for its next generation, and stores it.
    private mutating func renew(_ run: inout FlowRun, _ index: Int, resume: Bool) {
        run.renew(index, resume: resume)
        turnJobs.mark(JobRef(run: run.id, job: index), .changed)
    }

    /// Notes that an operator changed the run: it is stored and published this turn.
    mutating func touch(_ run: inout FlowRun) {
        dirtyRuns.insert(run.id)
        // Its jobs released without a row get theirs in this turn: a restart would not release them again
        // as they were (``FlowRunJob/stored``).
        flushedRuns.insert(run.id)
        run.announced = nil
        noteChange(run.id)
    }
}
