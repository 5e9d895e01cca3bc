import Core
import Wire

/// A lease as the lease log keeps it: the attempt of a task kept in its job's row, and who holds it; its
/// run, for the `attempts` of one run to read only its own.
struct LoggedLease: Equatable {
    var run: UInt64
    var jobID: Int64
    var taskID: UInt64
    var attempt: UInt16
    var started: Timestamp
    var worker: String
    var session: UInt64
    var key: String?
    var heartbeat: Int64

    init(_ task: ShardTask) {
        run = task.job.run
        jobID = task.jobID
        taskID = task.id
        attempt = task.attempt
        started = task.started
        worker = task.lease?.worker ?? task.worker
        session = task.lease?.session ?? 0
        key = task.lease?.key
        heartbeat = task.lease?.heartbeat ?? 0
    }

    func encode(to writer: inout FrameWriter) {
        writer.number8(run)
        writer.number8(UInt64(bitPattern: jobID))
        writer.number8(taskID)
        writer.number2(attempt)
        writer.number8(UInt64(bitPattern: started.milliseconds))
        writer.string(worker)
        writer.number8(session)
        // A worker's key is never empty: empty stands for none.
        writer.string(key ?? "")
        writer.number8(UInt64(bitPattern: heartbeat))
    }

    init(from reader: inout FrameReader) throws(DecodingError) {
        run = try reader.number8("run")
        jobID = Int64(bitPattern: try reader.number8("job"))
        taskID = try reader.number8("task")
        attempt = try reader.number2("attempt")
        started = Timestamp(milliseconds: Int64(bitPattern: try reader.number8("started")))
        worker = try reader.string("worker")
        session = try reader.number8("session")
        let key = try reader.string("key")
        self.key = key.isEmpty ? nil : key
        heartbeat = Int64(bitPattern: try reader.number8("heartbeat"))
    }

    /// The task running on this lease: the task of its job's row as that row holds it (an earlier
    /// attempt), or, if the row holds none, the job's one task as it was queued.
    func task(row: ShardTask?, jobID: Int64) -> ShardTask {
        var task =
            row
            ?? ShardTask(
                id: taskID, job: JobIdentity(run: 0, job: "", generation: 0), jobID: jobID, step: 0, partition: 0,
                order: ShardCore.order(job: jobID, partition: 0))
        task.state = .running
        task.attempt = attempt
        task.started = started
        task.finished = .zero
        task.lease = Lease(worker: worker, session: session, peer: nil, key: key, heartbeat: heartbeat)
        task.worker = worker
        // As at the lease: this attempt starts blank.
        task.exitCode = 0
        task.output = ""
        task.log = ""
        task.error = ""
        task.inJobRow = true
        task.leaseLogged = true
        return task
    }
}

/// The lease log. A lease that alone changed a task kept in its job's row in its turn is not written into
/// that wide row but appended, with the turn's others, to `lease_log`, one row a turn: the task's row is
/// written when anything else changes it, its end as a rule, or once the lease is ``ShardCore/leaseLogAge``
/// old, in the turn that deletes the log's row. A restart puts a logged lease back on its task if the
/// task's row holds an earlier attempt.
extension ShardStore {
    /// Appends a turn's logged leases as one row of the lease log. Inside the turn's transaction.
    func appendLeases(_ tasks: [ShardTask], sequence: Int64) throws {
        var writer = FrameWriter(capacity: 64 * tasks.count + 8)
        writer.number4(UInt32(tasks.count))
        for task in tasks { LoggedLease(task).encode(to: &writer) }
        let statement = try database.prepare("INSERT INTO lease_log (sequence, leases) VALUES (?, ?)")
        statement.bind(1, sequence)
        statement.bind(2, writer.bytes)
        try statement.run()
    }

    /// Deletes the lease log's rows up to and including `sequence`. Inside the turn's transaction.
    func deleteLeases(through sequence: Int64) throws {
        let statement = try database.prepare("DELETE FROM lease_log WHERE sequence <= ?")
        statement.bind(1, sequence)
        try statement.run()
    }

    /// Puts each logged lease of `jobs` back on its job's task, among the stored tasks of open jobs by
    /// job, unless the task's row holds that attempt or a later one: then the row was written after it.
    static func putBack(_ logged: [Int64: LoggedLease], on jobs: [ShardJob], into stored: inout [Int64: [ShardTask]]) {
        for job in jobs {
            guard let lease = logged[job.id], job.step == 0 else { continue }
            let row = stored[job.id]?.firstIndex { $0.inJobRow && $0.step == 0 }
            if let row, stored[job.id]![row].attempt >= lease.attempt { continue }
            let task = lease.task(row: row.map { stored[job.id]![$0] }, jobID: job.id)
            if let row { stored[job.id]![row] = task } else { stored[job.id, default: []].append(task) }
        }
    }

    /// Every lease the log holds, the latest of each job, and the log's last sequence (0 when empty).
    func loggedLeases() throws -> (leases: [Int64: LoggedLease], through: Int64) {
        let rows = try database.prepare("SELECT sequence, leases FROM lease_log ORDER BY sequence")
        defer { rows.reset() }
        var leases: [Int64: LoggedLease] = [:]
        var through: Int64 = 0
        while try rows.step() {
            through = rows.int64(0)
            let blob = rows.blob(1)
            do {
                var reader = FrameReader(blob)
                let count = try reader.count("leases", limit: blob.count)
                for _ in 0..<count {
                    let lease = try LoggedLease(from: &reader)
                    leases[lease.jobID] = lease
                }
            } catch {
                throw SQLiteError(code: 11, extendedCode: 11, message: "lease log row \(through) does not decode: \(error)", sql: nil)
            }
        }
        return (leases, through)
    }
}
