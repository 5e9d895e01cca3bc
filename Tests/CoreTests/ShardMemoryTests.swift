@testable import Core
import Testing
import Wire

/// What a pending task and a queued job cost: a deep queue is mostly these.
@Suite struct ShardMemoryTests {
    @Test func aPendingTaskHoldsNoAttemptRecordUntilItIsHandedOut() throws {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", handler: "noop")])
        let pending = try #require(shard.core.tasks.values.first)
        #expect(pending.state == .pending && !pending.holdsAttemptRecord)
        #expect(pending.lease == nil && pending.worker.isEmpty && pending.output.isEmpty && pending.data.isEmpty)

        let turn = shard.send(ShardHarness.ready("w1", slots: 1, handlers: ["noop"]), from: Peer([1]))
        #expect(!turn.tasks.isEmpty)
        let leased = try #require(shard.core.tasks[pending.id])
        #expect(leased.state == .running && leased.holdsAttemptRecord)
        #expect(leased.lease?.worker == "w1" && leased.worker == "w1" && leased.started == shard.now)
    }

    @Test func settingDefaultsMakesNoRecordAndAnEmptyRecordChangesNoEquality() {
        let identity = JobIdentity(run: 1, job: "a", generation: 0)
        var task = ShardTask(id: 1, job: identity, jobID: 1, step: 0, partition: 0, order: 1)
        task.output = ""
        task.lease = nil
        task.data = []
        #expect(!task.holdsAttemptRecord)

        var copy = task
        copy.error = "boom"
        #expect(copy.holdsAttemptRecord && copy.error == "boom")
        #expect(task.error.isEmpty && !task.holdsAttemptRecord)  // The copy's record is its own.
        #expect(copy != task)
        copy.error = ""
        #expect(copy.holdsAttemptRecord && copy == task)  // A record of defaults equals none.

        var job = ShardJob(id: 1, spec: ShardHarness.job("a"))
        let plain = job
        job.detail = "x"
        #expect(job != plain)
        job.detail = ""
        #expect(job == plain && job.output.isEmpty && job.upstream.isEmpty && job.previous.isEmpty)
    }

    @Test func jobsWithTheSameStepsShareOneCopyOfThem() throws {
        var shard = ShardHarness()
        let steps = [StepSpec(name: "load", kind: .handler, action: "noop")]
        _ = shard.submit([
            ShardHarness.job("a", steps: steps), ShardHarness.job("b", steps: steps),
            ShardHarness.job("c", steps: [StepSpec(name: "other", kind: .handler, action: "noop")]),
        ])
        func storage(_ name: String) throws -> UnsafeRawPointer? {
            let job = try #require(shard.core.jobs.values.first { $0.spec.job == name })
            return job.spec.steps.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        }
        #expect(try storage("a") == storage("b"))
        #expect(try storage("a") != storage("c"))
        #expect(shard.core.jobs.values.first { $0.spec.job == "c" }?.spec.steps.first?.name == "other")
    }

    @Test func aTaskListHoldsOneTaskInlineAndManyInOrder() {
        var one: TaskList = []
        one.reserveCapacity(1)
        one.append(42)
        #expect(Array(one) == [42] && one.count == 1 && one.first == 42)
        #expect(one == TaskList([42]))

        var many: TaskList = []
        many.reserveCapacity(3)
        for id in UInt64(7)...9 { many.append(id) }
        #expect(Array(many) == [7, 8, 9] && many.count == 3)
        var grown: TaskList = []
        for id in UInt64(7)...9 { grown.append(id) }  // From one inline to an array, unreserved.
        #expect(grown == many && grown[2] == 9)
        #expect(TaskList([]).isEmpty && TaskList([1, 2]) != TaskList([2, 1]))
    }
}
