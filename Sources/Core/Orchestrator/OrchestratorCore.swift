public import Wire

/// The orchestrator's state machine: it runs each flow run's DAG, submitting every job to the shard
/// its product is bound to when the job's last predecessor has succeeded.
///
/// Invariants:
/// - A job is submitted when it is released, and released exactly once per generation, however many
///   times a shard reports its predecessors' success (``Dependencies``).
/// - A submitted job stays "sent, not accepted" until its shard reports any status for its key, and is
///   sent again until then: PUSH is not a receipt. A live shard on a live connection loses nothing, so
///   the job is resent at once when its shard restarts (a new epoch on its stream), and otherwise only
///   after a long, doubling timeout: resending a backlog the shard is still working through would only
///   make it longer.
/// - A job that reached a final state never changes again until an operator reruns it.
/// - Only contiguous messages of a shard's event stream are applied (``StreamCursor``).
///
/// Like the other cores it does no I/O and reads no clock.
public struct OrchestratorCore: Sendable {
    public let configuration: OrchestratorConfiguration
    /// One more at each start.
    public let epoch: UInt32
    /// Runs in memory: every run not final, and the most recent final ones.
    public private(set) var runs: [UInt64: FlowRun] = [:]
    /// Each shard's stream position.
    public private(set) var cursors: [UInt32: StreamCursor] = [:]
    /// The sequence number of the last RUN-UPDATES.
    public private(set) var sequence: UInt64
    /// Answers already given, by request ID.
    private var answered: [UInt64: OperationResult]
    /// Final runs in the order they ended, for eviction.
    private var finishedOrder: [UInt64] = []
    private var resends = MinHeap<Resend>()
    private var lastPublished: Timestamp
    /// Runs whose counts changed since their last status was published, and when they are published.
    private var progressing: Set<UInt64> = []
    private var progressDue: Timestamp?
    /// When stream positions were last stored, and shards whose position moved since.
    private var positionsStored: Timestamp
    private var movedCursors: Set<UInt32> = []
    /// CONTROL requests sent to shards and not answered yet.
    private var controls: [UInt64: PendingControl]
    /// Products an operator held: their runs, and runs started while held, are paused until released.
    public private(set) var heldProducts: Set<String>
    /// Products held (true) or released (false) this turn.
    private var holdChanges: [String: Bool] = [:]
    /// Each shard's epoch as last seen, to notice its restarts.
    private var knownEpochs: [UInt32: UInt32] = [:]
    /// Flow versions parsed, with their DAGs, by `product/flow/version`: a flow runs many times, and a
    /// large one costs more to parse than to run.
    private var definitions: [String: (FlowDefinition, FlowGraph)] = [:]
    private var lastControl: UInt64

    // What the current turn has produced.
    private var dirtyRuns: Set<UInt64> = []
    private var newRuns: Set<UInt64> = []
    private var dirtyJobs: Set<JobRef> = []
    private var releasedJobs: Set<JobRef> = []
    private var succeededJobs: Set<JobRef> = []
    private var newControls: [PendingControl] = []
    private var answeredControls: [UInt64] = []
    private var controlSends: [(UInt32, Control)] = []
    private var changedRuns: [UInt64] = []
    private var changedRunSet: Set<UInt64> = []
    private var newAnswers: [(UInt64, OperationResult)] = []
    private var submits: [UInt32: [JobSpec]] = [:]
    private var fetches: [UInt32: Fetch] = [:]
    private var replies: [(Peer, Message)] = []
    /// RUN-QUERYs of this turn, answered as the turn ends, once all of its changes are in.
    private var queries: [(Peer, RunQuery)] = []

    struct JobRef: Hashable, Sendable {
        var run: UInt64
        var job: Int
    }

    /// A CONTROL sent to a shard, resent until its CONTROL-RESULT.
    public struct PendingControl: Equatable, Sendable {
        public var shard: UInt32
        public var control: Control
        var resendAt: Timestamp
        var delay: Int64

        public init(shard: UInt32, control: Control, resendAt: Timestamp, delay: Int64) {
            self.shard = shard
            self.control = control
            self.resendAt = resendAt
            self.delay = delay
        }
    }

    struct Resend: Comparable, Sendable {
        var time: Timestamp
        var run: UInt64
        var job: Int
        static func < (lhs: Resend, rhs: Resend) -> Bool { (lhs.time, lhs.run, lhs.job) < (rhs.time, rhs.run, rhs.job) }
    }

    /// An orchestrator resuming from its store (empty for a new one).
    public init(configuration: OrchestratorConfiguration, epoch: UInt32, restoring snapshot: OrchestratorSnapshot, now: Timestamp) {
        self.configuration = configuration
        self.epoch = epoch
        self.sequence = snapshot.sequence
        self.answered = snapshot.answered
        self.lastPublished = now
        self.positionsStored = now
        self.lastControl = snapshot.lastControl
        self.heldProducts = snapshot.heldProducts
        self.controls = Dictionary(
            uniqueKeysWithValues: snapshot.controls.map {
                ($0.control.request, PendingControl(shard: $0.shard, control: $0.control, resendAt: now, delay: configuration.resendInitial))
            })
        for shard in configuration.shards {
            let position = snapshot.positions[shard] ?? (0, 0)
            cursors[shard] = StreamCursor(
                publisher: "shard-\(shard)", epoch: position.epoch, sequence: position.sequence, now: now,
                silence: configuration.silence)
        }
        for var run in snapshot.runs {
            // Submitted jobs not final are sent again at once: whether the shard took them is unknown.
            for index in run.jobs.indices where run.jobs[index].state.isActive {
                run.updateJob(index) {
                    $0.accepted = false
                    $0.resendDelay = configuration.resendInitial
                    $0.resendAt = now
                }
                resends.insert(Resend(time: now, run: run.id, job: index))
            }
            runs[run.id] = run
            if run.state.isFinal { finishedOrder.append(run.id) }
        }
        // A job whose predecessors all succeeded but which was not released is released now.
        for id in runs.keys.sorted() { release(run: id, jobs: runs[id]!.dependencies.start(), now: now) }
    }

    /// Whether the run is in memory; the runtime answers RUN-QUERY for other runs from the store.
    public func holds(run: UInt64) -> Bool { runs[run] != nil }

    // MARK: - Operations

    /// The run an operation acts on that has left memory, which the runtime reads back from the store
    /// for ``operationReceived(_:from:stored:now:)``; nil when none is needed.
    public func storedRunNeeded(for request: OperationRequest) -> UInt64? {
        guard answered[request.request] == nil, request.action != .start, request.run != 0, runs[request.run] == nil else { return nil }
        return request.run
    }

    /// Handles OPERATION-REQUEST from management. An action on a run that has left memory comes with the
    /// run as the store has it (`stored`), which the core takes back in; without it, the run is unknown.
    public mutating func operationReceived(_ request: OperationRequest, from peer: Peer, stored: FlowRun? = nil, now: Timestamp) {
        if let answer = answered[request.request] {
            replies.append((peer, .operationResult(answer)))
            return
        }
        if let stored, stored.id == request.run { adopt(stored) }
        let answer: OperationResult
        switch request.action {
        case .start: answer = start(request, now: now)
        case .hold, .release: answer = holdProduct(request, now: now)
        case .setPolicy: answer = setPolicy(request, now: now)
        case .stop, .pause, .resume, .rerunFailed, .rerunJob, .markSucceeded, .setPriority: answer = act(request, now: now)
        }
        answered[request.request] = answer
        newAnswers.append((request.request, answer))
        replies.append((peer, .operationResult(answer)))
    }

    private mutating func start(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        if runs[request.run] != nil {
            return OperationResult(request: request.request, status: .ok, detail: "run \(request.run) was already started")
        }
        guard cursors[request.shard] != nil else {
            return OperationResult(request: request.request, status: .badRequest, detail: "shard \(request.shard) is not one this orchestrator knows")
        }
        let name = "\(request.product)/\(request.flow)/\(request.version)"
        if definitions[name] == nil {
            switch FlowFile.parse(request.definition, file: "\(request.product)/\(request.flow) v\(request.version)") {
            case .success(let parsed):
                if definitions.count >= 1000 { definitions = [:] }
                definitions[name] = (parsed, FlowGraph(parsed))
            case .failure(let error):
                return OperationResult(request: request.request, status: .invalid, detail: error.description)
            }
        }
        let (definition, graph) = definitions[name]!
        var run = FlowRun(
            id: request.run, product: request.product, flow: request.flow, version: request.version,
            shard: request.shard, moment: request.moment, params: request.params, definition: definition, graph: graph,
            started: now)
        run.priority = min(request.priority, RunPriority.last)
        run.held = heldProducts.contains(request.product)
        runs[run.id] = run
        newRuns.insert(run.id)
        noteChange(run.id)
        release(run: run.id, jobs: runs[run.id]!.dependencies.start(), now: now)
        return OperationResult(request: request.request, status: .accepted, detail: "run \(run.id) started")
    }

    /// Handles RUN-QUERY: answered as the turn ends, with the run as the turn leaves it, and sent after
    /// the turn's commit; a run no longer in memory is read from the store after the commit
    /// (``OrchestratorTurn/storedQueries``).
    public mutating func runQueried(_ query: RunQuery, from peer: Peer) {
        queries.append((peer, query))
    }

    /// The detail of a run held in memory.
    public func detail(of run: UInt64, request: UInt64) -> RunDetail? {
        guard let run = runs[run] else { return nil }
        return RunDetail(request: request, status: .ok, run: run.status(now: run.lastChange), jobs: run.jobStatuses)
    }

    // MARK: - Submitting

    /// Submits released jobs of a run to its shard. Runs are changed in place (``Dictionary/modify(_:_:)``):
    /// a copy out of the dictionary and back would cost more than the change.
    private mutating func release(run id: UInt64, jobs released: [Int], now: Timestamp) {
        guard !released.isEmpty, let shard = runs[id]?.shard else { return }
        if runs[id]!.isParking {
            runs.modify(id) { $0.parked += released }
            return
        }
        let initial = configuration.resendInitial
        for index in released {
            updateJob(run: id, index) {
                $0.state = .submitted
                $0.accepted = false
                $0.resendDelay = initial
            }
            submits[shard, default: []].append(runs[id]!.spec(of: index))
            scheduleResend(run: id, job: index, at: now.adding(milliseconds: configuration.resendInitial))
            dirtyJobs.insert(JobRef(run: id, job: index))
            releasedJobs.insert(JobRef(run: id, job: index))
        }
        noteChange(id)
    }

    // MARK: - The shards' event streams

    /// Handles JOB-UPDATES from a shard, live or fetched.
    public mutating func updatesReceived(_ updates: JobUpdates, from shard: UInt32, now: Timestamp) {
        guard var cursor = cursors[shard] else { return }
        let verdict = cursor.received(epoch: updates.epoch, sequence: updates.sequence, now: now)
        cursors[shard] = cursor
        noteEpoch(updates.epoch, of: shard, now: now)
        switch verdict {
        case .apply:
            movedCursors.insert(shard)
            for status in updates.updates { apply(status, now: now) }
        case .ignore: break
        case .fetch(let after): fetches[shard] = Fetch(after: after, limit: configuration.fetchLimit)
        }
    }

    /// Handles BEACON from a shard.
    public mutating func beaconReceived(_ beacon: Beacon, from shard: UInt32, now: Timestamp) {
        guard var cursor = cursors[shard] else { return }
        if case .fetch(let after) = cursor.beacon(epoch: beacon.epoch, sequence: beacon.sequence, now: now) {
            fetches[shard] = Fetch(after: after, limit: configuration.fetchLimit)
        }
        cursors[shard] = cursor
        noteEpoch(beacon.epoch, of: shard, now: now)
    }

    /// Notices a shard's restart by its epoch: what it had not acknowledged may be lost with its old
    /// process, so every job sent to it and not accepted is sent again now. The first epoch heard from a
    /// shard is no restart.
    private mutating func noteEpoch(_ epoch: UInt32, of shard: UInt32, now: Timestamp) {
        let known = knownEpochs.updateValue(epoch, forKey: shard)
        guard let known, known != epoch else { return }
        for id in runs.keys.sorted() where runs[id]!.shard == shard {
            for index in runs[id]!.jobs.indices where runs[id]!.jobs[index].state.isActive && !runs[id]!.jobs[index].accepted {
                scheduleResend(run: id, job: index, at: now)
            }
        }
    }

    /// Makes `at` the one time the job is due to be sent again; older entries of the heap are skipped.
    /// Changes a job of a run in place.
    private mutating func updateJob(run id: UInt64, _ index: Int, _ change: (inout FlowRunJob) -> Void) {
        runs.modify(id) { $0.updateJob(index, change) }
    }

    private mutating func scheduleResend(run id: UInt64, job index: Int, at time: Timestamp) {
        updateJob(run: id, index) { $0.resendAt = time }
        resends.insert(Resend(time: time, run: id, job: index))
    }

    /// Handles FETCHED from a shard.
    public mutating func fetchedReceived(_ fetched: Fetched, from shard: UInt32, now: Timestamp) {
        guard var cursor = cursors[shard] else { return }
        let outcome = cursor.fetched(status: fetched.status.rawValue, epoch: fetched.epoch, sequence: fetched.sequence, now: now)
        cursors[shard] = cursor
        movedCursors.insert(shard)
        noteEpoch(fetched.epoch, of: shard, now: now)
        switch outcome {
        case .upToDate: break
        case .fetch(let after): fetches[shard] = Fetch(after: after, limit: configuration.fetchLimit)
        case .resynchronise:
            // The shard no longer has what was missed: submit again every job not known final, and the
            // shard answers each with its current status.
            let initial = configuration.resendInitial
            for id in runs.keys.sorted() where runs[id]!.shard == shard {
                for index in runs[id]!.jobs.indices where runs[id]!.jobs[index].state.isActive {
                    updateJob(run: id, index) {
                        $0.accepted = false
                        $0.resendDelay = initial
                    }
                    scheduleResend(run: id, job: index, at: now)
                }
            }
        }
    }

    /// Applies one job status from a shard. Statuses of another generation, or of a job already final,
    /// change nothing: a job succeeds once and releases its successors once.
    private mutating func apply(_ status: JobStatus, now: Timestamp) {
        guard let index = runs[status.run]?.graph.index[status.job] else { return }
        let id = status.run
        let job = runs[id]!.jobs[index]
        guard status.generation == job.generation, !job.state.isFinal, job.state != .waiting else { return }
        if runs[id]!.stopping && !job.accepted && status.state.isActive {
            // The shard took the job after the run's cancel-run reached it: cancel it too.
            sendControl(.cancelJob, run: id, job: status.job, now: now)
        }
        updateJob(run: id, index) {
            $0.accepted = true
            $0.status = status
            $0.state = status.state
        }
        if status.state.isFinal { dirtyJobs.insert(JobRef(run: id, job: index)) }
        var released: [Int] = []
        switch status.state {
        case .succeeded:
            succeededJobs.insert(JobRef(run: id, job: index))
            if !runs[id]!.state.isFinal { released = runs.modify(id) { $0.dependencies.jobSucceeded(index) } }
        case .failed, .cancelled:
            for downstream in runs[id]!.graph.downstream(of: index).sorted() where runs[id]!.jobs[downstream].state == .waiting {
                updateJob(run: id, downstream) {
                    $0.state = .skipped
                    $0.detail = "not run: \(status.job) \(status.state.name)"
                }
                dirtyJobs.insert(JobRef(run: id, job: downstream))
            }
            if runs[id]!.detail.isEmpty { runs.modify(id) { $0.detail = "\(status.job) \(status.state.name): \(status.detail)" } }
            if status.state == .failed, !runs[id]!.state.isFinal, runs[id]!.definition.failurePolicy(of: index) == .failRun {
                failAtOnce(id, because: status.job, now: now)
            }
        default:
            break
        }
        runs.modify(id) { $0.lastChange = now }
        noteChange(id)
        release(run: id, jobs: released, now: now)
    }

    /// The fail-run policy: the run fails now; jobs not started are skipped, and the shard cancels the rest.
    private mutating func failAtOnce(_ id: UInt64, because job: String, now: Timestamp) {
        runs.modify(id) {
            $0.state = .failed
            $0.finished = now
            $0.detail += " (on_failure: fail-run, so the run failed at once)"
        }
        for index in runs[id]!.jobs.indices where runs[id]!.jobs[index].state == .waiting {
            updateJob(run: id, index) {
                $0.state = .skipped
                $0.detail = "not run: \(job) failed and the run failed at once"
            }
            dirtyJobs.insert(JobRef(run: id, job: index))
        }
        if runs[id]!.jobs.contains(where: \.state.isActive) { sendControl(.cancelRun, run: id, now: now) }
    }

    /// Sends CONTROL to the run's shard, committed first and sent again until answered.
    private mutating func sendControl(_ action: ControlAction, run id: UInt64, job: String = "", now: Timestamp) {
        guard let shard = runs[id]?.shard else { return }
        send(Control(request: 0, action: action, run: id, job: job, grace: configuration.cancelGrace), to: shard, now: now)
    }

    /// Sends CONTROL to `shard` under the next request ID, committed first and sent again until answered.
    private mutating func send(_ control: Control, to shard: UInt32, now: Timestamp) {
        var control = control
        lastControl += 1
        control.request = lastControl
        let pending = PendingControl(
            shard: shard, control: control, resendAt: now.adding(milliseconds: configuration.resendInitial),
            delay: configuration.resendInitial)
        controls[control.request] = pending
        newControls.append(pending)
        controlSends.append((shard, control))
    }

    /// Handles CONTROL-RESULT from a shard.
    public mutating func controlResultReceived(_ result: ControlResult, now: Timestamp) {
        guard controls.removeValue(forKey: result.request) != nil else { return }
        answeredControls.append(result.request)
    }

    // MARK: - Time

    /// Sends again what no shard acknowledged, and fetches from silent shards.
    public mutating func tick(now: Timestamp) {
        while let due = resends.min, due.time <= now {
            _ = resends.popMin()
            guard let job = runs[due.run]?.jobs[due.job], job.state.isActive, !job.accepted, job.resendAt == due.time else {
                continue
            }
            submits[runs[due.run]!.shard, default: []].append(runs[due.run]!.spec(of: due.job))
            // Never less than the initial delay, so that a resend can never be due again at once.
            let delay = max(job.resendDelay, configuration.resendInitial)
            let next = min(delay * 2, configuration.resendMaximum)
            updateJob(run: due.run, due.job) { $0.resendDelay = next }
            scheduleResend(run: due.run, job: due.job, at: now.adding(milliseconds: delay))
        }
        for id in controls.keys.sorted() where controls[id]!.resendAt <= now {
            let delay = controls[id]!.delay
            controls[id]!.delay = min(delay * 2, configuration.resendMaximum)
            controls[id]!.resendAt = now.adding(milliseconds: delay)
            controlSends.append((controls[id]!.shard, controls[id]!.control))
        }
        for shard in configuration.shards {
            if case .fetch(let after) = cursors[shard]!.tick(now: now) {
                fetches[shard] = Fetch(after: after, limit: configuration.fetchLimit)
            }
        }
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        var next = lastPublished.adding(milliseconds: configuration.beaconInterval)
        if let progressDue { next = min(next, progressDue) }
        if !movedCursors.isEmpty { next = min(next, positionsStored.adding(milliseconds: configuration.positionInterval)) }
        if let due = resends.min { next = min(next, due.time) }
        for cursor in cursors.values { next = min(next, cursor.nextDeadline) }
        for control in controls.values { next = min(next, control.resendAt) }
        return next
    }

    // MARK: - The end of a turn

    private mutating func noteChange(_ run: UInt64) {
        if changedRunSet.insert(run).inserted { changedRuns.append(run) }
    }

    /// Ends the turn: derives the state of changed runs and returns what to commit, then what to send.
    public mutating func finishTurn(now: Timestamp) -> OrchestratorTurn {
        var turn = OrchestratorTurn()
        var updates: [RunStatus] = []
        for id in changedRuns where runs[id] != nil {
            runs.modify(id) { $0.deriveState(now: now) }
            let mark = runs[id]!.mark
            guard mark != runs[id]!.announced else {
                // Only the counts moved: published with the next progress report.
                if progressing.insert(id).inserted && progressDue == nil {
                    progressDue = now.adding(milliseconds: configuration.progressInterval)
                }
                continue
            }
            if mark.state.isFinal && runs[id]!.announced?.state.isFinal != true { finishedOrder.append(id) }
            runs.modify(id) { $0.announced = mark }
            dirtyRuns.insert(id)
            progressing.remove(id)
            updates.append(runs[id]!.status(now: now))
        }
        if let due = progressDue, due <= now {
            for id in progressing.sorted() { if let run = runs[id] { updates.append(run.status(now: now)) } }
            progressing = []
            progressDue = nil
        }
        if !updates.isEmpty {
            sequence += 1
            turn.updates = RunUpdates(publisher: configuration.publisher, epoch: epoch, sequence: sequence, updates: updates)
            lastPublished = now
        } else if now.since(lastPublished) >= configuration.beaconInterval {
            turn.beacon = Beacon(publisher: configuration.publisher, epoch: epoch, sequence: sequence)
            lastPublished = now
        }
        turn.runs = dirtyRuns.compactMap { runs[$0] }
        turn.newRuns = newRuns
        turn.jobs = dirtyJobs.union(succeededJobs).compactMap { ref in
            runs[ref.run].map {
                FlowRunJobRow(
                    run: ref.run, index: ref.job, job: $0.jobs[ref.job], released: releasedJobs.contains(ref),
                    succeeded: succeededJobs.contains(ref))
            }
        }
        turn.controls = newControls
        turn.answeredControls = answeredControls
        turn.controlSends = controlSends
        turn.lastControl = lastControl
        turn.holds = holdChanges
        turn.answers = newAnswers
        // A position is stored with whatever the events it covers changed. Events that changed nothing
        // durable (a job queued or running) need not be: after a restart they are fetched and applied
        // again, to the same effect. So positions alone are stored once a second at most.
        if !movedCursors.isEmpty && (turn.needsCommit || now.since(positionsStored) >= configuration.positionInterval) {
            turn.positions = movedCursors.sorted().map { shard in
                StreamPosition(publisher: cursors[shard]!.publisher, epoch: cursors[shard]!.epoch, sequence: cursors[shard]!.sequence)
            }
            movedCursors = []
            positionsStored = now
        }
        turn.submits = submits
        turn.fetches = fetches
        for (peer, query) in queries {
            if let detail = detail(of: query.run, request: query.request) {
                replies.append((peer, .runDetail(detail)))
            } else {
                turn.storedQueries.append((peer, query))
            }
        }
        queries = []
        turn.replies = replies
        while finishedOrder.count > configuration.finishedRunsInMemory {
            runs[finishedOrder.removeFirst()] = nil
        }
        dirtyRuns = []
        newRuns = []
        dirtyJobs = []
        releasedJobs = []
        succeededJobs = []
        newControls = []
        answeredControls = []
        controlSends = []
        changedRuns = []
        changedRunSet = []
        newAnswers = []
        holdChanges = [:]
        submits = [:]
        fetches = [:]
        replies = []
        return turn
    }
}

// MARK: - Operator actions

extension OrchestratorCore {
    /// Takes in a run read back from the store, for an operator action on a run no longer in memory.
    mutating func adopt(_ run: FlowRun) {
        guard runs[run.id] == nil else { return }
        runs[run.id] = run
        if run.state.isFinal { finishedOrder.append(run.id) }
    }

    private func answer(_ request: OperationRequest, _ status: Status, _ detail: String) -> OperationResult {
        OperationResult(request: request.request, status: status, detail: detail)
    }

    /// stop, pause, resume, rerun-failed, rerun-job and mark-succeeded: checks the request against the
    /// run's state, then applies it. A refused request changes nothing.
    fileprivate mutating func act(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        guard let run = runs[request.run] else { return answer(request, .notFound, "unknown run \(request.run)") }
        var index: Int?
        if request.action == .rerunJob || request.action == .markSucceeded {
            guard let found = run.graph.index[request.job] else {
                let names = run.jobs.prefix(10).map(\.name).joined(separator: ", ")
                return answer(
                    request, .notFound,
                    "run \(run.id) has no job \"\(request.job)\" (its jobs: \(names)\(run.jobs.count > 10 ? ", …" : ""))")
            }
            index = found
        }
        switch request.action {
        case .stop: return stop(request, now: now)
        case .pause: return pause(request, now: now)
        case .resume: return resume(request, now: now)
        case .rerunFailed: return rerunFailed(request, now: now)
        case .rerunJob: return rerunJob(request, index: index!, now: now)
        case .markSucceeded: return markSucceeded(request, index: index!, now: now)
        case .setPriority: return setPriority(request, now: now)
        case .start, .hold, .release, .setPolicy: return answer(request, .badRequest, "\(request.action.name) is not an action on a run")
        }
    }

    /// Jobs not started are skipped, and the shard cancels the rest: the run is stopping until none is
    /// active, then stopped.
    private mutating func stop(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        let id = request.run
        let run = runs[id]!
        if run.state.isFinal { return answer(request, .conflict, "run \(id) has already ended: it \(run.state.name)") }
        if run.stopping { return answer(request, .ok, "run \(id) is already stopping") }
        var skipped = 0
        for index in run.jobs.indices where run.jobs[index].state == .waiting {
            updateJob(run: id, index) {
                $0.state = .skipped
                $0.detail = "not run: the run was stopped"
            }
            dirtyJobs.insert(JobRef(run: id, job: index))
            skipped += 1
        }
        let active = runs[id]!.jobs.filter(\.state.isActive).count
        let wasHolding = run.isParking
        runs.modify(id) {
            $0.stopping = true
            $0.paused = false
            $0.held = false
            $0.parked = []
            $0.lastChange = now
            if $0.detail.isEmpty { $0.detail = "stopped by an operator" }
        }
        if active > 0 { sendControl(.cancelRun, run: id, now: now) }
        // Sent after the cancel on the same connection, so the shard cancels the held tasks first.
        if wasHolding { sendControl(.resumeRun, run: id, now: now) }
        touch(id)
        return answer(request, .ok, "run \(id) stopping: \(active) active job\(active == 1 ? "" : "s") cancelled, \(skipped) not run")
    }

    private mutating func pause(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        let id = request.run
        let run = runs[id]!
        if run.state.isFinal { return answer(request, .conflict, "run \(id) has already ended: it \(run.state.name)") }
        if run.stopping { return answer(request, .conflict, "run \(id) is stopping") }
        if run.paused { return answer(request, .ok, "run \(id) is already paused") }
        runs.modify(id) { $0.paused = true }
        if !run.held { sendControl(.pauseRun, run: id, now: now) }
        touch(id)
        return answer(request, .ok, "run \(id) paused: running tasks finish, nothing more starts")
    }

    private mutating func resume(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        let id = request.run
        let run = runs[id]!
        guard run.paused else {
            if run.held { return answer(request, .conflict, "run \(id) is held with its product \(run.product): release the product") }
            return answer(request, .conflict, "run \(id) is not paused (it is \(run.state.name))")
        }
        runs.modify(id) { $0.paused = false }
        if !run.held { unpark(id, now: now) }
        touch(id)
        return answer(request, .ok, run.held ? "run \(id) resumed, but its product \(run.product) is held" : "run \(id) resumed")
    }

    /// hold and release: every open run of the product is paused (held) or let go, and runs started while
    /// the product is held start paused.
    fileprivate mutating func holdProduct(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        let product = request.product
        guard !product.isEmpty else { return answer(request, .badRequest, "\(request.action.name) needs a product") }
        let open = runs.keys.sorted().filter { runs[$0]!.product == product && !runs[$0]!.state.isFinal && !runs[$0]!.stopping }
        if request.action == .hold {
            guard heldProducts.insert(product).inserted else { return answer(request, .ok, "product \(product) is already held") }
            holdChanges[product] = true
            for id in open where !runs[id]!.held {
                let paused = runs[id]!.paused
                runs.modify(id) { $0.held = true }
                if !paused { sendControl(.pauseRun, run: id, now: now) }
                touch(id)
            }
            return answer(request, .ok, "product \(product) held: \(open.count) open run\(open.count == 1 ? "" : "s") paused")
        }
        guard heldProducts.remove(product) != nil else { return answer(request, .ok, "product \(product) is not held") }
        holdChanges[product] = false
        for id in open where runs[id]!.held {
            runs.modify(id) { $0.held = false }
            if !runs[id]!.paused { unpark(id, now: now) }
            touch(id)
        }
        return answer(request, .ok, "product \(product) released: \(open.count) open run\(open.count == 1 ? "" : "s") let go")
    }

    /// Sends a product's policy to its shard, which applies it to the next tasks it hands out.
    fileprivate mutating func setPolicy(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        guard !request.product.isEmpty, request.policy.product == request.product else {
            return answer(request, .badRequest, "set-policy needs a product and a policy for it")
        }
        guard cursors[request.shard] != nil else {
            return answer(request, .badRequest, "shard \(request.shard) is not one this orchestrator knows")
        }
        send(Control(request: 0, action: .setPolicy, run: 0, policy: request.policy), to: request.shard, now: now)
        return answer(request, .ok, "policy of product \(request.product) sent to shard \(request.shard)")
    }

    /// Changes a run's priority: its jobs submitted from now on carry it, and its shard reorders the tasks
    /// it holds queued.
    private mutating func setPriority(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        let id = request.run
        let run = runs[id]!
        guard request.priority <= RunPriority.last else { return answer(request, .badRequest, "priority \(request.priority) is out of range") }
        if run.state.isFinal { return answer(request, .conflict, "run \(id) has already ended: it \(run.state.name)") }
        let name = RunPriority.name(request.priority)
        if run.priority == request.priority { return answer(request, .ok, "run \(id) is already at priority \(name)") }
        runs.modify(id) { $0.priority = request.priority }
        touch(id)
        if run.jobs.contains(where: { $0.state.isActive }) {
            let shard = run.shard
            send(Control(request: 0, action: .setPriority, run: id, priority: request.priority), to: shard, now: now)
        }
        return answer(request, .ok, "run \(id) at priority \(name)")
    }

    /// Lets a paused run go: the shard hands out its held tasks, and jobs released meanwhile are submitted.
    private mutating func unpark(_ id: UInt64, now: Timestamp) {
        sendControl(.resumeRun, run: id, now: now)
        let parked = runs[id]!.parked
        runs.modify(id) { $0.parked = [] }
        release(run: id, jobs: parked, now: now)
    }

    /// Reruns the failed, cancelled and skipped jobs of an ended run that did not succeed: failed and
    /// cancelled ones from where they stopped (steps and partitions that completed are not run again).
    private mutating func rerunFailed(_ request: OperationRequest, now: Timestamp) -> OperationResult {
        let id = request.run
        let run = runs[id]!
        guard run.state.isFinal else {
            return answer(request, .conflict, "run \(id) is still \(run.state.name): it can be rerun from failure once it has ended (stop it first)")
        }
        guard run.state != .succeeded else {
            return answer(request, .conflict, "run \(id) succeeded: nothing failed (rerun-job reruns a job that succeeded)")
        }
        let failed = run.jobs.indices.filter { [.failed, .cancelled, .skipped].contains(run.jobs[$0].state) }
        reopen(id, moment: request.moment, now: now)
        for index in failed {
            let resume = runs[id]!.jobs[index].state != .skipped
            renew(run: id, index, resume: resume)
        }
        let ready = runs.modify(id) { $0.dependencies.reset(Set(failed)) }
        release(run: id, jobs: ready, now: now)
        return answer(request, .ok, "run \(id) rerunning \(failed.count) job\(failed.count == 1 ? "" : "s") from failure" + freshNote(request))
    }

    /// Reruns one job from the start, and with the `downstream` option every job after it; jobs after it
    /// that were skipped because it failed run again in any case.
    private mutating func rerunJob(_ request: OperationRequest, index: Int, now: Timestamp) -> OperationResult {
        let id = request.run
        let run = runs[id]!
        let job = run.jobs[index]
        if run.stopping { return answer(request, .conflict, "run \(id) is stopping") }
        if job.state.isActive || job.state == .waiting {
            return answer(request, .conflict, "job \(job.name) of run \(id) is \(job.state.name): only a job that has ended can be rerun")
        }
        let after = run.graph.downstream(of: index)
        let downstream = (request.options & OperationRequest.downstream) != 0
        if downstream, let busy = after.sorted().first(where: { run.jobs[$0].state.isActive }) {
            return answer(request, .conflict, "job \(run.jobs[busy].name) after \(job.name) in run \(id) is \(run.jobs[busy].state.name): wait for it or stop it")
        }
        let selected = [index] + after.sorted().filter { downstream ? run.jobs[$0].state != .waiting : run.jobs[$0].state == .skipped }
        if run.state.isFinal { reopen(id, moment: request.moment, now: now) } else if request.moment != 0 { runs.modify(id) { $0.moment = request.moment } }
        for job in selected { renew(run: id, job, resume: false) }
        let ready = runs.modify(id) { $0.dependencies.reset(Set(selected)) }
        release(run: id, jobs: ready, now: now)
        touch(id)
        let others = selected.count - 1
        return answer(request, .ok, "run \(id): rerunning \(job.name)" + (others > 0 ? " and \(others) job\(others == 1 ? "" : "s") after it" : "") + freshNote(request))
    }

    /// Marks a job succeeded without running it (cancelling it if active), so that its successors run.
    private mutating func markSucceeded(_ request: OperationRequest, index: Int, now: Timestamp) -> OperationResult {
        let id = request.run
        let run = runs[id]!
        let job = run.jobs[index]
        if run.stopping { return answer(request, .conflict, "run \(id) is stopping") }
        if job.state == .succeeded { return answer(request, .ok, "job \(job.name) of run \(id) has already succeeded") }
        if job.state.isActive { sendControl(.cancelJob, run: id, job: job.name, now: now) }
        let skipped = run.graph.downstream(of: index).sorted().filter { run.jobs[$0].state == .skipped }
        if run.state.isFinal { reopen(id, moment: 0, now: now) }
        updateJob(run: id, index) {
            $0.generation += 1
            $0.state = .succeeded
            $0.accepted = true
            $0.status = nil
            $0.resume = false
            $0.detail = "marked succeeded by an operator"
        }
        dirtyJobs.insert(JobRef(run: id, job: index))
        for later in skipped { renew(run: id, later, resume: false) }
        var ready = runs.modify(id) { $0.dependencies.reset(Set(skipped)) }
        ready += runs.modify(id) { $0.dependencies.markSucceeded(index) }
        release(run: id, jobs: ready.sorted(), now: now)
        touch(id)
        return answer(request, .ok, "job \(job.name) of run \(id) marked succeeded" + (job.state.isActive ? " (its tasks are cancelled)" : ""))
    }

    private func freshNote(_ request: OperationRequest) -> String {
        request.moment != 0 ? ", with the fresh entry moment \(request.moment)" : ""
    }

    /// Makes an ended run open again for a rerun: running, its detail cleared, with a fresh entry moment
    /// when one is given.
    private mutating func reopen(_ id: UInt64, moment: UInt64, now: Timestamp) {
        runs.modify(id) {
            $0.state = .running
            $0.finished = .zero
            $0.detail = ""
            $0.stopping = false
            $0.held = heldProducts.contains($0.product)
            if moment != 0 { $0.moment = moment }
        }
        finishedOrder.removeAll { $0 == id }
        touch(id)
    }

    /// Makes a job wait for its next generation.
    private mutating func renew(run id: UInt64, _ index: Int, resume: Bool) {
        updateJob(run: id, index) {
            $0.generation += 1
            $0.state = .waiting
            $0.accepted = false
            $0.status = nil
            $0.resume = resume
            $0.detail = ""
        }
        dirtyJobs.insert(JobRef(run: id, job: index))
    }

    /// Notes that an operator changed the run: it is stored and published this turn.
    private mutating func touch(_ id: UInt64) {
        dirtyRuns.insert(id)
        runs.modify(id) { $0.announced = nil }
        noteChange(id)
    }
}

/// An orchestrator's settings.
public struct OrchestratorConfiguration: Sendable {
    /// The shards it submits to and subscribes to.
    public var shards: [UInt32]
    /// The name it publishes under.
    public var publisher = "flow"
    /// The first delay before a submission is sent again, and the longest, in milliseconds. A shard's
    /// restart resends at once; these are the safety net for a connection lost without one.
    public var resendInitial: Int64 = 10_000
    public var resendMaximum: Int64 = 60_000
    /// How long it may be idle before it sends BEACON.
    public var beaconInterval: Int64 = 1000
    /// How often, at most, a run whose job counts changed (and nothing else) is published, in
    /// milliseconds. A change of a run's state is published at once.
    public var progressInterval: Int64 = 200
    /// How long a shard's stream position may go unstored while its events change nothing durable.
    public var positionInterval: Int64 = 1000
    /// How long a shard may be silent before the orchestrator fetches from it.
    public var silence: Int64 = 3000
    /// The most messages asked for in one FETCH.
    public var fetchLimit: UInt32 = 1000
    /// Final runs kept in memory for RUN-QUERY; older ones are read from the store.
    public var finishedRunsInMemory = 1000
    /// How long a cancelled attempt may take to stop before it is killed, in milliseconds.
    public var cancelGrace: UInt32 = 5000

    public init(shards: [UInt32]) { self.shards = shards }
}

/// What one turn of the orchestrator produced: rows to commit, then messages to send.
public struct OrchestratorTurn: Sendable {
    /// Runs created or changed.
    public var runs: [FlowRun] = []
    /// Which of them were created this turn: only these carry their definition to the store.
    public var newRuns: Set<UInt64> = []
    /// Job rows to write: jobs submitted or final this turn.
    public var jobs: [FlowRunJobRow] = []
    /// Stream positions that moved.
    public var positions: [StreamPosition] = []
    /// Operation answers to remember.
    public var answers: [(UInt64, OperationResult)] = []
    /// Run statuses to log and publish.
    public var updates: RunUpdates?
    /// A heartbeat for the event stream.
    public var beacon: Beacon?
    /// Jobs to send to each shard.
    public var submits: [UInt32: [JobSpec]] = [:]
    /// Catch-up requests to each shard.
    public var fetches: [UInt32: Fetch] = [:]
    /// CONTROL requests to record as pending, those answered, and the CONTROLs to send after the commit.
    public var controls: [OrchestratorCore.PendingControl] = []
    public var answeredControls: [UInt64] = []
    public var controlSends: [(UInt32, Control)] = []
    /// The last CONTROL request ID, to store.
    public var lastControl: UInt64 = 0
    /// Products held (true) or released (false).
    public var holds: [String: Bool] = [:]
    /// Answers to peers of the `ops` ROUTER.
    public var replies: [(Peer, Message)] = []
    /// RUN-QUERYs for runs no longer in memory: answered from the store after the commit.
    public var storedQueries: [(Peer, RunQuery)] = []

    /// The most jobs in one SUBMIT.
    public static let submitBatch = 1000

    public init() {}

    /// Whether the turn has rows to commit.
    public var needsCommit: Bool {
        !runs.isEmpty || !jobs.isEmpty || !positions.isEmpty || !answers.isEmpty || updates != nil || !controls.isEmpty
            || !answeredControls.isEmpty || !holds.isEmpty
    }
}

/// A subscriber's durable position in a publisher's stream.
public struct StreamPosition: Equatable, Sendable {
    public var publisher: String
    public var epoch: UInt32
    public var sequence: UInt64

    public init(publisher: String, epoch: UInt32, sequence: UInt64) {
        self.publisher = publisher
        self.epoch = epoch
        self.sequence = sequence
    }
}

/// What an orchestrator's store holds, to resume from.
public struct OrchestratorSnapshot: Sendable {
    /// Runs not final (and recent final ones).
    public var runs: [FlowRun]
    /// Each shard's stream position.
    public var positions: [UInt32: (epoch: UInt32, sequence: UInt64)]
    /// Answers given to operation requests.
    public var answered: [UInt64: OperationResult]
    /// The last RUN-UPDATES sequence.
    public var sequence: UInt64
    /// CONTROL requests not answered, and the last request ID used.
    public var controls: [OrchestratorCore.PendingControl]
    public var lastControl: UInt64
    /// Products an operator held.
    public var heldProducts: Set<String> = []

    public init(
        runs: [FlowRun] = [], positions: [UInt32: (epoch: UInt32, sequence: UInt64)] = [:],
        answered: [UInt64: OperationResult] = [:], sequence: UInt64 = 0, controls: [OrchestratorCore.PendingControl] = [],
        lastControl: UInt64 = 0
    ) {
        self.runs = runs
        self.positions = positions
        self.answered = answered
        self.sequence = sequence
        self.controls = controls
        self.lastControl = lastControl
    }
}

extension OrchestratorTurn: ServiceTurn {
    /// The beacon, then each shard's submissions (in SUBMITs of ``submitBatch`` jobs), catch-up requests
    /// and CONTROLs, then the answers to management.
    public var deliveries: [Delivery] {
        var deliveries: [Delivery] = []
        if let beacon { deliveries.append(Delivery(.beacon(beacon), to: .stream)) }
        for shard in submits.keys.sorted() {
            let jobs = submits[shard]!
            var start = 0
            while start < jobs.count {
                let batch = Array(jobs[start..<min(start + Self.submitBatch, jobs.count)])
                deliveries.append(Delivery(.submit(Submit(jobs: batch)), to: .submissions(shard: shard)))
                start += Self.submitBatch
            }
        }
        for shard in fetches.keys.sorted() { deliveries.append(Delivery(.fetch(fetches[shard]!), to: .shard(shard))) }
        for (shard, control) in controlSends { deliveries.append(Delivery(.control(control), to: .shard(shard))) }
        for (peer, message) in replies { deliveries.append(Delivery(message, to: .peer(peer))) }
        return deliveries
    }
}
