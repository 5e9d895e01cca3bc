import Testing
import Wire

/// Every count, size and length that makes a receiver allocate or work is refused over its limit by the
/// decoder (`docs/protocol.md`, "Limits"), naming the field and the limit, before the receiver holds
/// anything for it.
@Suite struct BoundsTests {
    private static func job(
        _ name: String = "j", steps: [StepSpec] = [StepSpec(name: "s", kind: .command, action: "true")],
        params: [String: String] = [:]
    ) -> JobSpec {
        JobSpec(run: 1, job: name, product: "p", flow: "f", moment: 1, type: "t", params: params, steps: steps)
    }

    private static func submit(_ jobs: [JobSpec]) -> [UInt8] { Message.submit(Submit(jobs: jobs)).encoded() }

    private static func step(partitions: UInt32, keys: [String] = [], action: String = "true") -> StepSpec {
        StepSpec(name: "s", kind: .command, action: action, partitions: partitions, partitionKeys: keys)
    }

    @Test func aSmallSubmitWhoseStepClaimsFourBillionPartitionsIsRefusedByTheDecoder() {
        // The frame an adversary sent: a shard that believed it reserved 34 GB and aborted.
        let frame = Self.submit([Self.job(steps: [Self.step(partitions: .max)])])
        #expect(frame.count < 150)
        #expect(throws: DecodingError.oversized(field: "partitions", length: 4_294_967_295, limit: 1_000_000)) {
            try Message.decode(frame)
        }
        #expect(throws: DecodingError.oversized(field: "partitions", length: 1_000_001, limit: Limits.partitions)) {
            try Message.decode(Self.submit([Self.job(steps: [Self.step(partitions: 1_000_001)])]))
        }
        #expect(throws: Never.self) { try Message.decode(Self.submit([Self.job(steps: [Self.step(partitions: 1_000_000)])])) }
    }

    @Test func theJobsOfOneSubmitMayNotAddUpToMoreTasksThanOneStepMay() {
        // Each job alone is within the limit; together, counting each by its largest step, they are not.
        let big = Self.job(steps: [Self.step(partitions: 10), Self.step(partitions: 600_000)])
        let frame = Self.submit([big, big])
        #expect(throws: DecodingError.oversized(field: "jobs.partitions", length: 1_200_000, limit: Limits.submitPartitions)) {
            try Message.decode(frame)
        }
        #expect(throws: Never.self) { try Message.decode(Self.submit([big, Self.job(steps: [Self.step(partitions: 400_000)])])) }
    }

    @Test func countsAreRefusedOverTheirOwnLimitsBeforeAnyElementIsRead() {
        let steps = (0...Limits.steps).map { StepSpec(name: "s\($0)", kind: .handler, action: "noop") }
        #expect(throws: DecodingError.oversized(field: "steps", length: 1001, limit: Limits.steps)) {
            try Message.decode(Self.submit([Self.job(steps: steps)]))
        }
        #expect(throws: DecodingError.oversized(field: "jobs", length: 1001, limit: Limits.submitJobs)) {
            try Message.decode(Self.submit((0...Limits.submitJobs).map { Self.job("j\($0)") }))
        }
        // A count claimed without the elements: refused on its limit, not on what the frame holds.
        var claim = FrameWriter()
        claim.number4(2_000_000)
        #expect(throws: DecodingError.oversized(field: "jobs", length: 2_000_000, limit: Limits.submitJobs)) {
            try Message.decode([0x42, 0x54, 0x4E, 0x01, 0x10] + claim.bytes)
        }
        // More keys than partitions: refused on the count, before a key is read.
        #expect(throws: DecodingError.oversized(field: "partition-keys", length: 3, limit: 2)) {
            try Message.decode(Self.submit([Self.job(steps: [Self.step(partitions: 2, keys: ["a", "b", "c"])])]))
        }
    }

    @Test func lengthsAreRefusedOverTheirLimits() {
        let longKey = String(repeating: "k", count: Limits.partitionKey + 1)
        #expect(throws: DecodingError.oversized(field: "partition-keys", length: Limits.partitionKey + 1, limit: Limits.partitionKey)) {
            try Message.decode(Self.submit([Self.job(steps: [Self.step(partitions: 1, keys: [longKey])])]))
        }
        let longCommand = String(repeating: "x", count: Limits.action + 1)
        #expect(throws: DecodingError.oversized(field: "action", length: Limits.action + 1, limit: Limits.action)) {
            try Message.decode(Self.submit([Self.job(steps: [Self.step(partitions: 1, action: longCommand)])]))
        }
        // A job-spec within every field's limit and the frame's, but larger than one job may be.
        let command = String(repeating: "x", count: 20_000)
        let steps = (0..<Limits.steps).map { StepSpec(name: "s\($0)", kind: .command, action: command) }
        let job = Self.job(steps: steps)
        #expect(job.encodedSize > Limits.jobSpec)
        #expect(throws: DecodingError.oversized(field: "job-spec", length: job.encodedSize, limit: Limits.jobSpec)) {
            try Message.decode(Self.submit([job]))
        }
    }

    @Test func parametersAreBoundedByValueAndAltogether() {
        let twoMiB = String(repeating: "v", count: 2 << 20)
        let operation = OperationRequest(
            request: 1, action: .start, run: 1, product: "p", flow: "f", version: 1, shard: 1, moment: 1, params: ["blob": twoMiB])
        #expect(throws: DecodingError.oversized(field: "params.blob", length: 2 << 20, limit: Limits.parameterValue)) {
            try Message.decode(Message.operationRequest(operation).encoded())
        }
        let value = String(repeating: "v", count: 60_000)
        let five = Dictionary(uniqueKeysWithValues: (1...5).map { ("p\($0)", value) })
        #expect(throws: DecodingError.oversized(field: "params", length: 300_010, limit: Limits.parameters)) {
            try Message.decode(Self.submit([Self.job(params: five)]))
        }
        let four = Dictionary(uniqueKeysWithValues: (1...4).map { ("p\($0)", value) })
        #expect(throws: Never.self) { try Message.decode(Self.submit([Self.job(params: four)])) }
    }

    @Test func aWorkersOfferAndAShardsTermsAreBounded() {
        let ready = Ready(worker: "w", session: 1, slots: 1, heartbeat: 1000, sets: [SetOffer(handler: "h", limit: 1001)])
        #expect(throws: DecodingError.oversized(field: "limit", length: 1001, limit: Limits.setSize)) {
            try Message.decode(Message.ready(ready).encoded())
        }
        let tagged = Ready(worker: "w", session: 1, slots: 1, heartbeat: 1000, tags: (0...1000).map { "t\($0)" })
        #expect(throws: DecodingError.oversized(field: "tags", length: 1001, limit: Limits.capabilities)) {
            try Message.decode(Message.ready(tagged).encoded())
        }
        let long = Ready(worker: "w", session: 1, slots: 1, heartbeat: 1000, handlers: [String(repeating: "h", count: 256)])
        #expect(throws: DecodingError.oversized(field: "handlers", length: 256, limit: Limits.capabilityName)) {
            try Message.decode(Message.ready(long).encoded())
        }
        let welcome = Welcome(shard: 1, epoch: 1, heartbeat: 1000, liveness: 3, resultLimit: UInt32(Limits.chunk + 1))
        #expect(throws: DecodingError.oversized(field: "result-limit", length: Limits.chunk + 1, limit: Limits.chunk)) {
            try Message.decode(Message.welcome(welcome).encoded())
        }
        let result = TaskResult(task: 1, attempt: 1, outcome: .succeeded, started: 0, duration: 0, output: String(repeating: "o", count: 4097))
        #expect(throws: DecodingError.oversized(field: "output", length: 4097, limit: Limits.output)) {
            try Message.decode(Message.results(Results(results: [result])).encoded())
        }
        let task = TaskSpec(
            task: 1, attempt: 1, run: 1, job: "j", product: "p", flow: "f", stepName: "s", partitions: 1_000_001, kind: .handler,
            action: "noop", type: "t", moment: 1)
        #expect(throws: DecodingError.oversized(field: "partitions", length: 1_000_001, limit: Limits.partitions)) {
            try Message.decode(Message.tasks(Tasks(tasks: [task])).encoded())
        }
    }

    @Test func aPolicysKeyWeightsAreCountedBeforeTheyAreRead() {
        // 10,001 key weights claimed, none sent: refused on the policy's limit.
        var body = FrameWriter()
        body.number8(1)
        body.number1(ControlAction.setPolicy.rawValue)
        body.number8(0)
        body.string("")
        body.number4(0)
        body.string("p")
        for _ in 0..<4 { body.number4(1) }
        body.number1(0)
        body.number4(10_001)
        #expect(throws: DecodingError.oversized(field: "key-weights", length: 10_001, limit: ProductPolicy.keyWeightLimit)) {
            try Message.decode([0x42, 0x54, 0x4E, 0x01, 0x11] + body.bytes)
        }
    }

    @Test func aJobsLimitProblemIsWhatTheDecoderWouldRefuseItFor() throws {
        let value = String(repeating: "v", count: 60_000)
        let over: [JobSpec] = [
            Self.job(steps: [Self.step(partitions: 1, action: String(repeating: "x", count: Limits.action + 1))]),
            Self.job(steps: [Self.step(partitions: 1_000_001)]),
            Self.job(steps: [Self.step(partitions: 1, keys: [String(repeating: "k", count: Limits.partitionKey + 1)])]),
            Self.job(steps: (0...Limits.steps).map { StepSpec(name: "s\($0)", kind: .handler, action: "noop") }),
            Self.job(params: ["blob": String(repeating: "v", count: Limits.parameterValue + 1)]),
            Self.job(params: Dictionary(uniqueKeysWithValues: (1...5).map { ("p\($0)", value) })),
            Self.job(steps: (0..<Limits.steps).map { StepSpec(name: "s\($0)", kind: .command, action: String(repeating: "x", count: 20_000)) }),
        ]
        for job in over {
            let problem = try #require(job.limitProblem)
            #expect(throws: problem) { try Message.decode(Self.submit([job])) }
        }
        var factory = MessageFactory(seed: 0xB0B)
        for _ in 0..<200 {
            let job = factory.jobSpec()
            #expect(job.limitProblem == nil)
            #expect(throws: Never.self) { try Message.decode(Self.submit([job])) }
        }
    }

    @Test func encodedSizesAreTheOctetsEncoded() {
        var factory = MessageFactory(seed: 0x51CE)
        for _ in 0..<500 {
            let job = factory.jobSpec()
            var writer = FrameWriter()
            job.encode(to: &writer)
            #expect(job.encodedSize == writer.bytes.count)
            let task = factory.taskSpec()
            writer = FrameWriter()
            task.encode(to: &writer)
            #expect(task.encodedSize == writer.bytes.count)
            let result = factory.taskResult()
            writer = FrameWriter()
            result.encode(to: &writer)
            #expect(result.encodedSize == writer.bytes.count)
        }
    }

    @Test func aRunDetailPageHoldsWhatItWasAskedForUpToItsLimitAndSize() {
        let jobs = (0..<25_000).map { JobStatus(run: 1, job: "j\($0)", state: .succeeded, time: 1) }
        #expect(RunQuery(request: 1, run: 1, first: 10, limit: 3).page(of: jobs).map(\.job) == ["j10", "j11", "j12"])
        #expect(RunQuery(request: 1, run: 1, first: 24_999, limit: 3).page(of: jobs).map(\.job) == ["j24999"])
        #expect(RunQuery(request: 1, run: 1, first: 30_000, limit: 3).page(of: jobs).isEmpty)
        #expect(RunQuery(request: 1, run: 1, limit: 0).page(of: jobs).isEmpty)
        #expect(RunQuery(request: 1, run: 1, limit: .max).page(of: jobs).count == Int(RunQuery.pageLimit))
        // Jobs with 600 KiB of error detail each: three fit in 2 MiB, and a page of a larger one still has it.
        let failed = (0..<5).map { JobStatus(run: 1, job: "f\($0)", state: .failed, time: 1, detail: String(repeating: "x", count: 600 << 10)) }
        #expect(RunQuery(request: 1, run: 1).page(of: failed).count == 3)
        let huge = [JobStatus(run: 1, job: "h", state: .failed, time: 1, detail: String(repeating: "x", count: 3 << 20))]
        #expect(RunQuery(request: 1, run: 1).page(of: huge + failed).count == 1)
        // However the page ends, it decodes within the frame's limits.
        let detail = RunDetail(request: 1, status: .ok, run: RunStatus(run: 1, product: "p", flow: "f", state: .failed, jobs: 5, started: 1, time: 1),
            jobs: RunQuery(request: 1, run: 1).page(of: failed))
        #expect(throws: Never.self) { try Message.decode(Message.runDetail(detail).encoded()) }
    }
}
