import Core
import Foundation
import Store
import Testing
import Wire

/// What a shard's store keeps of hand-overs: the answer given, the results of runs taken over, and IDs
/// past every row a hand-over deleted.
@Suite struct HandOverStoreTests {
    let now = Timestamp(milliseconds: 1_000_000)

    static func spec(_ name: String, run: UInt64 = 9) -> JobSpec {
        JobSpec(
            run: run, job: name, generation: 0, product: "payments", flow: "eod", moment: 7, priority: 0, type: "t",
            tags: [], retries: 1, backoff: 1000, timeout: 0, params: [:], steps: [StepSpec(name: name, kind: .command, action: "true")])
    }

    @Test func aHandOverIsAnsweredAgainAfterAReopenAndIDsAreNeverGivenTwice() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            let answer = HandedOver(request: 4, run: 9, jobs: [JobCarry(job: "a")], results: [TaskInput(job: "z", step: 0, partition: 0, data: [1])])
            do {
                let store = try ShardStore(path: path, synchronous: .off)
                defer { store.database.close() }
                _ = try store.open()
                var job = ShardJob(id: 7, spec: Self.spec("a"))
                var turn = ShardTurn()
                turn.jobs = [job]
                turn.tasks = [ShardTask(id: 40, job: job.identity, jobID: 7, step: 0, partition: 0, state: .succeeded, order: 1)]
                try store.commit(turn, now: now)
                job.stored = true
                // The run is handed over: its rows go, the highest IDs with them.
                turn = ShardTurn()
                turn.tombstones = [9: Tombstone(generation: 0, answer: answer)]
                turn.handedOverRows = [7]
                turn.nextIDs = (41, 8)
                // And another run is taken over, with a result its later jobs read.
                turn.importedResults = [(10, TaskInput(job: "early", step: 0, partition: 0, partitionKey: "eu", data: [5]))]
                try store.commit(turn, now: now)
                #expect(try store.database.count("jobs") == 0 && store.database.count("tasks") == 0)
            }
            let store = try ShardStore(path: path, synchronous: .off)
            defer { store.database.close() }
            let (_, snapshot) = try store.open()
            #expect(snapshot.nextTaskID == 41 && snapshot.nextJobID == 8)
            #expect(snapshot.handedOver == [9: 0])
            let lookup = try store.handOverLookup(run: 9, generation: 0, now: now)
            #expect(lookup.answered == answer)
            #expect(try store.results(of: RunJob(run: 10, job: "early")).map { "\($0.partitionKey) \($0.data)" } == ["eu [5]"])
            #expect(try store.handOverLookup(run: 10, generation: 1, now: now).results.map(\.job) == ["early"])
        }
    }

    @Test func aHandOverSaysWhichJobsOfTheRunEndedHere() throws {
        try withTemporaryDirectory { folder in
            let store = try ShardStore(path: "\(folder)/shard.db", synchronous: .off)
            defer { store.database.close() }
            _ = try store.open()
            var done = ShardJob(id: 1, spec: Self.spec("a"))
            done.state = .succeeded
            done.finished = now
            var rerun = Self.spec("b")
            rerun.generation = 1
            var failed = ShardJob(id: 2, spec: Self.spec("b"))
            failed.state = .failed
            var again = ShardJob(id: 3, spec: rerun)
            again.state = .succeeded
            var turn = ShardTurn()
            turn.jobs = [done, failed, again, ShardJob(id: 4, spec: Self.spec("c"))]
            try store.commit(turn, now: now)
            let ended = try store.handOverLookup(run: 9, generation: 1, now: now).ended
            #expect(ended.map { "\($0.job) \($0.generation) \($0.state.name)" } == ["a 0 succeeded", "b 1 succeeded"])
        }
    }

    /// A run handed over while two of its three tasks ran: the job stays in the store, finishing, with only
    /// those two; an end is kept for the answer asked again; after a restart the shard holds the job with
    /// its one task still running (its lease kept for its worker), not the partitions that left.
    @Test func aFinishingJobAndItsEndsSurviveARestart() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            let worker = Peer([1])
            var spec = Self.spec("big")
            spec.steps = [StepSpec(name: "big", kind: .command, action: "true", partitions: 3)]
            do {
                let store = try ShardStore(path: path, synchronous: .off)
                defer { store.database.close() }
                let (epoch, snapshot) = try store.open()
                var core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: epoch, restoring: snapshot, now: now)
                func turn() throws -> ShardTurn {
                    let turn = core.finishTurn(now: now)
                    try store.commit(turn, now: now)
                    return turn
                }
                core.submitted([spec], lookup: SubmissionLookup(), now: now)
                _ = try turn()
                core.received(.ready(Ready(worker: "w", session: 1, slots: 2, heartbeat: 1000, commands: 1)), from: worker, now: now)
                let leased = try turn().messages.flatMap { _, message -> [TaskSpec] in
                    if case .tasks(let tasks) = message { tasks.tasks } else { [] }
                }
                #expect(leased.count == 2)
                core.handOverReceived(Control(request: 1, action: .handOver, run: 9), lookup: HandOverLookup(), from: Peer([9]), now: now)
                _ = try turn()
                let result = TaskResult(task: leased[0].task, attempt: 1, outcome: .succeeded, started: 0, duration: 1, data: [4])
                core.received(.results(Results(results: [result])), from: worker, now: now)
                #expect(try turn().awayEnds.count == 1)
            }
            let store = try ShardStore(path: path, synchronous: .off)
            defer { store.database.close() }
            let (epoch, snapshot) = try store.open()
            #expect(snapshot.jobs.map(\.finishing) == [true])
            let core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: epoch, restoring: snapshot, now: now)
            let job = try #require(core.jobs.values.first)
            #expect(job.tasks.count == 1 && job.counts.running == 1 && job.counts.pending == 0)
            #expect(core.tasks[job.tasks[0]]?.lease?.worker == "w")
            let lookup = try store.handOverLookup(run: 9, generation: 0, now: now)
            #expect(lookup.answered?.jobs.first?.away.count == 2)
            #expect(lookup.ends.map { "\($0.partition) \($0.outcome) \($0.data)" } == ["0 succeeded [4]"])
            // A relay's ask reads only the ends from its `from`th, and not the answer.
            let relay = try store.handOverLookup(run: 9, generation: 0, from: 2, now: now)
            #expect(relay.ends.isEmpty && relay.endsSkipped == 1 && relay.answered?.jobs.isEmpty == true)
            // Handed over again (after coming back), its earlier ends are not this hand-over's.
            var again = ShardTurn()
            again.tombstones = [9: Tombstone(generation: 3, answer: HandedOver(request: 7, run: 9))]
            try store.commit(again, now: now)
            #expect(try store.handOverLookup(run: 9, generation: 3, now: now).ends.isEmpty)
        }
    }

    /// Tombstones older than the retention leave the store a batch at a time, and the shard forgets them:
    /// what it holds of hand-overs stays bounded over a long life.
    @Test func oldTombstonesLeaveTheStoreAndMemory() throws {
        try withTemporaryDirectory { folder in
            let store = try ShardStore(path: "\(folder)/shard.db", synchronous: .off)
            defer { store.database.close() }
            _ = try store.open()
            var turn = ShardTurn()
            turn.tombstones = [9: Tombstone(generation: 0, answer: HandedOver(request: 1, run: 9)), 10: Tombstone(generation: 2, answer: HandedOver(request: 2, run: 10))]
            try store.commit(turn, now: now)
            let day: Int64 = 86_400_000
            #expect(try store.trimTombstones(now: now.adding(milliseconds: day), retention: 30 * day).isEmpty)
            let later = now.adding(milliseconds: 31 * day)
            // A run with tasks still finishing here keeps its tombstone, however old.
            #expect(try store.trimTombstones(now: later, retention: 30 * day, keeping: [9, 10]).isEmpty)
            #expect(try store.trimTombstones(now: later, retention: 30 * day, batch: 1) == [9])
            #expect(try store.trimTombstones(now: later, retention: 30 * day) == [10])
            let (epoch, snapshot) = try store.open()
            #expect(snapshot.handedOver.isEmpty)
            var core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: epoch, restoring: ShardSnapshot(), now: later)
            core.handOverReceived(Control(request: 3, action: .handOver, run: 9), lookup: HandOverLookup(), from: Peer([9]), now: later)
            _ = core.finishTurn(now: later)
            core.forgetTombstones(of: [9])
            core.submitted([Self.spec("a")], lookup: SubmissionLookup(), now: later)
            #expect(core.finishTurn(now: later).droppedSubmissions.isEmpty)
        }
    }
}
