import Core
import Foundation
@testable import Store
import Testing
import Wire

/// A job submitted with its one task in its row goes, whole, to the submission log, one row a turn, and
/// its row is written once: at its end, or a log's age later: through a real core and a real store file,
/// restarted.
@Suite struct SubmissionLogTests {
    typealias Shard = LeaseLogTests.Shard
    let start = Timestamp(milliseconds: 1_000_000)
    let worker = Peer([1])
    let orchestrator = Peer([9])

    func spec(_ name: String, run: UInt64 = 9, generation: UInt32 = 0, resume: UInt8 = 0) -> JobSpec {
        JobSpec(
            run: run, job: name, generation: generation, product: "payments", flow: "eod", moment: 7, priority: 0, type: "t",
            tags: [], retries: 1, backoff: 1000, timeout: 0, params: [:], resume: resume,
            steps: [StepSpec(name: name, kind: .command, action: "true")])
    }

    func ready() -> Message {
        .ready(Ready(worker: "w1", session: 1, slots: 4, heartbeat: 1000, commands: 1, tags: [], handlers: [], held: []))
    }

    /// Taken, handed out and ended within a log's age: the job's row is inserted once, at its end, and a
    /// restart finds it finished, not again in the log.
    @Test func aJobThatEndsWithinTheLogsAgeHasItsRowWrittenOnceAtItsEnd() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                let taken = try shard.takeAndLease(spec("a"), to: worker, with: ready())
                #expect(taken.jobs.isEmpty && taken.submissions.map(\.spec.job) == ["a"])
                let ended = try shard.succeed(shard.tasks(in: taken)[0], from: worker)
                #expect(ended.jobs.map { "\($0.spec.job) \($0.state) \($0.stored)" } == ["a succeeded false"])
                #expect(try shard.store.database.count("jobs WHERE state = \(JobState.succeeded.rawValue)") == 1)
                #expect(try shard.store.database.count("submission_log") == 1)
            }
            var shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            #expect(shard.core.jobs.isEmpty)
            // A new job's ID is past the one logged; the log's rows go a log's age later, the new one's row written.
            shard.core.submitted([spec("b")], lookup: SubmissionLookup(), now: shard.now)
            #expect(try shard.turn().submissions.map(\.id) == [2])
            shard.now = shard.now.adding(milliseconds: ShardCore.submissionLogAge)
            let folded = try shard.turn()
            #expect(folded.submissionLogDeleted == [1, 2] && folded.jobs.map(\.spec.job) == ["b"])
        }
    }

    /// A job still queued a log's age later has its row written, queued, in the turn that deletes the
    /// log's row; a restart reads it from the row.
    @Test func aJobStillQueuedALogsAgeLaterIsFoldedIntoItsRow() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                shard.core.submitted([spec("a"), spec("b")], lookup: SubmissionLookup(), now: start)
                let logged = try shard.turn()
                #expect(logged.submissions.count == 2 && logged.submissionLogSequence == 1)
                shard.now = start.adding(milliseconds: ShardCore.submissionLogAge - 1)
                #expect(try shard.turn().submissionLogDeleted.isEmpty)
                shard.now = start.adding(milliseconds: ShardCore.submissionLogAge)
                let folded = try shard.turn()
                #expect(folded.submissionLogDeleted == [1] && folded.jobs.map(\.spec.job).sorted() == ["a", "b"])
                #expect(try shard.store.database.count("submission_log") == 0)
                #expect(try shard.store.database.count("jobs WHERE state = \(JobState.queued.rawValue)") == 2)
                #expect(shard.core.jobs.values.allSatisfy { $0.stored && !$0.logged })
            }
            let shard = try Shard(path: path, now: start.adding(milliseconds: 2000))
            defer { shard.close() }
            #expect(shard.core.jobs.values.map(\.spec.job).sorted() == ["a", "b"])
            #expect(shard.core.jobs.values.allSatisfy { $0.stored && !$0.logged && $0.state == .queued })
        }
    }

    /// A run handed over drops its logged jobs without a row to delete; the log's row naming them is
    /// folded in the same turn, another run's job in it written to its row, so a restart never finds them.
    @Test func aLoggedJobOfARunHandedOverIsNotPutBack() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                shard.core.submitted([spec("a", run: 5), spec("b", run: 5), spec("c", run: 6)], lookup: SubmissionLookup(), now: start)
                try shard.turn()
                shard.core.handOverReceived(
                    Control(request: 1, action: .handOver, run: 5, generation: 0), lookup: HandOverLookup(), from: orchestrator, now: start)
                let handed = try shard.turn()
                #expect(handed.tombstones.keys.sorted() == [5] && handed.handedOverRows.isEmpty)
                #expect(handed.submissionLogDeleted == [1] && handed.jobs.map(\.spec.job) == ["c"])
                #expect(try shard.store.database.count("submission_log") == 0)
            }
            let shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            #expect(shard.core.jobs.values.map { "\($0.spec.job) \($0.stored)" } == ["c true"])
        }
    }

    /// A task kept in its job's row that changes without its job (here, its lease taken back from a
    /// worker gone) has no row to go into: the job's row is written with it.
    @Test func aTaskChangedAloneWritesItsLoggedJobsRowWithIt() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                shard.core.submitted([spec("a")], lookup: SubmissionLookup(), now: start)
                try shard.turn()
                try shard.send(ready(), from: worker)
                shard.core.peerLost(worker, now: shard.now)
                let lost = try shard.turn()
                #expect(lost.tasks.map(\.state) == [.pending] && lost.jobs.map(\.spec.job) == ["a"])
                #expect(try shard.row(of: "a") == (1, Int(TaskState.pending.rawValue)))
            }
            let shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            let task = try #require(shard.core.tasks.values.first)
            #expect(task.state == .pending && task.attempt == 1 && task.lease == nil)
        }
    }

    /// Retention keeps the row of a job that ended while the submission log still names it: a restart
    /// would otherwise find the job in the log with no row and put it back.
    @Test func retentionKeepsTheRowsTheLogStillNames() throws {
        try withTemporaryDirectory { folder in
            var shard = try Shard(path: "\(folder)/shard.db", now: start)
            defer { shard.close() }
            try shard.succeed(shard.tasks(in: try shard.takeAndLease(spec("a"), to: worker, with: ready()))[0], from: worker)
            let later = start.adding(milliseconds: 5000)
            #expect(try shard.store.trim(now: later, retention: 1, below: shard.core.lowestLoggedJobID) == 0)
            shard.now = start.adding(milliseconds: ShardCore.submissionLogAge)
            #expect(try shard.turn().submissionLogDeleted == [1])
            #expect(shard.core.lowestLoggedJobID == .max)
            #expect(try shard.store.trim(now: shard.now, retention: 1, below: shard.core.lowestLoggedJobID) == 1)
        }
    }

    /// A logged job whose run is handed over while its task runs stays, finishing; when the task ends in
    /// that same turn the job leaves, its row (inserted only then, for the task's write to find) deleted
    /// in the same commit, and a restart does not put it back.
    @Test func aLoggedJobFinishingAfterAHandOverLeavesWithoutARow() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                let leased = shard.tasks(in: try shard.takeAndLease(spec("a", run: 5), to: worker, with: ready()))
                shard.core.handOverReceived(
                    Control(request: 1, action: .handOver, run: 5, generation: 0), lookup: HandOverLookup(), from: orchestrator, now: start)
                let ended = try shard.succeed(leased[0], from: worker)
                #expect(ended.tombstones.keys.sorted() == [5] && ended.handedOverRows.count == 1 && shard.core.jobs.isEmpty)
                #expect(try shard.store.database.count("jobs") == 0)
            }
            let shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            #expect(shard.core.jobs.isEmpty)
        }
    }

    /// A restart puts the logged jobs back after the open jobs' rows, a batch at a time as it does those,
    /// marked logged.
    @Test func aRestartPutsTheLoggedJobsBackInBatchesAfterTheRows() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                shard.core.submitted([spec("a"), spec("b")], lookup: SubmissionLookup(), now: start)
                try shard.turn()
                shard.now = start.adding(milliseconds: ShardCore.submissionLogAge)
                #expect(try shard.turn().jobs.count == 2)
                shard.core.submitted([spec("c"), spec("d"), spec("e")], lookup: SubmissionLookup(), now: shard.now)
                #expect(try shard.turn().submissions.count == 3)
            }
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            let (_, snapshot, rest) = try store.open(firstBatch: 1)
            #expect(snapshot.jobs.map(\.spec.job) == ["a"] && snapshot.more && snapshot.submissionLog.map(\.sequence) == [2])
            var cursor = try #require(rest)
            var batches: [[String]] = []
            while !cursor.isDone {
                let batch = try store.openJobs(from: &cursor, limit: 2)
                #expect(batch.allSatisfy { $0.logged == ($0.spec.job >= "c") && $0.stored == ($0.spec.job < "c") })
                batches.append(batch.map(\.spec.job))
            }
            #expect(batches.flatMap { $0 } == ["b", "c", "d", "e"])
        }
    }

    /// A hand-over that drops a logged job, which never had a row, keeps the next IDs past it: a restart
    /// never gives its ID again.
    @Test func aDroppedLoggedJobsIDIsNotGivenAgain() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            var dropped: Int64 = 0
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                shard.core.submitted([spec("x", run: 6)], lookup: SubmissionLookup(), now: start)
                try shard.turn()
                shard.core.submitted([spec("a", run: 5)], lookup: SubmissionLookup(), now: start)
                dropped = try #require(try shard.turn().submissions.first?.id)
                shard.core.handOverReceived(
                    Control(request: 1, action: .handOver, run: 5, generation: 0), lookup: HandOverLookup(), from: orchestrator, now: start)
                let handed = try shard.turn()
                #expect(handed.submissionLogDeleted.count == 1 && handed.nextIDs?.job == dropped + 1)
            }
            var shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            shard.core.submitted([spec("b", run: 7)], lookup: SubmissionLookup(), now: shard.now)
            #expect(try shard.turn().submissions.map(\.id) == [dropped + 1])
        }
    }

    /// A rerun is never logged: a later one resumed finds what it got to in its row. Here generation 1
    /// waits (its run paused) when generation 2 comes resumed: it carries nothing of generation 0's
    /// success, and runs.
    @Test func aResumedRerunCarriesFromTheNewestEarlierGenerationNotALoggedOnesPredecessor() throws {
        try withTemporaryDirectory { folder in
            var shard = try Shard(path: "\(folder)/shard.db", now: start)
            defer { shard.close() }
            try shard.succeed(shard.tasks(in: try shard.takeAndLease(spec("a"), to: worker, with: ready()))[0], from: worker)
            shard.core.controlReceived(Control(request: 2, action: .pauseRun, run: 9), from: orchestrator, now: shard.now)
            shard.core.submitted([spec("a", generation: 1)], lookup: SubmissionLookup(), now: shard.now)
            let rerun = try shard.turn()
            #expect(rerun.submissions.isEmpty && rerun.jobs.map(\.spec.generation) == [1])
            let resumed = spec("a", generation: 2, resume: 1)
            let lookup = try shard.store.lookup(for: [resumed], unknown: [resumed.identity], now: shard.now)
            #expect(lookup.carried[resumed.identity]?.succeeded.isEmpty ?? true)
            shard.core.submitted([resumed], lookup: lookup, now: shard.now)
            #expect(!(try shard.turn()).jobs.contains { $0.spec.generation == 2 && $0.state == .succeeded })
        }
    }

    /// The log's row holding a job ID is found by halves, and none for an ID between or beyond the rows.
    @Test func theRowHoldingAnIDIsFoundByHalves() {
        let rows = [
            SubmissionLogRow(sequence: 1, firstID: 1, lastID: 3), SubmissionLogRow(sequence: 2, firstID: 5, lastID: 9),
            SubmissionLogRow(sequence: 4, firstID: 10, lastID: 10),
        ]
        #expect([0, 1, 3, 4, 5, 9, 10, 11].map { rows.index(holding: $0) } == [nil, 0, 0, nil, 1, 1, 2, nil])
        #expect([SubmissionLogRow]().index(holding: 1) == nil)
    }
}
