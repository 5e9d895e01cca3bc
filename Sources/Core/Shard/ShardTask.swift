public import Wire

/// Where a task stands in its shard.
public enum TaskState: UInt8, Sendable, CaseIterable {
    /// Waiting for a worker.
    case pending = 1
    /// Leased to a worker.
    case running = 2
    /// An attempt failed; waiting for its backoff before it is pending again.
    case retrying = 3
    /// Done. Final.
    case succeeded = 4
    /// Failed with no retries left. Final.
    case failed = 5
    /// Cancelled by an operator. Final.
    case cancelled = 6
    /// Running on the shard that handed its run over to this one: it finishes there, and its end comes
    /// from there (PARTITIONS-ENDED). Not handed out here until that end says to run it again.
    case away = 7

    /// Whether nothing more will happen to the task.
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// Who holds a running task.
public struct Lease: Equatable, Sendable {
    /// The worker's logical name.
    public var worker: String
    /// The worker process's session.
    public var session: UInt64
    /// The connection the task went out on; nil after a shard restart until the worker registers again
    /// (the ``WorkerRegistry`` keeps such a lease for a grace period).
    public var peer: Peer?
    /// The key the worker registered with (``WorkerCredentials``); nil for a keyless one. Stored, so that
    /// after a restart only the same name with the same key claims the lease.
    public var key: String?
    /// The heartbeat interval the worker was granted, in milliseconds (0: not known, a lease stored
    /// before it was kept). Stored, so that after a restart the worker is waited for as long as it may
    /// stay silent.
    public var heartbeat: Int64

    public init(worker: String, session: UInt64, peer: Peer?, key: String? = nil, heartbeat: Int64 = 0) {
        self.worker = worker
        self.session = session
        self.peer = peer
        self.key = key
        self.heartbeat = heartbeat
    }
}

/// One partition of one step of a job: the unit a worker runs.
///
/// What only a task handed out has (its lease, who ran it, how its last attempt ended, its result) is
/// kept apart, in ``AttemptRecord``, and a task never handed out has none: a deep queue is mostly such
/// tasks, and each costs what it needs to wait and be chosen, not the room for a result.
public struct ShardTask: Sendable {
    // Stored by size, largest first, each field where it needs no padding before it (the partition in the
    // room the job's identity leaves): a deep queue holds one for every job.
    /// The task's ID in its shard.
    public var id: UInt64
    /// The job it belongs to.
    public var job: JobIdentity
    /// The partition's index.
    public var partition: UInt32
    /// Its job's ID in the store.
    public var jobID: Int64
    /// When a retrying task may run again.
    public var due: Timestamp
    /// Its place in the queue among tasks of equal priority: smaller is older.
    public var order: UInt64
    /// Empty until something of an attempt is set, and again once all of it is back to defaults; else its
    /// one element. An array, not an optional: an optional record would take its room inline whether set
    /// or not, and save nothing.
    private var record: [AttemptRecord] = []
    /// The step's index.
    public var step: UInt16
    /// The last attempt handed out; 0 before the first.
    public var attempt: UInt16
    /// Attempts that failed or timed out (counted against the job's retries).
    public var failures: UInt16
    /// Attempts taken back because their worker was lost (not counted against retries).
    public var losses: UInt16
    /// How many times it was queued since the shard started: only its queue entry with this ticket is
    /// live (memory only).
    public var ticket: UInt32 = 0
    /// Where it stands.
    public var state: TaskState
    /// Whether the store has a row for it: the first write inserts one, later writes update it. (A task
    /// in its job's row is always written as part of that row.)
    public var stored = false
    /// Whether it is stored in its job's row, not in a row of its own: the task of a job of one step of
    /// one partition with a small spec (``ShardJob/keepsItsTaskInItsRow``), unless a row of its own was
    /// written for it before the store kept such tasks so.
    public var inJobRow = false
    /// Whether its current lease is kept in the store's lease log and not yet in its row: set for a
    /// lease that alone changed the task in its turn (``ShardTurn/leases``), cleared once the task's row
    /// is written (memory only).
    public var leaseLogged = false

    public init(
        id: UInt64, job: JobIdentity, jobID: Int64, step: UInt16, partition: UInt32, state: TaskState = .pending, attempt: UInt16 = 0,
        failures: UInt16 = 0, losses: UInt16 = 0, due: Timestamp = .zero, order: UInt64, lease: Lease? = nil,
        started: Timestamp = .zero, finished: Timestamp = .zero, exitCode: Int32 = 0, output: String = "",
        log: String = "", error: String = "", data: [UInt8] = []
    ) {
        self.id = id
        self.job = job
        self.jobID = jobID
        self.step = step
        self.partition = partition
        self.state = state
        self.attempt = attempt
        self.failures = failures
        self.losses = losses
        self.due = due
        self.order = order
        let record = AttemptRecord(
            lease: lease, started: started, finished: finished, exitCode: exitCode, output: output, log: log, error: error, data: data)
        if record != AttemptRecord() { self.record = [record] }
    }

    /// The attempt as the wire names it.
    public var ref: TaskRef { TaskRef(task: id, attempt: attempt) }

    /// Who holds it while running.
    public var lease: Lease? {
        get { record.isEmpty ? nil : record[0].lease }
        set {
            // As in every setter of the record's fields: a value it holds already (a lease's reset of an
            // attempt's end, as a rule) changes nothing, and is not compared with a whole record of defaults.
            guard newValue != lease else { return }
            record.change(creating: newValue != nil) { $0.lease = newValue }
        }
    }
    /// The worker that runs, or ran, its current attempt; empty before its first.
    public var worker: String {
        get { record.isEmpty ? "" : record[0].worker }
        set {
            guard newValue != worker else { return }
            record.change(creating: !newValue.isEmpty) { $0.worker = newValue }
        }
    }
    /// When the last attempt was handed out.
    public var started: Timestamp {
        get { record.isEmpty ? .zero : record[0].started }
        set {
            guard newValue != started else { return }
            record.change(creating: newValue != .zero) { $0.started = newValue }
        }
    }
    /// When it reached a final state.
    public var finished: Timestamp {
        get { record.isEmpty ? .zero : record[0].finished }
        set {
            guard newValue != finished else { return }
            record.change(creating: newValue != .zero) { $0.finished = newValue }
        }
    }
    /// How the last attempt ended (exit status, output tail, where the output went, the error).
    public var exitCode: Int32 {
        get { record.isEmpty ? 0 : record[0].exitCode }
        set {
            guard newValue != exitCode else { return }
            record.change(creating: newValue != 0) { $0.exitCode = newValue }
        }
    }
    public var output: String {
        get { record.isEmpty ? "" : record[0].output }
        set {
            guard newValue != output else { return }
            record.change(creating: !newValue.isEmpty) { $0.output = newValue }
        }
    }
    public var log: String {
        get { record.isEmpty ? "" : record[0].log }
        set {
            guard newValue != log else { return }
            record.change(creating: !newValue.isEmpty) { $0.log = newValue }
        }
    }
    public var error: String {
        get { record.isEmpty ? "" : record[0].error }
        set {
            guard newValue != error else { return }
            record.change(creating: !newValue.isEmpty) { $0.error = newValue }
        }
    }
    /// The result the last successful attempt committed.
    public var data: [UInt8] {
        get { record.isEmpty ? [] : record[0].data }
        set {
            guard newValue != data else { return }
            record.change(creating: !newValue.isEmpty) { $0.data = newValue }
        }
    }
    /// While running: what fair selection charged for it, corrected when it ends (memory only).
    public var charge: FairQueue.Charge? {
        get { record.isEmpty ? nil : record[0].charge }
        set {
            guard newValue != charge else { return }
            record.change(creating: newValue != nil) { $0.charge = newValue }
        }
    }

    /// Whether the task holds a record of an attempt: none until something of one is set.
    var holdsAttemptRecord: Bool { !record.isEmpty }

}

extension ShardTask: Equatable {
    /// Equal when every field is, whether or not one of them holds a record of nothing but defaults.
    public static func == (lhs: ShardTask, rhs: ShardTask) -> Bool {
        lhs.id == rhs.id && lhs.job == rhs.job && lhs.jobID == rhs.jobID && lhs.step == rhs.step && lhs.partition == rhs.partition
            && lhs.state == rhs.state && lhs.attempt == rhs.attempt && lhs.failures == rhs.failures && lhs.losses == rhs.losses
            && lhs.due == rhs.due && lhs.order == rhs.order && lhs.stored == rhs.stored && lhs.inJobRow == rhs.inJobRow && lhs.leaseLogged == rhs.leaseLogged
            && lhs.ticket == rhs.ticket
            && (lhs.record.first ?? AttemptRecord()) == (rhs.record.first ?? AttemptRecord())
    }
}

/// A record most values of a type leave at its defaults, held out of line as an array of none or one:
/// a task's attempt (``AttemptRecord``), a job's extras (``JobExtras``).
protocol OutOfLineRecord: Equatable {
    init()
}

extension Array where Element: OutOfLineRecord {
    /// Changes the one record: a change to none that sets nothing but defaults (not `creating`) is none,
    /// and a record back to nothing but defaults goes.
    mutating func change(creating: Bool, _ body: (inout Element) -> Void) {
        if isEmpty {
            guard creating else { return }
            append(Element())
        }
        body(&self[0])
        if !creating && self[0] == Element() { removeAll() }
    }
}

/// What a task handed out carries beyond what it needs to wait: its lease, and how its last attempt went.
struct AttemptRecord: OutOfLineRecord, Sendable {
    var lease: Lease?
    var worker = ""
    var started = Timestamp.zero
    var finished = Timestamp.zero
    var exitCode: Int32 = 0
    var output = ""
    var log = ""
    var error = ""
    var data: [UInt8] = []
    var charge: FairQueue.Charge?
}

/// How many of a step's tasks are in each state.
public struct TaskCounts: Equatable, Sendable {
    public var pending: UInt32 = 0
    public var running: UInt32 = 0
    public var retrying: UInt32 = 0
    public var succeeded: UInt32 = 0
    public var failed: UInt32 = 0
    public var cancelled: UInt32 = 0
    public var away: UInt32 = 0

    public init() {}

    /// The count of tasks in `state`.
    public subscript(state: TaskState) -> UInt32 {
        get {
            switch state {
            case .pending: pending
            case .running: running
            case .retrying: retrying
            case .succeeded: succeeded
            case .failed: failed
            case .cancelled: cancelled
            case .away: away
            }
        }
        set {
            switch state {
            case .pending: pending = newValue
            case .running: running = newValue
            case .retrying: retrying = newValue
            case .succeeded: succeeded = newValue
            case .failed: failed = newValue
            case .cancelled: cancelled = newValue
            case .away: away = newValue
            }
        }
    }
}

/// A job as its shard holds it: the submitted spec and the state derived from its tasks.
public struct ShardJob: Sendable {
    // Stored by size, largest first, so that no field needs padding before it: a shard holds one for every
    // job it has queued.
    /// The job's ID in its shard's store.
    public var id: Int64
    /// What was submitted.
    public var spec: JobSpec
    /// The tasks of the step in progress, by partition.
    public var tasks: TaskList
    /// When its current step's tasks were queued.
    public var queued: Timestamp = .zero
    /// When its first task was handed out; `.zero` if never.
    public var started: Timestamp
    /// When it reached a final state; `.zero` if not final.
    public var finished: Timestamp
    /// While it is queued and no registered worker can run it, why (``ShardCore/noteWhyItWaits(_:)``):
    /// published in place of `detail`, and never stored. Inline, not among the extras: a queue that builds
    /// up while no worker can run it has a note on every job.
    public var waitNote = ""
    /// What a worker needs to run the current step's tasks (derived from the spec, not stored).
    public var requirement = Requirement(kind: .command, handler: "", tags: [])
    /// Empty while none of `output`, `detail`, `previous` and `upstream` is set; then its one element. Most
    /// jobs of a deep queue have none of them: kept apart, they cost such a job nothing.
    @usableFromInline internal private(set) var extras: [JobExtras] = []
    /// The current step's tasks by state, kept as tasks move, so a job of many partitions costs O(1) per change.
    public var counts: TaskCounts
    /// Tasks of earlier steps, all succeeded.
    public var completed: UInt32
    /// The step in progress.
    public var step: UInt16
    /// The highest attempt handed out.
    public var attempts: UInt16
    /// The job's state.
    public var state: JobState
    /// Whether an operator cancelled it: nothing of it is queued again, and it ends cancelled.
    public var cancelled: Bool
    /// Whether its run was handed over while tasks of it ran here: only those remain, finishing here, and
    /// each end goes to the run's new shard (``ShardCore/finishingEnded(_:outcome:now:)``), never retried
    /// here. The job leaves the shard when the last has ended.
    public var finishing = false
    /// Whether the store has a row for it: the first write inserts one, with the spec, and later writes
    /// update only what changes.
    public var stored = false
    /// Whether its row is not written yet because its submission is in the store's submission log (or
    /// goes there this turn, ``ShardTurn/submissions``): set for a job submitted with its one task in its
    /// row, cleared once its row is written, at its end as a rule.
    public var logged = false

    public init(
        id: Int64, spec: JobSpec, state: JobState = .queued, step: UInt16 = 0, tasks: TaskList = [],
        completed: UInt32 = 0, counts: TaskCounts = TaskCounts(), attempts: UInt16 = 0, started: Timestamp = .zero, finished: Timestamp = .zero,
        output: String = "", detail: String = "", cancelled: Bool = false
    ) {
        self.id = id
        self.spec = spec
        self.state = state
        self.step = step
        self.tasks = tasks
        self.completed = completed
        self.counts = counts
        self.attempts = attempts
        self.started = started
        self.finished = finished
        self.cancelled = cancelled
        self.output = output
        self.detail = detail
    }

    /// The job's identity.
    public var identity: JobIdentity { spec.identity }

    /// Whether the job's one task is stored in the job's own row: a job of one step of one partition
    /// whose spec is small. A write of the task rewrites the whole row, spec and all: a large spec (up to
    /// 16 MiB) keeps its task in a row of its own, so that a lease writes a page, not the spec again.
    public var keepsItsTaskInItsRow: Bool {
        spec.steps.count == 1 && spec.steps[0].partitions == 1 && spec.encodedSize <= Self.taskInRowSpecLimit
    }
    /// The largest spec, in octets encoded, whose job keeps its task in its row: with it, the row fits a
    /// page of the store.
    public static let taskInRowSpecLimit = 1024

    /// Where the last finished task's output went.
    public var output: String {
        // Inlinable, as `detail`: the store reads both of each job it writes where the job lies, and a call
        // to another module's getter was given a copy of the whole job.
        @inlinable get { extras.isEmpty ? "" : extras[0].output }
        set { extras.change(creating: !newValue.isEmpty) { $0.output = newValue } }
    }
    /// The last error.
    public var detail: String {
        @inlinable get { extras.isEmpty ? "" : extras[0].detail }
        set { extras.change(creating: !newValue.isEmpty) { $0.detail = newValue } }
    }
    /// The results of the previous step, in partition order: what the current step's tasks receive
    /// (kept in memory; read back from the store after a restart).
    public var previous: [TaskInput] {
        get { extras.isEmpty ? [] : extras[0].previous }
        // Changed in place (`job.previous.append`), not copied out and back once per change.
        _modify {
            if extras.isEmpty { extras.append(JobExtras()) }
            defer { if extras[0] == JobExtras() { extras = [] } }
            yield &extras[0].previous
        }
    }
    /// The results of the upstream jobs the spec names in `inputs`, by job: what the first step's tasks
    /// receive.
    public var upstream: [String: [TaskInput]] {
        get { extras.isEmpty ? [:] : extras[0].upstream }
        // Changed in place: `job.upstream[name] = results` for each input, copied out and back, would
        // copy the dictionary each time.
        _modify {
            if extras.isEmpty { extras.append(JobExtras()) }
            defer { if extras[0] == JobExtras() { extras = [] } }
            yield &extras[0].upstream
        }
    }


    /// A job of nothing, to take the place of one moved out of an array.
    static let placeholder = ShardJob(id: 0, spec: JobSpec(run: 0, job: "", product: "", flow: "", moment: 0, type: "", steps: []))
}

extension ShardJob: Equatable {
    /// Equal when every field is, whether or not one of them holds extras of nothing but defaults.
    public static func == (lhs: ShardJob, rhs: ShardJob) -> Bool {
        lhs.id == rhs.id && lhs.spec == rhs.spec && lhs.state == rhs.state && lhs.step == rhs.step && lhs.tasks == rhs.tasks
            && lhs.completed == rhs.completed && lhs.counts == rhs.counts && lhs.attempts == rhs.attempts && lhs.queued == rhs.queued
            && lhs.started == rhs.started && lhs.finished == rhs.finished && lhs.cancelled == rhs.cancelled
            && lhs.waitNote == rhs.waitNote && lhs.finishing == rhs.finishing && lhs.requirement == rhs.requirement && lhs.stored == rhs.stored
            && lhs.logged == rhs.logged
            && (lhs.extras.first ?? JobExtras()) == (rhs.extras.first ?? JobExtras())
    }
}

/// What few jobs have, kept apart from those that have none of it (``ShardJob``).
@usableFromInline struct JobExtras: OutOfLineRecord, Sendable {
    @usableFromInline var output = ""
    @usableFromInline var detail = ""
    var previous: [TaskInput] = []
    var upstream: [String: [TaskInput]] = [:]
}

/// A job of a run by name, whatever its generation: where a job's results are looked up.
public struct RunJob: Hashable, Sendable {
    public var run: UInt64
    public var job: String

    public init(run: UInt64, job: String) {
        self.run = run
        self.job = job
    }
}

/// What an earlier generation of a job completed, for a submission with `resume`: the step it had
/// reached, and the results of that step's partitions that succeeded and of the step before.
public struct CarriedWork: Equatable, Sendable {
    /// The first step that did not complete.
    public var step: UInt16
    /// Tasks of the steps before it.
    public var completed: UInt32
    /// The step's partitions that succeeded, with their results.
    public var succeeded: [TaskInput]
    /// The results of the step before, for the step's inputs.
    public var previous: [TaskInput]
    /// For a job taken over: how far the step's other partitions' attempts had gone.
    public var attempts: [PartitionAttempts]
    /// For a job taken over: the step's partitions still running on the old shard, with their attempts.
    public var away: [PartitionAttempts]

    public init(
        step: UInt16, completed: UInt32, succeeded: [TaskInput], previous: [TaskInput], attempts: [PartitionAttempts] = [],
        away: [PartitionAttempts] = []
    ) {
        self.step = step
        self.completed = completed
        self.succeeded = succeeded
        self.previous = previous
        self.attempts = attempts
        self.away = away
    }
}

/// What the store knows of the jobs of a SUBMIT that the shard no longer holds in memory.
public struct SubmissionLookup: Sendable {
    /// The last committed status of jobs the shard held before.
    public var finished: [JobIdentity: JobStatus]
    /// The results of upstream jobs that new jobs name in `inputs`.
    public var results: [RunJob: [TaskInput]]
    /// What earlier generations completed, for new jobs submitted with `resume`.
    public var carried: [JobIdentity: CarriedWork]

    public init(finished: [JobIdentity: JobStatus] = [:], results: [RunJob: [TaskInput]] = [:], carried: [JobIdentity: CarriedWork] = [:]) {
        self.finished = finished
        self.results = results
        self.carried = carried
    }
}
