public import Wire

/// The shard broker's state machine: a durable job queue that leases tasks to workers.
///
/// The shard accepts jobs from the orchestrator, splits each into tasks (one per partition of its
/// current step), hands tasks to workers that have credit, records their results, retries failed
/// attempts with backoff, takes back the leases of workers that go silent, and reports every change
/// of a job's status as one numbered JOB-UPDATES message per turn.
///
/// Invariants:
/// - A task is leased to at most one worker at a time, and each lease has a new attempt number.
/// - Only a result for a task's current attempt, while it runs, changes anything.
/// - A worker never receives more tasks than the credit it gave.
/// - Nothing leaves the shard before the turn that produced it is committed: events only fill the
///   turn; ``finishTurn(now:)`` hands the rows to commit and the messages to send afterwards.
///
/// The core does no I/O and reads no clock: the runtime feeds it decoded messages and `now`.
public struct ShardCore: Sendable {
    public let configuration: ShardConfiguration
    /// One more at each start of the shard.
    public let epoch: UInt32
    /// Jobs not yet final, and final ones until the end of the turn that finished them, by their ID: an
    /// integer hashes faster than an identity with a name in it, and every task names its job's ID.
    public private(set) var jobs: [Int64: ShardJob] = [:]
    /// The IDs of those jobs by identity, for submissions.
    private var byIdentity: [JobIdentity: Int64] = [:]
    /// The tasks of those jobs.
    public private(set) var tasks: [UInt64: ShardTask] = [:]
    /// The sequence number of the last JOB-UPDATES message.
    public private(set) var sequence: UInt64

    private var queue: FairQueue
    /// Runs an operator paused: their pending tasks are not handed out (they leave the queue as it is
    /// read) until the run is resumed and they are queued again.
    public private(set) var pausedRuns: Set<UInt64>
    /// Run priorities an operator changed, by run, with how many of the run's jobs the shard holds: they
    /// override the priority a job is submitted with, which a submission sent before the change may still
    /// carry, and are forgotten with the run's last job.
    private var runPriorities: [UInt64: (priority: UInt8, jobs: Int)] = [:]
    private var retries = MinHeap<Due>()
    private var workers: [Peer: WorkerSession] = [:]
    /// Registration order, for handing out work in turn.
    private var workerOrder: [Peer] = []
    /// Workers told of pending work (DEMAND) that have not been told it is over.
    private var demanded: Set<Peer> = []
    private var workerTurn = 0
    /// Running tasks whose worker has not registered since the shard started, by worker name.
    private var orphans: [String: Set<UInt64>] = [:]
    private var nextTaskID: UInt64
    private var nextJobID: Int64
    private var lastPublished: Timestamp
    private var random: SplitMix64

    // What the current turn has produced.
    private var dirtyJobs: Set<Int64> = []
    private var dirtyTasks: Set<UInt64> = []
    /// Rows of tasks written but not held in memory: a resumed job's copies of its earlier generation's results.
    private var carriedRows: [ShardTask] = []
    /// Runs paused (true) or resumed (false) this turn.
    private var pauseChanges: [UInt64: Bool] = [:]
    /// Run priorities changed this turn, and those forgotten.
    private var priorityChanges: [UInt64: UInt8] = [:]
    private var forgottenPriorities: Set<UInt64> = []
    /// Product policies set this turn.
    private var policyChanges: [String: ProductPolicy] = [:]
    /// The ID of the last claimed set leased: numbered from the epoch's, so that sets of another start
    /// of the shard, whose attempts may still run on a worker, never share an ID with this one's.
    private var lastSet: UInt64
    private var succeededTasks: Set<UInt64> = []
    private var changed: [Int64] = []
    private var changedSet: Set<Int64> = []
    /// How many of `changed` have been settled this turn.
    private var settled = 0
    private var announced: [JobStatus] = []
    private var outbox: [(Peer, Message)] = []
    private var receipts: [Peer: [TaskRef]] = [:]

    struct Due: Comparable, Sendable {
        var time: Timestamp
        var task: UInt64
        static func < (lhs: Due, rhs: Due) -> Bool { (lhs.time, lhs.task) < (rhs.time, rhs.task) }
    }

    struct WorkerSession: Sendable {
        var peer: Peer
        var name: String
        var session: UInt64
        var capabilities: Capabilities
        /// The most tasks in one set, by handler, for the handlers it takes sets for.
        var sets: [String: Int]
        var credit: Int
        var heartbeat: Int64
        var lastHeard: Timestamp
        var lastSent: Timestamp
        var leases: Set<UInt64> = []
        /// When to look again whether this worker, out of credit, should be told there is work (DEMAND).
        var nextDemand: Timestamp = .zero
    }

    /// A shard with an empty store.
    public init(configuration: ShardConfiguration, epoch: UInt32, now: Timestamp) {
        self.init(configuration: configuration, epoch: epoch, restoring: ShardSnapshot(), now: now)
    }

    /// A shard resuming from its store: pending tasks are queued again, retrying ones wait for their
    /// backoff, and running ones keep their leases for a grace period in which their workers may register
    /// again; after it they are taken back.
    public init(configuration: ShardConfiguration, epoch: UInt32, restoring snapshot: ShardSnapshot, now: Timestamp) {
        self.configuration = configuration
        self.epoch = epoch
        self.sequence = snapshot.sequence
        self.nextTaskID = snapshot.nextTaskID
        self.nextJobID = snapshot.nextJobID
        self.lastPublished = now
        self.pausedRuns = snapshot.paused
        self.lastSet = UInt64(epoch) << 32
        self.random = SplitMix64(seed: configuration.seed ^ UInt64(epoch))
        self.queue = FairQueue(tuning: FairQueue.Tuning(configuration))
        for policy in snapshot.policies { queue.setPolicy(policy, now: now) }
        // Only tasks that were leased are stored; the job implies the rest of its step, pending.
        var stored: [Int64: [UInt32: ShardTask]] = [:]
        for task in snapshot.tasks { stored[task.jobID, default: [:]][task.partition] = task }
        let grace = now.adding(milliseconds: restartGrace)
        for var job in snapshot.jobs {
            if let priority = snapshot.priorities[job.spec.run] {
                job.spec.runPriority = priority
                runPriorities[job.spec.run, default: (priority, 0)].jobs += 1
            }
            let partitions = job.spec.steps[Int(job.step)].partitions
            let known = stored[job.id] ?? [:]
            job.tasks = []
            job.tasks.reserveCapacity(Int(partitions))
            job.counts = TaskCounts()
            for partition in 0..<partitions {
                var task = known[partition].flatMap { $0.step == job.step ? $0 : nil }
                    ?? ShardTask(id: nextTaskIDAfterRestore(), job: job.identity, jobID: job.id, step: job.step, partition: partition,
                                 order: Self.order(job: job.id, partition: partition))
                job.counts[task.state] += 1
                job.attempts = max(job.attempts, task.attempt)
                if task.started != .zero && (job.started == .zero || task.started < job.started) { job.started = task.started }
                switch task.state {
                case .pending: break
                case .retrying: retries.insert(Due(time: task.due, task: task.id))
                case .running:
                    task.charge = queue.restoredRunning(Self.work(of: job))
                    if var lease = task.lease {
                        lease.peer = nil
                        lease.expires = grace
                        task.lease = lease
                        orphans[lease.worker, default: []].insert(task.id)
                    }
                case .succeeded, .failed, .cancelled: break
                }
                job.tasks.append(task.id)
                tasks[task.id] = task
            }
            job.state = Self.state(of: job)
            job.requirement = Requirement(step: job.spec.steps[Int(job.step)], of: job.spec)
            jobs[job.id] = job
            byIdentity[job.identity] = job.id
            let pending = job.tasks.filter { tasks[$0]!.state == .pending }
            enqueue(pending, of: job, now: now)
        }
    }

    private mutating func nextTaskIDAfterRestore() -> UInt64 {
        defer { nextTaskID += 1 }
        return nextTaskID
    }

    /// A task's place in its product's queue: by job, then partition, so that order needs no counter
    /// of its own and survives a restart.
    static func order(job: Int64, partition: UInt32) -> UInt64 { UInt64(job) << 32 | UInt64(partition) }

    /// The state a job's counters imply while it is not final.
    static func state(of job: ShardJob) -> JobState {
        if job.state.isFinal { return job.state }
        if job.counts.running > 0 { return .running }
        if job.counts.pending > 0 { return .queued }
        if job.counts.retrying > 0 { return .retrying }
        return job.state
    }

    /// How long a lease restored after a restart waits for its worker: twice the time in which a
    /// silent worker is declared dead.
    var restartGrace: Int64 { 2 * Int64(configuration.liveness) * Int64(configuration.heartbeat) }

    /// Whether the shard holds `identity` in memory (a job not final, or finished this turn). The runtime
    /// asks the store about other identities before submitting them.
    public func knows(_ identity: JobIdentity) -> Bool { byIdentity[identity] != nil }

    /// The number of registered workers.
    public var workerCount: Int { workers.count }

    /// How many of a product's tasks count as running against its cap and share.
    public func runningTasks(of product: String) -> Int { queue.running(product) }

    // MARK: - Submissions

    /// Queues the new jobs of a SUBMIT, with what the store knows of them: `lookup` holds the status of
    /// identities the store has and memory does not, the results of upstream jobs new jobs name in `inputs`,
    /// and what earlier generations completed for jobs submitted with `resume`.
    public mutating func submitted(_ specs: [JobSpec], lookup: SubmissionLookup, now: Timestamp) {
        for var spec in specs {
            if let changed = runPriorities[spec.run] { spec.runPriority = changed.priority }
            let identity = spec.identity
            if let id = byIdentity[identity], let job = jobs[id] {
                announced.append(status(of: job, now: now))
            } else if let known = lookup.finished[identity] {
                announced.append(known)
            } else {
                var job = ShardJob(id: nextJobID, spec: spec)
                nextJobID += 1
                for name in spec.inputs { job.upstream[name] = lookup.results[RunJob(run: spec.run, job: name)] ?? [] }
                if spec.resume == 1, let carried = lookup.carried[identity], Int(carried.step) < spec.steps.count {
                    resume(&job, from: carried, now: now)
                } else {
                    createTasks(of: &job, now: now)
                }
                jobs[job.id] = job
                byIdentity[identity] = job.id
                dirtyJobs.insert(job.id)
                noteChange(job.id)
                runPriorities[spec.run]?.jobs += 1
            }
        }
    }

    /// Starts a rerun where its earlier generation stopped: at the first step that did not complete,
    /// with that step's succeeded partitions carried over, results and all. The carried results are
    /// written again under the new job, so that everything of a generation is found under it.
    private mutating func resume(_ job: inout ShardJob, from carried: CarriedWork, now: Timestamp) {
        job.step = carried.step
        job.completed = carried.completed
        job.previous = carried.previous
        let done = Dictionary(carried.succeeded.map { ($0.partition, $0) }, uniquingKeysWith: { first, _ in first })
        createTasks(of: &job, now: now) { partition in done[partition] }
        if job.step > 0 {
            for input in carried.previous {
                var task = ShardTask(
                    id: nextTaskID, job: job.identity, jobID: job.id, step: job.step - 1, partition: input.partition, state: .succeeded,
                    order: Self.order(job: job.id, partition: input.partition), data: input.data)
                task.finished = now
                nextTaskID += 1
                carriedRows.append(task)
            }
        }
    }

    /// Creates the tasks of the job's current step, all pending but those `carried` gives a result for,
    /// which are succeeded already.
    private mutating func createTasks(of job: inout ShardJob, now: Timestamp, carried: (UInt32) -> TaskInput? = { _ in nil }) {
        let step = job.spec.steps[Int(job.step)]
        job.tasks = []
        job.tasks.reserveCapacity(Int(step.partitions))
        job.counts = TaskCounts()
        job.requirement = Requirement(step: step, of: job.spec)
        job.queued = now
        var queued: [UInt64] = []
        queued.reserveCapacity(Int(step.partitions))
        // Pending tasks are not stored: the job implies them. A task is stored at its first lease.
        for partition in 0..<step.partitions {
            var task = ShardTask(
                id: nextTaskID, job: job.identity, jobID: job.id, step: job.step, partition: partition,
                order: Self.order(job: job.id, partition: partition))
            nextTaskID += 1
            if let result = carried(partition) {
                task.state = .succeeded
                task.data = result.data
                task.finished = now
                job.counts.succeeded += 1
                dirtyTasks.insert(task.id)
            } else {
                job.counts.pending += 1
                queued.append(task.id)
            }
            job.tasks.append(task.id)
            tasks[task.id] = task
        }
        enqueue(queued, of: job, now: now)
    }

    /// Moves a job whose step completed to the next: the step's results become the next step's inputs,
    /// and its tasks leave memory (their rows stay in the store).
    private mutating func advance(_ job: inout ShardJob, now: Timestamp) {
        let step = job.spec.steps[Int(job.step)]
        var results: [TaskInput] = []
        results.reserveCapacity(job.tasks.count)
        for id in job.tasks {
            if let task = tasks.removeValue(forKey: id) {
                results.append(
                    TaskInput(job: job.spec.job, step: job.step, partition: task.partition, partitionKey: step.partitionKey(of: task.partition), data: task.data))
            }
        }
        assert(results.count == Int(step.partitions), "a completed step has a result for every partition")
        job.previous = results
        job.completed += UInt32(job.tasks.count)
        job.step += 1
        createTasks(of: &job, now: now)
    }

    /// The results a task receives: from the previous step of its job or, in the first step, from the
    /// upstream jobs its job names. From a step of as many partitions as the task's, only the result of
    /// the same partition; from any other, all of them.
    func inputs(of task: ShardTask, in job: ShardJob) -> [TaskInput] {
        let partitions = job.spec.steps[Int(task.step)].partitions
        func select(_ results: [TaskInput]) -> [TaskInput] {
            results.count == Int(partitions) && partitions > 1 ? [results[Int(task.partition)]] : results
        }
        if task.step > 0 { return select(job.previous) }
        return job.spec.inputs.flatMap { select(job.upstream[$0] ?? []) }
    }

    /// Queues pending tasks of a job (all of its current step). Each queueing gives the task a new ticket:
    /// an entry of it queued before is stale from now on, so every path that queues a task again (a
    /// resume, a retry, a lost lease) leaves it with one live entry.
    private mutating func enqueue(_ ids: [UInt64], of job: ShardJob, now: Timestamp) {
        var items: [(task: UInt64, order: UInt64, ticket: UInt32)] = []
        items.reserveCapacity(ids.count)
        for id in ids {
            let ticket = tasks.modify(id) { task -> UInt32 in
                task.ticket &+= 1
                return task.ticket
            }
            items.append((id, tasks[id]!.order, ticket))
        }
        queue.enqueue(items, as: Self.work(of: job), now: now)
    }

    /// What a job's tasks are to fair selection: whose, under which key, what they need, their type and order.
    static func work(of job: ShardJob) -> FairQueue.Work {
        FairQueue.Work(
            product: job.spec.product, key: job.spec.fairnessKey, requirement: job.requirement, type: job.spec.type,
            batchSize: Int(job.spec.batch), runPriority: job.spec.runPriority, priority: job.spec.priority)
    }

    // MARK: - The worker protocol

    /// Handles one message a peer sent on the `work` ROUTER.
    public mutating func received(_ message: Message, from peer: Peer, now: Timestamp) {
        if case .ready(let ready) = message {
            register(ready, peer: peer, now: now)
            return
        }
        guard workers[peer] != nil else {
            // Unknown connection, probably from before a restart: it must register first.
            outbox.append((peer, .disconnect(Disconnect(status: .unknownPeer, reason: "unknown worker: send READY"))))
            return
        }
        workers.modify(peer) { $0.lastHeard = now }
        switch message {
        case .pull(let pull):
            workers.modify(peer) {
                $0.credit = min($0.credit + Int(pull.credit), 1_000_000)
                // The worker answered: should this credit run out with work still waiting, it may be
                // told again at once.
                $0.nextDemand = .zero
            }
        case .recall(let recall):
            let released = workers.modify(peer) { session in
                let released = min(session.credit, Int(recall.credit))
                session.credit -= released
                // As after PULL: should work wait with no credit left, the worker may be told at once.
                session.nextDemand = .zero
                return released
            }
            outbox.append((peer, .recalled(Recalled(credit: UInt32(released)))))
        case .results(let results):
            for result in results.results { resultReceived(result, from: peer, now: now) }
        case .heartbeat:
            break
        case .disconnect:
            remove(peer, now: now)
        default:
            break
        }
    }

    /// Handles CONTROL from the orchestrator. Cancelling what is already cancelled changes nothing, so a
    /// repeated request applies once.
    public mutating func controlReceived(_ control: Control, from peer: Peer, now: Timestamp) {
        // Every action but cancel-job is on the whole run.
        let matching = jobs.values.filter { $0.spec.run == control.run && (control.action != .cancelJob || $0.spec.job == control.job) }
            .sorted { ($0.spec.job, $0.spec.generation) < ($1.spec.job, $1.spec.generation) }
            .map(\.id)
        var detail: String
        switch control.action {
        case .cancelRun, .cancelJob:
            var signalled = 0
            for id in matching { signalled += cancel(id, grace: control.grace, now: now) }
            detail = "\(matching.count) job\(matching.count == 1 ? "" : "s") cancelled, \(signalled) running task\(signalled == 1 ? "" : "s") signalled"
        case .pauseRun:
            if pausedRuns.insert(control.run).inserted { pauseChanges[control.run] = true }
            detail = "run \(control.run) paused: \(matching.count) job\(matching.count == 1 ? "" : "s") held"
        case .resumeRun:
            if pausedRuns.remove(control.run) != nil {
                pauseChanges[control.run] = false
                for id in matching { requeue(id, now: now) }
            }
            detail = "run \(control.run) resumed: \(matching.count) job\(matching.count == 1 ? "" : "s") released"
        case .setPolicy:
            let policy = control.policy
            guard !policy.product.isEmpty, ProductPolicy.weights.contains(policy.weight) else {
                outbox.append((peer, .controlResult(ControlResult(request: control.request, status: .badRequest, detail: "set-policy needs a product and a weight from 1 to 10000"))))
                return
            }
            queue.setPolicy(policy, now: now)
            policyChanges[policy.product] = policy
            detail = "product \(policy.product): \(policy.summary)"
        case .setPriority:
            // The run's queued tasks go in again at the new priority (their old entries go stale), and
            // the jobs keep it: for their later steps, their retries, and after a restart.
            runPriorities[control.run] = (control.priority, matching.count)
            priorityChanges[control.run] = control.priority
            forgottenPriorities.remove(control.run)
            var requeued = 0
            for id in matching {
                jobs.modify(id) { $0.spec.runPriority = control.priority }
                requeued += jobs[id]!.tasks.filter { tasks[$0]?.state == .pending }.count
                requeue(id, now: now)
            }
            detail = "run \(control.run) at priority \(RunPriority.name(control.priority)): \(requeued) queued task\(requeued == 1 ? "" : "s") reordered"
        }
        outbox.append((peer, .controlResult(ControlResult(request: control.request, status: .ok, detail: detail))))
    }

    /// Queues a job's pending tasks again, after its run was resumed: those a read of the queue dropped
    /// while the run was paused, and those still there, whose old entries become stale.
    private mutating func requeue(_ id: Int64, now: Timestamp) {
        guard let job = jobs[id] else { return }
        enqueue(job.tasks.filter { tasks[$0]?.state == .pending }, of: job, now: now)
    }

    /// Cancels a job: its waiting tasks at once, its running ones through CANCEL. Returns how many were signalled.
    private mutating func cancel(_ id: Int64, grace: UInt32, now: Timestamp) -> Int {
        guard let job = jobs[id], !job.state.isFinal else { return 0 }
        jobs[id]!.cancelled = true
        jobs[id]!.detail = "cancelled by an operator"
        dirtyJobs.insert(id)
        var signals: [Peer: [TaskRef]] = [:]
        for id in job.tasks {
            guard let task = tasks[id] else { continue }
            switch task.state {
            case .pending, .retrying:
                move(id, to: .cancelled, now: now)
            case .running:
                if let peer = task.lease?.peer {
                    signals[peer, default: []].append(task.ref)
                } else {
                    move(id, to: .cancelled, now: now)  // Its worker has not come back since a restart.
                }
            case .succeeded, .failed, .cancelled:
                break
            }
        }
        for (peer, refs) in signals { outbox.append((peer, .cancel(Cancel(grace: grace, tasks: refs)))) }
        noteChange(id)
        return signals.values.reduce(0) { $0 + $1.count }
    }

    /// A message to `peer` could not be delivered (it went away, or stopped reading): it is treated as dead.
    public mutating func peerLost(_ peer: Peer, now: Timestamp) {
        remove(peer, now: now)
    }

    private mutating func register(_ ready: Ready, peer: Peer, now: Timestamp) {
        // The same connection registering again, or an earlier connection of the same worker: forget
        // them, keeping their leases aside to be claimed by `held`.
        var candidates: Set<UInt64> = orphans.removeValue(forKey: ready.worker) ?? []
        for (other, session) in workers where other == peer || session.name == ready.worker {
            candidates.formUnion(session.leases)
            workers[other] = nil
            workerOrder.removeAll { $0 == other }
        }
        let heartbeat = Int64(
            ready.heartbeat == 0
                ? configuration.heartbeat
                : min(max(ready.heartbeat, configuration.heartbeatRange.lowerBound), configuration.heartbeatRange.upperBound))
        var session = WorkerSession(
            peer: peer, name: ready.worker, session: ready.session,
            capabilities: Capabilities(
                commands: ready.commands == 1, handlers: Set(ready.handlers), tags: Set(ready.tags), batches: ready.batches == 1),
            sets: Dictionary(ready.sets.map { ($0.handler, Int($0.limit)) }, uniquingKeysWith: { first, _ in first }),
            credit: Int(ready.slots), heartbeat: heartbeat, lastHeard: now, lastSent: now)
        var stale: [TaskRef] = []
        for ref in ready.held {
            if candidates.contains(ref.task), let task = tasks[ref.task], task.state == .running,
                task.attempt == ref.attempt, let lease = task.lease, lease.session == ready.session
            {
                tasks[ref.task]!.lease = Lease(worker: ready.worker, session: ready.session, peer: peer)
                session.leases.insert(ref.task)
                candidates.remove(ref.task)
            } else {
                stale.append(ref)
            }
        }
        // Leases the worker no longer holds (it restarted, or lost track of them) are taken back.
        for task in candidates.sorted() { takeBack(task, reason: "its worker \(ready.worker) restarted or lost it", now: now) }
        workers[peer] = session
        workerOrder.append(peer)
        outbox.append(
            (peer,
             .welcome(
                Welcome(
                    shard: configuration.shard, epoch: epoch, heartbeat: UInt32(heartbeat),
                    liveness: configuration.liveness, resultLimit: configuration.resultLimit))))
        if !stale.isEmpty { outbox.append((peer, .cancel(Cancel(grace: 0, tasks: stale)))) }
    }

    private mutating func resultReceived(_ result: TaskResult, from peer: Peer, now: Timestamp) {
        receipts[peer, default: []].append(TaskRef(task: result.task, attempt: result.attempt))
        guard let task = tasks[result.task], task.state == .running, task.attempt == result.attempt,
            let spec = jobs[task.jobID]?.spec
        else {
            return  // Stale: an older attempt, a task already final, or one this shard no longer holds.
        }
        if let holder = task.lease?.peer { workers[holder]?.leases.remove(task.id) }
        // The run time, as the shard saw it, joins the window of the product's job type; a set's is shared by its tasks.
        if let charge = task.charge { queue.measured(charge, duration: ranFor(task, now: now)) }
        update(task.id) {
            $0.lease = nil
            $0.exitCode = result.exitCode
            $0.output = result.output
            $0.log = result.log
            $0.error = result.error
        }
        switch result.outcome {
        case .succeeded:
            if result.data.count > Int(configuration.resultLimit) {
                let message = "its result of \(result.data.count) octets is over the limit of \(configuration.resultLimit)"
                update(task.id) { $0.error = message }
                fail(task.id, spec: spec, now: now)
            } else {
                update(task.id) { $0.data = result.data }
                move(task.id, to: .succeeded, now: now)
                succeededTasks.insert(task.id)
            }
        case .failed, .timedOut, .cancelled:
            if jobs[task.jobID]?.cancelled == true {
                move(task.id, to: .cancelled, now: now)
                return
            }
            if result.outcome == .timedOut && result.error.isEmpty { update(task.id) { $0.error = "timed out" } }
            fail(task.id, spec: spec, now: now)
        case .rejected:
            lose(task.id, reason: "worker rejected it: \(result.error)", now: now)
        }
    }

    /// Counts a failed attempt: retried after a backoff while retries remain, failed for good after.
    private mutating func fail(_ id: UInt64, spec: JobSpec, now: Timestamp) {
        update(id) { $0.failures += 1 }
        let failures = tasks[id]!.failures
        if failures <= spec.retries {
            let delay = RetryPolicy.delay(backoff: Int64(spec.backoff), failures: Int(failures), using: &random)
            let due = now.adding(milliseconds: delay)
            update(id) { $0.due = due }
            retries.insert(Due(time: due, task: id))
            move(id, to: .retrying, now: now)
        } else {
            move(id, to: .failed, now: now)
        }
    }

    /// Takes a running task back from its worker: it is queued again and runs with the next attempt
    /// number, unless it has been lost too often.
    private mutating func takeBack(_ id: UInt64, reason: String, now: Timestamp) {
        guard let task = tasks[id], task.state == .running else { return }
        if let holder = task.lease?.peer { workers[holder]?.leases.remove(id) }
        update(id) { $0.lease = nil }
        lose(id, reason: reason, now: now)
    }

    /// Queues a task again without counting a failure, unless it has been lost too often.
    private mutating func lose(_ id: UInt64, reason: String, now: Timestamp) {
        if jobs[tasks[id]!.jobID]?.cancelled == true {
            move(id, to: .cancelled, now: now)
            return
        }
        update(id) { $0.losses += 1 }
        if tasks[id]!.losses > configuration.maximumLosses {
            update(id) { $0.error = "lost \($0.losses) times; the last time \(reason)" }
            move(id, to: .failed, now: now)
        } else {
            move(id, to: .pending, now: now)
            if let job = jobs[tasks[id]!.jobID] { enqueue([id], of: job, now: now) }
        }
    }

    /// Changes a task, marking it to be committed.
    private mutating func update(_ id: UInt64, _ change: (inout ShardTask) -> Void) {
        tasks.modify(id, change)
        dirtyTasks.insert(id)
    }

    /// The worker time a running task has taken so far, as the shard sees it: its share of its set's.
    private func ranFor(_ task: ShardTask, now: Timestamp) -> Int64 {
        Int64((Double(now.since(task.started)) * (task.charge?.slot ?? 1)).rounded())
    }

    /// Moves a task to `state`, keeping its job's counters, and marks the job to be settled.
    private mutating func move(_ id: UInt64, to state: TaskState, now: Timestamp) {
        let task = tasks[id]!
        if task.state == .running && state != .running, let charge = task.charge {
            queue.ended(charge, ran: ranFor(task, now: now), now: now)
            tasks[id]!.charge = nil
        }
        if jobs[task.jobID]?.step == task.step {
            jobs.modify(task.jobID) { job in
                job.counts[task.state] -= 1
                job.counts[state] += 1
                if state.isFinal || state == .retrying {
                    if !task.log.isEmpty { job.output = task.log }
                    if !task.error.isEmpty { job.detail = task.error }
                }
            }
        }
        update(id) {
            $0.state = state
            if state.isFinal { $0.finished = now }
        }
        noteChange(task.jobID)
    }

    private mutating func remove(_ peer: Peer, now: Timestamp) {
        guard let session = workers.removeValue(forKey: peer) else { return }
        workerOrder.removeAll { $0 == peer }
        for task in session.leases.sorted() { takeBack(task, reason: "worker \(session.name) went away", now: now) }
    }

    // MARK: - Job state

    private mutating func noteChange(_ id: Int64) {
        if changedSet.insert(id).inserted { changed.append(id) }
    }

    /// Derives the state of every job changed this turn from its counters, starting the next step of a
    /// job whose step completed.
    private mutating func settle(now: Timestamp) {
        var index = settled
        while index < changed.count {
            let id = changed[index]
            index += 1
            guard var job = jobs[id], !job.state.isFinal else { continue }
            let counts = job.counts
            if counts.running > 0 {
                job.state = .running
            } else if counts.pending > 0 {
                job.state = .queued
            } else if counts.retrying > 0 {
                job.state = .retrying
            } else if counts.failed > 0 {
                job.state = .failed
                job.finished = now
            } else if counts.cancelled > 0 || job.cancelled {
                job.state = .cancelled
                job.finished = now
            } else if Int(job.step) + 1 < job.spec.steps.count {
                advance(&job, now: now)
                job.state = .queued
                dirtyJobs.insert(id)
            } else {
                job.state = .succeeded
                job.detail = ""
                job.finished = now
            }
            // A job's row is written when it is created, moves to another step, is cancelled or ends:
            // between those, its state follows from its tasks' rows.
            if job.state.isFinal { dirtyJobs.insert(id) }
            jobs[id] = job
        }
        settled = index
    }

    /// The job's status as JOB-UPDATES reports it.
    public func status(of job: ShardJob, now: Timestamp) -> JobStatus {
        let counts = job.counts
        let pending = counts.pending + counts.retrying
        let running = counts.running
        let succeeded = job.completed + counts.succeeded
        let failed = counts.failed
        return JobStatus(
            run: job.spec.run, job: job.spec.job, generation: job.spec.generation, state: job.state,
            attempts: job.attempts, pending: pending, running: running, succeeded: succeeded, failed: failed,
            step: job.step, steps: UInt16(job.spec.steps.count), queued: job.queued.wire, started: job.started.wire,
            finished: job.finished.wire, time: now.wire, output: job.output, detail: job.detail)
    }

    // MARK: - Time

    /// Promotes due retries, sends heartbeats, and takes back the leases of silent workers.
    public mutating func tick(now: Timestamp) {
        while let due = retries.min, due.time <= now {
            _ = retries.popMin()
            guard let task = tasks[due.task], task.state == .retrying, task.due == due.time else { continue }
            move(task.id, to: .pending, now: now)
            if let job = jobs[task.jobID] { enqueue([task.id], of: job, now: now) }
        }
        for peer in workerOrder {
            guard let session = workers[peer] else { continue }
            if now.since(session.lastHeard) >= session.heartbeat * Int64(configuration.liveness) {
                remove(peer, now: now)
            } else if now.since(session.lastSent) >= session.heartbeat {
                outbox.append((peer, .heartbeat))
            }
        }
        for (worker, ids) in orphans {
            let expired = ids.filter { tasks[$0]?.lease?.expires.map { $0 <= now } ?? true }
            guard !expired.isEmpty else { continue }
            for id in expired.sorted() { takeBack(id, reason: "its worker \(worker) did not return after the shard restarted", now: now) }
            let left = ids.subtracting(expired)
            orphans[worker] = left.isEmpty ? nil : left
        }
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        var next = lastPublished.adding(milliseconds: configuration.beaconInterval)
        if let due = retries.min { next = min(next, due.time) }
        for session in workers.values {
            if session.credit == 0 && queue.count > 0 { next = min(next, session.nextDemand) }
            if session.credit > 0, let release = queue.nextRelease { next = min(next, release) }
            if session.credit > 0 && queue.count > 0, let change = queue.nextHeadroomChange { next = min(next, change) }
            next = min(next, session.lastSent.adding(milliseconds: session.heartbeat))
            next = min(next, session.lastHeard.adding(milliseconds: session.heartbeat * Int64(configuration.liveness)))
        }
        for ids in orphans.values {
            for id in ids { if let expires = tasks[id]?.lease?.expires { next = min(next, expires) } }
        }
        return next
    }

    // MARK: - Dispatch and the end of a turn

    /// Leases pending tasks to workers with credit, each worker in turn.
    private mutating func dispatch(now: Timestamp) {
        guard queue.count > 0, !workerOrder.isEmpty else {
            withdrawDemands()
            return
        }
        let count = workerOrder.count
        workerTurn %= count
        // The free slots of the shard, which headroom holds some of back: only counted when it applies.
        var free: Int? = configuration.headroom > 0 && configuration.fairness == .fair ? workers.values.reduce(0) { $0 + $1.credit } : nil
        for offset in 0..<count {
            let peer = workerOrder[(workerTurn + offset) % count]
            guard let session = workers[peer] else { continue }
            if session.credit > 0 && queue.count > 0 {
                let spent = lease(to: peer, session: session, free: free, now: now)
                free = free.map { $0 - spent }
            }
            if workers[peer]!.credit == 0 && queue.count > 0 { demand(from: peer, now: now) }
        }
        workerTurn += 1
        withdrawDemands()
    }

    /// Tells each worker that was told of pending work, and can run none of what is left, that the
    /// demand is over, so that it stops favouring this shard with the credit it frees.
    private mutating func withdrawDemands() {
        guard !demanded.isEmpty else { return }
        for peer in demanded {
            guard let session = workers[peer] else {
                demanded.remove(peer)
                continue
            }
            if queue.work(for: session.capabilities) == 0 {
                demanded.remove(peer)
                outbox.append((peer, .demand(Demand(pending: 0))))
            }
        }
    }

    /// Leases the worker as many pending tasks it can run as its credit allows, in as few TASKS messages
    /// as their size allows.
    ///
    /// A claimed set takes one credit and goes in a TASKS message of its own, leased as one: all of it
    /// to this worker, in this turn's transaction. `free` is every worker's credit together, for
    /// headroom. Returns the credit spent.
    private mutating func lease(to peer: Peer, session: WorkerSession, free: Int?, now: Timestamp) -> Int {
        let picks = queue.select(
            limit: session.credit, capabilities: session.capabilities, sets: session.sets, free: free, now: now
        ) { id, ticket in
            guard let task = tasks[id], task.state == .pending, task.ticket == ticket else { return false }
            return pausedRuns.isEmpty || !pausedRuns.contains(task.job.run)
        }
        guard !picks.isEmpty else { return 0 }
        // Credit is spent only on what is sent: a task that failed instead (its inputs too large) costs none.
        var single: [(task: UInt64, charge: FairQueue.Charge)] = []
        var credit = 0
        for pick in picks {
            if pick.isSet {
                lastSet += 1
                let claimed = limitBatchToOneJob(pick, now: now)
                let specs = leaseTasks(claimed, to: peer, session: session, now: now)
                if !specs.isEmpty {
                    outbox.append((peer, .tasks(Tasks(set: lastSet, tasks: specs))))
                    credit += 1
                }
            } else {
                single += pick.tasks.map { ($0, pick.charge) }
            }
        }
        var batch: [TaskSpec] = []
        var batchSize = 0
        let specs = leaseTasks(single, to: peer, session: session, now: now)
        credit += specs.count
        for spec in specs {
            if !batch.isEmpty && batchSize + spec.inputs.size > Self.tasksFrameBudget {
                outbox.append((peer, .tasks(Tasks(tasks: batch))))
                batch = []
                batchSize = 0
            }
            batch.append(spec)
            batchSize += spec.inputs.size + 1024
        }
        workers.modify(peer) { $0.credit -= credit }
        if !batch.isEmpty { outbox.append((peer, .tasks(Tasks(tasks: batch)))) }
        return credit
    }

    /// The tasks of a claimed set that go out together, with what each is charged: all of them for a
    /// handler's set; for a command batch, those of the first task's job (one run, one step, one command
    /// line), which then share the slot; the others are given back and queued again, so that one process
    /// can run the batch with the job's environment.
    private mutating func limitBatchToOneJob(_ pick: FairQueue.Pick, now: Timestamp) -> [(task: UInt64, charge: FairQueue.Charge)] {
        let all = pick.tasks.map { ($0, pick.charge) }
        guard let first = pick.tasks.first, let job = tasks[first]?.jobID, jobs[job]?.requirement.batched == true else { return all }
        let same = pick.tasks.filter { tasks[$0]?.jobID == job }
        guard same.count < pick.tasks.count else { return all }
        var kept = pick.charge
        kept.slot = 1 / Double(same.count)
        var given = pick.charge
        given.slot = 0
        for id in pick.tasks where tasks[id]?.jobID != job {
            queue.returned(given, now: now)
            if let other = tasks[id].flatMap({ jobs[$0.jobID] }) { enqueue([id], of: other, now: now) }
        }
        return same.map { ($0, kept) }
    }

    /// Marks tasks running under leases to the worker, returning what to send of them; a task whose
    /// inputs no attempt could receive fails instead. The tasks of a set keep within one message's budget:
    /// those beyond it go back to the queue.
    private mutating func leaseTasks(
        _ picked: [(task: UInt64, charge: FairQueue.Charge)], to peer: Peer, session: WorkerSession, now: Timestamp
    ) -> [TaskSpec] {
        let isSet = picked.count > 1 && picked[0].charge.slot < 1
        var specs: [TaskSpec] = []
        var setSize = 0
        for (id, charge) in picked {
            let task = tasks[id]!
            let job = jobs[task.jobID]!
            let inputs = inputs(of: task, in: job)
            let size = inputs.size
            guard size <= TaskSpec.inputLimit else {
                // No attempt could receive them: fail the task now, without retries.
                update(id) { $0.error = "its inputs add up to \(size) octets, more than the \(TaskSpec.inputLimit) a task may receive" }
                queue.returned(charge, now: now)  // Never sent after all.
                move(id, to: .failed, now: now)
                continue
            }
            if isSet && !specs.isEmpty && setSize + size > Self.tasksFrameBudget {
                queue.returned(charge, now: now)
                enqueue([id], of: job, now: now)
                continue
            }
            setSize += size + 1024
            update(id) {
                $0.attempt += 1
                $0.started = now
                $0.lease = Lease(worker: session.name, session: session.session, peer: peer)
            }
            move(id, to: .running, now: now)
            tasks[id]!.charge = charge
            workers.modify(peer) { _ = $0.leases.insert(id) }
            jobs.modify(task.jobID) { job in
                if job.started == .zero { job.started = now }
                job.attempts = max(job.attempts, task.attempt + 1)
            }
            specs.append(taskSpec(tasks[id]!, job: job, inputs: inputs))
        }
        return specs
    }

    /// The octets of results one TASKS message carries at most, well inside the 64 MiB frame limit.
    static let tasksFrameBudget = 32 << 20

    /// Tells a worker out of credit that there is work it could run, at most once per heartbeat interval,
    /// so that it moves credit here from shards that have none to give it.
    private mutating func demand(from peer: Peer, now: Timestamp) {
        guard let session = workers[peer], now >= session.nextDemand else { return }
        // Only for work that could go now: none of it at its product's cap or rate limit.
        let weight = queue.demandWeight(for: session.capabilities)
        let pending = queue.work(for: session.capabilities)
        guard weight > 0, pending > 0 else { return }
        // The throttle starts only with a DEMAND sent: a job that arrives just after an empty check is
        // announced at once, not a heartbeat later.
        workers.modify(peer) { $0.nextDemand = now.adding(milliseconds: session.heartbeat) }
        demanded.insert(peer)
        outbox.append((peer, .demand(Demand(pending: UInt32(min(pending, Int(UInt32.max))), weight: weight))))
    }

    private func taskSpec(_ task: ShardTask, job: ShardJob, inputs: [TaskInput]) -> TaskSpec {
        let spec = job.spec
        let step = spec.steps[Int(task.step)]
        return TaskSpec(
            task: task.id, attempt: task.attempt, run: spec.run, job: spec.job, generation: spec.generation,
            product: spec.product, flow: spec.flow, step: task.step, steps: UInt16(spec.steps.count),
            stepName: step.name, partition: task.partition, partitions: step.partitions,
            partitionKey: step.partitionKey(of: task.partition), kind: step.kind, action: step.action,
            type: spec.type, params: spec.params, timeout: spec.timeout, moment: spec.moment, inputs: inputs)
    }

    /// Ends the turn: hands out work, then returns what to commit and, after the commit, what to send.
    /// Jobs that became final are forgotten once their rows are in the turn.
    public mutating func finishTurn(now: Timestamp) -> ShardTurn {
        settle(now: now)
        dispatch(now: now)
        settle(now: now)
        var turn = ShardTurn()
        var updates = announced
        for id in changed { if let job = jobs[id] { updates.append(status(of: job, now: now)) } }
        if !updates.isEmpty {
            sequence += 1
            turn.updates = JobUpdates(publisher: configuration.publisher, epoch: epoch, sequence: sequence, updates: updates)
            lastPublished = now
        } else if now.since(lastPublished) >= configuration.beaconInterval {
            turn.beacon = Beacon(publisher: configuration.publisher, epoch: epoch, sequence: sequence)
            lastPublished = now
        }
        for (peer, refs) in receipts { outbox.append((peer, .receipt(Receipt(tasks: refs)))) }
        turn.jobs = dirtyJobs.compactMap { jobs[$0] }
        turn.tasks = dirtyTasks.compactMap { tasks[$0] }
        if !carriedRows.isEmpty {
            turn.tasks += carriedRows
            carriedRows = []
        }
        for id in dirtyJobs { jobs[id]?.stored = true }
        for id in dirtyTasks { tasks[id]?.stored = true }
        turn.succeeded = succeededTasks
        turn.pauses = pauseChanges
        pauseChanges = [:]
        turn.priorities = priorityChanges
        priorityChanges = [:]
        turn.policies = Array(policyChanges.values)
        policyChanges = [:]
        turn.starving = queue.takeStarvationReports()
        turn.messages = outbox
        for (peer, _) in outbox { workers[peer]?.lastSent = now }
        for id in dirtyJobs {
            guard let job = jobs[id], job.state.isFinal else { continue }
            for id in job.tasks { tasks[id] = nil }
            jobs[id] = nil
            byIdentity[job.identity] = nil
            if let changed = runPriorities[job.spec.run] {
                if changed.jobs > 1 {
                    runPriorities[job.spec.run]!.jobs -= 1
                } else {
                    runPriorities[job.spec.run] = nil
                    forgottenPriorities.insert(job.spec.run)
                }
            }
        }
        // Forgotten once the rows that finish the run's last jobs are in this turn.
        turn.forgottenPriorities = forgottenPriorities
        forgottenPriorities = []
        dirtyJobs = []
        dirtyTasks = []
        succeededTasks = []
        changed = []
        changedSet = []
        settled = 0
        announced = []
        outbox = []
        receipts = [:]
        return turn
    }
}

/// What one turn of a shard produced: rows to commit, then an event to log and publish, then messages to send.
public struct ShardTurn: Sendable {
    /// Jobs created or changed.
    public var jobs: [ShardJob] = []
    /// Tasks created or changed.
    public var tasks: [ShardTask] = []
    /// Tasks that succeeded in this turn: the store counts successes, and a task succeeds once.
    public var succeeded: Set<UInt64> = []
    /// The statuses to append to the event log and publish, if any changed.
    public var updates: JobUpdates?
    /// A heartbeat for the event stream, when nothing was published for an interval.
    public var beacon: Beacon?
    /// Messages for peers of the `work` ROUTER.
    public var messages: [(Peer, Message)] = []
    /// Runs paused (true) or resumed (false).
    public var pauses: [UInt64: Bool] = [:]
    /// Product policies set.
    public var policies: [ProductPolicy] = []
    /// Run priorities changed, and those of runs whose last job the shard finished.
    public var priorities: [UInt64: UInt8] = [:]
    public var forgottenPriorities: Set<UInt64> = []
    /// Products found starving, to log; nothing to commit.
    public var starving: [StarvationReport] = []

    public init() {}

    /// Whether the turn has rows to commit.
    public var needsCommit: Bool {
        !jobs.isEmpty || !tasks.isEmpty || updates != nil || !pauses.isEmpty || !policies.isEmpty || !priorities.isEmpty
            || !forgottenPriorities.isEmpty
    }
}

/// What a shard's store holds of its unfinished work, to resume from.
public struct ShardSnapshot: Sendable {
    /// Jobs not final.
    public var jobs: [ShardJob]
    /// The stored tasks of their current steps: those ever leased. The others are pending.
    public var tasks: [ShardTask]
    /// The last event sequence number.
    public var sequence: UInt64
    /// The next IDs to assign.
    public var nextTaskID: UInt64
    public var nextJobID: Int64
    /// Runs paused by an operator.
    public var paused: Set<UInt64> = []
    /// Product policies set through management.
    public var policies: [ProductPolicy] = []
    /// Run priorities an operator changed.
    public var priorities: [UInt64: UInt8] = [:]

    public init(
        jobs: [ShardJob] = [], tasks: [ShardTask] = [], sequence: UInt64 = 0, nextTaskID: UInt64 = 1, nextJobID: Int64 = 1
    ) {
        self.jobs = jobs
        self.tasks = tasks
        self.sequence = sequence
        self.nextTaskID = nextTaskID
        self.nextJobID = nextJobID
    }
}

extension ShardTurn: ServiceTurn {
    /// The beacon, then the messages to workers and to the orchestrator on the `work` ROUTER.
    public var deliveries: [Delivery] {
        (beacon.map { [Delivery(.beacon($0), to: .stream)] } ?? []) + messages.map { Delivery($0.1, to: .peer($0.0)) }
    }
}
