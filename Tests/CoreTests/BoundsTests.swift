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
}
