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

    @Test func jobsOfARunShareItsProductFlowAndParametersButNeverChangeTheirOctets() throws {
        var shard = ShardHarness()
        // Each job its own copies, as each decoded submission has: long enough to be kept out of line.
        func spec(_ name: String, product: String = "retail-payments-clearing", params: [String: String]? = nil) -> JobSpec {
            var job = ShardHarness.job(name, product: String(decoding: Array(product.utf8), as: UTF8.self))
            job.flow = String(decoding: Array("end-of-day-settlement".utf8), as: UTF8.self)
            job.params = params ?? ["business_date": String(decoding: Array("2026-12-07".utf8), as: UTF8.self), "region": "emea"]
            job.tags = [String(decoding: Array("needs-a-large-machine".utf8), as: UTF8.self)]
            return job
        }
        let a = spec("a")
        let b = spec("b")
        #expect(Self.storage(a.product) != Self.storage(b.product) && Self.storage(a.params) != Self.storage(b.params))
        // Equal as Swift strings, not in octets: each keeps its own.
        let composed = spec("c", product: "caf\u{E9}-payments-clearing")
        let decomposed = spec("d", product: "cafe\u{301}-payments-clearing")
        let other = spec("e", params: ["business_date": "2026-12-08"])
        _ = shard.submit([a, b, composed, decomposed, other])
        func held(_ name: String) throws -> JobSpec {
            try #require(shard.core.jobs.values.first { $0.spec.job == name }).spec
        }
        let (heldA, heldB) = (try held("a"), try held("b"))
        #expect(Self.storage(heldA.product) == Self.storage(heldB.product))
        #expect(Self.storage(heldA.flow) == Self.storage(heldB.flow))
        #expect(Self.storage(heldA.params) == Self.storage(heldB.params))
        #expect(Self.storage(heldA.tags) == Self.storage(heldB.tags))
        #expect(heldA.product == a.product && heldA.params == a.params && heldA.tags == a.tags)
        #expect(try Array(held("c").product.utf8) == Array("caf\u{E9}-payments-clearing".utf8))
        #expect(try Array(held("d").product.utf8) == Array("cafe\u{301}-payments-clearing".utf8))
        #expect(try Self.storage(held("c").product) != Self.storage(held("d").product))
        #expect(try held("e").params == ["business_date": "2026-12-08"])
        #expect(try Self.storage(held("e").params) != Self.storage(heldA.params))
        // Each key its own storage, its size: not the scratch frame's, of 4 kB at least.
        #expect(shard.core.sharedParts.count >= 6)
        #expect(shard.core.sharedParts.keys.allSatisfy { $0.bytes.capacity < 128 })
        #expect(shard.core.sharedSteps.keys.allSatisfy { $0.bytes.capacity < 128 })
        // A part too large to share is neither kept nor encoded.
        let kept = shard.core.sharedParts.count
        _ = shard.submit([spec("large", params: ["notes": String(repeating: "n", count: 10_000)])])
        #expect(shard.core.sharedParts.count == kept && shard.core.stepsScratch.bytes.capacity < 10_000)
        #expect(try held("large").params["notes"]?.utf8.count == 10_000)
        // What the shard hands out is what was submitted.
        let tasks = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 8, tags: ["needs-a-large-machine"]), from: Peer([1])), to: Peer([1]))
        let d = try #require(tasks.first { $0.job == "d" })
        #expect(Array(d.product.utf8) == Array("cafe\u{301}-payments-clearing".utf8) && d.params == a.params)
    }

    static func storage(_ string: String) -> UnsafeRawPointer? {
        string.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil
    }

    static func storage(_ parameters: [String: String]) -> UInt {
        withUnsafeBytes(of: parameters) { $0.load(as: UInt.self) }
    }

    static func storage(_ strings: [String]) -> UnsafeRawPointer? {
        strings.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
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
