import Core
import Foundation
@testable import Store
import Testing
import Wire

/// A lease that alone changed a task kept in its job's row goes to the lease log, one row a turn, not
/// into that row: through a real core and a real store file, restarted.
@Suite struct LeaseLogTests {
    let start = Timestamp(milliseconds: 1_000_000)
    let worker = Peer([1])

    /// A core over a store, turned and committed as the shard's service does.
    struct Shard {
        let store: ShardStore
        var core: ShardCore
        var now: Timestamp

        init(path: String, now: Timestamp) throws {
            store = try ShardStore(path: path)
            let (epoch, snapshot) = try store.open()
            core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: epoch, restoring: snapshot, now: now)
            self.now = now
        }

        @discardableResult
        mutating func turn() throws -> ShardTurn {
            let turn = core.finishTurn(now: now)
            try store.commit(turn, now: now)
            return turn
        }

        @discardableResult
        mutating func send(_ message: Message, from peer: Peer) throws -> ShardTurn {
            core.received(message, from: peer, now: now)
            return try turn()
        }

        func tasks(in turn: ShardTurn) -> [TaskSpec] {
            turn.messages.flatMap { _, message -> [TaskSpec] in
                guard case .tasks(let tasks) = message else { return [] }
                return tasks.tasks
            }
        }

        /// The job's row as committed: its task's attempt and state (0 when it holds no task).
        func row(of job: String) throws -> (attempt: Int, state: Int) {
            let row = try store.database.prepare("SELECT COALESCE(task_attempt, 0), COALESCE(task_state, 0) FROM jobs WHERE job = ?")
            defer { row.reset() }
            row.bind(1, job)
            guard try row.step() else { return (-1, -1) }
            return (row.int(0), row.int(1))
        }

        /// Takes `job` in a turn that hands it to `worker`, whose READY came first: that turn.
        mutating func takeAndLease(_ job: JobSpec, to worker: Peer, with ready: Message) throws -> ShardTurn {
            try send(ready, from: worker)
            core.submitted([job], lookup: SubmissionLookup(), now: now)
            return try turn()
        }

        /// `worker` reports the success of `task`: that turn.
        @discardableResult
        mutating func succeed(_ task: TaskSpec, from worker: Peer) throws -> ShardTurn {
            let result = TaskResult(task: task.task, attempt: task.attempt, outcome: .succeeded, started: 0, duration: 1)
            return try send(.results(Results(results: [result])), from: worker)
        }

        /// Queues `job` in one turn and hands it to `worker` in the next, which logs its lease: that turn.
        mutating func queueAndLease(_ job: JobSpec, to worker: Peer, with ready: Message) throws -> ShardTurn {
            core.submitted([job], lookup: SubmissionLookup(), now: now)
            try turn()
            let leased = try send(ready, from: worker)
            #expect(leased.leases.count == 1)
            return leased
        }

        func close() { store.database.close() }
    }

    func spec(_ name: String) -> JobSpec {
        JobSpec(
            run: 9, job: name, generation: 0, product: "payments", flow: "eod", moment: 7, priority: 0, type: "t",
            tags: [], retries: 1, backoff: 1000, timeout: 0, params: [:], steps: [StepSpec(name: name, kind: .command, action: "true")])
    }

    func ready(session: UInt64 = 1, slots: UInt32 = 4, held: [TaskRef] = []) -> Message {
        .ready(Ready(worker: "w1", session: session, slots: slots, heartbeat: 1000, commands: 1, tags: [], handlers: [], held: held))
    }

    /// Queued in one turn, leased in the next: the job is in the submission log and its lease in the lease
    /// log, neither in a row; a restarted shard gives the lease back, which the worker claims and ends in
    /// success.
    @Test func aLeaseAloneIsLoggedNotWrittenInItsRowAndARestartPutsItBack() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            var leased: [TaskSpec] = []
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                shard.core.submitted([spec("a"), spec("b")], lookup: SubmissionLookup(), now: start)
                try shard.turn()
                let turn = try shard.send(ready(), from: worker)
                leased = shard.tasks(in: turn)
                #expect(leased.count == 2 && turn.leases.count == 2 && turn.tasks.isEmpty)
                #expect(try shard.row(of: "a") == (-1, -1) && shard.row(of: "b") == (-1, -1))
                #expect(try shard.store.database.count("lease_log") == 1 && shard.store.database.count("submission_log") == 1)
                // Before an `attempts` query the jobs' rows are written; the attempts include the logged ones, running.
                shard.core.writeRows(of: 9)
                let written = try shard.turn()
                #expect(written.jobs.map(\.spec.job).sorted() == ["a", "b"] && written.submissions.isEmpty)
                #expect(try shard.row(of: "a") == (0, 0))
                let attempts = try shard.store.attempts(run: 9, job: nil)
                #expect(attempts.map(\.job) == ["a", "b"] && attempts.allSatisfy { $0.state == .running && $0.attempt == 1 && $0.worker == "w1" })
            }
            var shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            #expect(shard.core.tasks.values.filter { $0.state == .running && $0.leaseLogged && $0.lease?.worker == "w1" }.count == 2)
            // The worker comes back holding both, and reports them: they end once, as committed rows.
            try shard.send(ready(held: leased.map(\.ref)), from: worker)
            let results = leased.map { TaskResult(task: $0.task, attempt: $0.attempt, outcome: .succeeded, started: 0, duration: 1) }
            let ended = try shard.send(.results(Results(results: results)), from: worker)
            #expect(ended.succeeded.count == 2)
            #expect(try shard.row(of: "a") == (1, Int(TaskState.succeeded.rawValue)))
            #expect(try shard.store.database.count("jobs WHERE state = \(JobState.succeeded.rawValue)") == 2)
        }
    }

    /// A lease still running a log's age later is written into its row in a turn that deletes the log's
    /// row; a restart then reads it from the row alone.
    @Test func aLeaseOlderThanTheLogsAgeIsFoldedIntoItsRowAndTheLogRowGoes() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                let leased = try shard.queueAndLease(spec("a"), to: worker, with: ready())
                shard.now = start.adding(milliseconds: ShardCore.leaseLogAge - 1)
                #expect(try shard.send(.heartbeat, from: worker).leaseLogThrough == nil)
                shard.now = start.adding(milliseconds: ShardCore.leaseLogAge)
                let folded = try shard.send(.heartbeat, from: worker)
                #expect(folded.leaseLogThrough == leased.leaseLogSequence && folded.tasks.map(\.attempt) == [1])
                #expect(try shard.store.database.count("lease_log") == 0)
                #expect(try shard.row(of: "a") == (1, Int(TaskState.running.rawValue)))
                #expect(shard.core.tasks.values.allSatisfy { !$0.leaseLogged })
            }
            let shard = try Shard(path: path, now: start.adding(milliseconds: 2000))
            defer { shard.close() }
            let task = try #require(shard.core.tasks.values.first)
            #expect(task.state == .running && task.attempt == 1 && task.lease?.worker == "w1" && !task.leaseLogged)
        }
    }

    /// A row written after the lease (here, its attempt taken back from a worker gone) holds that attempt:
    /// a restart does not put the logged lease back, and the task runs again on the next attempt.
    @Test func aRowWrittenAfterTheLoggedLeaseWinsOverTheLog() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                _ = try shard.queueAndLease(spec("a"), to: worker, with: ready())
                shard.core.peerLost(worker, now: shard.now)
                let lost = try shard.turn()
                #expect(lost.tasks.map(\.state) == [.pending] && lost.tasks.map(\.attempt) == [1])
                #expect(try shard.store.database.count("lease_log") == 1)
                #expect(try shard.row(of: "a") == (1, Int(TaskState.pending.rawValue)))
            }
            var shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            let task = try #require(shard.core.tasks.values.first)
            #expect(task.state == .pending && task.lease == nil && !task.leaseLogged)
            // Its next attempt is the second, logged in its turn; the old log row goes a log's age after the restart.
            let again = try shard.send(ready(session: 2), from: worker)
            #expect(shard.tasks(in: again).map(\.attempt) == [2] && again.leases.map(\.attempt) == [2])
            shard.now = shard.now.adding(milliseconds: ShardCore.leaseLogAge)
            let folded = try shard.send(.heartbeat, from: worker)
            #expect(folded.leaseLogThrough == again.leaseLogSequence && folded.tasks.map(\.attempt) == [2])
            #expect(try shard.store.database.count("lease_log") == 0)
        }
    }

    /// A job taken and leased in one turn goes to the submission log, its lease to the lease log: no row
    /// is written. A restart puts both back, and the job's row is written a log's age after it.
    @Test func aJobLeasedInTheTurnThatTookItIsLoggedLeaseAndAll() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                let turn = try shard.takeAndLease(spec("a"), to: worker, with: ready())
                #expect(shard.tasks(in: turn).count == 1 && turn.tasks.isEmpty && turn.jobs.isEmpty)
                #expect(turn.submissions.map(\.spec.job) == ["a"] && turn.leases.map(\.attempt) == [1])
                #expect(try shard.row(of: "a") == (-1, -1))
                #expect(try shard.store.database.count("lease_log") == 1 && shard.store.database.count("submission_log") == 1)
            }
            var shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            let task = try #require(shard.core.tasks.values.first)
            #expect(task.state == .running && task.attempt == 1 && task.lease?.worker == "w1" && task.leaseLogged)
            #expect(try shard.turn().jobs.isEmpty)
            shard.now = shard.now.adding(milliseconds: ShardCore.submissionLogAge)
            let folded = try shard.turn()
            // The lease log, younger, folded too: the row is written with the task, running.
            #expect(folded.jobs.map(\.spec.job) == ["a"] && folded.submissionLogDeleted == [1])
            #expect(try shard.row(of: "a") == (1, Int(TaskState.running.rawValue)))
            #expect(try shard.store.database.count("submission_log") == 0 && shard.store.database.count("lease_log") == 0)
        }
    }

    /// A clock stepped back folds the log at once: its rows would otherwise wait for the step to pass, and
    /// the log would grow all that while.
    @Test func aClockSteppedBackFoldsTheLogAtOnce() throws {
        try withTemporaryDirectory { folder in
            var shard = try Shard(path: "\(folder)/shard.db", now: start)
            defer { shard.close() }
            let leased = try shard.queueAndLease(spec("a"), to: worker, with: ready())
            shard.now = start.adding(milliseconds: -5000)
            let folded = try shard.send(.heartbeat, from: worker)
            #expect(folded.leaseLogThrough == leased.leaseLogSequence && folded.tasks.map(\.attempt) == [1])
            #expect(try shard.store.database.count("lease_log") == 0)
        }
    }

    /// `attempts` shows a logged attempt running in place of the earlier one its task's row still holds,
    /// which it does not show as lost unless its history has it; another run's leases are not read.
    @Test func attemptsShowsALoggedAttemptInPlaceOfTheRowsEarlierOne() throws {
        try withTemporaryDirectory { folder in
            let store = try ShardStore(path: "\(folder)/shard.db")
            defer { store.database.close() }
            _ = try store.open()
            var job = ShardJob(id: 1, spec: spec("a"))
            // The row holds attempt 2, pending, with no history of it (a READY made the shard skip past it).
            var task = ShardTask(id: 7, job: job.identity, jobID: 1, step: 0, partition: 0, state: .pending, attempt: 2, order: 1 << 32)
            task.inJobRow = true
            var turn = ShardTurn()
            turn.jobs = [job]
            turn.tasks = [task]
            try store.commit(turn, now: start)
            job.stored = true
            #expect(try store.attempts(run: 9, job: nil).map(\.attempt) == [2])
            task.state = .running
            task.attempt = 3
            task.started = start
            task.lease = Lease(worker: "w1", session: 1, peer: nil)
            task.worker = "w1"
            turn = ShardTurn()
            turn.leases = [task]
            turn.leaseLogSequence = 1
            try store.commit(turn, now: start)
            let attempts = try store.attempts(run: 9, job: "a")
            #expect(attempts.map(\.attempt) == [3] && attempts.map(\.state) == [.running] && attempts.map(\.worker) == ["w1"])
            #expect(try store.attempts(run: 10, job: nil).isEmpty)
        }
    }
}
