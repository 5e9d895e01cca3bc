public import Core
import Wire

/// One attempt of a job's task, as `attempts` tells it: from the task's row for its latest attempt, and
/// from its history for those before that did not succeed.
public struct AttemptRow: Sendable, Equatable {
    public var job: String
    public var generation: UInt32
    public var step: UInt16
    public var partition: UInt32
    public var attempt: UInt16
    public var worker: String
    public var started: Timestamp
    /// `.zero` while it runs.
    public var finished: Timestamp
    /// The task's state after it: running (still), succeeded, retrying, failed, pending (lost), cancelled.
    public var state: TaskState
    public var exitCode: Int32
    public var output: String
    public var log: String
    public var error: String
}

extension ShardStore {
    /// Keeps the attempts a turn ended otherwise than in success: each task's history. Inside the turn's transaction.
    func insert(_ attempts: [EndedAttempt]) throws {
        guard !attempts.isEmpty else { return }
        let statement = try database.prepare(
            """
            INSERT OR REPLACE INTO attempts (job_id, step, partition, attempt, worker, started, finished, state, exit_code, output, log, error)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for attempt in attempts {
            statement.bind(1, attempt.jobID)
            statement.bind(2, Int64(attempt.step))
            statement.bind(3, Int64(attempt.partition))
            statement.bind(4, Int64(attempt.attempt))
            statement.bind(5, attempt.worker)
            statement.bind(6, attempt.started.milliseconds)
            statement.bind(7, attempt.finished.milliseconds)
            statement.bind(8, Int64(attempt.state.rawValue))
            statement.bind(9, Int64(attempt.exitCode))
            statement.bind(10, attempt.output)
            statement.bind(11, attempt.log)
            statement.bind(12, attempt.error)
            try statement.run()
        }
    }

    /// Every attempt the store holds of run `run`'s job `job` (or all its jobs), every generation, in
    /// order of job, generation, step, partition and attempt; at most `limit`.
    public func attempts(run: UInt64, job: String?, limit: Int = 10_000) throws -> [AttemptRow] {
        var rows: [AttemptRow] = []
        /// An attempt by job, generation, step, partition and number.
        struct Key: Hashable {
            var job: String
            var numbers: [Int64]
            init(_ statement: Statement) {
                job = statement.text(12)
                numbers = (0...3).map { statement.int64(Int32($0)) }
            }
        }
        var seen: Set<Key> = []
        let history = try database.prepare(
            """
            SELECT j.generation, a.step, a.partition, a.attempt, a.worker, a.started, a.finished, a.state, a.exit_code, a.output, a.log, a.error, j.job
            FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.run = ? AND (? IS NULL OR j.job = ?)
            ORDER BY j.job, j.generation, a.step, a.partition, a.attempt LIMIT ?
            """)
        defer { history.reset() }
        history.bind(1, Int64(bitPattern: run))
        history.bind(2, job)
        history.bind(3, job)
        history.bind(4, Int64(limit))
        while try history.step() {
            rows.append(Self.attempt(history, state: TaskState(rawValue: UInt8(history.int(7))) ?? .failed))
            seen.insert(Key(history))
        }
        // Attempts running on leases the log holds and their rows do not yet have: such a row shows an
        // earlier attempt, which is not shown as its task's latest (it is in the history above if it ended).
        struct Generation: Hashable {
            var job: String
            var generation: UInt32
        }
        var logged: [Generation: UInt16] = [:]
        let leases = try loggedLeases().leases.values.filter { $0.run == run }
        if !leases.isEmpty {
            let owner = try database.prepare("SELECT job, generation, task_attempt FROM jobs WHERE id = ?1 AND (?2 IS NULL OR job = ?2)")
            defer { owner.reset() }
            for lease in leases {
                owner.bind(1, lease.jobID)
                owner.bind(2, job)
                defer { owner.reset() }
                guard try owner.step(), owner.int(2) < Int(lease.attempt) else { continue }
                let name = owner.text(0)
                let generation = UInt32(owner.int(1))
                logged[Generation(job: name, generation: generation)] = lease.attempt
                rows.append(
                    AttemptRow(
                        job: name, generation: generation, step: 0, partition: 0, attempt: lease.attempt, worker: lease.worker,
                        started: lease.started, finished: .zero, state: .running, exitCode: 0, output: "", log: "", error: ""))
            }
        }
        // Each task's latest attempt, unless it is one of those above (lost and waiting to run again).
        let latest = try database.prepare(
            """
            SELECT j.generation, t.step, t.partition, t.attempt, t.worker, t.started, CASE WHEN t.state = 2 THEN 0 ELSE t.finished END,
                   t.state, t.exit_code, t.output, t.log, t.error, j.job
            FROM task_rows t JOIN jobs j ON j.id = t.job_id WHERE j.run = ?1 AND (?2 IS NULL OR j.job = ?3) AND t.attempt > 0
            UNION ALL
            SELECT generation, 0, 0, task_attempt, task_worker, task_started, CASE WHEN task_state = 2 THEN 0 ELSE task_finished END,
                   task_state, task_exit_code, task_output, task_log, task_error, job
            FROM jobs WHERE run = ?1 AND (?2 IS NULL OR job = ?3) AND task_id IS NOT NULL AND task_attempt > 0
            ORDER BY 13, 1, 2, 3 LIMIT ?4
            """)
        defer { latest.reset() }
        latest.bind(1, Int64(bitPattern: run))
        latest.bind(2, job)
        latest.bind(3, job)
        latest.bind(4, Int64(limit))
        while try latest.step() {
            guard !seen.contains(Key(latest)) else { continue }
            if let newer = logged[Generation(job: latest.text(12), generation: UInt32(latest.int(0)))], newer > UInt16(latest.int(3)) { continue }
            var row = Self.attempt(latest, state: TaskState(rawValue: UInt8(latest.int(7))) ?? .pending)
            // A task's finished time is set when it ends for good; an attempt that succeeded ended then too.
            if row.state == .succeeded, row.finished == .zero { row.finished = row.started }
            rows.append(row)
        }
        rows.sort { ($0.job, $0.generation, $0.step, $0.partition, $0.attempt) < ($1.job, $1.generation, $1.step, $1.partition, $1.attempt) }
        return Array(rows.prefix(limit))
    }

    static func attempt(_ statement: Statement, state: TaskState) -> AttemptRow {
        AttemptRow(
            job: statement.text(12), generation: UInt32(statement.int(0)), step: UInt16(statement.int(1)), partition: UInt32(statement.int(2)),
            attempt: UInt16(statement.int(3)), worker: statement.text(4), started: Timestamp(milliseconds: statement.int64(5)),
            finished: Timestamp(milliseconds: statement.int64(6)), state: state, exitCode: Int32(truncatingIfNeeded: statement.int64(8)),
            output: statement.text(9), log: statement.text(10), error: statement.text(11))
    }
}
