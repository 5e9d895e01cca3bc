import Wire

/// SplitMix64: a small seeded generator, so every failure can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds messages with arbitrary field values, edge cases included, within the protocol's rules.
struct MessageFactory {
    var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    mutating func bool() -> Bool { Bool.random(using: &rng) }
    mutating func u8() -> UInt8 { edge([0, 1, .max]) ?? UInt8.random(in: .min ... .max, using: &rng) }
    mutating func u16() -> UInt16 { edge([0, 1, .max]) ?? UInt16.random(in: .min ... .max, using: &rng) }
    mutating func u32() -> UInt32 { edge([0, 1, .max]) ?? UInt32.random(in: .min ... .max, using: &rng) }
    mutating func u64() -> UInt64 { edge([0, 1, .max]) ?? UInt64.random(in: .min ... .max, using: &rng) }
    mutating func i16() -> Int16 { edge([.min, -1, 0, .max]) ?? Int16.random(in: .min ... .max, using: &rng) }
    mutating func i32() -> Int32 { edge([.min, -9, 0, .max]) ?? Int32.random(in: .min ... .max, using: &rng) }

    /// One time in four, one of the edge values.
    mutating func edge<T>(_ values: [T]) -> T? {
        Int.random(in: 0..<4, using: &rng) == 0 ? values.randomElement(using: &rng)! : nil
    }

    mutating func count(_ limit: Int = 4) -> Int { Int.random(in: 0...limit, using: &rng) }

    /// A number within a field's limit, the limit itself one time in four.
    mutating func upTo<T: FixedWidthInteger>(_ limit: Int, from lowest: T = 0) -> T {
        edge([lowest, T(limit)]) ?? T.random(in: lowest...T(limit), using: &rng)
    }

    /// A partition key: text of at most the protocol's 1,024 octets.
    mutating func partitionKey() -> String { text(maxOctets: Limits.partitionKey) }

    private static let alphabet: [Character] = Array("abcXYZ09 -_./$\"\\\n\té€𝄞")

    mutating func text(maxOctets: Int) -> String {
        if let special = edge(["", String(repeating: "x", count: min(255, maxOctets))]) { return special }
        var result = ""
        for _ in 0..<count(24) {
            let next = Self.alphabet.randomElement(using: &rng)!
            if result.utf8.count + String(next).utf8.count > maxOctets { break }
            result.append(next)
        }
        return result
    }

    mutating func string() -> String { text(maxOctets: 255) }
    mutating func longstr() -> String { text(maxOctets: 4096) }
    mutating func strings() -> [String] { (0..<count()).map { _ in longstr() } }
    mutating func hash() -> [String: String] {
        var result: [String: String] = [:]
        for _ in 0..<count() { result[string()] = longstr() }
        return result
    }
    mutating func octets() -> [UInt8] { (0..<count(40)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
    mutating func pick<T: CaseIterable>(_: T.Type) -> T { T.allCases.randomElement(using: &rng)! }
    mutating func status() -> Status { Status(rawValue: u16()) }

    mutating func taskRef() -> TaskRef { TaskRef(task: u64(), attempt: u16()) }

    mutating func taskSpec() -> TaskSpec {
        TaskSpec(
            task: u64(), attempt: u16(), run: u64(), job: string(), generation: u32(), product: string(),
            flow: string(), step: u16(), steps: upTo(Limits.steps), stepName: string(), partition: u32(),
            partitions: upTo(Limits.partitions), partitionKey: partitionKey(), kind: pick(ActionKind.self), action: longstr(), type: string(), params: hash(),
            timeout: u32(), moment: u64(), inputs: (0..<count(3)).map { _ in taskInput() })
    }

    mutating func taskInput() -> TaskInput {
        TaskInput(job: string(), step: u16(), partition: u32(), partitionKey: partitionKey(), data: octets())
    }

    mutating func taskResult() -> TaskResult {
        TaskResult(
            task: u64(), attempt: u16(), outcome: pick(Outcome.self), exitCode: i32(), started: u64(),
            duration: u32(), output: longstr(), log: longstr(), error: longstr(), data: octets())
    }

    mutating func stepSpec() -> StepSpec {
        let partitions = UInt32(count(5) + 1)
        let keys = bool() ? (0..<Int(partitions)).map { _ in partitionKey() } : []
        return StepSpec(
            name: string(), kind: pick(ActionKind.self), action: longstr(), partitions: partitions, partitionKeys: keys)
    }

    mutating func jobSpec() -> JobSpec {
        JobSpec(
            run: u64(), job: string(), generation: u32(), product: string(), flow: string(), moment: u64(),
            priority: i16(), type: string(), tags: strings(), retries: u16(), backoff: u32(), timeout: u32(),
            params: hash(), resume: bool() ? 1 : 0, inputs: strings(), steps: (0...count(3)).map { _ in stepSpec() },
            runPriority: priority(), fairnessKey: string(), batch: UInt32.random(in: 0...JobSpec.batchLimit, using: &rng))
    }

    mutating func jobStatus() -> JobStatus {
        JobStatus(
            run: u64(), job: string(), generation: u32(), state: pick(JobState.self), attempts: u16(),
            pending: u32(), running: u32(), succeeded: u32(), failed: u32(), step: u16(), steps: u16(),
            queued: u64(), started: u64(), finished: u64(), time: u64(), output: longstr(), detail: longstr())
    }

    mutating func productPolicy() -> ProductPolicy {
        ProductPolicy(
            product: string(), weight: UInt32.random(in: ProductPolicy.weights, using: &rng), cap: u32(), rate: u32(), burst: u32(),
            priorityOverFairness: bool() ? 1 : 0, keyWeights: (0..<count()).map { _ in keyWeight() })
    }

    mutating func keyWeight() -> KeyWeight { KeyWeight(key: string(), weight: UInt32.random(in: ProductPolicy.weights, using: &rng)) }

    mutating func priority() -> UInt8 { UInt8.random(in: 0...RunPriority.last, using: &rng) }

    mutating func setOffer() -> SetOffer { SetOffer(handler: string(), limit: upTo(Limits.setSize, from: 2)) }

    mutating func runStatus() -> RunStatus {
        RunStatus(
            run: u64(), product: string(), flow: string(), state: pick(RunState.self), jobs: u32(),
            succeeded: u32(), failed: u32(), active: u32(), started: u64(), finished: u64(), time: u64(),
            detail: longstr(), shard: u32(), finishing: u32())
    }

    mutating func jobCarry() -> JobCarry {
        JobCarry(
            job: string(), step: u16(), completed: u32(), succeeded: (0..<count(3)).map { _ in taskInput() },
            previous: (0..<count(3)).map { _ in taskInput() }, upstream: (0..<count(3)).map { _ in taskInput() },
            attempts: (0..<count(3)).map { _ in partitionAttempts() }, away: (0..<count(3)).map { _ in partitionAttempts() })
    }

    mutating func partitionEnd() -> PartitionEnd {
        PartitionEnd(
            job: string(), step: u16(), partition: u32(), attempt: u16(), failures: u16(), losses: u16(), outcome: pick(PartitionOutcome.self),
            exitCode: i32(), output: longstr(), log: longstr(), error: longstr(), data: octets())
    }

    mutating func partitionAttempts() -> PartitionAttempts {
        PartitionAttempts(partition: u32(), attempt: u16(), failures: u16(), losses: u16())
    }

    /// A TAKE-OVER: its jobs are all of its run.
    mutating func takeOver() -> Message {
        let run = u64()
        let jobs = (0..<count()).map { _ in
            var job = jobSpec()
            job.run = run
            return job
        }
        return .takeOver(TakeOver(run: run, jobs: jobs, carries: (0..<count()).map { _ in jobCarry() }, results: (0..<count()).map { _ in taskInput() }))
    }

    mutating func message(_ id: MessageID) -> Message {
        switch id {
        case .ready:
            .ready(
                Ready(
                    worker: string(), session: u64(), slots: u32(), heartbeat: u32(), commands: bool() ? 1 : 0,
                    tags: strings(), handlers: strings(), held: (0..<count()).map { _ in taskRef() },
                    sets: (0..<count()).map { _ in setOffer() }, batches: bool() ? 1 : 0))
        case .welcome:
            .welcome(Welcome(shard: u32(), epoch: u32(), heartbeat: u32(), liveness: u8(), resultLimit: upTo(Limits.chunk)))
        case .pull: .pull(Pull(credit: u32()))
        case .tasks: .tasks(Tasks(set: u64(), tasks: (0..<count()).map { _ in taskSpec() }))
        case .results: .results(Results(results: (0..<count()).map { _ in taskResult() }))
        case .receipt: .receipt(Receipt(tasks: (0..<count()).map { _ in taskRef() }))
        case .cancel: .cancel(Cancel(grace: u32(), tasks: (0..<count()).map { _ in taskRef() }))
        case .heartbeat: .heartbeat
        case .disconnect: .disconnect(Disconnect(status: status(), reason: string()))
        case .demand: .demand(Demand(pending: u32(), weight: u32()))
        case .recall: .recall(Recall(credit: u32()))
        case .recalled: .recalled(Recalled(credit: u32()))
        case .submit: .submit(Submit(jobs: (0..<count()).map { _ in jobSpec() }))
        case .control:
            .control(
                Control(
                    request: u64(), action: pick(ControlAction.self), run: u64(), job: string(), grace: u32(),
                    policy: productPolicy(), priority: priority(), generation: u32(), from: u32()))
        case .controlResult: .controlResult(ControlResult(request: u64(), status: status(), detail: longstr()))
        case .handedOver:
            .handedOver(
                HandedOver(
                    request: u64(), status: status(), detail: longstr(), run: u64(), jobs: (0..<count()).map { _ in jobCarry() },
                    results: (0..<count()).map { _ in taskInput() }, ended: (0..<count()).map { _ in jobStatus() },
                    ends: (0..<count()).map { _ in partitionEnd() }, running: u32()))
        case .takeOver:
            takeOver()
        case .partitionsEnded:
            .partitionsEnded(PartitionsEnded(request: u64(), run: u64(), ends: (0..<count()).map { _ in partitionEnd() }, last: bool() ? 1 : 0))
        case .jobUpdates:
            .jobUpdates(
                JobUpdates(
                    publisher: string(), epoch: u32(), sequence: u64(),
                    updates: (0..<count()).map { _ in jobStatus() }))
        case .runUpdates:
            .runUpdates(
                RunUpdates(
                    publisher: string(), epoch: u32(), sequence: u64(),
                    updates: (0..<count()).map { _ in runStatus() }))
        case .beacon: .beacon(Beacon(publisher: string(), epoch: u32(), sequence: u64()))
        case .fetch: .fetch(Fetch(after: u64(), limit: u32()))
        case .fetched: .fetched(Fetched(status: status(), epoch: u32(), sequence: u64(), oldest: u64(), first: u64()))
        case .operationRequest:
            .operationRequest(
                OperationRequest(
                    request: u64(), action: pick(OperationAction.self), run: u64(), product: string(),
                    flow: string(), version: u32(), shard: u32(), job: string(), options: u8(), moment: u64(), params: hash(),
                    definition: longstr(), policy: productPolicy(), priority: priority()))
        case .operationResult: .operationResult(OperationResult(request: u64(), status: status(), detail: longstr()))
        case .runQuery: .runQuery(RunQuery(request: u64(), run: u64(), first: u32(), limit: u32()))
        case .shardQuery: .shardQuery(ShardQuery(request: u64(), shard: u32(), kind: string(), body: text(maxOctets: 1000)))
        case .shardAnswer: .shardAnswer(ShardAnswer(request: u64(), shard: u32(), status: Status(rawValue: u16()), body: longstr()))
        case .runDetail:
            .runDetail(
                RunDetail(
                    request: u64(), status: status(), run: runStatus(), first: u32(), jobs: (0..<count()).map { _ in jobStatus() }))
        case .apiRequest: .apiRequest(APIRequest(request: u64(), method: string(), body: longstr()))
        case .apiReply: .apiReply(APIReply(request: u64(), status: status(), body: longstr()))
        }
    }
}
