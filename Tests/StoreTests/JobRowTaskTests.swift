import Core
import Foundation
@testable import Store
import Testing
import Wire

/// The task of a job of one step of one partition, kept in its job's row rather than a row of its own.
@Suite struct JobRowTaskTests {
    let now = Timestamp(milliseconds: 1_000_000)

    /// Commits one turn of these rows.
    func commit(_ jobs: [ShardJob], _ tasks: [ShardTask], succeeded: TurnSet<UInt64> = [], to store: ShardStore) throws {
        var turn = ShardTurn()
        turn.jobs = jobs
        turn.tasks = tasks
        turn.succeeded = succeeded
        try store.commit(turn, now: now)
    }

    func spec(_ name: String) -> JobSpec {
        JobSpec(
            run: 9, job: name, generation: 0, product: "payments", flow: "eod", moment: 7, priority: 0, type: "t",
            tags: [], retries: 1, backoff: 1000, timeout: 0, params: [:], steps: [StepSpec(name: name, kind: .command, action: "true")])
    }

    /// Leased, retried and leased again: the job's row holds every change, no task row is written, and a
    /// reopened store gives the task back as it was, lease and all, with its job among those read first.
    @Test func aTaskKeptInItsJobsRowIsWrittenThereAndReadBackAfterAReopen() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            var job = ShardJob(id: 1, spec: spec("extract"))
            var task = ShardTask(id: 7, job: job.identity, jobID: 1, step: 0, partition: 0, order: 1 << 32)
            task.inJobRow = true
            do {
                let store = try ShardStore(path: path)
                defer { store.database.close() }
                _ = try store.open()
                // Taken and leased in one turn: the job's row is inserted, then given its task.
                job.state = .running
                job.attempts = 1
                task.state = .running
                task.attempt = 1
                task.lease = Lease(worker: "host/pool/1", session: 42, peer: nil, key: String(repeating: "K", count: 40), heartbeat: 5000)
                task.worker = "host/pool/1"
                task.started = now
                try commit([job], [task], to: store)
                job.stored = true
                task.stored = true
                #expect(try store.database.count("task_rows") == 0)
                #expect(try store.database.count("tasks") == 1)
                // A failed attempt waits for its retry, then is leased again.
                task.state = .retrying
                task.lease = nil
                task.failures = 1
                task.error = "exit status 1"
                task.due = now.adding(milliseconds: 1000)
                try commit([], [task], to: store)
                task.state = .running
                task.attempt = 2
                task.lease = Lease(worker: "host/pool/2", session: 43, peer: nil)
                task.worker = "host/pool/2"
                try commit([], [task], to: store)
                #expect(try store.database.count("task_rows") == 0 && store.database.count("jobs") == 1)
            }
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            // Read at the start, before any batch of the other open jobs: a worker may name its task.
            let (_, snapshot, _) = try store.open(firstBatch: 0)
            #expect(snapshot.jobs.map(\.id) == [1])
            let restored = try #require(snapshot.tasks.first)
            #expect(snapshot.tasks.count == 1)
            #expect(restored.id == 7 && restored.jobID == 1 && restored.job == job.identity && restored.inJobRow && restored.stored)
            #expect(restored.state == .running && restored.attempt == 2 && restored.failures == 1 && restored.error == "exit status 1")
            #expect(restored.lease == Lease(worker: "host/pool/2", session: 43, peer: nil) && restored.worker == "host/pool/2")
            #expect(restored.order == 1 << 32 && restored.due == now.adding(milliseconds: 1000) && restored.started == now)
        }
    }

    /// Its success is counted once, and what the store says of the job afterwards (its status for a
    /// SUBMIT that names it again, its results for a job downstream, its attempts) reads it from the row.
    @Test func aTaskKeptInItsJobsRowIsFoundByEveryLookup() throws {
        try withTemporaryDirectory { folder in
            let store = try ShardStore(path: "\(folder)/shard.db")
            defer { store.database.close() }
            _ = try store.open()
            var job = ShardJob(id: 1, spec: spec("extract"), state: .running)
            var task = ShardTask(id: 3, job: job.identity, jobID: 1, step: 0, partition: 0, state: .running, attempt: 1, order: 1 << 32)
            task.inJobRow = true
            task.worker = "host/pool/1"
            task.started = now
            try commit([job], [task], to: store)
            job.stored = true
            task.stored = true
            job.state = .succeeded
            job.finished = now
            task.state = .succeeded
            task.finished = now
            task.data = [1, 2, 3]
            try commit([job], [task], succeeded: [3], to: store)
            #expect(try store.database.scalar("SELECT successes FROM tasks WHERE id = 3") == .integer(1))
            let status = try #require(try store.statuses(of: [job.identity], now: now)[job.identity])
            #expect(status.state == .succeeded && status.succeeded == 1 && status.failed == 0)
            #expect(try store.results(of: RunJob(run: 9, job: "extract")).map(\.data) == [[1, 2, 3]])
            let attempts = try store.attempts(run: 9, job: nil)
            #expect(attempts.map { "\($0.job) \($0.attempt) \($0.worker) \($0.state)" } == ["extract 1 host/pool/1 succeeded"])
            #expect(try store.open().snapshot.jobs.isEmpty)
        }
    }

    /// A store from before migration 14 keeps the task rows it had: a one-task job's task leased then is
    /// read back from its own row, marked so, and its later writes go there, never to its job's row too.
    @Test func aTaskRowWrittenBeforeTheMigrationStaysItsTasksRow() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            let old = try Database(path: path)
            try old.migrate(Array(ShardStore.migrations.prefix(13)))
            var writer = FrameWriter(capacity: 256)
            spec("extract").encode(to: &writer)
            let blob = writer.bytes.map { String(format: "%02x", $0) }.joined()
            try old.execute(
                """
                INSERT INTO jobs (id, run, job, generation, spec, state, step, completed, attempts, started, finished, output, detail, cancelled)
                VALUES (1, 9, 'extract', 0, x'\(blob)', 4, 0, 0, 1, 1, 0, '', '', 0);
                INSERT INTO tasks (id, job_id, step, partition, state, attempt, failures, losses, due, ord, lease_worker, lease_session,
                    started, finished, exit_code, output, log, error, data, successes)
                VALUES (4, 1, 0, 0, 2, 1, 0, 0, 0, 4294967296, 'host/pool/1', 42, 1, 0, 0, '', '', '', x'', 0);
                """)
            old.close()
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            let (_, snapshot) = try store.open()
            var task = try #require(snapshot.tasks.first)
            #expect(task.id == 4 && task.stored && !task.inJobRow && task.lease?.worker == "host/pool/1")
            task.state = .succeeded
            task.lease = nil
            try commit([], [task], succeeded: [4], to: store)
            #expect(try store.database.scalar("SELECT state || ' ' || successes FROM task_rows WHERE id = 4") == .text("4 1"))
            #expect(try store.database.scalar("SELECT task_id FROM jobs WHERE id = 1") == .null)
            #expect(try store.database.count("tasks") == 1)
        }
    }

    /// A task for the row of a job the store does not hold is refused with what was wrong, and nothing of
    /// its turn is kept.
    @Test func aTaskForTheRowOfAJobNotStoredFailsItsTurn() throws {
        try withTemporaryDirectory { folder in
            let store = try ShardStore(path: "\(folder)/shard.db")
            defer { store.database.close() }
            _ = try store.open()
            let other = ShardJob(id: 2, spec: spec("load"))
            var task = ShardTask(id: 3, job: spec("extract").identity, jobID: 1, step: 0, partition: 0, state: .running, attempt: 1, order: 1)
            task.inJobRow = true
            #expect {
                try commit([other], [task], to: store)
            } throws: { error in
                "\(error)".contains("task 3 belongs in the row of job 1, which is not stored")
            }
            #expect(try store.database.count("jobs") == 0)
        }
    }

    /// Task IDs kept in jobs' rows are past the bound the store keeps: a reopened store starts after it,
    /// not after the highest task row.
    @Test func aReopenedStoreGivesTaskIDsPastTheBoundItKept() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                let store = try ShardStore(path: path)
                defer { store.database.close() }
                _ = try store.open()
                let job = ShardJob(id: 1, spec: spec("extract"), state: .running)
                var task = ShardTask(id: 5, job: job.identity, jobID: 1, step: 0, partition: 0, state: .running, attempt: 1, order: 1)
                task.inJobRow = true
                var turn = ShardTurn()
                turn.jobs = [job]
                turn.tasks = [task]
                turn.nextIDs = (65_542, 2)
                try store.commit(turn, now: now)
            }
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            #expect(try store.open().snapshot.nextTaskID == 65_542)
        }
    }
}
