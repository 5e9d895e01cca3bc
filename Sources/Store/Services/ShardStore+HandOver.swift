public import Core
import Wire

/// What a shard's store keeps of hand-overs for moves: the tombstones of runs given up, with the answer
/// that gave each and the ends of its tasks that finished here after; and the results of runs taken over.
extension ShardStore {
    /// Deletes at most `batch` tombstones of runs handed over longer ago than `retention` (a submission
    /// still on its way after the retention is not one to expect); returns their runs, for the shard to
    /// forget too. The tombstone of a run in `keeping` (tasks of it still finish here) stays, however
    /// old, with the ends of those tasks: the orchestrator still relays them.
    public func trimTombstones(now: Timestamp, retention: Int64, keeping: Set<UInt64> = [], batch: Int = 1000) throws -> [UInt64] {
        try database.transaction {
            let old = try database.prepare("SELECT run FROM handed_over WHERE time < ? ORDER BY time LIMIT ?")
            old.bind(1, now.milliseconds - retention)
            old.bind(2, batch + keeping.count)
            var runs: [UInt64] = []
            while try old.step() {
                let run = UInt64(bitPattern: old.int64(0))
                if !keeping.contains(run) && runs.count < batch { runs.append(run) }
            }
            old.reset()
            let delete = try database.prepare("DELETE FROM handed_over WHERE run = ?")
            let ends = try database.prepare("DELETE FROM away_ends WHERE run = ?")
            for run in runs {
                delete.bind(1, Int64(bitPattern: run))
                try delete.run()
                ends.bind(1, Int64(bitPattern: run))
                try ends.run()
            }
            return runs
        }
    }

    /// The results a run taken over brought of one of its jobs, in partition order.
    func imported(of job: RunJob) throws -> [TaskInput] {
        let statement = try database.prepare(
            "SELECT step, partition, partition_key, data FROM imported_results WHERE run = ? AND job = ? ORDER BY partition")
        statement.bind(1, Int64(bitPattern: job.run))
        statement.bind(2, job.job)
        defer { statement.reset() }
        var results: [TaskInput] = []
        while try statement.step() {
            results.append(TaskInput(job: job.job, step: UInt16(statement.int(0)), partition: UInt32(statement.int(1)), partitionKey: statement.text(2), data: statement.blob(3)))
        }
        return results
    }

    /// What a hand-over of `run` up to `generation` needs from the store: if the run was handed over up to
    /// it already, the answer given and how its tasks that were finishing here have ended since; if not,
    /// the results of each of its jobs that succeeded here or were brought here by an earlier move, and the
    /// last status of each that ended here.
    /// For a relay's ask (`from` above 0), it reads only the ends from the `from`th on (counted from 1),
    /// not what the run carried. Its statements run in one read transaction.
    public func handOverLookup(run: UInt64, generation: UInt32, from: UInt32 = 0, now: Timestamp) throws -> HandOverLookup {
        try database.reading {
            var lookup = HandOverLookup()
            let answered = try database.prepare("SELECT generation, CASE WHEN ? > 0 THEN x'' ELSE answer END FROM handed_over WHERE run = ?")
            answered.bind(1, Int64(from))
            answered.bind(2, Int64(bitPattern: run))
            let given = try answered.step() ? (generation: UInt32(answered.int(0)), answer: answered.blob(1)) : nil
            answered.reset()
            if let given, given.generation >= generation {
                if from > 0 {
                    lookup.answered = HandedOver(request: 0, run: run)
                    lookup.endsSkipped = Int(from) - 1
                } else if case .handedOver(let answer)? = try? Message.decode(given.answer) {
                    lookup.answered = answer
                }
                let ends = try database.prepare("SELECT ended FROM away_ends WHERE run = ? ORDER BY rowid LIMIT -1 OFFSET ?")
                ends.bind(1, Int64(bitPattern: run))
                ends.bind(2, lookup.endsSkipped)
                while try ends.step() {
                    var reader = FrameReader(ends.blob(0))
                    lookup.ends.append(try PartitionEnd(from: &reader))
                }
                ends.reset()
                return lookup
            }
            let names = try database.prepare("SELECT DISTINCT job FROM jobs WHERE run = ? AND state = 6 UNION SELECT DISTINCT job FROM imported_results WHERE run = ?")
            names.bind(1, Int64(bitPattern: run))
            names.bind(2, Int64(bitPattern: run))
            var jobs: [String] = []
            while try names.step() { jobs.append(names.text(0)) }
            names.reset()
            for job in jobs.sorted() { lookup.results += try results(of: RunJob(run: run, job: job)) }
            // The newest generation of each job of the run that ended here, with its last status.
            let ended = try database.prepare(
                "SELECT job, MAX(generation) FROM jobs WHERE run = ? AND \(Self.isFinal()) GROUP BY job ORDER BY job")
            ended.bind(1, Int64(bitPattern: run))
            var identities: [JobIdentity] = []
            while try ended.step() { identities.append(JobIdentity(run: run, job: ended.text(0), generation: UInt32(ended.int(1)))) }
            ended.reset()
            let statuses = try self.statuses(of: identities, now: now)
            lookup.ended = identities.compactMap { statuses[$0] }
            return lookup
        }
    }
}
