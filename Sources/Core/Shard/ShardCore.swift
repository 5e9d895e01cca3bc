import Wire

/// The shard broker's state machine: a durable job queue that leases tasks to workers.
///
/// The shard accepts jobs from the orchestrator, splits each into tasks (one per partition of its
/// current step), hands tasks to workers that have credit, records their results, retries failed
/// attempts with backoff, takes back the leases of workers that go silent, and reports every change
/// of a job's status as one numbered JOB-UPDATES message per turn.
///
/// Invariants:
/// - A task is leased to at most one worker at a time, and each lease has a new attempt number.
/// - Only a result for a task's current attempt, while it runs, from the connection and session that hold
///   its lease, changes anything.
/// - A worker whose credentials name the products it may serve is handed, and told of, no other product's
///   tasks; a worker's name is bound to the key it registered with (``WorkerCredentials``).
/// - A worker never receives more tasks than the credit it gave.
/// - Nothing leaves the shard before the turn that produced it is committed: events only fill the
///   turn; ``finishTurn(now:)`` hands the rows to commit and the messages to send afterwards.
/// - The shard holds a task only while it holds its job: a job's tasks leave memory with it, or when
///   its step completes.
///
/// Its parts: submissions (`ShardCore+Submissions.swift`), the worker protocol (`+Workers`, over a
/// ``WorkerRegistry``), operators' controls (`+Controls`, kept in `ShardControls`), results and job
/// states (`+Results`), and dispatch (`+Dispatch`, over a ``FairQueue``).
///
/// The core does no I/O and reads no clock: the runtime feeds it decoded messages and `now`.
public struct ShardCore: Sendable {
    public let configuration: ShardConfiguration
    /// One more at each start of the shard.
    public let epoch: UInt32
    /// Jobs not yet final, and final ones until the end of the turn that finished them, by their ID: an
    /// integer hashes faster than an identity with a name in it, and every task names its job's ID.
    public internal(set) var jobs: DenseTable<Int64, ShardJob> = [:]
    /// The IDs of those jobs by identity, for submissions (``jobID(of:)``); by run, for controls and
    /// hand-overs; and those finishing for a run handed over.
    var byIdentity = HashedIDs()
    var byRun: [UInt64: Set<Int64>] = [:]
    var finishingJobs: Set<Int64> = []
    /// The tasks of those jobs.
    public internal(set) var tasks: DenseTable<UInt64, ShardTask> = [:]
    /// The sequence number of the last JOB-UPDATES message.
    public private(set) var sequence: UInt64

    var queue: FairQueue
    /// What the shard counts for its metrics.
    var meter = ShardMeter()
    var controls: ShardControls
    var retries = MinHeap<Due>()
    var workers: WorkerRegistry
    var nextTaskID: UInt64
    /// The bound the store keeps past every task ID given (its `next_task_id`): a task kept in its job's
    /// row has no table a restart could find the highest ID in. Moved on a block at a time, so that the
    /// store writes it once in ``taskIDBlock`` tasks.
    var reservedTaskIDs: UInt64
    public static let taskIDBlock: UInt64 = 65_536
    var nextJobID: Int64
    private var lastPublished: Timestamp
    var random: SplitMix64
    /// The ID of the last claimed set leased: numbered from the epoch's, so that sets of another start
    /// of the shard, whose attempts may still run on a worker, never share an ID with this one's.
    var lastSet: UInt64

    // What the current turn has produced.
    var dirtyJobs = TurnSet<Int64>()
    var dirtyTasks = TurnSet<UInt64>()
    /// Rows of tasks written but not held in memory: a resumed job's copies of its earlier generation's results,
    /// and the tasks of a step completed this turn (``advance(_:now:)``).
    var carriedRows: [ShardTask] = []
    /// Tasks leased this turn that nothing else changed in it: their leases go to the lease log
    /// (``ShardTurn/leases``) if nothing does by the turn's end.
    var leasesToLog: [UInt64] = []
    /// The lease log's rows not yet deleted, oldest first: each with its turn's time and the attempts it
    /// logged. A row older than ``leaseLogAge`` is folded into the rows of its tasks still running on that
    /// attempt with their leases only logged, and deleted in the same turn.
    var leaseLog: [(sequence: Int64, time: Timestamp, attempts: [(task: UInt64, attempt: UInt16)])] = []
    var nextLeaseLogSequence: Int64
    /// Jobs submitted this turn whose creation may go to the submission log (``ShardTurn/submissions``)
    /// if nothing else changes them by the turn's end.
    var submissionsToLog: [Int64] = []
    /// The submission log's rows not yet deleted, oldest first: each with its turn's time (or the restart's)
    /// and the range of job IDs it names. A row older than ``submissionLogAge`` is folded into the rows of
    /// its jobs still held with none, and deleted in the same turn.
    var submissionLog: [LoggedSubmissions] = []
    var nextSubmissionLogSequence: Int64
    /// Runs whose jobs' rows this turn writes, logging none of them (``writeRows(of:)``).
    var foldingRuns: Set<UInt64> = []
    /// Jobs given up with their run, whose rows (if any) are deleted: the log's rows naming any of them are
    /// folded in the next turn that looks, so that none outlives the tombstone that keeps such a job away.
    var droppedJobs: [Int64] = []
    /// Whether this turn stores the next IDs: a row that may have held the highest was deleted, or never
    /// written.
    var keepIDs = false
    var succeededTasks = TurnSet<UInt64>()
    var endedAttempts: [EndedAttempt] = []
    var changed: [Int64] = []
    var changedSet = TurnSet<Int64>()
    /// How many of `changed` have been settled this turn, and which jobs those were.
    var settled = 0
    var settledSet = TurnSet<Int64>()
    var announced: [JobStatus] = []
    /// While open jobs of the store are still to be put back: the run priorities operators set, which
    /// those jobs take as they come back.
    var restoringPriorities: [UInt64: UInt8]?
    /// Why no registered worker can run a requirement (nil: one can), as of the registry's membership.
    var unrunnable: (membership: UInt64, reasons: [Requirement: String?]) = (.max, [:])
    /// The jobs whose status says why no worker can run them, looked at again when workers come or go;
    /// and the membership they were last looked at under.
    var noted: Set<Int64> = []
    var notedMembership: UInt64 = 0
    var outbox: [(Peer, Message)] = []
    /// The steps of jobs held, each once, by their encoding, for jobs with the same steps to share
    /// (``hold(_:)``); and what the table keeps (``Octets/held``), at most ``sharedStepsBudget``.
    var sharedSteps: [Octets: [StepSpec]] = [:]
    var sharedStepsOctets = 0
    var stepsScratch = FrameWriter(capacity: 4096)
    static let sharedStepsBudget = 256 << 10
    /// The other parts of held jobs' specs that take room of their own, each once, by field and
    /// encoding, for jobs with the same to share (``shareParts(of:)``); and what the table keeps, within
    /// the same budget.
    var sharedParts: [Octets: SharedPart] = [:]
    var sharedPartsOctets = 0
    /// Questions of this turn (SHARD-QUERY), answered at its end.
    var queries: [(Peer, ShardQuery, [(String, Int)])] = []
    var receipts: [Peer: [TaskRef]] = [:]
    var refusedRegistrations: [RefusedRegistration] = []
    /// Worker names a READY of another process was refused under (DISCONNECT 409), to log.
    var namesInUse: [String] = []
    /// Tags READYs claimed that their pool may not, by worker: ignored, and logged.
    var ignoredTags: [(worker: String, tags: [String])] = []
    var foreignResults: [ForeignResults] = []
    /// Runs handed over to another shard by a move, with the highest generation handed over (``handOverReceived``).
    var handedOver: [UInt64: UInt32]
    /// This turn's tombstones to store, the rows of the jobs they gave up, and submissions dropped for them.
    var newTombstones: [UInt64: Tombstone] = [:]
    /// Results of jobs of runs taken over that succeeded on their old shard, to store.
    var importedResults: [(UInt64, TaskInput)] = []
    var handedOverRows: [Int64] = []
    var handedOverTasks: [ShardTask] = []
    /// Rows of tasks given up with their run whose job stays, finishing; the ends of finishing tasks, by
    /// run, to store; and finishing jobs whose last task ended, to forget once the turn is reported.
    var handedOverTaskRows: [UInt64] = []
    var awayEnds: [(run: UInt64, end: PartitionEnd)] = []
    var finishedAway: [Int64] = []
    var takenOverRuns: [UInt64] = []
    var appliedEnds = 0
    var droppedSubmissions: [JobIdentity] = []

    struct Due: Comparable, Sendable {
        var time: Timestamp
        var task: UInt64
        static func < (lhs: Due, rhs: Due) -> Bool { (lhs.time, lhs.task) < (rhs.time, rhs.task) }
    }

    /// A shard with an empty store.
    public init(configuration: ShardConfiguration, epoch: UInt32, now: Timestamp) {
        self.init(configuration: configuration, epoch: epoch, restoring: ShardSnapshot(), now: now)
    }

    /// A shard resuming from its store: pending tasks are queued again, retrying ones wait for their
    /// backoff, and running ones keep their leases for a grace period in which their workers may register
    /// again; after it they are taken back.
    public init(configuration: ShardConfiguration, epoch: UInt32, restoring snapshot: consuming ShardSnapshot, now: Timestamp) {
        self.configuration = configuration
        self.epoch = epoch
        self.sequence = snapshot.sequence
        self.nextTaskID = snapshot.nextTaskID
        self.reservedTaskIDs = snapshot.nextTaskID
        self.nextJobID = snapshot.nextJobID
        self.nextLeaseLogSequence = snapshot.leaseLogThrough + 1
        self.nextSubmissionLogSequence = (snapshot.submissionLog.map(\.sequence).max() ?? 0) + 1
        self.lastPublished = now
        self.controls = ShardControls(paused: snapshot.paused)
        self.handedOver = snapshot.handedOver
        self.workers = WorkerRegistry(configuration: configuration)
        self.lastSet = UInt64(epoch) << 32
        self.random = SplitMix64(seed: configuration.seed ^ UInt64(epoch))
        self.queue = FairQueue(tuning: FairQueue.Tuning(configuration))
        for policy in snapshot.policies { queue.setPolicy(policy, now: now) }
        // Only tasks that were leased are stored; the job implies the rest of its step, pending.
        var stored: [Int64: [UInt32: ShardTask]] = [:]
        for task in snapshot.tasks { stored[task.jobID, default: [:]][task.partition] = task }
        // The leases the log put back are folded into their rows, or forgotten with the log, a log's age from now.
        if snapshot.leaseLogThrough > 0 {
            let logged = snapshot.tasks.filter(\.leaseLogged).map { (task: $0.id, attempt: $0.attempt) }
            leaseLog.append((snapshot.leaseLogThrough, now, logged))
        }
        // The submission log's rows fold a log's age from now, once every job is back.
        submissionLog = snapshot.submissionLog.map { LoggedSubmissions(sequence: $0.sequence, time: now, firstID: $0.firstID, lastID: $0.lastID) }
        // Sized once: a deep queue restored would otherwise grow (and move) each table a score of times.
        var restoredJobs: [ShardJob] = []
        swap(&restoredJobs, &snapshot.jobs)  // Its only reference: the jobs are moved out of it below, not copied.
        let open = max(restoredJobs.count, snapshot.openJobs)
        jobs.reserveCapacity(open)
        byIdentity.reserveCapacity(open)
        tasks.reserveCapacity(restoredJobs.reduce(open - restoredJobs.count) { $0 + Int($1.spec.steps[Int($1.step)].partitions) })
        for index in restoredJobs.indices {
            // Each job is moved out of the snapshot, not copied: a copy retains every string and array in it.
            var job = ShardJob.placeholder
            swap(&job, &restoredJobs[index])
            let known = stored.removeValue(forKey: job.id) ?? [:]
            restore(job, stored: known, priority: snapshot.priorities[job.spec.run], now: now)
        }
        if snapshot.more {
            restoringPriorities = snapshot.priorities
            // A run's changed priority stays while jobs of it may still come back, though those back end.
            for (run, priority) in snapshot.priorities.sorted(by: { $0.key < $1.key }) { controls.restoredJob(of: run, priority: priority) }
        }
    }

    /// Whether open jobs of the store are still being put back (``restore(_:last:now:)``). Until they are,
    /// the shard's service holds back submissions, controls, hand-overs and questions, which may name any
    /// job; workers are served from what is back.
    public var isRestoring: Bool { restoringPriorities != nil }

    /// Puts back a batch of the open jobs the store held beyond the snapshot: jobs that only wait, none of
    /// whose tasks was ever leased. `last` when the store has none left.
    public mutating func restore(_ batch: consuming [ShardJob], last: Bool, now: Timestamp) {
        let priorities = restoringPriorities ?? [:]
        var batch = batch
        for index in batch.indices {
            // Each job once: the store's cursor never gives one twice, and one held already is never replaced.
            guard !jobs.contains(batch[index].id) && jobID(of: batch[index].identity) == nil else { continue }
            var job = ShardJob.placeholder
            swap(&job, &batch[index])
            restore(job, stored: [:], priority: priorities[job.spec.run], now: now)
        }
        if last {
            // Each run's changed priority was kept while jobs of it could still come back (see init).
            for run in priorities.keys.sorted() { controls.jobForgotten(of: run) }
            restoringPriorities = nil
        }
    }

    /// Holds one job restored from the store with its current step's tasks: those `stored` (ever leased),
    /// and the rest of the step pending. Pending tasks are queued again, retrying ones wait for their
    /// backoff, and running ones keep their leases for their workers to claim.
    private mutating func restore(_ job: consuming ShardJob, stored known: [UInt32: ShardTask], priority: UInt8?, now: Timestamp) {
        if let priority {
            job.spec.runPriority = priority
            controls.restoredJob(of: job.spec.run, priority: priority)
        }
        let partitions = job.spec.steps[Int(job.step)].partitions
        job.tasks = []
        job.tasks.reserveCapacity(Int(partitions))
        job.counts = TaskCounts()
        var pending: [UInt64] = []
        for partition in 0..<partitions {
            var task: ShardTask
            if let restored = known[partition], restored.step == job.step {
                // A finishing job holds only its tasks still running: the rest of it left with its run.
                if job.finishing && restored.state != .running { continue }
                task = restored
            } else if job.finishing {
                continue
            } else {
                task = ShardTask(
                    id: nextTaskID, job: job.identity, jobID: job.id, step: job.step, partition: partition,
                    order: Self.order(job: job.id, partition: partition))
                task.inJobRow = job.keepsItsTaskInItsRow
                nextTaskID += 1
            }
            job.counts[task.state] += 1
            job.attempts = max(job.attempts, task.attempt)
            if task.started != .zero && (job.started == .zero || task.started < job.started) { job.started = task.started }
            switch task.state {
            case .pending: pending.append(task.id)
            case .retrying: retries.insert(Due(time: task.due, task: task.id))
            case .running:
                task.charge = queue.restoredRunning(Self.work(of: job))
                if var lease = task.lease {
                    lease.peer = nil  // No connection is the worker's until it registers again.
                    task.lease = lease
                    workers.restored(task.id, heldBy: lease.worker, key: lease.key, heartbeat: lease.heartbeat, now: now)
                }
            case .succeeded, .failed, .cancelled, .away: break
            }
            job.tasks.append(task.id)
            tasks.updateValue(task, forKey: task.id)
        }
        job.state = Self.state(of: job)
        job.requirement = Requirement(step: job.spec.steps[Int(job.step)], of: job.spec)
        enqueue(pending, of: job, now: now)
        hold(job)
    }

    /// A task's place in its product's queue: by job, then partition, so that order needs no counter
    /// of its own and survives a restart.
    public static func order(job: Int64, partition: UInt32) -> UInt64 { UInt64(job) << 32 | UInt64(partition) }

    /// The state a job's counters imply while it is not final.
    static func state(of job: ShardJob) -> JobState {
        if job.state.isFinal { return job.state }
        if job.counts.running + job.counts.away > 0 { return .running }
        if job.counts.pending > 0 { return .queued }
        if job.counts.retrying > 0 { return .retrying }
        return job.state
    }

    /// Holds a job in memory, indexed by identity and by run. Its steps are shared with every other job
    /// held whose steps encode to the same octets (the jobs of a flow, as a rule): a deep queue keeps one
    /// copy of them.
    mutating func hold(_ job: consuming ShardJob) {
        shareSteps(of: &job)
        shareParts(of: &job)
        // The callers look the identity up first (a submission, a batch restored); the store's unique
        // index keeps a snapshot's apart.
        assert(jobID(of: job.identity) == nil, "a job held twice under one identity")
        byIdentity.insert(job.id, hash: job.identity.hashValue)
        if byRun.modifyIfPresent(job.spec.run, { $0.insert(job.id) }) == nil { byRun.updateValue([job.id], forKey: job.spec.run) }
        if job.finishing { finishingJobs.insert(job.id) }
        let id = job.id
        jobs.updateValue(job, forKey: id)
    }

    /// Lets a job leave memory, with its indexes; its tasks are the caller's.
    @discardableResult
    mutating func forget(_ id: Int64) -> ShardJob? {
        guard let job = jobs.removeValue(forKey: id) else { return nil }
        byIdentity.remove(id, hash: job.identity.hashValue)
        noted.remove(id)
        // By functions, not the subscript's `_modify`, whose nested coroutines allocate their frames each time.
        if byRun.modifyIfPresent(job.spec.run, { $0.remove(id) != nil && $0.isEmpty }) == true { byRun.removeValue(forKey: job.spec.run) }
        finishingJobs.remove(id)
        return job
    }

    /// The jobs of `run` the shard holds, in the order of their names and generations.
    func held(run: UInt64) -> [ShardJob] {
        (byRun[run] ?? []).compactMap { jobs[$0] }.sorted { ($0.spec.job, $0.spec.generation) < ($1.spec.job, $1.spec.generation) }
    }

    /// Whether the shard holds `identity` in memory (a job not final, or finished this turn). The runtime
    /// asks the store about other identities before submitting them.
    public func knows(_ identity: JobIdentity) -> Bool { jobID(of: identity) != nil }

    /// The ID of the job held under `identity`, if one is.
    func jobID(of identity: JobIdentity) -> Int64? {
        // Each field read in place: a job copied out would retain and release every reference in it.
        byIdentity.find(hash: identity.hashValue) { id in
            jobs[id]?.spec.run == identity.run && jobs[id]?.spec.generation == identity.generation && jobs[id]?.spec.job == identity.job
        }
    }

    /// The number of registered workers.
    public var workerCount: Int { workers.count }

    /// Runs an operator paused: their pending tasks are not handed out (they leave the queue as it is
    /// read) until the run is resumed and they are queued again.
    public var pausedRuns: Set<UInt64> { controls.paused }

    /// How many of a product's tasks count as running against its cap and share.
    public func runningTasks(of product: String) -> Int { queue.running(product) }

    /// A task the shard holds, with its job. Callers name only tasks they took this turn from a held
    /// job or from the queue's selection of pending tasks, and a job is held as long as its tasks are:
    /// a miss is a broken invariant.
    func held(_ id: UInt64) -> (task: ShardTask, job: ShardJob) {
        guard let task = tasks[id], let job = jobs[task.jobID] else {
            preconditionFailure("task \(id) is not held by the shard, or its job is not")
        }
        return (task, job)
    }

    // MARK: - Time

    /// Promotes due retries, sends heartbeats, and takes back the leases of silent workers and of
    /// workers that did not come back after a restart.
    public mutating func tick(now: Timestamp) {
        while let due = retries.min, due.time <= now {
            _ = retries.popMin()
            guard let task = tasks[due.task], task.state == .retrying, task.due == due.time else { continue }
            move(task.id, to: .pending, now: now)
            if let job = jobs[task.jobID] { enqueue([task.id], of: job, now: now) }
        }
        let expiry = workers.tick(now: now)
        for worker in expiry.silent {
            for task in worker.leases.sorted() { takeBack(task, reason: "worker \(worker.name) went away", now: now) }
        }
        for peer in expiry.heartbeats { outbox.append((peer, .heartbeat)) }
        for (worker, ids) in expiry.orphans {
            for id in ids { takeBack(id, reason: "its worker \(worker) did not return after the shard restarted", now: now) }
        }
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        var next = lastPublished.adding(milliseconds: configuration.beaconInterval)
        if let due = retries.min { next = min(next, due.time) }
        let workers = workers.deadlines()
        if let liveness = workers.liveness { next = min(next, liveness) }
        if queue.count > 0, let demand = workers.demand { next = min(next, demand) }
        // A token due is for a worker with credit here, or to tell those without (found by an explorer: a
        // rate-limited backlog stalled once its workers' credit had gone to other shards).
        if queue.count > 0, let release = queue.nextRelease { next = min(next, release) }
        if workers.anyCredit, queue.count > 0, let change = queue.nextHeadroomChange { next = min(next, change) }
        return next
    }

    // MARK: - The end of a turn

    /// Ends the turn: hands out work, then returns what to commit and, after the commit, what to send.
    /// Jobs that became final are forgotten once their rows are in the turn.
    public mutating func finishTurn(now: Timestamp) -> ShardTurn {
        settle(now: now)
        dispatch(now: now)
        settle(now: now)
        var turn = ShardTurn()
        logLeases(into: &turn, now: now)
        logSubmissions(into: &turn, now: now)
        if !noted.isEmpty && notedMembership != workers.membership {
            notedMembership = workers.membership
            // Only the jobs whose note the workers' coming or going changes are published again, each read in
            // place: a backlog that no worker can run would otherwise be published whole, a million statuses,
            // every time any worker came or went.
            var renoted: [Int64] = []
            for id in noted where jobs.contains(id) {
                let note = waitNote(requirement: jobs[id]!.requirement, state: jobs[id]!.state, run: jobs[id]!.spec.run)
                if note != jobs[id]!.waitNote { renoted.append(id) }
            }
            for id in renoted.sorted() { noteChange(id) }
        }
        var updates = announced
        // Each job changed once, in the order first changed (`changed` may name one again after settling it).
        for id in changedSet {
            guard let state = jobs[id]?.state else { continue }
            // Only a queued job, or one that had a note, may change its note: the others are read in place.
            if state == .queued || !jobs[id]!.waitNote.isEmpty {
                var job = jobs[id]!
                if noteWhyItWaits(&job) { jobs.updateValue(job, forKey: id) }
            }
            updates.append(Self.status(of: jobs[id]!, now: now))
        }
        if !updates.isEmpty {
            // In messages of at most 8 MiB each: a worker's coming or going changes the note of every job that
            // waited for one, a million at a time, and one message of them all could exceed the frame limit,
            // which every subscriber would refuse, and stop at, for ever.
            for batch in JobUpdates.batches(updates, budget: configuration.statusBudget) {
                sequence += 1
                turn.updateMessages.append(JobUpdates(publisher: configuration.publisher, epoch: epoch, sequence: sequence, updates: batch))
            }
            lastPublished = now
        } else if now.since(lastPublished) >= configuration.beaconInterval {
            turn.beacon = Beacon(publisher: configuration.publisher, epoch: epoch, sequence: sequence)
            lastPublished = now
        }
        for (peer, refs) in receipts { outbox.append((peer, .receipt(Receipt(tasks: refs)))) }
        if !queries.isEmpty { answerQueries(now: now) }
        // Each row as it was before this turn marks it stored (its insert or update), found once. A job that
        // became final is not copied here: it leaves memory below, and its row moves into the turn.
        turn.jobs.reserveCapacity(dirtyJobs.count)
        for id in dirtyJobs {
            let row = jobs.modifyIfPresent(id) { job -> ShardJob? in
                guard !job.state.isFinal else { return nil }
                defer {
                    job.stored = true
                    job.logged = false
                }
                return job
            }
            if case let row?? = row { turn.jobs.append(row) }
        }
        turn.tasks.reserveCapacity(dirtyTasks.count + carriedRows.count)
        for id in dirtyTasks {
            let row = tasks.modifyIfPresent(id) { task -> ShardTask in
                defer {
                    task.stored = true
                    task.leaseLogged = false
                }
                return task
            }
            if let row { turn.tasks.append(row) }
        }
        if !carriedRows.isEmpty {
            turn.tasks += carriedRows
            carriedRows = []
        }
        turn.succeeded = succeededTasks
        turn.endedAttempts = endedAttempts
        turn.starving = queue.takeStarvationReports()
        turn.refusedRegistrations = refusedRegistrations
        turn.ignoredTags = ignoredTags
        turn.namesInUse = namesInUse
        turn.foreignResults = foreignResults
        turn.tombstones = newTombstones
        turn.handedOverRows = handedOverRows
        turn.handedOverTasks = handedOverTasks
        turn.droppedSubmissions = droppedSubmissions
        turn.importedResults = importedResults
        turn.handedOverTaskRows = handedOverTaskRows
        turn.awayEnds = awayEnds
        turn.takenOver = takenOverRuns
        turn.appliedEnds = appliedEnds
        // A finishing job whose last task ended leaves: its ends are kept, its rows go.
        for id in finishedAway {
            guard let job = forget(id) else { continue }
            for task in job.tasks {
                // A lease still on an ended task is a restored one whose worker never came back: it ends here.
                if let lease = tasks.removeValue(forKey: task)?.lease { workers.released(task, from: lease) }
            }
            dirtyJobs.remove(id)
            droppedJobs.append(id)
            // A row inserted this turn (the job was only in the submission log) stays, for its task's write
            // to find: the commit deletes it after, with the others.
            turn.jobs.removeAll { $0.id == id && $0.stored }
            turn.handedOverRows.append(id)
            controls.jobForgotten(of: job.spec.run)
        }
        // The next IDs are kept, never to be given twice: past the tasks given this turn, whose rows may be
        // their jobs', and past rows deleted by a hand-over, which may hold the highest IDs.
        keepIDs = keepIDs || !turn.handedOverRows.isEmpty || !handedOverTaskRows.isEmpty
        if nextTaskID > reservedTaskIDs {
            reservedTaskIDs = nextTaskID + Self.taskIDBlock
            keepIDs = true
        }
        if keepIDs { turn.nextIDs = (reservedTaskIDs, nextJobID) }
        keepIDs = false
        turn.messages = outbox
        for (peer, _) in outbox { workers.sent(to: peer, now: now) }
        for id in dirtyJobs where jobs[id]?.state.isFinal == true {
            guard let job = forget(id) else { continue }
            for id in job.tasks {
                // A lease still on a final task is a restored one whose worker never came back: it ends here.
                if let lease = tasks.removeValue(forKey: id)?.lease { workers.released(id, from: lease) }
            }
            controls.jobForgotten(of: job.spec.run)
            // Last, so that the row moves into the turn rather than being copied, every reference retained.
            turn.jobs.append(job)
        }
        // Priorities are forgotten once the rows that finish the run's last jobs are in this turn.
        controls.takeChanges(into: &turn)
        dirtyJobs.clearForNextTurn()
        dirtyTasks.clearForNextTurn()
        // The turn took the set: emptied in place, it would be copied first. A new one, with the room it needed.
        succeededTasks = TurnSet(capacity: min(turn.succeeded.count, 4096))
        endedAttempts = []
        changed = []
        changedSet.clearForNextTurn()
        settled = 0
        settledSet.clearForNextTurn()
        announced = []
        outbox = []
        receipts = [:]
        refusedRegistrations = []
        ignoredTags = []
        namesInUse = []
        foreignResults = []
        newTombstones = [:]
        handedOverRows = []
        handedOverTasks = []
        droppedSubmissions = []
        importedResults = []
        handedOverTaskRows = []
        awayEnds = []
        finishedAway = []
        takenOverRuns = []
        appliedEnds = 0
        return turn
    }
}
