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
            let lookup = try store.handOverLookup(run: 9, now: now)
            #expect(lookup.answered == answer)
            #expect(try store.results(of: RunJob(run: 10, job: "early")).map { "\($0.partitionKey) \($0.data)" } == ["eu [5]"])
            #expect(try store.handOverLookup(run: 10, now: now).results.map(\.job) == ["early"])
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
            let ended = try store.handOverLookup(run: 9, now: now).ended
            #expect(ended.map { "\($0.job) \($0.generation) \($0.state.name)" } == ["a 0 succeeded", "b 1 succeeded"])
        }
    }
}
