public import Core
public import Wire

/// What a shard reads of its store about jobs it does not hold in memory: a SUBMIT's jobs it may have
/// finished, the results their inputs name, and what earlier generations of a resumed job completed.
extension ShardStore {
    /// What the store knows of the jobs of a SUBMIT beyond what the shard holds in memory: the status of
    /// `unknown` jobs it already has, the results of the upstream jobs that new jobs name in `inputs`, and
    /// what earlier generations of jobs submitted with `resume` completed.
    /// Its statements run in one read transaction; a run the store has no row of has none of these
    /// jobs, and is asked about once, not once a job (a new run's SUBMIT names thousands).
    public func lookup(for specs: [JobSpec], unknown: [JobIdentity], now: Timestamp) throws -> SubmissionLookup {
        guard !unknown.isEmpty else { return SubmissionLookup() }
        return try database.reading {
            var stored: [UInt64: Bool] = [:]
            let asked = try unknown.filter { identity in
                if let known = stored[identity.run] { return known }
                let known = try hasJobs(run: identity.run)
                stored[identity.run] = known
                return known
            }
            var lookup = SubmissionLookup(finished: try statuses(of: asked, now: now))
            let unknownSet = Set(unknown)
            for spec in specs where unknownSet.contains(spec.identity) && lookup.finished[spec.identity] == nil {
                for name in spec.inputs {
                    let upstream = RunJob(run: spec.run, job: name)
                    if lookup.results[upstream] == nil { lookup.results[upstream] = try results(of: upstream) }
                }
                if spec.resume == 1 && spec.generation > 0, let carried = try carriedWork(before: spec) {
                    lookup.carried[spec.identity] = carried
                }
            }
            return lookup
        }
    }

    /// Whether the store holds a row of any job of run `run`.
    func hasJobs(run: UInt64) throws -> Bool {
        let statement = try database.prepare("SELECT 1 FROM jobs WHERE run = ? LIMIT 1")
        statement.bind(1, Int64(bitPattern: run))
        defer { statement.reset() }
        return try statement.step()
    }

    /// The results of the last step of the newest generation of a job that succeeded, in partition order;
    /// those a move brought when the job succeeded on another shard; empty when none did.
    public func results(of job: RunJob) throws -> [TaskInput] {
        let statement = try database.prepare(
            "SELECT id, step, spec FROM jobs WHERE run = ? AND job = ? AND state = 6 ORDER BY generation DESC LIMIT 1")
        statement.bind(1, Int64(bitPattern: job.run))
        statement.bind(2, job.job)
        defer { statement.reset() }
        guard try statement.step() else { return try imported(of: job) }
        let spec = try Self.decode(statement.blob(2))
        return try succeeded(jobID: statement.int64(0), step: UInt16(statement.int(1)), spec: spec)
    }

    /// What the newest earlier generation of a resumed job completed: the step it reached, the succeeded
    /// partitions of that step, and the results of the step before.
    func carriedWork(before spec: JobSpec) throws -> CarriedWork? {
        let statement = try database.prepare(
            "SELECT id, step, completed, state, spec FROM jobs WHERE run = ? AND job = ? AND generation < ? ORDER BY generation DESC LIMIT 1")
        statement.bind(1, Int64(bitPattern: spec.run))
        statement.bind(2, spec.job)
        statement.bind(3, Int64(spec.generation))
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        let id = statement.int64(0)
        var step = UInt16(statement.int(1))
        var completed = UInt32(statement.int(2))
        let earlier = try Self.decode(statement.blob(4))
        // Carried work is only meaningful when the steps are the same ones.
        guard earlier.steps == spec.steps else { return nil }
        var succeeded = try self.succeeded(jobID: id, step: step, spec: earlier)
        var previous = step > 0 ? try self.succeeded(jobID: id, step: step - 1, spec: earlier) : []
        // A step whose partitions all succeeded is complete: the rerun starts at the next one.
        if succeeded.count == Int(earlier.steps[Int(step)].partitions) && Int(step) + 1 < earlier.steps.count {
            completed += UInt32(succeeded.count)
            step += 1
            previous = succeeded
            succeeded = []
        }
        return CarriedWork(step: step, completed: completed, succeeded: succeeded, previous: previous)
    }

    /// The succeeded tasks of one step of a job, with their results, in partition order.
    func succeeded(jobID: Int64, step: UInt16, spec: JobSpec) throws -> [TaskInput] {
        let statement = try database.prepare(
            "SELECT partition, data FROM tasks WHERE job_id = ? AND step = ? AND state = 4 ORDER BY partition")
        statement.bind(1, jobID)
        statement.bind(2, Int64(step))
        defer { statement.reset() }
        let keys = Int(step) < spec.steps.count ? spec.steps[Int(step)].partitionKeys : []
        var results: [TaskInput] = []
        while try statement.step() {
            let partition = UInt32(statement.int(0))
            if results.last?.partition == partition { continue }
            let key = Int(partition) < keys.count ? keys[Int(partition)] : ""
            results.append(TaskInput(job: spec.job, step: step, partition: partition, partitionKey: key, data: statement.blob(1)))
        }
        return results
    }

    /// The last committed status of jobs the shard no longer holds in memory, for repeated submissions.
    public func statuses(of identities: [JobIdentity], now: Timestamp) throws -> [JobIdentity: JobStatus] {
        guard !identities.isEmpty else { return [:] }
        let statement = try database.prepare(
            """
            SELECT j.state, j.attempts, j.step, j.completed, j.started, j.finished, j.output, j.detail, j.spec,
                   (SELECT COUNT(*) FROM task_rows t WHERE t.job_id = j.id AND t.step = j.step AND t.state = 4)
                       + (j.task_id IS NOT NULL AND j.step = 0 AND j.task_state = 4),
                   (SELECT COUNT(*) FROM task_rows t WHERE t.job_id = j.id AND t.step = j.step AND t.state = 5)
                       + (j.task_id IS NOT NULL AND j.step = 0 AND j.task_state = 5), j.queued
            FROM jobs j WHERE run = ? AND job = ? AND generation = ?
            """)
        var found: [JobIdentity: JobStatus] = [:]
        for identity in identities {
            statement.bind(1, Int64(bitPattern: identity.run))
            statement.bind(2, identity.job)
            statement.bind(3, Int64(identity.generation))
            defer { statement.reset() }
            guard try statement.step() else { continue }
            let spec = try Self.decode(statement.blob(8))
            found[identity] = JobStatus(
                run: identity.run, job: identity.job, generation: identity.generation,
                state: JobState(rawValue: UInt8(statement.int(0))) ?? .queued, attempts: UInt16(statement.int(1)),
                succeeded: UInt32(statement.int(3)) + UInt32(statement.int(9)), failed: UInt32(statement.int(10)),
                step: UInt16(statement.int(2)), steps: UInt16(spec.steps.count), queued: UInt64(max(0, statement.int64(11))),
                started: UInt64(max(0, statement.int64(4))), finished: UInt64(max(0, statement.int64(5))),
                time: now.wire, output: statement.text(6), detail: statement.text(7))
        }
        return found
    }
}
