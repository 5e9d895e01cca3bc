public import Core
import Wire

/// A shard's durable queue: its jobs, their tasks, and its event log, in one SQLite file.
///
/// A job's row is written when it is accepted, moves to another step, is cancelled or ends (and when a
/// task kept in it changes); a task's row when it is first leased and at each change after. A task never
/// leased has no row: its job implies it, and a restarted shard queues it again. The task of a job of
/// one step of one partition with a small spec is written in its job's row (`task_*` columns), not in a
/// row of its own (`task_rows`). The view `tasks` shows both.
///
/// A lease that alone changed such a task in its turn goes to the lease log instead (`ShardStore+LeaseLog`),
/// and the first generation of such a job, taken with nothing else changing it, goes whole to the
/// submission log (`ShardStore+SubmissionLog`), its row written when it ends or changes otherwise. A
/// restart reads all three back (`ShardStore+Restore`).
///
/// ``commit(_:)`` writes everything a turn produced in one transaction, so a crash leaves the shard
/// either before or after the turn, never inside it; only then does the runtime send what the turn
/// reported.
public final class ShardStore {
    /// The underlying database; the shard's event-loop thread owns it.
    public let database: Database
    /// The shard's event log.
    public let log: EventLog

    /// Opens (or creates) the shard's store at `path`.
    public init(path: String, synchronous: Database.Synchronous = Database.defaultSynchronous) throws {
        database = try Database.service(path: path, synchronous: synchronous, migrations: Self.migrations)
        log = EventLog(database: database)
    }

    /// A job is open (queued, running or retrying), and final: as ranges, the terms of the partial indexes
    /// `jobs_open`, `jobs_finishing` and `jobs_finished`, which a query must repeat word for word to use
    /// them. As `IN` lists, SQLite built a temporary table for each list each time it wrote a job's row:
    /// two thirds of the cost of an update.
    static func isOpen(_ table: String? = nil) -> String { "\(table.map { "\($0)." } ?? "")state BETWEEN 3 AND 5" }
    static func isFinal(_ table: String? = nil) -> String { "\(table.map { "\($0)." } ?? "")state >= 6" }

    /// The jobs ended before a time, oldest first, by `jobs_finished`: retention's batch.
    static let endedBefore = "SELECT id FROM jobs WHERE \(isFinal()) AND finished > 0 AND finished < ? AND id < ? ORDER BY finished LIMIT ?"

    func scalar(_ sql: String) throws -> Int64 {
        let statement = try database.prepare(sql)
        defer { statement.reset() }
        _ = try statement.step()
        return statement.int64(0)
    }

    static func decode(_ blob: [UInt8]) throws -> JobSpec {
        do {
            return try JobSpec.decodeStored(blob)
        } catch {
            throw SQLiteError(code: 11, extendedCode: 11, message: "a stored job spec does not decode: \(error)", sql: nil)
        }
    }

    static func decodeKeyWeights(_ blob: [UInt8]) throws -> [KeyWeight] {
        var reader = FrameReader(blob)
        do {
            let weights: [KeyWeight] = try reader.values("key-weights")
            try reader.finish()
            return weights
        } catch {
            throw SQLiteError(code: 11, extendedCode: 11, message: "a stored policy's key weights do not decode: \(error)", sql: nil)
        }
    }

    /// Deletes the jobs that ended longer than `retention` ago, with their tasks and results, at most
    /// `batch` jobs; returns how many it deleted. A job of a run rerun since has a new generation, and
    /// the one it replaced goes with the others; so do results taken over and ends of tasks that
    /// finished here for runs handed over (``trimTombstones(now:retention:batch:)`` deletes the
    /// tombstones themselves). Only rows of IDs `below` go: the submission log names those from it on, and
    /// a restart must find their rows (``ShardCore/lowestLoggedJobID``).
    @discardableResult
    public func trim(now: Timestamp, retention: Int64, below: Int64, batch: Int = 1000) throws -> Int {
        let before = now.milliseconds - retention
        return try database.transaction {
            let old = try database.prepare(Self.endedBefore)
            old.bind(1, before)
            old.bind(2, below)
            old.bind(3, batch)
            var jobs: [Int64] = []
            while try old.step() { jobs.append(old.int64(0)) }
            old.reset()
            if !jobs.isEmpty {
                // The rows deleted may be the newest ones: the next IDs stay past them.
                try database.setMeta("next_task_id", max(try scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM task_rows"), try database.meta("next_task_id") ?? 0))
                try database.setMeta("next_job_id", max(try scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM jobs"), try database.meta("next_job_id") ?? 0))
            }
            try deleteJobs(jobs)
            _ = try database.deleteBatch(
                "DELETE FROM imported_results WHERE rowid IN (SELECT rowid FROM imported_results WHERE time < ? LIMIT ?)", before, limit: batch)
            return jobs.count
        }
    }

    /// The columns of a task kept in its job's row, in the order ``bind(_:succeeded:to:from:)`` binds them,
    /// then its ID and place in the queue.
    static let jobRowTaskColumns = """
        task_state, task_attempt, task_failures, task_losses, task_due, task_lease_worker, task_lease_session, task_started,
        task_finished, task_exit_code, task_output, task_log, task_error, task_data, task_successes, task_lease_key, task_worker,
        task_lease_heartbeat, task_id, task_ord
        """
    /// The same columns set, the successes counted on.
    static let jobRowTaskChanges = """
        task_state = ?, task_attempt = ?, task_failures = ?, task_losses = ?, task_due = ?, task_lease_worker = ?,
        task_lease_session = ?, task_started = ?, task_finished = ?, task_exit_code = ?, task_output = ?, task_log = ?, task_error = ?,
        task_data = ?, task_successes = task_successes + ?, task_lease_key = ?, task_worker = ?, task_lease_heartbeat = ?, task_id = ?,
        task_ord = ?
        """

    static func placeholders(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ", ") }

    // A turn's statements, their text built once: the statement cache finds each by it.
    static let jobColumnsWritten = "id, run, job, generation, spec, state, step, completed, attempts, started, finished, output, detail, cancelled, queued, finishing"
    static let jobChanges = """
        state = ?, step = ?, completed = ?, attempts = ?, started = ?, finished = ?, output = ?, detail = ?, cancelled = ?, queued = ?,
        finishing = ?
        """
    static let insertJob = "INSERT INTO jobs (\(jobColumnsWritten)) VALUES (\(placeholders(16)))"
    static let updateJob = "UPDATE jobs SET \(jobChanges) WHERE id = ?"
    static let insertJobWithTask = "INSERT INTO jobs (\(jobColumnsWritten), \(jobRowTaskColumns)) VALUES (\(placeholders(16 + 20)))"
    static let updateJobWithTask = "UPDATE jobs SET \(jobChanges), \(jobRowTaskChanges) WHERE id = ?"
    static let insertTask = """
        INSERT INTO task_rows (id, job_id, step, partition, ord, state, attempt, failures, losses, due, lease_worker, lease_session, started,
            finished, exit_code, output, log, error, data, successes, lease_key, worker, lease_heartbeat)
        VALUES (\(placeholders(23)))
        """
    static let updateTask = """
        UPDATE task_rows SET state = ?, attempt = ?, failures = ?, losses = ?, due = ?, lease_worker = ?, lease_session = ?, started = ?,
            finished = ?, exit_code = ?, output = ?, log = ?, error = ?, data = ?, successes = successes + ?, lease_key = ?, worker = ?,
            lease_heartbeat = ?
        WHERE id = ?
        """
    static let updateTaskInJobRow = "UPDATE jobs SET \(jobRowTaskChanges) WHERE id = ?"

    /// Binds what changes of a task, wherever it is kept: 18 values from `column`, in the order of
    /// ``jobRowTaskColumns`` and of the task rows' updates.
    static func bind(_ task: ShardTask, succeeded: Bool, to statement: Statement, from column: Int32) {
        statement.bind(column, Int64(task.state.rawValue))
        statement.bind(column + 1, Int64(task.attempt))
        statement.bind(column + 2, Int64(task.failures))
        statement.bind(column + 3, Int64(task.losses))
        statement.bind(column + 4, task.due.milliseconds)
        statement.bind(column + 5, task.lease?.worker)
        statement.bind(column + 6, task.lease.map { Int64(bitPattern: $0.session) })
        statement.bind(column + 7, task.started.milliseconds)
        statement.bind(column + 8, task.finished.milliseconds)
        statement.bind(column + 9, Int64(task.exitCode))
        statement.bind(column + 10, task.output)
        statement.bind(column + 11, task.log)
        statement.bind(column + 12, task.error)
        statement.bind(column + 13, task.data)
        statement.bind(column + 14, succeeded ? 1 : 0)
        statement.bind(column + 15, task.lease?.key)
        statement.bind(column + 16, task.worker)
        statement.bind(column + 17, task.lease?.heartbeat ?? 0)
    }

    /// Binds a task kept in its job's row: what changes, then its ID and place in the queue, 20 values from
    /// `column` in the order of ``jobRowTaskColumns``.
    static func bindInJobRow(_ task: ShardTask, succeeded: Bool, to statement: Statement, from column: Int32) {
        bind(task, succeeded: succeeded, to: statement, from: column)
        statement.bind(column + 18, Int64(bitPattern: task.id))
        statement.bind(column + 19, Int64(bitPattern: task.order))
    }

    /// Commits a turn: its jobs, tasks and events, in one transaction. Returns the events' frames, to publish.
    @discardableResult
    public func commit(_ turn: ShardTurn, now: Timestamp) throws -> [[UInt8]] {
        guard turn.needsCommit else { return [] }
        return try database.transaction {
            let written = try writeJobs(of: turn)
            if turn.tasks.count > written.count { try writeTasks(of: turn, except: written) }
            try insert(turn.endedAttempts)
            try writeHandOvers(of: turn, now: now)
            if let next = turn.nextIDs {
                try database.setMeta("next_task_id", Int64(bitPattern: next.task))
                try database.setMeta("next_job_id", next.job)
            }
            try writeControls(of: turn)
            if !turn.leases.isEmpty { try appendLeases(turn.leases, sequence: turn.leaseLogSequence) }
            if let through = turn.leaseLogThrough { try deleteLeases(through: through) }
            if !turn.submissions.isEmpty { try appendSubmissions(turn.submissions, sequence: turn.submissionLogSequence) }
            if !turn.submissionLogDeleted.isEmpty { try deleteSubmissions(turn.submissionLogDeleted) }
            return try turn.updateMessages.map { updates in
                let frame = Message.jobUpdates(updates).encoded()
                try log.append(sequence: updates.sequence, epoch: updates.epoch, time: now, frame: frame)
                return frame
            }
        }
    }

    /// Writes the turn's jobs, each with its task when that is kept in the job's row and changed too;
    /// returns the indices in `turn.tasks` of the tasks so written.
    private func writeJobs(of turn: ShardTurn) throws -> Set<Int> {
        guard !turn.jobs.isEmpty else { return [] }
        // A task kept in its job's row is written with the job when both changed this turn: one write of
        // the row, not two.
        var withJob: [Int64: Int] = [:]
        var twice = Set<Int64>()
        for index in turn.tasks.indices where turn.tasks[index].inJobRow {
            let jobID = turn.tasks[index].jobID
            if withJob.updateValue(index, forKey: jobID) != nil { twice.insert(jobID) }
        }
        // A job has one task; were it ever given two, each is written alone, in the turn's order.
        for jobID in twice { withJob[jobID] = nil }
        var written = Set<Int>()
        // A new job's row is written whole, with its spec; later writes change only its state.
        let insert = try database.prepare(Self.insertJob)
        let update = try database.prepare(Self.updateJob)
        let insertWithTask = try database.prepare(Self.insertJobWithTask)
        let updateWithTask = try database.prepare(Self.updateJobWithTask)
        // One writer for every new job's spec: SQLite copies the blob it is bound to, so the writer's room
        // is used again, not allocated anew a job.
        var writer = FrameWriter(capacity: 256)
        // Each job is read where it lies: copied out of the turn, spec and all, and released after,
        // the jobs cost about 1% of a loaded shard's time.
        try turn.jobs.withUnsafeBufferPointer { jobs in
            for index in jobs.indices {
                let job = jobs.baseAddress! + index
                let task = withJob[job.pointee.id].map { turn.tasks[$0] }
                let statement = job.pointee.stored ? (task == nil ? update : updateWithTask) : (task == nil ? insert : insertWithTask)
                var column: Int32 = 1
                if !job.pointee.stored {
                    writer.reset()
                    job.pointee.spec.encode(to: &writer)
                    statement.bind(1, job.pointee.id)
                    statement.bind(2, Int64(bitPattern: job.pointee.spec.run))
                    statement.bind(3, job.pointee.spec.job)
                    statement.bind(4, Int64(job.pointee.spec.generation))
                    statement.bind(5, writer.bytes)
                    column = 6
                }
                statement.bind(column, Int64(job.pointee.state.rawValue))
                statement.bind(column + 1, Int64(job.pointee.step))
                statement.bind(column + 2, Int64(job.pointee.completed))
                statement.bind(column + 3, Int64(job.pointee.attempts))
                statement.bind(column + 4, job.pointee.started.milliseconds)
                statement.bind(column + 5, job.pointee.finished.milliseconds)
                statement.bind(column + 6, job.pointee.output)
                statement.bind(column + 7, job.pointee.detail)
                statement.bind(column + 8, job.pointee.cancelled)
                statement.bind(column + 9, job.pointee.queued.milliseconds)
                statement.bind(column + 10, job.pointee.finishing)
                column += 11
                if let task {
                    Self.bindInJobRow(task, succeeded: turn.succeeded.contains(task.id), to: statement, from: column)
                    column += 20
                    written.insert(withJob[job.pointee.id]!)
                }
                if job.pointee.stored { statement.bind(column, job.pointee.id) }
                try statement.runKeepingBindings()
            }
        }
        return written
    }

    /// Writes the turn's tasks but those at `written` (``writeJobs(of:)``).
    private func writeTasks(of turn: ShardTurn, except written: Set<Int>) throws {
        // A task's row is written at its first lease, and updated after. A task kept in its job's row
        // and written alone is an update: its job's row was written in the turn that took the job.
        let insert = try database.prepare(Self.insertTask)
        let update = try database.prepare(Self.updateTask)
        let inJobRow = try database.prepare(Self.updateTaskInJobRow)
        for (index, task) in turn.tasks.enumerated() where !written.contains(index) {
            let statement = task.inJobRow ? inJobRow : task.stored ? update : insert
            var column: Int32 = 1
            if !task.stored && !task.inJobRow {
                insert.bind(1, Int64(bitPattern: task.id))
                insert.bind(2, task.jobID)
                insert.bind(3, Int64(task.step))
                insert.bind(4, Int64(task.partition))
                insert.bind(5, Int64(bitPattern: task.order))
                column = 6
            }
            if task.inJobRow {
                Self.bindInJobRow(task, succeeded: turn.succeeded.contains(task.id), to: inJobRow, from: 1)
                inJobRow.bind(21, task.jobID)
            } else {
                Self.bind(task, succeeded: turn.succeeded.contains(task.id), to: statement, from: column)
                if task.stored { update.bind(19, Int64(bitPattern: task.id)) }
            }
            try statement.runKeepingBindings()
            if task.inJobRow && database.changes != 1 {
                throw SQLiteError(
                    code: 11, extendedCode: 11, message: "task \(task.id) belongs in the row of job \(task.jobID), which is not stored", sql: nil)
            }
        }
    }

    /// Writes what the turn's hand-overs changed: runs given up and finishing jobs done, with their rows
    /// deleted; the ends of tasks that finished here for runs now on another shard; the results runs
    /// taken over brought.
    private func writeHandOvers(of turn: ShardTurn, now: Timestamp) throws {
        if !turn.tombstones.isEmpty {
            let tombstone = try database.prepare("INSERT OR REPLACE INTO handed_over (run, generation, time, answer) VALUES (?, ?, ?, ?)")
            // The ends of an earlier hand-over of the run were all relayed before it could be handed over
            // again: kept, they would be told as this one's.
            let earlierEnds = try database.prepare("DELETE FROM away_ends WHERE run = ?")
            for (run, given) in turn.tombstones {
                earlierEnds.bind(1, Int64(bitPattern: run))
                try earlierEnds.run()
                tombstone.bind(1, Int64(bitPattern: run))
                tombstone.bind(2, Int64(given.generation))
                tombstone.bind(3, now.milliseconds)
                tombstone.bind(4, Message.handedOver(given.answer).encoded())
                try tombstone.run()
            }
        }
        if !turn.handedOverRows.isEmpty || !turn.handedOverTaskRows.isEmpty {
            // The jobs given up, with their tasks (what of them succeeded went with the answer), and
            // finishing jobs whose last task ended (their ends are kept); the tasks given up of jobs
            // that stay, finishing.
            try deleteJobs(turn.handedOverRows)
            let task = try database.prepare("DELETE FROM task_rows WHERE id = ?")
            for id in turn.handedOverTaskRows {
                task.bind(1, Int64(bitPattern: id))
                try task.run()
            }
        }
        if !turn.awayEnds.isEmpty {
            let statement = try database.prepare(
                "INSERT OR REPLACE INTO away_ends (run, job, step, partition, attempt, ended, time) VALUES (?, ?, ?, ?, ?, ?, ?)")
            for (run, end) in turn.awayEnds {
                var writer = FrameWriter(capacity: end.encodedSize)
                end.encode(to: &writer)
                statement.bind(1, Int64(bitPattern: run))
                statement.bind(2, end.job)
                statement.bind(3, Int64(end.step))
                statement.bind(4, Int64(end.partition))
                statement.bind(5, Int64(end.attempt))
                statement.bind(6, writer.bytes)
                statement.bind(7, now.milliseconds)
                try statement.run()
            }
        }
        if !turn.importedResults.isEmpty {
            let statement = try database.prepare(
                "INSERT OR REPLACE INTO imported_results (run, job, partition, step, partition_key, data, time) VALUES (?, ?, ?, ?, ?, ?, ?)")
            for (run, result) in turn.importedResults {
                statement.bind(1, Int64(bitPattern: run))
                statement.bind(2, result.job)
                statement.bind(3, Int64(result.partition))
                statement.bind(4, Int64(result.step))
                statement.bind(5, result.partitionKey)
                statement.bind(6, result.data)
                statement.bind(7, now.milliseconds)
                try statement.run()
            }
        }
    }

    /// Deletes jobs' rows, with their tasks' rows and their attempts.
    private func deleteJobs(_ ids: [Int64]) throws {
        let tasks = try database.prepare("DELETE FROM task_rows WHERE job_id = ?")
        let attempts = try database.prepare("DELETE FROM attempts WHERE job_id = ?")
        let job = try database.prepare("DELETE FROM jobs WHERE id = ?")
        for id in ids {
            tasks.bind(1, id)
            try tasks.run()
            attempts.bind(1, id)
            try attempts.run()
            job.bind(1, id)
            try job.run()
        }
    }

    /// Writes the turn's control changes: pauses, products' policies, runs' priorities set, and those
    /// forgotten with a run's last job.
    private func writeControls(of turn: ShardTurn) throws {
        if !turn.pauses.isEmpty {
            let pause = try database.prepare("INSERT OR IGNORE INTO paused (run) VALUES (?)")
            let resume = try database.prepare("DELETE FROM paused WHERE run = ?")
            for (run, paused) in turn.pauses {
                let statement = paused ? pause : resume
                statement.bind(1, Int64(bitPattern: run))
                try statement.run()
            }
        }
        if !turn.policies.isEmpty {
            let statement = try database.prepare(
                """
                INSERT OR REPLACE INTO policies (product, weight, cap, rate, burst, priority_over_fairness, key_weights)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for policy in turn.policies {
                var weights = FrameWriter(capacity: 64)
                weights.values(policy.keyWeights)
                statement.bind(1, policy.product)
                statement.bind(2, Int64(policy.weight))
                statement.bind(3, Int64(policy.cap))
                statement.bind(4, Int64(policy.rate))
                statement.bind(5, Int64(policy.burst))
                statement.bind(6, Int64(policy.priorityOverFairness))
                statement.bind(7, weights.bytes)
                try statement.run()
            }
        }
        if !turn.priorities.isEmpty {
            let statement = try database.prepare("INSERT OR REPLACE INTO priorities (run, priority) VALUES (?, ?)")
            for (run, priority) in turn.priorities {
                statement.bind(1, Int64(bitPattern: run))
                statement.bind(2, Int64(priority))
                try statement.run()
            }
        }
        if !turn.forgottenPriorities.isEmpty {
            let statement = try database.prepare("DELETE FROM priorities WHERE run = ?")
            for run in turn.forgottenPriorities {
                statement.bind(1, Int64(bitPattern: run))
                try statement.run()
            }
        }
    }
}
