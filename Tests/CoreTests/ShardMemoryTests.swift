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
        #expect(!turn.leases.isEmpty)
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
        #expect(!copy.holdsAttemptRecord && copy == task)  // A record back to defaults goes.
        copy.lease = Lease(worker: "w1", session: 1, peer: nil)
        copy.output = "done"
        copy.lease = nil
        #expect(copy.holdsAttemptRecord && copy.output == "done" && copy.lease == nil)

        var job = ShardJob(id: 1, spec: ShardHarness.job("a"))
        let plain = job
        job.detail = "x"
        #expect(job != plain)
        job.detail = ""
        #expect(job == plain && job.output.isEmpty && job.upstream.isEmpty && job.previous.isEmpty)
        // Inputs are changed in place, one upstream job at a time, and go with the last.
        for name in ["u1", "u2", "u3"] { job.upstream[name] = [TaskInput(job: name, step: 0, partition: 0, partitionKey: "", data: [1])] }
        #expect(job.upstream.keys.sorted() == ["u1", "u2", "u3"] && job != plain)
        for name in ["u1", "u2", "u3"] { job.upstream[name] = nil }
        #expect(job == plain)
    }

    @Test func jobsWithTheSameStepsShareOneCopyOfThem() throws {
        var shard = ShardHarness()
        // Each job its own array, as each decoded submission has.
        func steps(_ action: String) -> [StepSpec] { [StepSpec(name: "load", kind: .handler, action: action)] }
        let a = ShardHarness.job("a", steps: steps("noop"))
        let b = ShardHarness.job("b", steps: steps("noop"))
        #expect(Self.storage(a.steps) != Self.storage(b.steps))
        // Equal as Swift strings, not in octets: a handler named in two Unicode normalisation forms.
        let composed = ShardHarness.job("c", steps: steps("caf\u{E9}"))
        let decomposed = ShardHarness.job("d", steps: steps("cafe\u{301}"))
        #expect(composed.steps == decomposed.steps)
        _ = shard.submit([a, b, composed, decomposed])
        func held(_ name: String) throws -> [StepSpec] {
            try #require(shard.core.jobs.values.first { $0.spec.job == name }).spec.steps
        }
        #expect(try Self.storage(held("a")) == Self.storage(held("b")))
        #expect(try Self.storage(held("a")) != Self.storage(held("c")))
        #expect(try Array(held("c")[0].action.utf8) == Array("caf\u{E9}".utf8))
        #expect(try Array(held("d")[0].action.utf8) == Array("cafe\u{301}".utf8))
    }

    static func storage(_ steps: [StepSpec]) -> UnsafeRawPointer? {
        steps.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    @Test func aTaskListHoldsOneTaskInlineAndManyInOrder() {
        var one: TaskList = []
        one.reserveCapacity(1)
        one.append(42)
        #expect(Array(one) == [42] && one.count == 1 && one.first == 42 && one.isInline)
        #expect(one == TaskList([42]))
        // Room made for more, then one kept: held in an array, and equal all the same.
        var reserved: TaskList = []
        reserved.reserveCapacity(3)
        reserved.append(42)
        #expect(!reserved.isInline && reserved == one)

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
