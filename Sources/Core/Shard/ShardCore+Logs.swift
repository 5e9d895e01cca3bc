/// The lease log and the submission log: what a turn writes there instead of rows, and how the logs'
/// rows are folded into rows as they age (`ShardStore+LeaseLog`, `ShardStore+SubmissionLog`).
extension ShardCore {
    /// How long a lease may stay in the lease log alone, in milliseconds: a task that ends sooner, as most
    /// do, has its row written once, at its end, not at its lease too.
    public static let leaseLogAge: Int64 = 1000

    /// How long a job may stay in the submission log with no row, in milliseconds: longer than a busy
    /// queue's usual wait, so that most jobs have their row written once, at their end; short enough that
    /// a restart reads little of the log (at most this long of submissions).
    public static let submissionLogAge: Int64 = 10_000
    /// The most jobs whose rows one turn writes in folding the submission log: a log put back by a restart
    /// folds in turns of this many, not in one.
    public static let submissionLogFoldBudget = 5_000

    /// Moves this turn's leases that nothing else changed into the turn's lease log row, out of the rows to
    /// write; and folds the log's rows older than ``leaseLogAge`` into the rows of their tasks still running
    /// on the attempt logged, deleting them in the same turn. A lease is committed either way before its
    /// TASKS goes, and a restart finds it in one place or the other.
    mutating func logLeases(into turn: inout ShardTurn, now: Timestamp) {
        for id in leasesToLog {
            // Anything since the lease (none expected) writes the row instead.
            guard tasks[id]?.state == .running, tasks[id]!.lease != nil, dirtyTasks.remove(id) else { continue }
            turn.leases.append(tasks.modify(id) { task -> ShardTask in
                task.leaseLogged = true
                return task
            })
        }
        leasesToLog = []
        if !turn.leases.isEmpty {
            turn.leaseLogSequence = nextLeaseLogSequence
            leaseLog.append((nextLeaseLogSequence, now, turn.leases.map { ($0.id, $0.attempt) }))
            nextLeaseLogSequence += 1
        }
        // A clock stepped back folds the log at once: its rows would otherwise wait for the step to pass.
        while let oldest = leaseLog.first, now.since(oldest.time) >= Self.leaseLogAge || now < oldest.time {
            for (id, attempt) in oldest.attempts where tasks[id]?.leaseLogged == true && tasks[id]!.attempt == attempt {
                dirtyTasks.insert(id)
            }
            turn.leaseLogThrough = oldest.sequence
            leaseLog.removeFirst()
        }
    }

    /// Moves this turn's new jobs that nothing else changed into the turn's submission log row, out of the
    /// rows to write; and folds the log's rows older than ``submissionLogAge`` into the rows of their jobs
    /// still held with none, deleting them in the same turn, up to ``submissionLogFoldBudget`` jobs a turn. A
    /// job's row is also written, whole, when a task kept in it changes without the job: that task has no
    /// row to go into before its job's.
    mutating func logSubmissions(into turn: inout ShardTurn, now: Timestamp) {
        // Sized once: a burst's turn logs a hundred thousand jobs or more, and an array grown by doubling
        // copied them all again at each step, into fresh pages beyond the heap's mmap threshold.
        turn.submissions.reserveCapacity(submissionsToLog.count)
        for id in submissionsToLog {
            // Read in place: a job copied out would retain and release every reference in it.
            guard jobs[id]?.logged == true, !jobs[id]!.stored, !jobs[id]!.state.isFinal, let task = jobs[id]!.tasks.first else { continue }
            // A task changed with its creation (anything but a logged lease), or a query that reads the job's
            // row, writes the row instead.
            if dirtyTasks.contains(task) || foldingRuns.contains(jobs[id]!.spec.run) {
                jobs.modify(id) { $0.logged = false }
                continue
            }
            guard dirtyJobs.remove(id) else { continue }
            turn.submissions.append(jobs[id]!)
        }
        submissionsToLog = []
        for run in foldingRuns {
            for id in byRun[run] ?? [] where jobs[id]?.logged == true { dirtyJobs.insert(id) }
        }
        foldingRuns = []
        if !turn.submissions.isEmpty {
            turn.submissionLogSequence = nextSubmissionLogSequence
            let ids = turn.submissions.lazy.map(\.id)
            submissionLog.append(LoggedSubmissions(sequence: nextSubmissionLogSequence, time: now, firstID: ids.min()!, lastID: ids.max()!))
            nextSubmissionLogSequence += 1
        }
        // A log row naming a job given up with its run is folded at once (in the hand-over's turn, for one
        // given up then): a restart never finds that job there, whatever became of its tombstone. The next
        // IDs are kept past it: no row may hold the highest.
        if !droppedJobs.isEmpty { keepIDs = true }
        for id in droppedJobs {
            guard let index = submissionLog.index(holding: id) else { continue }
            fold(submissionLog.remove(at: index), into: &turn)
        }
        droppedJobs = []
        // Not while jobs are still being put back: a row folded before its jobs are back would lose them. A
        // clock stepped back folds the log at once: its rows would otherwise wait for the step to pass.
        var folded = 0
        while !isRestoring, let oldest = submissionLog.first, folded < Self.submissionLogFoldBudget,
            now.since(oldest.time) >= Self.submissionLogAge || now < oldest.time
        {
            folded += Int(oldest.lastID - oldest.firstID + 1)
            fold(submissionLog.removeFirst(), into: &turn)
        }
        guard !submissionLog.isEmpty else { return }
        for id in dirtyTasks {
            guard tasks[id]?.inJobRow == true, let job = tasks[id]?.jobID, jobs[job]?.logged == true else { continue }
            dirtyJobs.insert(job)
        }
    }

    /// Writes this turn the rows of the jobs a row of the submission log names that are held with none, and
    /// deletes the log's row.
    private mutating func fold(_ row: LoggedSubmissions, into turn: inout ShardTurn) {
        for id in row.firstID...row.lastID where jobs[id]?.logged == true { dirtyJobs.insert(id) }
        turn.submissionLogDeleted.append(row.sequence)
    }

    /// Has this turn write the rows of the jobs of `run` the submission log holds, and log none of it: for
    /// a reader of the store that must find each of them there (an `attempts` query).
    public mutating func writeRows(of run: UInt64) {
        foldingRuns.insert(run)
    }

    /// The lowest job ID a row of the submission log names: retention keeps the rows from it on, which a
    /// restart must find for the jobs the log names (`Int64.max` when the log is empty).
    public var lowestLoggedJobID: Int64 { submissionLog.first?.firstID ?? .max }
}
