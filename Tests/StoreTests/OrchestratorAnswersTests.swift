import Core
@testable import Store
import Testing
import Wire

@Suite struct OrchestratorAnswersTests {
    @Test func theNewestAnswersAreReadBackAndAnyOtherOnRequest() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/orchestrator.db"
            let store = try OrchestratorStore(path: path)
            var turn = OrchestratorTurn()
            turn.answers = (1...5).map { ($0, OperationResult(request: $0, status: .accepted, detail: "run \($0) started")) }
            _ = try store.commit(turn, now: Timestamp(milliseconds: 1))
            store.database.close()
            let reopened = try OrchestratorStore(path: path)
            let (_, snapshot) = try reopened.open(shards: [1], answersInMemory: 2)
            #expect(snapshot.answered.keys.sorted() == [4, 5])
            #expect(try reopened.answer(1)?.detail == "run 1 started")
            #expect(try reopened.answer(6) == nil)
            reopened.database.close()
        }
    }

    /// Run statuses beyond one RUN-UPDATES' budget go in several, numbered in sequence and all logged with
    /// the turn: one message over the frame limit would stop management at it for ever.
    @Test func aTurnsRunStatusesBeyondOneMessagesBudgetGoInSeveralAllLoggedWithTheTurn() throws {
        try withTemporaryDirectory { directory in
            let store = try OrchestratorStore(path: "\(directory)/orchestrator.db")
            defer { store.database.close() }
            let now = Timestamp(milliseconds: 1_000_000)
            var configuration = OrchestratorConfiguration(shards: [1])
            configuration.statusBudget = 512
            var core = OrchestratorCore(configuration: configuration, epoch: 1, restoring: OrchestratorSnapshot(), now: now)
            let definition = #"{"product": "p", "flow": "f", "jobs": [{"name": "a", "handler": "h"}]}"#
            for run in UInt64(1)...20 {
                core.operationReceived(
                    OperationRequest(request: run, action: .start, run: run, product: "p", flow: "f", version: 1, shard: 1, moment: 1, definition: definition),
                    from: Peer([1]), now: now)
            }
            let turn = core.finishTurn(now: now)
            #expect(turn.updateMessages.count > 2)
            #expect(turn.updateMessages.map(\.sequence) == Array(1...UInt64(turn.updateMessages.count)))
            #expect(turn.updates?.updates.map(\.run) == Array(1...20))
            let frames = try store.commit(turn, now: now)
            for frame in frames { #expect(frame.count <= 512 + 64) }
            #expect(try store.log.frames(after: 0, limit: 100) == frames)
        }
    }

    /// Found by the simulator (seed 1051): a run started and paused in the same turn (the orchestrator,
    /// back from a crash, took both requests at once) was stored without its pause, while its shard was
    /// told to pause it; after the next restart it ran here and was held there for ever.
    @Test func aRunPausedOrStoppedInTheTurnThatStartsItIsStoredSo() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/orchestrator.db"
            let store = try OrchestratorStore(path: path)
            let now = Timestamp(milliseconds: 1_000_000)
            var core = OrchestratorCore(configuration: OrchestratorConfiguration(shards: [1]), epoch: 1, restoring: OrchestratorSnapshot(), now: now)
            let definition = #"{"product": "p", "flow": "f", "jobs": [{"name": "a", "handler": "h"}, {"name": "b", "after": ["a"], "handler": "h"}]}"#
            for run in [UInt64(1), 2] {
                core.operationReceived(
                    OperationRequest(request: run * 10, action: .start, run: run, product: "p", flow: "f", version: 1, shard: 1, moment: 1, definition: definition),
                    from: Peer([1]), now: now)
            }
            core.operationReceived(OperationRequest(request: 11, action: .pause, run: 1, product: "p"), from: Peer([1]), now: now)
            core.operationReceived(OperationRequest(request: 21, action: .stop, run: 2, product: "p"), from: Peer([1]), now: now)
            try store.commit(core.finishTurn(now: now), now: now)
            store.database.close()
            let reopened = try OrchestratorStore(path: path)
            let runs = try reopened.open(shards: [1]).snapshot.runs
            #expect(runs.first { $0.id == 1 }?.paused == true)
            #expect(runs.first { $0.id == 2 }.map { $0.stopping || $0.state.isFinal } == true)
            reopened.database.close()
        }
    }
}

/// A job's row in the orchestrator's store: written whole at its release, then changed by an update.
@Suite struct OrchestratorJobRowTests {
    static func row(_ store: OrchestratorStore, run: Int, index: Int) throws -> (state: Int, releases: Int, successes: Int, detail: String)? {
        let statement = try store.database.prepare("SELECT state, releases, successes, detail FROM jobs WHERE run = ? AND idx = ?")
        defer { statement.reset() }
        statement.bind(1, run)
        statement.bind(2, index)
        guard try statement.step() else { return nil }
        return (statement.int(0), statement.int(1), statement.int(2), statement.text(3))
    }

    @Test func aReleasedJobsLaterRowsUpdateItAndARowNeverWrittenIsWrittenAllTheSame() throws {
        try withTemporaryDirectory { directory in
            let store = try OrchestratorStore(path: "\(directory)/orchestrator.db")
            let now = Timestamp(milliseconds: 1_000)
            var turn = OrchestratorTurn()
            turn.jobs = [FlowRunJobRow(run: 1, index: 0, job: FlowRunJob(name: "a", state: .submitted), released: true)]
            try store.commit(turn, now: now)
            #expect(try Self.row(store, run: 1, index: 0).map { [$0.state, $0.releases, $0.successes] } == [2, 1, 0])

            // Not released this turn: an update of the row the release wrote.
            turn.jobs = [FlowRunJobRow(run: 1, index: 0, job: FlowRunJob(name: "a", state: .succeeded), succeeded: true)]
            try store.commit(turn, now: now)
            #expect(try Self.row(store, run: 1, index: 0).map { [$0.state, $0.releases, $0.successes] } == [6, 1, 1])

            // A row no release wrote (a job skipped before it ran) is not lost to an update that finds nothing.
            turn.jobs = [FlowRunJobRow(run: 1, index: 1, job: FlowRunJob(name: "b", state: .skipped, detail: "upstream a failed"))]
            try store.commit(turn, now: now)
            let skipped = try Self.row(store, run: 1, index: 1)
            #expect(skipped.map { [$0.state, $0.releases, $0.successes] } == [9, 0, 0])
            #expect(skipped?.detail == "upstream a failed")
            store.database.close()
        }
    }

    static let now = Timestamp(milliseconds: 1_000)

    /// The start of run 1 of a flow of two jobs, b after a.
    static let startTwoJobs = OperationRequest(
        request: 1, action: .start, run: 1, product: "p", flow: "f", version: 1, shard: 2, moment: 99, params: [:],
        definition: #"{"product": "p", "flow": "f", "jobs": [{"name": "a", "run": "true"}, {"name": "b", "after": ["a"], "run": "true"}]}"#)

    /// An orchestrator (re)started on the store at `path`, as a process starts.
    static func open(_ path: String) throws -> (OrchestratorStore, OrchestratorCore) {
        let store = try OrchestratorStore(path: path)
        let (epoch, snapshot) = try store.open(shards: [2])
        return (store, OrchestratorCore(configuration: OrchestratorConfiguration(shards: [2]), epoch: epoch, restoring: snapshot, now: now))
    }

    /// A job's first release writes no row. Its orchestrator restarted: the store has the run and no row
    /// of the job, which is released again, and its row, written when it ends, counts one release.
    @Test func aJobReleasedWithoutARowIsReleasedAgainAfterARestartAndCountedOnce() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/orchestrator.db"
            let now = Self.now
            let start = Self.startTwoJobs
            var (store, core) = try Self.open(path)
            core.operationReceived(start, from: Peer([1]), now: now)
            var turn = core.finishTurn(now: now)
            try store.commit(turn, now: now)
            #expect(turn.submits[2]?.map(\.job) == ["a"])
            #expect(try Self.row(store, run: 1, index: 0) == nil)
            store.database.close()

            (store, core) = try Self.open(path)
            core.tick(now: now)
            turn = core.finishTurn(now: now)
            try store.commit(turn, now: now)
            #expect(turn.submits[2]?.map(\.job) == ["a"], "released again: whether the shard has it is unknown")
            let succeeded = JobStatus(run: 1, job: "a", generation: 0, state: .succeeded, succeeded: 1, time: now.wire)
            core.updatesReceived(JobUpdates(publisher: "shard-2", epoch: 1, sequence: 1, updates: [succeeded]), from: 2, now: now)
            turn = core.finishTurn(now: now)
            try store.commit(turn, now: now)
            #expect(turn.submits[2]?.map(\.job) == ["b"])
            #expect(try Self.row(store, run: 1, index: 0).map { [$0.state, $0.releases, $0.successes] } == [6, 1, 1])
            #expect(try Self.row(store, run: 1, index: 1) == nil)
            store.database.close()
        }
    }

    /// An operator's pause writes the row of a job released without one. A restart then finds the job
    /// submitted in a paused run: it is sent again as not yet accepted, not released again, and its
    /// successor, released by its success, waits parked.
    @Test func aRowWrittenByAPauseIsReadBackByARestartAndItsReleaseCountedOnce() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/orchestrator.db"
            let now = Self.now
            let start = Self.startTwoJobs
            var (store, core) = try Self.open(path)
            core.operationReceived(start, from: Peer([1]), now: now)
            try store.commit(core.finishTurn(now: now), now: now)
            #expect(try Self.row(store, run: 1, index: 0) == nil)
            core.operationReceived(OperationRequest(request: 2, action: .pause, run: 1), from: Peer([1]), now: now)
            try store.commit(core.finishTurn(now: now), now: now)
            #expect(try Self.row(store, run: 1, index: 0).map { [$0.state, $0.releases, $0.successes] } == [2, 1, 0])
            store.database.close()

            (store, core) = try Self.open(path)
            #expect(core.runs[1]?.paused == true)
            #expect(core.runs[1]?.jobs[0].state == .submitted)
            core.tick(now: now)
            var turn = core.finishTurn(now: now)
            try store.commit(turn, now: now)
            #expect(turn.submits[2]?.map(\.job) == ["a"], "sent again: whether the shard has it is unknown")
            #expect(turn.jobs.isEmpty, "not released again")
            let succeeded = JobStatus(run: 1, job: "a", generation: 0, state: .succeeded, succeeded: 1, time: now.wire)
            core.updatesReceived(JobUpdates(publisher: "shard-2", epoch: 1, sequence: 1, updates: [succeeded]), from: 2, now: now)
            turn = core.finishTurn(now: now)
            try store.commit(turn, now: now)
            #expect(turn.submits[2] == nil, "b waits parked while the run is paused")
            #expect(try Self.row(store, run: 1, index: 0).map { [$0.state, $0.releases, $0.successes] } == [6, 1, 1])
            store.database.close()
        }
    }
}

/// Retention in the orchestrator's and a shard's stores: what ended longer ago goes, a batch at a time;
/// what is going stays.
@Suite struct RetentionTests {
    static let day: Int64 = 86_400_000
    static let now = Timestamp(milliseconds: 1_800_000_000_000)

    @Test func theOrchestratorDeletesOldFinishedRunsWithTheirJobsAndOldAnswers() throws {
        try withTemporaryDirectory { directory in
            let store = try OrchestratorStore(path: "\(directory)/orchestrator.db")
            let old = Self.now.milliseconds - 31 * Self.day
            for (id, state, finished) in [(1, 2, old), (2, 3, old), (3, 1, Int64(0)), (4, 2, Self.now.milliseconds - Self.day)] {
                try store.database.execute(
                    """
                    INSERT INTO runs (id, product, flow, version, shard, moment, params, state, started, finished, detail)
                    VALUES (\(id), 'p', 'f', 1, 1, 1, '{}', \(state), \(old), \(finished), '');
                    INSERT INTO jobs (run, idx, name, generation, state, attempts, pending, running, succeeded, failed, step, steps,
                        started, finished, time, output, detail, releases, successes)
                    VALUES (\(id), 0, 'a', 0, 6, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, '', '', 0, 0);
                    INSERT INTO answers (request, status, detail, time) VALUES (\(id), 202, '', \(id == 4 ? Self.now.milliseconds : old));
                    """)
            }
            for (runs, answers) in [([1], 1), ([2], 2), ([], 0)] as [([UInt64], Int)] {
                let deleted = try store.trim(now: Self.now, retention: 30 * Self.day, batch: runs == [1] ? 1 : 1000)
                #expect(deleted.runs == runs && deleted.answers == answers)
            }
            let left = try store.database.prepare("SELECT (SELECT group_concat(id) FROM runs), (SELECT group_concat(run) FROM jobs), (SELECT group_concat(request) FROM answers)")
            #expect(try left.step())
            #expect(left.text(0) == "3,4" && left.text(1) == "3,4" && left.text(2) == "4")
            left.reset()
            store.database.close()
        }
    }

    /// The event log keeps its last 100,000 messages, and those of the last 24 hours or of the retention
    /// if shorter; it deletes the others a batch at a time.
    @Test func theEventLogKeepsNoLongerThanTheRetentionABatchAtATime() throws {
        try withTemporaryDirectory { directory in
            let store = try ShardStore(path: "\(directory)/shard.db")
            let hourAgo = Self.now.milliseconds - 3_600_000
            try store.database.execute(
                """
                INSERT INTO events (sequence, epoch, time, frame)
                WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100050)
                SELECT x, 1, CASE WHEN x <= 30 THEN \(hourAgo) ELSE \(Self.now.milliseconds) END, x'' FROM n;
                """)
            #expect(try store.log.trim(now: Self.now) == 0, "an hour is within 24 hours, the default")
            #expect(try store.log.trim(now: Self.now, retention: 1_800_000, batch: 20) == 20)
            #expect(try store.log.trim(now: Self.now, retention: 1_800_000, batch: 20) == 10)
            #expect(try store.log.trim(now: Self.now, retention: 1_800_000, batch: 20) == 0)
            #expect(try store.log.oldest() == 31 && store.log.newest() == 100_050)
            store.database.close()
        }
    }

    /// Over its size limit, the log deletes its oldest messages whatever their age, down to its last
    /// 1,000; it counts what it holds as it appends and deletes.
    @Test func theEventLogKeepsNoMoreThanItsSizeDownToItsLast1000Messages() throws {
        try withTemporaryDirectory { directory in
            let store = try ShardStore(path: "\(directory)/shard.db")
            // 3,000 messages of a kilobyte, all from now.
            try store.database.execute(
                """
                INSERT INTO events (sequence, epoch, time, frame)
                WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)
                SELECT x, 1, \(Self.now.milliseconds), zeroblob(1024) FROM n;
                """)
            #expect(try store.log.size() == 3000 * 1024)
            #expect(try store.log.trim(now: Self.now) == 0, "within 4 GiB")
            // A limit of 2,500 KiB: 500 go, the oldest first, in batches.
            #expect(try store.log.trim(now: Self.now, size: 2500 * 1024, batch: 300) == 300)
            #expect(try store.log.trim(now: Self.now, size: 2500 * 1024, batch: 300) == 200)
            #expect(try store.log.trim(now: Self.now, size: 2500 * 1024, batch: 300) == 0)
            #expect(try store.log.oldest() == 501 && store.log.size() == 2500 * 1024)
            // Appending counts too: a limit below what the last 1,000 take keeps them.
            try store.database.transaction {
                try store.log.append(sequence: 3001, epoch: 1, time: Self.now, frame: [UInt8](repeating: 1, count: 4096))
            }
            #expect(try store.log.size() == 2500 * 1024 + 4096)
            #expect(try store.log.trim(now: Self.now, size: 512 << 10) == 1501)
            #expect(try store.log.oldest() == 2002 && store.log.newest() == 3001)
            store.database.close()
        }
    }

    @Test func aShardDeletesOldFinishedJobsWithTheirTasks() throws {
        try withTemporaryDirectory { directory in
            let store = try ShardStore(path: "\(directory)/shard.db")
            let old = Self.now.milliseconds - 31 * Self.day
            // Jobs 1 and 3 have a row for their task; 2 and 4 keep it in their own.
            for (id, state, finished) in [(1, 6, old), (2, 7, old), (3, 4, Int64(0)), (4, 6, Self.now.milliseconds)] {
                try store.database.execute(
                    """
                    INSERT INTO jobs (id, run, job, generation, spec, state, step, completed, attempts, started, finished, output, detail, cancelled)
                    VALUES (\(id), 1, 'j\(id)', 0, x'', \(state), 0, 0, 1, 0, \(finished), '', '', 0);
                    """)
                if id.isMultiple(of: 2) {
                    try store.database.execute("UPDATE jobs SET task_id = \(id), task_state = 4, task_attempt = 1 WHERE id = \(id)")
                } else {
                    try store.database.execute(
                        """
                        INSERT INTO task_rows (job_id, step, partition, state, attempt, failures, losses, due, ord, started, finished, exit_code,
                            output, log, error, data, successes)
                        VALUES (\(id), 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, '', '', '', x'', 0);
                        """)
                }
            }
            #expect(try store.trim(now: Self.now, retention: 30 * Self.day, below: .max, batch: 1) == 1)
            #expect(try store.trim(now: Self.now, retention: 30 * Self.day, below: .max) == 1)
            #expect(try store.trim(now: Self.now, retention: 30 * Self.day, below: .max) == 0)
            let left = try store.database.prepare("SELECT (SELECT group_concat(id) FROM jobs), (SELECT group_concat(job_id) FROM tasks)")
            #expect(try left.step())
            #expect(left.text(0) == "3,4" && left.text(1) == "3,4")
            left.reset()
            store.database.close()
        }
    }

    /// A run fail-run ended with a job still active is read back at the start, apart from the open runs,
    /// for its shard to be asked for that job's end; a run that ended with none active is not.
    @Test func aRunThatEndedWithAJobActiveIsReadBackToAskForItsEnd() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/orchestrator.db"
            let store = try OrchestratorStore(path: path)
            let now = Timestamp(milliseconds: 1_000_000)
            var core = OrchestratorCore(configuration: OrchestratorConfiguration(shards: [1]), epoch: 1, restoring: OrchestratorSnapshot(), now: now)
            let definition = #"""
                {"product": "p", "flow": "f", "on_failure": "fail-run", "jobs": [{"name": "a", "run": "true"}, {"name": "b", "run": "true"}]}
                """#
            var sequence: UInt64 = 0
            for run in UInt64(1)...3 {
                core.operationReceived(
                    OperationRequest(request: run, action: .start, run: run, product: "p", flow: "f", version: 1, shard: 1, moment: 1, definition: definition),
                    from: Peer([1]), now: now)
                _ = try store.commit(core.finishTurn(now: now), now: now)
            }
            // Run 1 ends with b running; run 2 with b cancelled; run 3 stays open.
            for (run, b) in [(UInt64(1), JobState.running), (2, .cancelled)] {
                sequence += 1
                let updates = [JobStatus(run: run, job: "b", state: .running, time: now.wire), JobStatus(run: run, job: "a", state: .failed, time: now.wire)]
                    + (b == .running ? [] : [JobStatus(run: run, job: "b", state: b, time: now.wire)])
                core.updatesReceived(JobUpdates(publisher: "shard-1", epoch: 1, sequence: sequence, updates: updates), from: 1, now: now)
                _ = try store.commit(core.finishTurn(now: now), now: now)
            }
            #expect(core.runs[1]?.state == .failed && core.runs[2]?.state == .failed && core.runs[3]?.state == .running)
            store.database.close()
            let reopened = try OrchestratorStore(path: path)
            defer { reopened.database.close() }
            let (_, snapshot) = try reopened.open(shards: [1])
            #expect(snapshot.runs.map(\.id) == [3])
            #expect(snapshot.endedRuns.map(\.id) == [1])
            #expect(snapshot.endedRuns.first?.jobs.map(\.state) == [.failed, .running])
        }
    }

    /// The open runs' index term is a literal a migration wrote into every store: it must still say what
    /// ``RunState/isFinal`` says, or a new migration of the index is due (and `INDEXED BY runs_open` would
    /// fail to prepare in stores with the old term).
    @Test func theOpenRunsTermsMatchTheFinalStates() {
        let final = RunState.allCases.filter(\.isFinal).map { String($0.rawValue) }
        #expect(RunRows.isOpen == final.map { "state <> \($0)" }.joined(separator: " AND "))
        #expect(RunRows.isFinal == "state IN (\(final.joined(separator: ", ")))")
        #expect(RunRows.openIndex.contains("WHERE \(RunRows.isOpen);"))
        // And the active jobs' term, what ``FlowRunJob``'s states say is active.
        let active = JobState.allCases.filter(\.isActive).map(\.rawValue)
        #expect(RunRows.jobIsActive == "state > \(active.min()! - 1) AND state < \(active.max()! + 1)" && active.count == 4)
        #expect(RunRows.activeJobsIndex.hasSuffix("WHERE \(RunRows.jobIsActive);"))
    }
}
