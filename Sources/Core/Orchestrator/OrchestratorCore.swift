public import Wire

/// The orchestrator's state machine: it runs each flow run's DAG, submitting every job to the shard
/// its product is bound to when the job's last predecessor has succeeded.
///
/// Invariants:
/// - A job is submitted when it is released, and released exactly once per generation, however many
///   times a shard reports its predecessors' success (``Dependencies``).
/// - A submitted job stays "sent, not accepted" until its shard reports any status for its identity, and
///   is sent again until then: PUSH is not a receipt. A live shard on a live connection loses nothing,
///   so the job is resent at once when its shard restarts (a new epoch on its stream), and otherwise
///   only on the resend policy, whose waits are long and doubling: resending a backlog the shard is
///   still working through would only make it longer.
/// - A job no shard would take, over a limit of the protocol, is never sent: it fails when it would be
///   sent (when released, or, for one a restart released, when first due), the limit named. A SUBMIT that
///   held it would be dropped whole, every time it was sent again.
/// - A job that reached a final state never changes again until an operator reruns it.
/// - Only contiguous messages of a shard's event stream are applied (``ShardStreams``).
///
/// Its parts: the runs in memory (``RunTable``) and the rules of one run (`FlowRun+Rules.swift`), the
/// shards' streams (``ShardStreams``), and the operations (`OrchestratorCore+Operations.swift`) with
/// the CONTROLs they send (``ControlRequests``). Like the other cores it does no I/O and reads no clock.
public struct OrchestratorCore: Sendable {
    public let configuration: OrchestratorConfiguration
    /// One more at each start.
    public let epoch: UInt32
    /// Runs in memory: every run not final, and the most recent final ones.
    public internal(set) var runs = RunTable()
    /// Jobs sent to their shard again because it had not acknowledged them, since the start: for metrics.
    public internal(set) var resentJobs = 0
    /// Each shard's stream position.
    public private(set) var streams: ShardStreams
    /// The sequence number of the last RUN-UPDATES.
    public private(set) var sequence: UInt64
    /// Answers already given, by request ID.
    var answers: OperationAnswers
    /// CONTROL requests sent to shards and not answered yet.
    var controls: ControlRequests
    /// Products an operator held: their runs, and runs started while held, are paused until released.
    public internal(set) var heldProducts: Set<String>
    /// Products held (true) or released (false) this turn.
    var holdChanges: [String: Bool] = [:]
    /// The shard each moved product was last moved to: where the runs its moves hand over go.
    public internal(set) var productShards: [String: UInt32]
    /// Runs handed over and not yet taken over by their new shard: the TAKE-OVER, sent again until the
    /// shard reports every job of it; and those due to be sent this turn.
    public internal(set) var takeOvers: [UInt64: PendingTakeOver]
    var takeOversDue: Set<UInt64> = []
    var takeOverChanges: [UInt64: PendingTakeOver?] = [:]
    /// Open runs of moved products that are not on their product's shard, asked again to be handed over
    /// (``askStrays(now:)``); when each was last asked, and when they are looked at next.
    var strays: Set<UInt64> = []
    /// The questions about the ends of jobs of ended runs (report-job): where the next starts, and the
    /// jobs their shard said it has not.
    var missedEnds = MissedEnds()
    var lastAsked: [UInt64: Timestamp] = [:]
    var nextStrayCheck = Timestamp.zero
    var strayCursor: UInt64 = 0
    /// Those set this turn.
    var productShardChanges: [String: UInt32] = [:]
    /// Runs handed over while tasks of them ran, whose ends are relayed from their old shard to their new
    /// one (`OrchestratorCore+Relay.swift`); those changed this turn; the PARTITIONS-ENDED on their way, by
    /// request, and those to send; runs to ask again once what is on its way is answered; the last request
    /// ID given (numbered from the epoch's, apart from CONTROL's, so that an answer to one sent before a
    /// restart never answers another); and when relays are looked at next.
    public internal(set) var relays: [UInt64: Relay]
    var relayChanges: [UInt64: Relay?] = [:]
    var relaySends: [UInt64: RelaySend] = [:]
    var relayDeliveries: [(UInt32, PartitionsEnded)] = []
    var relayAgain: Set<UInt64> = []
    var lastRelayRequest: UInt64
    var nextRelayCheck = Timestamp.zero
    /// Relays done, by run, with the shard they ended at, while their runs are open: if that shard loses
    /// the commits that took their last ends (a power loss under `durability normal`), it is told again.
    var endedRelays: [UInt64: UInt32] = [:]
    /// The flow versions runs were started with.
    var flows = ParsedFlows()
    /// Jobs submitted and not accepted, by when they are due to be sent again.
    private var resubmissions = MinHeap<Resubmission>()
    private var lastPublished: Timestamp
    /// Runs whose counts changed since their last status was published, and when they are published.
    private var progressing: Set<UInt64> = []
    private var progressDue: Timestamp?

    // What the current turn has produced.
    var dirtyRuns = TurnSet<UInt64>()
    var newRuns: Set<UInt64> = []
    /// The jobs changed, released and succeeded.
    var turnJobs = TurnJobs()
    /// Runs whose jobs released without a row get their rows this turn: an operator acted on the run or a
    /// hand-over moved it (``touch(_:)``), or it ended. A restart releases such a job again only while its
    /// run is as it was (``FlowRunJob/stored``).
    var flushedRuns = TurnSet<UInt64>()
    private var changedRuns: [UInt64] = []
    private var changedRunSet: Set<UInt64> = []
    private var submits: [UInt32: [JobSpec]] = [:]
    /// Jobs failed this turn because no shard would take them.
    private var unsent: [JobStatus] = []
    var replies: [(Peer, Message)] = []
    /// Management's questions to shards, waiting for their answers.
    var shardQueries: ShardQueryRelay
    /// RUN-QUERYs of this turn, answered as the turn ends, once all of its changes are in.
    var queries: [(Peer, RunQuery)] = []

    struct JobRef: Hashable, Sendable {
        var run: UInt64
        var job: Int
    }

    /// A job due to be sent at `time`, unless its resend schedule or its run's priority has moved since
    /// (the entry is then skipped: the heap is never searched). Jobs due at the same time go by their
    /// run's priority (``RunPriority``), then by run and job: a product's release, or a restart, lets go
    /// many runs' jobs at once, a bounded number a turn, and an urgent run's go first.
    struct Resubmission: Comparable, Sendable {
        var time: Timestamp
        var priority: UInt8
        var run: UInt64
        var job: Int

        init(time: Timestamp, of run: FlowRun, job: Int) {
            self.init(time: time, priority: run.priority, run: run.id, job: job)
        }

        init(time: Timestamp, priority: UInt8, run: UInt64, job: Int) {
            (self.time, self.priority, self.run, self.job) = (time, priority, run, job)
        }

        static func < (lhs: Resubmission, rhs: Resubmission) -> Bool {
            (lhs.time, lhs.priority, lhs.run, lhs.job) < (rhs.time, rhs.priority, rhs.run, rhs.job)
        }
    }

    /// An orchestrator resuming from its store (empty for a new one).
    public init(configuration: OrchestratorConfiguration, epoch: UInt32, restoring snapshot: consuming OrchestratorSnapshot, now: Timestamp) {
        self.configuration = configuration
        self.epoch = epoch
        self.shardQueries = ShardQueryRelay(epoch: epoch)
        sequence = snapshot.sequence
        answers = OperationAnswers(snapshot.answered)
        lastPublished = now
        heldProducts = snapshot.heldProducts
        productShards = snapshot.productShards
        takeOvers = snapshot.takeOvers
        takeOversDue = Set(snapshot.takeOvers.keys)
        relays = snapshot.relays
        lastRelayRequest = 1 << 63 | UInt64(epoch) << 32
        controls = ControlRequests(restoring: snapshot.controls, last: snapshot.lastControl, now: now, policy: configuration.resend)
        streams = ShardStreams(configuration: configuration, positions: snapshot.positions, now: now)
        // Each run moved out of the snapshot, not copied: a copy would share its jobs with the snapshot's, and
        // the first change to them would copy them all, holding every run twice while the snapshot lives.
        var restored = snapshot.runs
        snapshot.runs = []
        restored.reverse()
        while var run = restored.popLast() {
            // Submitted jobs not final are sent again at once: whether the shard took them is unknown.
            for index in run.sendActiveAgain(now: now, policy: configuration.resend) {
                resubmissions.insert(Resubmission(time: now, of: run, job: index))
            }
            runs.add(run)
        }
        for (id, relay) in relays { runs.modify(id) { $0.finishingOn = relay.source } }
        // Runs left on an old shard by a move are asked again: whether they were asked before is unknown.
        for id in runs.ids(where: { run in !run.state.isFinal && snapshot.productShards[run.product].map { $0 != run.shard } ?? false }) {
            strays.insert(id)
        }
        // A job whose predecessors all succeeded but which was not released is released now, and sent
        // with the jobs sent again above: by ``tick(now:)``, a bounded number a turn.
        for id in runs.ids {
            let ready = runs.modify(id) { $0.dependencies.start() } ?? []
            releaseRestored(run: id, jobs: ready, now: now)
        }
        // Runs that ended with jobs still active: an end that came while the run was out of memory (this
        // restart, or before it) was not applied, and such a job would stay active for ever. Their shards
        // are asked for those jobs' statuses (report-job), which the runs, held in memory, take; nothing
        // of them is submitted or released.
        var ended = snapshot.endedRuns
        snapshot.endedRuns = []
        ended.reverse()
        while let run = ended.popLast() {
            guard run.state.isFinal, runs[run.id] == nil else { continue }
            runs.add(run)
            askForEnds(of: run, now: now)
        }
    }

    /// Releases jobs of a run read back at a start (``releaseInTurns(_:jobs:now:unsent:)``): whether the
    /// process before sent them is unknown. Released at once, a million jobs were a million specs built
    /// and sent in the first turn: the orchestrator answered nothing for seconds, with a gigabyte of specs
    /// and SUBMITs in memory.
    private mutating func releaseRestored(run id: UInt64, jobs released: [Int], now: Timestamp) {
        guard !released.isEmpty, var run = runs.take(id) else { return }
        releaseInTurns(&run, jobs: released, now: now, unsent: false)
        runs.put(run)
    }

    /// Whether the run is in memory; the runtime answers RUN-QUERY for other runs from the store.
    public func holds(run: UInt64) -> Bool { runs[run] != nil }

    /// Forgets the final runs retention deleted from the store: an action on one is answered as on a
    /// run unknown, not applied to a run no row would keep.
    public mutating func forgetDeleted(runs deleted: [UInt64]) {
        for id in deleted { runs.forget(id) }
    }

    // MARK: - Submitting

    /// Releases jobs of a run in memory: submits them to its shard, or parks them while the run is paused
    /// or held. The run is changed in place (``RunTable/modify(_:_:)``).
    private mutating func release(run id: UInt64, jobs released: [Int], now: Timestamp) {
        guard !released.isEmpty else { return }
        let policy = configuration.resend
        guard let submitting = runs.modify(id, { $0.release(released, now: now, policy: policy) }), !submitting.isEmpty,
            let run = runs[id]
        else { return }
        for failure in submitted(submitting, of: run, now: now) { apply(failure, now: now) }
    }

    /// Releases jobs of a run an operator action holds (``RunTable/take(_:)``).
    mutating func release(_ run: inout FlowRun, jobs released: [Int], now: Timestamp) {
        guard !released.isEmpty else { return }
        let submitting = run.release(released, now: now, policy: configuration.resend)
        for failure in submitted(submitting, of: run, now: now) {
            if let outcome = run.apply(failure, now: now) { applied(outcome, of: failure, shard: run.shard, now: now) }
        }
    }

    /// Releases jobs of a run taken out of the table, as ``release(_:jobs:now:)`` does, but sends them
    /// through ``tick(now:)``: each is due at once (``FlowRun/releaseDue(_:now:policy:unsent:)``), and
    /// tick sends at most ``OrchestratorConfiguration/resendsPerTurn`` a turn, with whatever else is due,
    /// starting in this turn. For the jobs a restart releases, and those parked while a run was paused or
    /// held, which its resume, or its product's release, lets go all at once (`unsent`: none can have
    /// gone): a product's runs may hold millions, which in one turn were as many specs built and sent
    /// before the orchestrator answered anything else.
    mutating func releaseInTurns(_ run: inout FlowRun, jobs released: [Int], now: Timestamp, unsent: Bool) {
        guard !released.isEmpty else { return }
        // A run being taken over sends what it releases with its take-over, as it always did.
        if takeOvers[run.id] != nil { return release(&run, jobs: released, now: now) }
        for index in run.releaseDue(released, now: now, policy: configuration.resend, unsent: unsent) {
            turnJobs.mark(JobRef(run: run.id, job: index), [.changed, .released])
            resubmissions.insert(Resubmission(time: now, of: run, job: index))
        }
        noteChange(run.id)
    }

    /// Puts a run's jobs waiting to be sent (a release of many at once goes a bounded number a turn) or
    /// sent again in the heap again at the run's priority, now changed, each at its due time. Their
    /// entries at the old priority are skipped (``tick(now:)``).
    mutating func reprioritiseSends(of run: FlowRun) {
        for index in run.jobs.indices where run.jobs[index].state.isActive && !run.jobs[index].accepted {
            guard let due = run.jobs[index].resend?.due else { continue }
            resubmissions.insert(Resubmission(time: due, of: run, job: index))
        }
    }

    /// Sends jobs just marked submitted to the run's shard, due again on their resend schedules, and
    /// marks them released for the store (``addRow(of:_:to:)``). A job no shard would take
    /// (``JobSpec/limitProblem``) is not sent: it would be dropped with every job of its SUBMIT, each time
    /// it was sent again, and its run would never end. It fails instead, as if its shard had failed it, the
    /// limit named; the statuses to apply are returned, and logged with the turn (``OrchestratorTurn/unsent``).
    private mutating func submitted(_ released: [Int], of run: FlowRun, now: Timestamp) -> [JobStatus] {
        var failures: [JobStatus] = []
        for index in released {
            let spec = run.spec(of: index)
            turnJobs.mark(JobRef(run: run.id, job: index), [.changed, .released])
            if let failure = Self.unsendable(spec, now: now) {
                failures.append(failure)
                unsent.append(failure)
                continue
            }
            if var pending = takeOvers[run.id], pending.takeOver.jobs.count < Limits.submitJobs {
                // Its run's take-over is not yet complete: the job goes with it, after the results it
                // brings, and is acknowledged with it.
                pending.takeOver.jobs.removeAll { $0.job == spec.job }
                pending.takeOver.jobs.append(spec)
                takeOvers[run.id] = pending
                takeOverChanges[run.id] = pending
                takeOversDue.insert(run.id)
            } else {
                submits[run.shard, default: []].append(spec)
            }
            if let resend = run.jobs[index].resend { resubmissions.insert(Resubmission(time: resend.due, of: run, job: index)) }
        }
        noteChange(run.id)
        return failures
    }

    /// The failure of a job no shard would take (``JobSpec/limitProblem``), the limit named; nil for one a
    /// shard takes.
    private static func unsendable(_ spec: JobSpec, now: Timestamp) -> JobStatus? {
        guard let problem = spec.limitProblem else { return nil }
        return JobStatus(
            run: spec.run, job: spec.job, generation: spec.generation, state: .failed, finished: now.wire, time: now.wire,
            detail: "not submitted: no shard takes it (\(problem))")
    }

    // MARK: - The shards' event streams

    /// Handles JOB-UPDATES from a shard, live or fetched.
    public mutating func updatesReceived(_ updates: JobUpdates, from shard: UInt32, now: Timestamp) {
        guard let heard = streams.received(updates, from: shard, now: now) else { return }
        follow(heard, of: shard, now: now)
        guard heard.apply else { return }
        for status in updates.updates {
            apply(status, now: now)
            // A task of a run handed over ended on the shard it left: its end is asked for at once.
            if relays[status.run]?.source == shard { askRelay(status.run, now: now) }
        }
    }

    /// Handles BEACON from a shard.
    public mutating func beaconReceived(_ beacon: Beacon, from shard: UInt32, now: Timestamp) {
        guard let heard = streams.beacon(beacon, from: shard, now: now) else { return }
        follow(heard, of: shard, now: now)
    }

    /// Handles FETCHED from a shard.
    public mutating func fetchedReceived(_ fetched: Fetched, from shard: UInt32, now: Timestamp) {
        guard let heard = streams.fetched(fetched, from: shard, now: now) else { return }
        follow(heard, of: shard, now: now)
    }

    /// Sends again what a shard's stream says may be lost: every job not known final when the shard no
    /// longer has what was missed, and at once what it had not accepted when it restarted.
    private mutating func follow(_ heard: ShardStreams.Heard, of shard: UInt32, now: Timestamp) {
        guard heard.restarted || heard.resynchronise else { return }
        if heard.restarted {
            // Requests on their way to it may be lost with its connection: they go again now.
            controls.expedite(shard: shard, now: now)
            expediteRelays(to: shard, now: now)
        }
        let policy = configuration.resend
        for id in runs.ids {
            let again =
                runs.modify(id) { run -> [Resubmission] in
                    guard run.shard == shard else { return [] }
                    let indices = heard.resynchronise ? run.sendActiveAgain(now: now, policy: policy) : run.expediteUnaccepted(now: now)
                    return indices.map { Resubmission(time: now, of: run, job: $0) }
                } ?? []
            for resubmission in again { resubmissions.insert(resubmission) }
        }
    }

    /// Applies one job status from a shard (``FlowRun/apply(_:now:)``), then stores, cancels and
    /// releases what it asks for.
    private mutating func apply(_ status: JobStatus, now: Timestamp) {
        guard let (outcome, shard) = runs.modify(status.run, { run in run.apply(status, now: now).map { ($0, run.shard) } }) ?? nil
        else { return }
        applied(outcome, of: status, shard: shard, now: now)
        // A take-over this status completes is done first: the jobs it releases then go on their own.
        if takeOvers[status.run] != nil { takeOverProgressed(status.run, now: now) }
        release(run: status.run, jobs: outcome.released, now: now)
    }

    /// Stores and cancels what a status applied to a run asks for; the jobs it released are the caller's.
    mutating func applied(_ outcome: FlowRun.StatusOutcome, of status: JobStatus, shard: UInt32, now: Timestamp) {
        let id = status.run
        if outcome.cancelJob { sendControl(.cancelJob, run: id, shard: shard, job: status.job, generation: status.generation, now: now) }
        if status.state.isFinal {
            turnJobs.mark(JobRef(run: id, job: outcome.index), status.state == .succeeded ? [.changed, .succeeded] : .changed)
        }
        for index in outcome.skipped { turnJobs.mark(JobRef(run: id, job: index), .changed) }
        if outcome.cancelRun { sendControl(.cancelRun, run: id, shard: shard, now: now) }
        noteChange(id)
    }

    /// Sends CONTROL to `shard` about a run, committed first and sent again until answered. A cancel goes
    /// also to the shard the run was handed over from while tasks of it still finish there. A cancel-job
    /// names its job's `generation`: a later one, a rerun's, is not the one meant, should the control reach
    /// the shard after it.
    mutating func sendControl(_ action: ControlAction, run id: UInt64, shard: UInt32, job: String = "", generation: UInt32 = 0, now: Timestamp) {
        let control = Control(request: 0, action: action, run: id, job: job, grace: configuration.cancelGrace, generation: generation)
        let shards = action == .cancelRun || action == .cancelJob ? cancelShards(of: id, shard: shard) : [shard]
        for shard in shards { controls.send(control, to: shard, now: now, policy: configuration.resend) }
    }

    /// Handles CONTROL-RESULT from a shard: a PARTITIONS-ENDED taken, or a hand-over refused (the run stays).
    public mutating func controlResultReceived(_ result: ControlResult, now: Timestamp) {
        if isRelayRequest(result.request) { return relayTaken(result.request, now: now) }
        guard let sent = controls.answer(result.request) else { return }
        if sent.control.action == .handOver { handOverRefused(sent, status: result.status, now: now) }
        if sent.control.action == .reportJob && result.status == .notFound { missedEnds.unknown(sent.control, at: sent.shard) }
    }

    /// Handles HANDED-OVER from a shard: the run it gave up goes to its product's shard, or the ends of
    /// its tasks that finished there go to the shard that took it over.
    public mutating func handedOverReceived(_ handed: HandedOver, now: Timestamp) {
        guard let sent = controls.answer(handed.request), sent.control.action == .handOver, sent.control.run == handed.run else { return }
        if isRelayAnswer(sent) { return relayAnswered(handed.run, handed, now: now) }
        handOverAnswered(sent, handed, now: now)
    }

    /// Waits on the resend schedules of jobs a take-over sent, as on those of submitted jobs.
    mutating func scheduleResends(_ indices: [Int], of run: FlowRun) {
        for index in indices {
            turnJobs.mark(JobRef(run: run.id, job: index), .changed)
            if let resend = run.jobs[index].resend { resubmissions.insert(Resubmission(time: resend.due, of: run, job: index)) }
        }
        noteChange(run.id)
    }

    // MARK: - Time

    /// Sends again what no shard acknowledged, and fetches from silent shards.
    public mutating func tick(now: Timestamp) {
        if let due = shardQueries.deadline, due <= now { expireShardQueries(now: now) }
        let policy = configuration.resend
        var budget = configuration.resendsPerTurn
        while budget > 0, let due = resubmissions.min, due.time <= now {
            _ = resubmissions.popMin()
            let carrying = takeOvers[due.run]?.takeOver.jobs
            // Read in the run's place: a run copied out would retain, then release, every reference in it.
            let resent = runs.modify(due.run) { run -> (spec: JobSpec?, next: ResendSchedule, shard: UInt32, first: Bool, priority: UInt8)? in
                // A resumed run's job goes for the first time: it is not counted as sent again.
                let first = run.jobs.indices.contains(due.job) && run.jobs[due.job].unsent
                // An entry at a priority the run no longer has was put in again at its new one.
                guard due.priority == run.priority, run.resend(due.job, dueAt: due.time, now: now, policy: policy),
                    let next = run.jobs[due.job].resend
                else { return nil }
                let name = run.jobs[due.job].name
                // A job a take-over carries goes again with it: sent alone, it would start afresh.
                let carried = carrying?.contains(where: { $0.job == name }) == true
                return (carried ? nil : run.spec(of: due.job), next, run.shard, first, run.priority)
            }
            guard case let resent?? = resent else { continue }
            if let spec = resent.spec {
                // A job a restart released is first sent here. One no shard would take fails, as at a release:
                // a shard would drop the SUBMIT that held it, each time.
                if let failure = Self.unsendable(spec, now: now) {
                    unsent.append(failure)
                    apply(failure, now: now)
                    continue
                }
                submits[resent.shard, default: []].append(spec)
            } else {
                takeOversDue.insert(due.run)
            }
            budget -= 1
            if !resent.first { resentJobs += 1 }
            resubmissions.insert(Resubmission(time: resent.next.due, priority: resent.priority, run: due.run, job: due.job))
        }
        controls.tick(now: now, policy: policy)
        streams.tick(now: now)
        askStrays(now: now)
        tickRelays(now: now)
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        var next = lastPublished.adding(milliseconds: configuration.beaconInterval)
        if let progressDue { next = min(next, progressDue) }
        if let due = resubmissions.min { next = min(next, due.time) }
        if let due = controls.nextDeadline() { next = min(next, due) }
        if !strays.isEmpty { next = min(next, nextStrayCheck) }
        if !relays.isEmpty { next = min(next, nextRelayCheck) }
        if let due = shardQueries.deadline { next = min(next, due) }
        return min(next, streams.nextDeadline())
    }

    // MARK: - The end of a turn

    mutating func noteChange(_ run: UInt64) {
        if changedRunSet.insert(run).inserted { changedRuns.append(run) }
    }

    /// Adds the row to write for a job changed or succeeded this turn, if its run is still held; none for
    /// a job's first release in a run nothing else touched, which is written, and counted, with the job's
    /// end (``FlowRunJob/stored``). That is one row write a job instead of two, the orchestrator's largest
    /// cost.
    private mutating func addRow(of ref: JobRef, _ marks: TurnJobs.Marks, to rows: inout [FlowRunJobRow]) {
        let released = marks.contains(.released)
        let succeeded = marks.contains(.succeeded)
        let plain = !flushedRuns.contains(ref.run)
        // Nil when the run has left memory, or when the row waits for the job's end.
        let row = runs.modify(ref.run) { run -> FlowRunJobRow? in
            let job = run.jobs[ref.job]
            if released, plain, !run.isParking, !run.state.isFinal, !succeeded, !job.stored, job.state == .submitted, job.generation == 0,
                !job.resume, job.detail.isEmpty
            {
                run.updateJob(ref.job) { $0.releaseUnstored = true }
                return nil
            }
            run.updateJob(ref.job) {
                $0.stored = true
                $0.releaseUnstored = false
            }
            return FlowRunJobRow(run: ref.run, index: ref.job, job: job, released: released || job.releaseUnstored, succeeded: succeeded)
        }
        if case let row?? = row { rows.append(row) }
    }

    /// Ends the turn: derives the state of changed runs and returns what to commit, then what to send.
    public mutating func finishTurn(now: Timestamp) -> OrchestratorTurn {
        var turn = OrchestratorTurn()
        var updates: [RunStatus] = []
        for id in changedRuns {
            // An operator's action (a job marked succeeded, a rerun) may leave a take-over nothing to wait
            // for, which no status of the new shard would then say.
            if takeOvers[id] != nil { takeOverProgressed(id, now: now) }
            switch runs.modify(id, { $0.announce(now: now) }) {
            case nil:
                continue
            case .progress?:
                // Only the counts moved: published with the next progress report.
                if progressing.insert(id).inserted && progressDue == nil {
                    progressDue = now.adding(milliseconds: configuration.progressInterval)
                }
            case .changed(let status, let ended)?:
                if ended {
                    flushedRuns.insert(id)
                    runs.ended(id)
                    // A take-over still waiting for a job to carry has none to wait for any more.
                    if takeOvers[id] != nil {
                        takeOvers[id] = nil
                        takeOverChanges[id] = .some(nil)
                        takeOversDue.remove(id)
                    }
                }
                dirtyRuns.insert(id)
                progressing.remove(id)
                updates.append(status)
            }
        }
        if let due = progressDue, due <= now {
            for id in progressing.sorted() { if let run = runs[id] { updates.append(run.status(now: now)) } }
            progressing = []
            progressDue = nil
        }
        if !updates.isEmpty {
            // In messages of at most 8 MiB of statuses each, as a shard's: one message over the frame limit
            // would stop every subscriber at it.
            for batch in RunUpdates.batches(updates, budget: configuration.statusBudget) {
                sequence += 1
                turn.updateMessages.append(RunUpdates(publisher: configuration.publisher, epoch: epoch, sequence: sequence, updates: batch))
            }
            lastPublished = now
        } else if now.since(lastPublished) >= configuration.beaconInterval {
            turn.beacon = Beacon(publisher: configuration.publisher, epoch: epoch, sequence: sequence)
            lastPublished = now
        }
        turn.runs = dirtyRuns.compactMap { runs[$0] }
        turn.newRuns = newRuns
        // The jobs of touched or ended runs released without a row get theirs now.
        for id in flushedRuns {
            guard let run = runs[id] else { continue }
            for index in run.jobs.indices where run.jobs[index].releaseUnstored { turnJobs.mark(JobRef(run: id, job: index), .changed) }
        }
        // Every job changed or succeeded, once, in the order the turn first touched it.
        turn.jobs = []
        turn.jobs.reserveCapacity(turnJobs.refs.count)
        for (ref, marks) in zip(turnJobs.refs, turnJobs.marks) { addRow(of: ref, marks, to: &turn.jobs) }
        (turn.controls, turn.answeredControls, turn.controlSends) = controls.takeTurn()
        turn.lastControl = controls.last
        turn.holds = holdChanges
        turn.productShards = productShardChanges
        turn.takeOvers = takeOverChanges
        turn.takeOverSends = takeOversDue.sorted().compactMap { takeOvers[$0] }
        turn.relays = relayChanges
        turn.relaySends = relayDeliveries
        turn.shardQuerySends = shardQueries.sends
        shardQueries.sends = []
        turn.answers = answers.takeNew()
        turn.positions = streams.positionsToStore(committing: turn.needsCommit, now: now)
        turn.submits = submits
        turn.unsent = unsent
        turn.fetches = streams.takeFetches()
        for (peer, query) in queries {
            if let detail = detail(answering: query) {
                replies.append((peer, .runDetail(detail)))
            } else {
                turn.storedQueries.append((peer, query))
            }
        }
        queries = []
        turn.replies = replies
        runs.forgetFinished(keeping: configuration.finishedRunsInMemory)
        dirtyRuns.clearForNextTurn()
        newRuns = []
        turnJobs.clearForNextTurn()
        flushedRuns.clearForNextTurn()
        changedRuns = []
        changedRunSet = []
        holdChanges = [:]
        productShardChanges = [:]
        takeOverChanges = [:]
        takeOversDue = []
        relayChanges = [:]
        relayDeliveries = []
        submits = [:]
        unsent = []
        replies = []
        return turn
    }
}
