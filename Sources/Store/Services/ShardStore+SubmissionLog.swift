import Core
import Wire

/// The submission log. A job submitted with its one task in its row, and not changed otherwise in its
/// turn, is not written into a row of its own but appended, whole, with the turn's others, to
/// `submission_log`, one row a turn, with the lowest and highest job ID it names: its row is written when
/// anything else changes it, its end as a rule, or once it is ``ShardCore/submissionLogAge`` old, in the
/// turn that deletes the log's row. A restart puts back each logged job that has no row, after the open
/// jobs' rows, a row of the log at a time; its lease, if it had one, is in the lease log, and such a job
/// is put back first.
extension ShardStore {
    /// Appends a turn's logged jobs as one row of the submission log. Inside the turn's transaction.
    func appendSubmissions(_ jobs: [ShardJob], sequence: Int64) throws {
        var writer = FrameWriter(capacity: 320 * jobs.count + 8)
        var spec = FrameWriter(capacity: 256)
        writer.number4(UInt32(jobs.count))
        for job in jobs {
            spec.reset()
            job.spec.encode(to: &spec)
            writer.number8(UInt64(bitPattern: job.id))
            writer.chunk(spec.bytes)
            writer.number1(job.state.rawValue)
            writer.number2(job.step)
            writer.number4(job.completed)
            writer.number2(job.attempts)
            writer.signed8(job.started.milliseconds)
            writer.signed8(job.finished.milliseconds)
            writer.longstr(job.output)
            writer.longstr(job.detail)
            writer.number1(job.cancelled ? 1 : 0)
            writer.signed8(job.queued.milliseconds)
            writer.number1(job.finishing ? 1 : 0)
        }
        let statement = try database.prepare("INSERT INTO submission_log (sequence, first_id, last_id, jobs) VALUES (?, ?, ?, ?)")
        statement.bind(1, sequence)
        statement.bind(2, jobs.lazy.map(\.id).min()!)
        statement.bind(3, jobs.lazy.map(\.id).max()!)
        statement.bind(4, writer.bytes)
        try statement.run()
    }

    /// Deletes rows of the submission log. Inside the turn's transaction.
    func deleteSubmissions(_ sequences: [Int64]) throws {
        let statement = try database.prepare("DELETE FROM submission_log WHERE sequence = ?")
        for sequence in sequences {
            statement.bind(1, sequence)
            try statement.run()
        }
    }

    /// The submission log's rows, without their jobs, in order.
    func submissionLogRows() throws -> [SubmissionLogRow] {
        let rows = try database.prepare("SELECT sequence, first_id, last_id FROM submission_log ORDER BY sequence")
        defer { rows.reset() }
        var logRows: [SubmissionLogRow] = []
        while try rows.step() { logRows.append(SubmissionLogRow(sequence: rows.int64(0), firstID: rows.int64(1), lastID: rows.int64(2))) }
        return logRows
    }

    /// Runs handed over from here, with the highest generation handed over.
    func handedOverRuns() throws -> [UInt64: UInt32] {
        let handed = try database.prepare("SELECT run, generation FROM handed_over")
        defer { handed.reset() }
        var runs: [UInt64: UInt32] = [:]
        while try handed.step() { runs[UInt64(bitPattern: handed.int64(0))] = UInt32(handed.int(1)) }
        return runs
    }

    /// The jobs of one row of the submission log that `including` takes and that have no row, marked
    /// ``ShardJob/logged``. A job of a run handed over since is left out too, though a hand-over folds the
    /// log's row of a job it drops in its own turn.
    func loggedJobs(of row: SubmissionLogRow, handedOver: [UInt64: UInt32], including: (Int64) -> Bool) throws -> [ShardJob] {
        let blob = try database.prepare("SELECT jobs FROM submission_log WHERE sequence = ?")
        blob.bind(1, row.sequence)
        defer { blob.reset() }
        guard try blob.step() else { return [] }
        let logged: [ShardJob]
        do {
            logged = try Self.decodeSubmissions(blob.blob(0))
        } catch {
            throw SQLiteError(code: 11, extendedCode: 11, message: "submission log row \(row.sequence) does not decode: \(error)", sql: nil)
        }
        // Those written since (their end, as a rule) have rows: one query for the row's range of IDs.
        let written = try database.prepare("SELECT id FROM jobs WHERE id BETWEEN ? AND ?")
        written.bind(1, row.firstID)
        written.bind(2, row.lastID)
        defer { written.reset() }
        var rows = Set<Int64>()
        while try written.step() { rows.insert(written.int64(0)) }
        return logged.filter { job in
            guard including(job.id), !rows.contains(job.id) else { return false }
            if let bound = handedOver[job.spec.run], job.spec.generation <= bound { return false }
            return true
        }
    }

    static func decodeSubmissions(_ blob: [UInt8]) throws(DecodingError) -> [ShardJob] {
        var reader = FrameReader(blob)
        let count = try reader.count("jobs", limit: blob.count)
        var jobs: [ShardJob] = []
        jobs.reserveCapacity(count)
        for _ in 0..<count {
            let id = Int64(bitPattern: try reader.number8("id"))
            let spec = try JobSpec.decodeStored(try reader.chunk("spec", limit: Limits.jobSpec))
            let state = try reader.enumeration("state") { JobState(rawValue: $0) }
            var job = ShardJob(
                id: id, spec: spec, state: state, step: try reader.number2("step"), completed: try reader.number4("completed"),
                attempts: try reader.number2("attempts"), started: Timestamp(milliseconds: try reader.signed8("started")),
                finished: Timestamp(milliseconds: try reader.signed8("finished")), output: try reader.longstr("output"),
                detail: try reader.longstr("detail"), cancelled: try reader.number1("cancelled") != 0)
            job.queued = Timestamp(milliseconds: try reader.signed8("queued"))
            job.finishing = try reader.number1("finishing") != 0
            job.logged = true
            jobs.append(job)
        }
        try reader.finish()
        return jobs
    }
}
