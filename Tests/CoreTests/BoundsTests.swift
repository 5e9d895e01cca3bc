import Core
import Foundation
import Testing
import Wire

/// What management accepts can be carried: a run whose parameters, or a flow whose jobs, would not fit in
/// the messages that carry them is refused when it is started or applied, naming the limit.
@Suite struct ManagementBoundsTests {
    static let open = #"{"product": "payments", "flow": "open", "jobs": [{"name": "a", "run": "true"}]}"#

    static func start(_ params: [String: String]) -> String {
        JSON.object([("flow", .string("payments/open")), ("params", .strings(params))]).rendered()
    }

    @Test func aTwoMiBParameterIsRefusedAtStartNamingTheLimitAndChangesNothing() {
        var management = ManagementHarness()
        _ = management.apply(Self.open)
        let (turn, reply, body) = management.call("start", Self.start(["blob": String(repeating: "x", count: 2 << 20)]))
        #expect(reply.status == .tooLarge)
        let error = body["error"]?.string ?? ""
        #expect(error.contains("parameter \"blob\" is 2097152 octets, more than the 65536 a parameter's value may be"), "\(error)")
        #expect(turn.runs.isEmpty && turn.operations.isEmpty && turn.toOrchestrator.isEmpty)
        #expect(management.core.runs.isEmpty)
    }

    @Test func parametersOverARunsTotalAreRefused() {
        var management = ManagementHarness()
        _ = management.apply(Self.open)
        let value = String(repeating: "x", count: 60_000)
        let params = Dictionary(uniqueKeysWithValues: (1...4).map { ("p\($0)", value) })
        let (turn, reply, body) = management.call("start", Self.start(params))
        #expect(reply.status == .tooLarge)
        #expect(body["error"]?.string?.contains("more than the \(ParameterLimits.run) a run's may") == true, "\(body.rendered())")
        #expect(turn.runs.isEmpty)
    }

    @Test func parametersAtTheirLimitsStartARunWhoseStartCanBeSent() throws {
        var management = ManagementHarness()
        _ = management.apply(Self.open)
        let full = String(repeating: "x", count: ParameterLimits.value)
        let params = ["a": full, "b": full, "c": String(repeating: "y", count: ParameterLimits.value - 10)]
        #expect(Limits.size(ofParameters: params) <= ParameterLimits.run)
        let (turn, reply, _) = management.call("start", Self.start(params))
        #expect(reply.status == .ok)
        guard case .operationRequest(let operation) = turn.toOrchestrator.first else { Issue.record("no operation"); return }
        #expect(try Message.decode(Message.operationRequest(operation).encoded()) == .operationRequest(operation))
    }

    @Test func aKeyLongerThanAStringIsRefused() {
        var management = ManagementHarness()
        _ = management.apply(Self.open)
        let body = JSON.object([("flow", .string("payments/open")), ("key", .string(String(repeating: "k", count: 256)))]).rendered()
        let (_, reply, json) = management.call("start", body)
        #expect(reply.status == .badRequest)
        #expect(json["error"]?.string == "\"key\" is at most 255 octets, not 256")
    }

    @Test func applyRefusesWhatARunCouldNotCarry() throws {
        var management = ManagementHarness()
        let value = String(repeating: "v", count: 60_000)
        let command = String(repeating: "x", count: Limits.action + 1)
        let defaults = JSON.object((1...4).map { ("d\($0)", JSON.string(value)) }).rendered()
        let jobParams = JSON.object((1...2).map { ("j\($0)", JSON.string(value)) }).rendered()
        let keys = JSON.array((0..<2000).map { .string(String(format: "%04d", $0) + String(repeating: "k", count: 1000)) }).rendered()
        let steps = JSON.array((0..<Limits.steps).map { .object([("name", .string("s\($0)")), ("handler", .string("noop"))]) }).rendered()
        let flow = """
            {"product": "payments", "flow": "huge", "params": \(defaults), "jobs": [
              {"name": "long", "run": "\(command)"},
              {"name": "heavy", "run": "true", "params": \(jobParams)},
              {"name": "wide", "partitions": \(keys), "steps": \(steps)}]}
            """
        let started = ContinuousClock.now
        let (_, reply, body) = management.apply(flow)
        #expect(ContinuousClock.now - started < .seconds(5), "the size of a job is added up without walking its keys once per step")
        #expect(reply.status == .invalid)
        let problems = body["problems"]?.array?.compactMap(\.string) ?? []
        #expect(problems.count == 4, "\(problems)")
        #expect(problems.contains { $0.contains("field \"params\": the defaults take 240008 octets") && $0.contains("196608") }, "\(problems)")
        #expect(problems.contains { $0.contains("job \"long\": field \"run\": the command is 65537 octets, more than the 65536") }, "\(problems)")
        #expect(problems.contains { $0.contains("job \"heavy\": field \"params\": 120004 octets (names and values), more than the 65536") }, "\(problems)")
        #expect(problems.contains { $0.contains("job \"wide\": field \"steps\": the job takes") && $0.contains("more than the 14680064 a job may") }, "\(problems)")
    }

    @Test func aScheduledFlowKeepsRoomForTheBusinessDate() {
        var management = ManagementHarness()
        // 196,605 octets of defaults: within a run's 196,608, but not with business_date's 23.
        let full = String(repeating: "v", count: ParameterLimits.value)
        let params = JSON.object([("a", .string(full)), ("b", .string(full)), ("c", .string(String(repeating: "v", count: 65_530)))])
        func flow(_ schedule: String) -> String {
            #"{"product": "payments", "flow": "dated", "params": "# + params.rendered() + schedule + #", "jobs": [{"name": "a", "run": "true"}]}"#
        }
        #expect(management.apply(flow("")).1.status == .ok)
        let (_, reply, body) = management.apply(flow(#", "schedule": {"cron": "0 18 * * *"}"#))
        #expect(reply.status == .invalid)
        #expect(body["problems"]?.array?.first?.string?.contains("with business_date") == true, "\(body.rendered())")
    }
}

@Suite struct OrchestratorBoundsTests {
    static func job(_ name: String, partitions: UInt32 = 1, params: [String: String] = [:]) -> JobSpec {
        JobSpec(
            run: 1, job: name, product: "p", flow: "f", moment: 1, type: "t", params: params,
            steps: [StepSpec(name: name, kind: .handler, action: "noop", partitions: partitions)])
    }

    @Test func submissionsAreBatchedByCountBySizeAndByPartitionsAndEveryBatchDecodes() throws {
        let params = ["blob": String(repeating: "x", count: 60_000), "more": String(repeating: "y", count: 60_000)]
        let heavy = (0..<600).map { Self.job("heavy\($0)", params: params) }
        let wide = (0..<5).map { Self.job("wide\($0)", partitions: 300_000) }
        let many = (0..<2500).map { Self.job("small\($0)") }
        for jobs in [heavy, wide, many] {
            let batches = OrchestratorTurn.batches(jobs)
            #expect(batches.flatMap { $0 }.map(\.job) == jobs.map(\.job))
            for batch in batches {
                #expect(batch.count <= Limits.submitJobs)
                #expect(batch.reduce(0) { $0 + $1.peakTasks } <= Limits.submitPartitions)
                let frame = Message.submit(Submit(jobs: batch)).encoded()
                #expect(frame.count <= OrchestratorTurn.submitBudget + 9)
                #expect(try Message.decode(frame) == .submit(Submit(jobs: batch)))
            }
        }
        #expect(OrchestratorTurn.batches(heavy).count == 3)
        #expect(OrchestratorTurn.batches(wide).count == 2)
        #expect(OrchestratorTurn.batches(many).map(\.count) == [1000, 1000, 500])
    }

    @Test func aStartWhoseParametersCouldNotBeCarriedIsRefusedWithTheLimit() {
        var orchestrator = OrchestratorHarness()
        var request = OrchestratorHarness.start()
        let value = String(repeating: "x", count: 60_000)
        request.params = Dictionary(uniqueKeysWithValues: (1...4).map { ("p\($0)", value) })
        let turn = orchestrator.operation(request)
        #expect(turn.answers.map(\.1.status) == [.tooLarge])
        #expect(turn.answers.first?.1.detail == "the run's parameters take 240008 octets (names and values), more than the 196608 a run's may")
        #expect(turn.submits.isEmpty && turn.runs.isEmpty)
    }

    /// A flow applied before commands were limited, as the store reads it back: its first job is one no shard takes.
    static let appliedBeforeTheLimits = """
        {"product": "payments", "flow": "eod", "jobs": [
          {"name": "huge", "run": "\(String(repeating: "x", count: Limits.action + 1))"},
          {"name": "next", "after": ["huge"], "run": "true"},
          {"name": "other", "run": "true"}]}
        """

    @Test func aFlowOverTheLimitsIsRefusedAtStartButReadsBackFromTheStore() throws {
        var orchestrator = OrchestratorHarness()
        let turn = orchestrator.operation(OrchestratorHarness.start(definition: Self.appliedBeforeTheLimits))
        #expect(turn.answers.map(\.1.status) == [.invalid])
        #expect(turn.answers.first?.1.detail.contains("the command is 65537 octets, more than the 65536 a command line may be") == true)
        #expect(throws: Never.self) { try FlowFile.parse(Self.appliedBeforeTheLimits, file: "eod", checkingLimits: false).get() }
    }

    @Test func aJobNoShardWouldTakeFailsWithTheLimitNamedInsteadOfBeingSentForEver() throws {
        let definition = try FlowFile.parse(Self.appliedBeforeTheLimits, file: "eod", checkingLimits: false).get()
        var now = Timestamp(milliseconds: 1_000)
        let run = FlowRun(
            id: 1, product: "payments", flow: "eod", version: 1, shard: 2, moment: 99, params: [:], definition: definition, started: now)
        var core = OrchestratorCore(
            configuration: OrchestratorConfiguration(shards: [2]), epoch: 1, restoring: OrchestratorSnapshot(runs: [run]), now: now)
        // Released at the start, its jobs are sent by the first tick.
        core.tick(now: now)
        let turn = core.finishTurn(now: now)
        // The job that fits goes; the one that does not fails at once, its successor skipped, and is logged.
        #expect(turn.submits[2]?.map(\.job) == ["other"])
        let why = "not submitted: no shard takes it (field \"action\" declares 65537, more than the 65536 allowed)"
        #expect(turn.unsent.map(\.job) == ["huge"] && turn.unsent.first?.detail == why)
        #expect(core.runs[1]?.jobs.map(\.state) == [.failed, .skipped, .submitted])
        // Rows for the failed job and the skipped one; "other", released for the first time, has its row
        // written when it ends.
        #expect(Set(turn.jobs.map(\.job.name)) == ["huge", "next"])
        // It is never sent again; the job that fits is, until its shard takes it.
        now = now.adding(milliseconds: 600_000)
        core.tick(now: now)
        #expect(core.finishTurn(now: now).submits[2]?.map(\.job) == ["other"])
        // The run ends, failed, saying why.
        let done = JobStatus(run: 1, job: "other", state: .succeeded, time: now.wire)
        core.updatesReceived(JobUpdates(publisher: "shard-2", epoch: 1, sequence: 1, updates: [done]), from: 2, now: now)
        let status = try #require(core.finishTurn(now: now).updates?.updates.first)
        #expect(status.state == .failed && status.detail == "huge failed: " + why)
    }
}

@Suite struct WorkerBoundsTests {
    @Test func resultsGoInAsManyFramesAsTheirSizeNeedsAndALongErrorIsCut() throws {
        var worker = WorkerHarness(slots: 4)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        worker.core.received(.welcome(Welcome(shard: 1, epoch: 1, heartbeat: 1000, liveness: 3, resultLimit: UInt32(Limits.chunk))), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.received(.tasks(Tasks(tasks: (1...4).map { WorkerHarness.task($0) })), on: 0, now: worker.now)
        _ = worker.turn()
        // Three results of 12 MiB: two fit in one frame's budget, the third goes in the next.
        let data = [UInt8](repeating: 7, count: 12 << 20)
        for task in UInt64(1)...4 {
            worker.core.attemptEnded(
                WorkerCore.AttemptID(link: 0, ref: TaskRef(task: task, attempt: 1)), outcome: task == 4 ? .failed : .succeeded,
                exitCode: 0, output: "", log: "", error: task == 4 ? String(repeating: "\u{E9}", count: 5000) : "",
                data: task == 4 ? [] : data, now: worker.now)
        }
        let batches = WorkerHarness.sent(worker.turn()).compactMap { message -> [TaskResult]? in
            if case .results(let results) = message { results.results } else { nil }
        }
        #expect(batches.map { $0.map(\.task) } == [[1, 2], [3, 4]])
        for batch in batches {
            let frame = Message.results(Results(results: batch)).encoded()
            #expect(frame.count <= Limits.frame)
            #expect(try Message.decode(frame) == .results(Results(results: batch)))
        }
        let error = batches[1][1].error
        #expect(error.utf8.count == 4096 && error == String(repeating: "\u{E9}", count: 2048))
    }
}

@Suite struct ShardBoundsTests {
    @Test func tasksGoInAsManyFramesAsTheirSizeNeeds() throws {
        var shard = ShardHarness()
        // 200 tasks of 189 KiB of parameters each: 38 MB, more than one TASKS may carry.
        let value = String(repeating: "v", count: 63 << 10)
        let jobs = (0..<200).map { index -> JobSpec in
            var job = ShardHarness.job("job\(index)", handler: "noop")
            job.params = ["first": value, "second": value, "third": value]
            return job
        }
        _ = shard.submit(jobs)
        let worker = Peer([1])
        let ready = Ready(worker: "w", session: 1, slots: 200, heartbeat: 1000, commands: 0, handlers: ["noop"])
        let turn = shard.send(.ready(ready), from: worker)
        let batches = turn.messages.compactMap { _, message -> [TaskSpec]? in
            if case .tasks(let tasks) = message { tasks.tasks } else { nil }
        }
        #expect(batches.count == 2)
        #expect(Set(batches.flatMap { $0 }.map(\.job)) == Set(jobs.map(\.job)))
        for batch in batches {
            let frame = Message.tasks(Tasks(tasks: batch)).encoded()
            #expect(frame.count <= Limits.frame)
            #expect(try Message.decode(frame) == .tasks(Tasks(tasks: batch)))
        }
    }
}
