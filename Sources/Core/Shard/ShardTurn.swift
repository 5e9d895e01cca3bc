public import Wire

/// What one turn of a shard produced: rows to commit, then an event to log and publish, then messages to send.
public struct ShardTurn: Sendable {
    /// Jobs created or changed.
    public var jobs: [ShardJob] = []
    /// Tasks created or changed.
    public var tasks: [ShardTask] = []
    /// Tasks whose lease was all that changed of them this turn: their leases go to the store's lease log,
    /// in one row of this turn (`leaseLogSequence`), not into their rows. A restart puts each back on its
    /// task when its row holds an earlier attempt.
    public var leases: [ShardTask] = []
    public var leaseLogSequence: Int64 = 0
    /// The lease log's rows to delete, up to and including this sequence: their leases are in rows now
    /// (this turn's, for those still running), or over.
    public var leaseLogThrough: Int64?
    /// Jobs submitted this turn with their one task in their row, and not changed otherwise in it: they go,
    /// whole, to the store's submission log, in one row of this turn (`submissionLogSequence`), and their
    /// rows are written when they end (or are changed otherwise, or have been logged for
    /// ``ShardCore/submissionLogAge``). A restart puts back each logged job that has no row.
    public var submissions: [ShardJob] = []
    public var submissionLogSequence: Int64 = 0
    /// The submission log's rows to delete: their jobs have rows now (this turn's, for those still open),
    /// or left the shard.
    public var submissionLogDeleted: [Int64] = []
    /// Attempts that ended otherwise than in success (retrying, failed, lost, cancelled): kept as each
    /// task's history, since its row goes on with its next attempt.
    public var endedAttempts: [EndedAttempt] = []
    /// Tasks that succeeded in this turn: the store counts successes, and a task succeeds once.
    public var succeeded = TurnSet<UInt64>()
    /// The statuses to append to the event log and publish, if any changed: as many JOB-UPDATES as keep each
    /// within ``JobUpdates/statusBudget``, numbered in sequence, all committed with the turn.
    public var updateMessages: [JobUpdates] = []
    /// Every status of the turn as one JOB-UPDATES, with the first message's sequence; nil if none changed.
    /// For reading the statuses only: it is no message, and is never logged or published.
    public var updates: JobUpdates? {
        guard var all = updateMessages.first else { return nil }
        if updateMessages.count > 1 { all.updates = updateMessages.flatMap(\.updates) }
        return all
    }
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
    /// READYs refused because their worker name is bound to another key (each answered DISCONNECT 403),
    /// to count and log; nothing to commit.
    public var refusedRegistrations: [RefusedRegistration] = []
    /// Tags READYs claimed that their pool's key may not claim, by worker: ignored (the worker is
    /// registered without them), to log; nothing to commit.
    public var ignoredTags: [(worker: String, tags: [String])] = []
    /// Worker names a READY of another process was refused under (DISCONNECT 409), to log; nothing to
    /// commit.
    public var namesInUse: [String] = []
    /// Results for attempts whose lease their sender does not hold, applied to nothing, by message: to
    /// count and log; nothing to commit.
    public var foreignResults: [ForeignResults] = []
    /// Runs handed over by a move, with the highest generation handed over and the answer: tombstones to store.
    public var tombstones: [UInt64: Tombstone] = [:]
    /// The rows of the jobs those runs gave up, to delete with their tasks'; and those tasks as they were
    /// given up (none running), for the simulator, which sees no later row of them.
    public var handedOverRows: [Int64] = []
    public var handedOverTasks: [ShardTask] = []
    /// Rows of tasks given up with their run whose job stays, finishing its running tasks: to delete.
    public var handedOverTaskRows: [UInt64] = []
    /// How tasks that finished here after their run was handed over ended, by run: to keep for the
    /// hand-over's answer asked again.
    public var awayEnds: [(run: UInt64, end: PartitionEnd)] = []
    /// Results of runs taken over, from jobs that succeeded on their old shard, by run: to store.
    public var importedResults: [(UInt64, TaskInput)] = []
    /// The next task and job IDs to keep, when this turn gave task IDs past the bound kept before, or
    /// deletes rows that may have held the highest: the store keeps them, so that IDs are never given
    /// twice (a stale result for a task ID given again would fit it).
    public var nextIDs: (task: UInt64, job: Int64)?
    /// Runs taken over, and ends of their tasks that finished on their old shard applied here, to log;
    /// nothing to commit.
    public var takenOver: [UInt64] = []
    public var appliedEnds = 0
    /// Submissions dropped because their run was handed over, to log; nothing to commit.
    public var droppedSubmissions: [JobIdentity] = []

    public init() {}

    /// Whether the turn has rows to commit.
    public var needsCommit: Bool {
        !jobs.isEmpty || !tasks.isEmpty || !updateMessages.isEmpty || !pauses.isEmpty || !policies.isEmpty || !priorities.isEmpty
            || !forgottenPriorities.isEmpty || !tombstones.isEmpty || !importedResults.isEmpty
            || !handedOverRows.isEmpty || !handedOverTaskRows.isEmpty || !awayEnds.isEmpty || nextIDs != nil
            || !leases.isEmpty || leaseLogThrough != nil
            || !submissions.isEmpty || !submissionLogDeleted.isEmpty
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
    /// Runs handed over to another shard, with the highest generation handed over.
    public var handedOver: [UInt64: UInt32] = [:]
    /// Whether the store holds open jobs beyond these, which only wait (none of their tasks was ever
    /// leased): they are put back a batch at a time (``ShardCore/restore(_:last:now:)``).
    public var more = false
    /// How many open jobs the store holds in all, these and the rest: the tables are sized for them once.
    public var openJobs = 0
    /// The last sequence of the store's lease log (0: none); the tasks whose leases it put back are
    /// among `tasks`, marked ``ShardTask/leaseLogged``.
    public var leaseLogThrough: Int64 = 0
    /// The rows of the store's submission log; the jobs of them put back are marked ``ShardJob/logged``:
    /// those whose leases are logged among `jobs`, the others later, with the batches of `more`.
    public var submissionLog: [SubmissionLogRow] = []

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

/// An attempt that ended otherwise than in success, as the shard keeps it in a task's history.
public struct EndedAttempt: Sendable, Equatable {
    public var jobID: Int64
    public var step: UInt16
    public var partition: UInt32
    public var attempt: UInt16
    public var worker: String
    public var started: Timestamp
    public var finished: Timestamp
    /// What became of the task: retrying, failed, pending (lost, to run again) or cancelled.
    public var state: TaskState
    public var exitCode: Int32
    public var output: String
    public var log: String
    public var error: String
}

/// A row of a shard's submission log, as a restart first reads it: the lowest and highest job ID it names.
/// Its jobs are read later, a batch at a time.
public struct SubmissionLogRow: LoggedIDRange, Sendable, Equatable {
    public var sequence: Int64
    public var firstID: Int64
    public var lastID: Int64

    public init(sequence: Int64, firstID: Int64, lastID: Int64) {
        self.sequence = sequence
        self.firstID = firstID
        self.lastID = lastID
    }
}

/// A row of the submission log as the shard keeps it in memory: when it was written (or put back), and the
/// range of job IDs it names. Jobs given IDs in that range but not logged are told apart by
/// ``ShardJob/logged``.
struct LoggedSubmissions: LoggedIDRange, Sendable {
    var sequence: Int64
    var time: Timestamp
    var firstID: Int64
    var lastID: Int64
}

/// A row of the submission log names the job IDs from `firstID` to `lastID`; the rows' ranges follow one
/// another, as IDs are given.
public protocol LoggedIDRange {
    var firstID: Int64 { get }
    var lastID: Int64 { get }
}

extension Array where Element: LoggedIDRange {
    /// The index of the row whose range holds `id`, if one does, by halves: the rows are in order.
    public func index(holding id: Int64) -> Int? {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if self[middle].lastID < id { low = middle + 1 } else { high = middle }
        }
        return low < count && self[low].firstID <= id ? low : nil
    }
}
