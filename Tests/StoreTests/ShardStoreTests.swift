import Core
import Foundation
@testable import Store
import Testing
import Wire

@Suite struct ShardStoreTests {
    let now = Timestamp(milliseconds: 1_000_000)

    /// Each epoch records the sequence its first message will have, for FETCHED's `first`: a subscriber
    /// tells from it a restart that kept the log from one that lost its last commits.
    @Test func eachEpochRecordsWhereItsMessagesBegin() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/shard.db"
            var store = try ShardStore(path: path, synchronous: .off)
            let (first, _) = try store.open()
            #expect(try store.log.epochFirst() == 1)
            for sequence in 1...3 {
                var turn = ShardTurn()
                turn.updateMessages = [JobUpdates(publisher: "shard-1", epoch: first, sequence: UInt64(sequence), updates: [])]
                _ = try store.commit(turn, now: now)
            }
            store.database.close()
            store = try ShardStore(path: path, synchronous: .off)
            let (second, _) = try store.open()
            #expect(second == first + 1)
            #expect(try store.log.epochFirst() == 4 && store.log.newest() == 3)
            store.database.close()
        }
    }

    /// A turn that changed more statuses than one JOB-UPDATES holds sends several, numbered in sequence,
    /// all logged with the turn: one message of a million statuses (a worker's coming, which changes the
    /// note of every job waiting for one) was over the frame limit, and every subscriber stopped at it.
    @Test func aTurnsStatusesBeyondOneMessagesBudgetGoInSeveralAllLoggedWithTheTurn() throws {
        try withTemporaryDirectory { directory in
            let store = try ShardStore(path: "\(directory)/shard.db", synchronous: .off)
            defer { store.database.close() }
            let (epoch, _) = try store.open()
            var configuration = ShardConfiguration(shard: 1)
            configuration.statusBudget = 1024
            var core = ShardCore(configuration: configuration, epoch: epoch, now: now)
            let names = (0..<40).map { "job-\($0)" }
            core.submitted(names.map(spec), lookup: SubmissionLookup(), now: now)
            let turn = core.finishTurn(now: now)
            #expect(turn.updateMessages.count > 2)
            #expect(turn.updateMessages.map(\.sequence) == Array(1...UInt64(turn.updateMessages.count)))
            #expect(turn.updateMessages.flatMap(\.updates).map(\.job) == names)
            #expect(turn.updates?.updates.map(\.job) == names && turn.updates?.sequence == 1)
            let frames = try store.commit(turn, now: now)
            #expect(frames.count == turn.updateMessages.count)
            for frame in frames { #expect(frame.count <= 1024 + 64) }
            #expect(try store.log.frames(after: 0, limit: 100) == frames)
            // The next turn goes on from the last.
            core.submitted([spec("later")], lookup: SubmissionLookup(), now: now)
            #expect(core.finishTurn(now: now).updateMessages.map(\.sequence) == [UInt64(frames.count + 1)])
        }
    }

    @Test func statusesAreCutInTheirOrderAndALargeOneGoesAlone() {
        let small = JobStatus(run: 1, job: "a", state: .queued, time: 1)
        var large = JobStatus(run: 1, job: "b", state: .failed, time: 1)
        large.detail = String(repeating: "x", count: 3000)
        let size = JobStatus.minimumSize + 1
        #expect(JobUpdates.batches([], budget: 1000).isEmpty)
        #expect(JobUpdates.batches([small, small], budget: 2 * size) == [[small, small]])
        #expect(JobUpdates.batches([small, small, small], budget: 2 * size) == [[small, small], [small]])
        #expect(JobUpdates.batches([small, large, small], budget: 1000) == [[small], [large], [small]])
    }

    func spec(_ name: String) -> JobSpec {
        JobSpec(
            run: 9, job: name, generation: 0, product: "payments", flow: "eod", moment: 7, priority: 0, type: "t",
            tags: [], retries: 1, backoff: 1000, timeout: 0, params: ["region": "north"],
            steps: [StepSpec(name: name, kind: .command, action: "true")])
    }

    @Test func aJobAndItsTaskAreInsertedOnceThenUpdatedAndReadBackAfterAReopen() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            var job = ShardJob(id: 1, spec: spec("extract"))
            var task = ShardTask(id: 1, job: job.identity, jobID: 1, step: 0, partition: 0, order: 1 << 32)
            do {
                let store = try ShardStore(path: path)
                defer { store.database.close() }
                _ = try store.open()
                var turn = ShardTurn()
                turn.jobs = [job]
                try store.commit(turn, now: now)
                job.stored = true
                // Leased: the task's first row, and the job running.
                job.state = .running
                job.attempts = 1
                task.state = .running
                task.attempt = 1
                task.lease = Lease(worker: "host/pool/1", session: 42, peer: nil)
                task.started = now
                turn.jobs = [job]
                turn.tasks = [task]
                try store.commit(turn, now: now)
                task.stored = true
                // A failed attempt waits for its retry: both rows updated in place.
                task.state = .retrying
                task.lease = nil
                task.failures = 1
                task.error = "exit status 1"
                task.due = now.adding(milliseconds: 1000)
                job.state = .retrying
                job.detail = "exit status 1"
                turn.jobs = [job]
                turn.tasks = [task]
                try store.commit(turn, now: now)
                #expect(try store.database.count("jobs") == 1)
                #expect(try store.database.count("tasks") == 1)
            }
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            let (epoch, snapshot) = try store.open()
            #expect(epoch == 2)
            #expect(snapshot.jobs.map(\.spec) == [spec("extract")])
            #expect(snapshot.jobs.first?.state == .retrying && snapshot.jobs.first?.detail == "exit status 1")
            #expect(snapshot.jobs.first?.stored == true)
            let restored = try #require(snapshot.tasks.first)
            #expect(restored.state == .retrying && restored.failures == 1 && restored.attempt == 1 && restored.lease == nil)
            #expect(restored.due == now.adding(milliseconds: 1000) && restored.order == 1 << 32 && restored.stored)
            #expect(snapshot.nextJobID == 2 && snapshot.nextTaskID == 2)
        }
    }

    @Test func aLeaseIsReadBackWithTheKeyItsWorkerRegisteredWith() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            var job = ShardJob(id: 1, spec: spec("extract"), state: .running)
            let key = String(repeating: "K", count: 40)
            var keyed = ShardTask(id: 1, job: job.identity, jobID: 1, step: 0, partition: 0, state: .running, attempt: 1, order: 1 << 32)
            keyed.lease = Lease(worker: "host/pool/1", session: 42, peer: nil, key: key, heartbeat: 5000)
            var keyless = ShardTask(id: 2, job: job.identity, jobID: 1, step: 0, partition: 1, state: .running, attempt: 1, order: 1 << 32 | 1)
            keyless.lease = Lease(worker: "host/pool/2", session: 43, peer: nil)
            do {
                let store = try ShardStore(path: path)
                defer { store.database.close() }
                _ = try store.open()
                var turn = ShardTurn()
                turn.jobs = [job]
                turn.tasks = [keyed, keyless]
                try store.commit(turn, now: now)
                // Leased again, under another key: the row is updated in place.
                job.stored = true
                keyed.stored = true
                keyed.attempt = 2
                keyed.lease?.key = String(repeating: "L", count: 40)
                turn.jobs = []
                turn.tasks = [keyed]
                try store.commit(turn, now: now)
            }
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            let (_, snapshot) = try store.open()
            let leases = Dictionary(uniqueKeysWithValues: snapshot.tasks.map { ($0.id, $0.lease) })
            #expect(leases[1] == Lease(worker: "host/pool/1", session: 42, peer: nil, key: String(repeating: "L", count: 40), heartbeat: 5000))
            #expect(leases[2] == Lease(worker: "host/pool/2", session: 43, peer: nil, key: nil))
        }
    }

    @Test func productPoliciesAndQueueTimesAreReadBackAfterAReopen() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            var job = ShardJob(id: 1, spec: spec("extract"))
            job.queued = now
            let policy = ProductPolicy(product: "payments", weight: 3, cap: 20, rate: 36_000, burst: 50)
            do {
                let store = try ShardStore(path: path)
                defer { store.database.close() }
                _ = try store.open()
                var turn = ShardTurn()
                turn.jobs = [job]
                turn.policies = [ProductPolicy(product: "payments", weight: 2), ProductPolicy(product: "cards", cap: 1)]
                try store.commit(turn, now: now)
                turn = ShardTurn()
                turn.policies = [policy]  // A later policy of the same product replaces the earlier one.
                try store.commit(turn, now: now)
            }
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            let (_, snapshot) = try store.open()
            #expect(snapshot.policies == [ProductPolicy(product: "cards", cap: 1), policy])
            #expect(snapshot.jobs.map(\.queued) == [now])
        }
    }

    @Test func aFinalJobIsNotReadBackAndASuccessIsCountedOnce() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            _ = try store.open()
            var job = ShardJob(id: 1, spec: spec("load"), state: .running)
            var task = ShardTask(id: 1, job: job.identity, jobID: 1, step: 0, partition: 0, state: .running, attempt: 1, order: 1 << 32)
            var turn = ShardTurn()
            turn.jobs = [job]
            turn.tasks = [task]
            try store.commit(turn, now: now)
            job.stored = true
            task.stored = true
            job.state = .succeeded
            task.state = .succeeded
            turn.jobs = [job]
            turn.tasks = [task]
            turn.succeeded = [1]
            try store.commit(turn, now: now)
            #expect(try store.database.scalar("SELECT successes FROM tasks WHERE id = 1") == .integer(1))
            #expect(try store.open().snapshot.jobs.isEmpty)
        }
    }

    /// A SUBMIT's lookup finds the jobs the store finished, in a run it has rows of; of a run it has no
    /// row of, it finds nothing, asking once for the run rather than once a job.
    @Test func aSubmitsLookupFindsWhatTheStoreFinishedAndNothingOfANewRun() throws {
        try withTemporaryDirectory { folder in
            let store = try ShardStore(path: "\(folder)/shard.db")
            defer { store.database.close() }
            _ = try store.open()
            var turn = ShardTurn()
            turn.jobs = [ShardJob(id: 1, spec: spec("load"), state: .succeeded)]
            try store.commit(turn, now: now)
            var fresh = spec("report")
            fresh.run = 10
            let specs = [spec("load"), spec("audit"), fresh]
            let lookup = try store.lookup(for: specs, unknown: specs.map(\.identity), now: now)
            #expect(lookup.finished.keys.map(\.job) == ["load"])
            #expect(lookup.finished[spec("load").identity]?.state == .succeeded)
        }
    }

    /// A deep queue is read in batches: the jobs with a task stored (leased, wherever they are in the
    /// table) and finishing ones first with a first batch, then the rest from the cursor, each open job
    /// exactly once and no finished one.
    @Test func openJobsAreReadInBatchesWithTheLeasedOnesFirst() throws {
        try withTemporaryDirectory { folder in
            let store = try ShardStore(path: "\(folder)/shard.db")
            defer { store.database.close() }
            var turn = ShardTurn()
            turn.jobs = (1...12).map { id in
                var job = ShardJob(id: Int64(id), spec: spec("j\(id)"), state: id == 5 ? .succeeded : (id == 11 ? .running : .queued))
                job.finishing = id == 8
                return job
            }
            var leased = ShardTask(id: 1, job: turn.jobs[9].identity, jobID: 10, step: 0, partition: 0, state: .running, attempt: 1, order: 10 << 32)
            leased.lease = Lease(worker: "w", session: 1, peer: nil)
            turn.tasks = [leased]
            try store.commit(turn, now: Timestamp(milliseconds: 1_000))

            let (_, snapshot, rest) = try store.open(firstBatch: 3)
            // Job 10 (its task leased) and job 8 (finishing) whatever their place, and the first three others.
            #expect(snapshot.jobs.map(\.id) == [8, 10, 1, 2, 3])
            #expect(snapshot.tasks.map(\.id) == [1] && snapshot.tasks.first?.job == turn.jobs[9].identity)
            #expect(snapshot.more && snapshot.openJobs == 11)
            var cursor = try #require(rest)
            var later = try store.openJobs(from: &cursor, limit: 3).map(\.id)
            // A job put back already goes on: its row is written running as its next step starts. It is
            // not read again.
            var moved = turn.jobs[1]
            moved.state = .running
            moved.stored = true
            var next = ShardTurn()
            next.jobs = [moved]
            try store.commit(next, now: Timestamp(milliseconds: 2_000))
            var batches = 0
            while !cursor.isDone && batches < 10 {
                later += try store.openJobs(from: &cursor, limit: 3).map(\.id)
                batches += 1
            }
            #expect(later == [4, 6, 7, 9, 11, 12])
            // Read all at once, as before: the same jobs, and no cursor.
            let (_, whole, none) = try store.open(firstBatch: .max)
            #expect(Set(whole.jobs.map(\.id)) == Set([1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]) && whole.jobs.count == 11)
            #expect(none == nil && !whole.more)
        }
    }
}

/// SQLite uses a partial index only for a query that repeats the index's term word for word: a query
/// whose term drifted from it would still be right, and read every job ever kept.
@Suite struct ShardStoreQueryPlanTests {
    static func plan(_ sql: String, in store: ShardStore) throws -> String {
        let statement = try store.database.prepare("EXPLAIN QUERY PLAN " + sql)
        defer { statement.reset() }
        var details: [String] = []
        while try statement.step() { details.append(statement.text(3)) }
        return details.joined(separator: "; ")
    }

    @Test func theOpenAndEndedJobsAreFoundByTheirPartialIndexes() throws {
        try withTemporaryDirectory { directory in
            let store = try ShardStore(path: "\(directory)/shard.db", synchronous: .off)
            defer { store.database.close() }
            #expect(try Self.plan(ShardStore.openCount, in: store).contains("jobs_open"))
            // Batches of open jobs by ID, in the index's order: no sort, and no finished row read.
            let batch = try Self.plan(ShardStore.openJobsAfter, in: store)
            #expect(batch.contains("USING INDEX jobs_open (id>?)") && !batch.contains("TEMP B-TREE"))
            #expect(try Self.plan(ShardStore.storedTasksOfOpenJobs, in: store).contains("USING INDEX jobs_open"))
            #expect(try Self.plan(ShardStore.endedBefore, in: store).contains("USING INDEX jobs_finished"))
        }
    }
}
