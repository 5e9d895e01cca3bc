public import Core
import Wire

/// A shard's restart: a new epoch, and the unfinished work read back, the jobs a worker or another shard
/// may name at once and the other open jobs a batch at a time.
extension ShardStore {
    /// Starts a new epoch and reads back the unfinished work.
    public func open() throws -> (epoch: UInt32, snapshot: ShardSnapshot) {
        let (epoch, snapshot, _) = try open(firstBatch: .max)
        return (epoch, snapshot)
    }

    /// Where putting back a deep queue has got to: the open jobs are read by ID, a batch at a time
    /// (``openJobs(from:limit:)``), skipping those read at the start. By ID alone: a job's row changes
    /// state as it runs (a new step is written running), and a cursor by state would meet it again.
    public struct RestoreCursor: Sendable {
        /// Read at the start, whatever their place: jobs with tasks stored, jobs finishing, and logged jobs
        /// whose leases are logged.
        var early: Set<Int64>
        var after: Int64 = 0
        /// Whether every open job's row has been read; then the submission log's rows are, one at a time.
        var rowsDone = false
        var logRows: [SubmissionLogRow] = []
        var logIndex = 0
        var handedOver: [UInt64: UInt32] = [:]
        /// Whether every open job has been read.
        public internal(set) var isDone = false
    }

    /// Begins a new epoch and reads what the shard restores: every open job a worker or another shard may
    /// name (a task of it stored, because it was leased; or finishing for a run handed over) and the first
    /// `firstBatch` of the other open jobs, and the cursor to read the rest with, if any are left.
    public func open(firstBatch: Int) throws -> (epoch: UInt32, snapshot: ShardSnapshot, rest: RestoreCursor?) {
        let epoch = try database.nextEpoch()
        var snapshot = ShardSnapshot()
        // The stored tasks of open jobs: those ever leased. Their jobs are known below.
        var storedTasks: [Int64: [ShardTask]] = [:]
        // Those of earlier steps are history: never held in memory, and no worker names them.
        let tasks = try database.prepare(Self.storedTasksOfOpenJobs)
        defer { tasks.reset() }
        let unknown = JobIdentity(run: 0, job: "", generation: 0)
        while try tasks.step() {
            let jobID = tasks.int64(1)
            let lease =
                tasks.isNull(10)
                ? nil
                : Lease(
                    worker: tasks.text(10), session: UInt64(bitPattern: tasks.int64(11)), peer: nil,
                    key: tasks.isNull(19) ? nil : tasks.text(19), heartbeat: tasks.int64(21))
            var task = ShardTask(
                id: UInt64(tasks.int64(0)), job: unknown, jobID: jobID, step: UInt16(tasks.int(2)), partition: UInt32(tasks.int(3)),
                state: TaskState(rawValue: UInt8(tasks.int(4))) ?? .pending, attempt: UInt16(tasks.int(5)),
                failures: UInt16(tasks.int(6)), losses: UInt16(tasks.int(7)), due: Timestamp(milliseconds: tasks.int64(8)),
                order: UInt64(tasks.int64(9)), lease: lease, started: Timestamp(milliseconds: tasks.int64(12)),
                finished: Timestamp(milliseconds: tasks.int64(13)), exitCode: Int32(truncatingIfNeeded: tasks.int64(14)),
                output: tasks.text(15), log: tasks.text(16), error: tasks.text(17), data: tasks.blob(18))
            task.worker = tasks.text(20)
            task.stored = true
            task.inJobRow = tasks.bool(22)
            storedTasks[jobID, default: []].append(task)
        }
        // Leases logged and not yet in their rows: their jobs are read now, and each lease goes back on its
        // task unless the row holds that attempt or a later one.
        let (logged, leaseLogThrough) = try loggedLeases()
        var early = Set(storedTasks.keys).union(logged.keys)
        // By their own index: the planner would take the open jobs' and read every one (0.3 s at a million).
        let finishing = try database.prepare("SELECT id FROM jobs INDEXED BY jobs_finishing WHERE finishing = 1 AND \(Self.isOpen())")
        while try finishing.step() { early.insert(finishing.int64(0)) }
        finishing.reset()
        let byID = try database.prepare("SELECT \(Self.jobColumns) FROM jobs WHERE id = ? AND \(Self.isOpen())")
        for id in early.sorted() {
            byID.bind(1, id)
            if try byID.step() { snapshot.jobs.append(try Self.job(byID)) }
            byID.reset()
        }
        // The submission log's rows; the jobs of logged leases with no row are in them, and are read now,
        // before the leases are put back. The others are read after the rows, a batch at a time.
        let logRows = try submissionLogRows()
        let handedOver = try handedOverRuns()
        let unwritten = Set(logged.keys).subtracting(snapshot.jobs.map(\.id))
        for index in Set(unwritten.compactMap { logRows.index(holding: $0) }).sorted() {
            let jobs = try loggedJobs(of: logRows[index], handedOver: handedOver) { unwritten.contains($0) }
            snapshot.jobs += jobs
            early.formUnion(jobs.map(\.id))
        }
        snapshot.submissionLog = logRows
        Self.putBack(logged, on: snapshot.jobs, into: &storedTasks)
        snapshot.leaseLogThrough = leaseLogThrough
        // The stored tasks of each job's current step go with it; a task of an earlier step is history.
        for job in snapshot.jobs {
            for var task in storedTasks[job.id] ?? [] where task.step == job.step {
                task.job = job.identity
                snapshot.tasks.append(task)
            }
        }
        var cursor = RestoreCursor(early: early, logRows: logRows, handedOver: handedOver)
        let first = try readOpenJobs(from: &cursor, limit: firstBatch)
        snapshot.jobs.reserveCapacity(snapshot.jobs.count + first.count)
        snapshot.jobs += first
        snapshot.more = !cursor.isDone
        // The log's rows counted at most: jobs of them may have rows, or other jobs' IDs come between theirs.
        let inLog = logRows.reduce(0) { $0 + Int($1.lastID - $1.firstID + 1) }
        snapshot.openJobs = snapshot.more ? Int(try scalar(Self.openCount)) + inLog : snapshot.jobs.count
        try addInputs(to: &snapshot.jobs)
        let paused = try database.prepare("SELECT run FROM paused")
        while try paused.step() { snapshot.paused.insert(UInt64(bitPattern: paused.int64(0))) }
        paused.reset()
        let policies = try database.prepare(
            "SELECT product, weight, cap, rate, burst, priority_over_fairness, key_weights FROM policies ORDER BY product")
        while try policies.step() {
            snapshot.policies.append(
                ProductPolicy(
                    product: policies.text(0), weight: UInt32(policies.int(1)), cap: UInt32(policies.int(2)), rate: UInt32(policies.int(3)),
                    burst: UInt32(policies.int(4)), priorityOverFairness: policies.int(5) == 0 ? 0 : 1,
                    keyWeights: try Self.decodeKeyWeights(policies.blob(6))))
        }
        policies.reset()
        snapshot.handedOver = handedOver
        let priorities = try database.prepare("SELECT run, priority FROM priorities")
        while try priorities.step() {
            snapshot.priorities[UInt64(bitPattern: priorities.int64(0))] = UInt8(clamping: priorities.int(1))
        }
        priorities.reset()
        snapshot.sequence = try log.newest()
        // Past every ID a row has had: rows are deleted by hand-overs and retention, and an ID given again
        // could be taken for the one before it. Task IDs kept in jobs' rows are below the bound `meta` keeps.
        snapshot.nextTaskID = UInt64(max(try scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM task_rows"), try database.meta("next_task_id") ?? 0))
        snapshot.nextJobID = max(
            try scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM jobs"), try database.meta("next_job_id") ?? 0, (logRows.last?.lastID ?? 0) + 1)
        return (epoch, snapshot, snapshot.more ? cursor : nil)
    }

    /// The next `limit` open jobs after `cursor` (none of them with a task stored: those were read at the
    /// start), with what their tasks receive; fewer when the last is read (`cursor.isDone`).
    public func openJobs(from cursor: inout RestoreCursor, limit: Int) throws -> [ShardJob] {
        var jobs = try readOpenJobs(from: &cursor, limit: limit)
        try addInputs(to: &jobs)
        return jobs
    }

    /// The rows first, then the submission log's jobs a log row at a time: a batch may pass `limit` by up to
    /// one turn's submissions.
    fileprivate func readOpenJobs(from cursor: inout RestoreCursor, limit: Int) throws -> [ShardJob] {
        var jobs: [ShardJob] = []
        while jobs.count < limit && !cursor.isDone {
            if cursor.rowsDone {
                // The submission log's jobs, a row of it at a time, after every row of the jobs table.
                if cursor.logIndex < cursor.logRows.count {
                    let early = cursor.early
                    jobs += try loggedJobs(of: cursor.logRows[cursor.logIndex], handedOver: cursor.handedOver) { !early.contains($0) }
                    cursor.logIndex += 1
                } else {
                    cursor.isDone = true
                }
                continue
            }
            // By ID, each batch starting where the last stopped, through the open jobs' index of their IDs:
            // never a finished row, however many are kept.
            let page = try database.prepare(Self.openJobsAfter)
            defer { page.reset() }
            let asked = min(limit - jobs.count, 100_000)
            page.bind(1, cursor.after)
            page.bind(2, asked)
            var read = 0
            while try page.step() {
                read += 1
                cursor.after = page.int64(0)
                if cursor.early.contains(cursor.after) { continue }
                jobs.append(try Self.job(page))
            }
            if read < asked { cursor.rowsDone = true }
        }
        return jobs
    }

    /// The stored tasks of open jobs' current steps, by `jobs_open`: those ever leased, in rows of their own
    /// and in their jobs' rows, with which (the last column). The second part reads every open job's row:
    /// about 0.3 s at a million.
    static let storedTasksOfOpenJobs = """
        SELECT t.id, t.job_id, t.step, t.partition, t.state, t.attempt, t.failures, t.losses, t.due, t.ord, t.lease_worker,
               t.lease_session, t.started, t.finished, t.exit_code, t.output, t.log, t.error, t.data, t.lease_key, t.worker,
               t.lease_heartbeat, 0
        FROM task_rows t JOIN jobs j ON j.id = t.job_id WHERE \(isOpen("j")) AND t.step = j.step
        UNION ALL
        SELECT task_id, id, 0, 0, task_state, task_attempt, task_failures, task_losses, task_due, task_ord, task_lease_worker,
               task_lease_session, task_started, task_finished, task_exit_code, task_output, task_log, task_error, task_data,
               task_lease_key, task_worker, task_lease_heartbeat, 1
        FROM jobs WHERE \(isOpen()) AND task_id IS NOT NULL
        ORDER BY 1
        """
    /// A batch of open jobs by ID, after one, by `jobs_open`.
    static let openJobsAfter = "SELECT \(jobColumns) FROM jobs INDEXED BY jobs_open WHERE id > ? AND \(isOpen()) ORDER BY id LIMIT ?"
    /// How many open jobs there are, by `jobs_open`.
    static let openCount = "SELECT COUNT(*) FROM jobs WHERE \(isOpen())"
    static let jobColumns = "id, spec, state, step, completed, attempts, started, finished, output, detail, cancelled, queued, finishing"

    /// An open job from a row of ``jobColumns``.
    static func job(_ row: Statement) throws -> ShardJob {
        var job = ShardJob(
            id: row.int64(0), spec: try decode(row.blob(1)), state: JobState(rawValue: UInt8(row.int(2))) ?? .queued,
            step: UInt16(row.int(3)), completed: UInt32(row.int(4)), attempts: UInt16(row.int(5)),
            started: Timestamp(milliseconds: row.int64(6)), finished: Timestamp(milliseconds: row.int64(7)),
            output: row.text(8), detail: row.text(9), cancelled: row.bool(10))
        job.queued = Timestamp(milliseconds: row.int64(11))
        job.finishing = row.bool(12)
        job.stored = true
        return job
    }

    /// What each open job's current tasks receive: the previous step's results, or the upstream jobs'.
    fileprivate func addInputs(to jobs: inout [ShardJob]) throws {
        var upstream: [RunJob: [TaskInput]] = [:]
        for index in jobs.indices where jobs[index].step > 0 || !jobs[index].spec.inputs.isEmpty {
            let job = jobs[index]
            if job.step > 0 {
                jobs[index].previous = try succeeded(jobID: job.id, step: job.step - 1, spec: job.spec)
            }
            for name in job.spec.inputs {
                let key = RunJob(run: job.spec.run, job: name)
                if upstream[key] == nil { upstream[key] = try results(of: key) }
                jobs[index].upstream[name] = upstream[key]
            }
        }
    }
}
