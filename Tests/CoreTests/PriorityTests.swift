import Core
import Testing
import Wire

/// Run priorities and fairness keys through management, the orchestrator and the shard: given at
/// start or by a schedule, changed on a running run, carried in every job spec, kept across restarts.
@Suite struct PriorityTests {
    let alice = Peer([1])
    let orchestrator = Peer([2])

    @Test func managementStartsARunAtTheGivenPriorityAndRefusesOthers() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let (turn, reply, body) = management.call("start", #"{"flow": "payments/eod", "priority": "urgent"}"#)
        #expect(reply.status == .ok)
        #expect(body["priority"]?.string == "urgent")
        #expect(turn.operations.first?.priority == RunPriority.urgent)
        let (_, two, twoBody) = management.call("start", #"{"flow": "payments/eod", "priority": 2}"#)
        #expect(two.status == .ok && twoBody["priority"]?.integer == 2)
        let (_, plain, plainBody) = management.call("start", #"{"flow": "payments/eod"}"#)
        #expect(plain.status == .ok && plainBody["priority"]?.integer == 3)
        let (refused, bad, badBody) = management.call("start", #"{"flow": "payments/eod", "priority": 0}"#)
        #expect(bad.status == .invalid)
        #expect(badBody["problems"]?.array?.first?.string == "\"priority\" takes 1 (first) to 5 (last), or \"urgent\", not 0")
        #expect(refused.runs.isEmpty && refused.operations.isEmpty)
    }

    @Test func setPriorityIsAnAuditedActionOnARun() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        let (turn, _, _) = management.call("set-priority", #"{"run": 1, "priority": 1, "actor": "alice", "request": "r1"}"#)
        let operation = turn.operations.first
        #expect(operation?.action == .setPriority && operation?.priority == 1 && operation?.run == 1)
        #expect(turn.audit.first?.options == "priority 1")
        // The orchestrator's answer records the new priority with the run.
        management.core.orchestratorMessage(.operationResult(OperationResult(request: operation!.request, status: .ok, detail: "run 1 at priority 1")), now: management.now)
        let answered = management.core.finishTurn()
        #expect(answered.runs.last?.priority == 1)
        let (_, missing, _) = management.call("set-priority", #"{"run": 1, "actor": "alice"}"#)
        #expect(missing.status == .badRequest)
        let (_, wrong, wrongBody) = management.call("set-priority", #"{"run": 1, "priority": "soon", "actor": "alice"}"#)
        #expect(wrong.status == .badRequest && wrongBody["error"]?.string?.contains("not \"soon\"") == true)
    }

    @Test func aPolicyCanPutPriorityOverFairnessAndWeighFairnessKeys() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        // Answered, and the product's, once the orchestrator has sent it on.
        let (turn, _, _) = management.call(
            "set-policy", #"{"product": "payments", "priority_over_fairness": true, "key_weights": {"acme": 3, "globex": 1}, "actor": "a"}"#)
        let policy = turn.operations.first?.policy
        #expect(policy?.priorityOverFairness == 1)
        #expect(policy?.keyWeights == [KeyWeight(key: "acme", weight: 3)])
        management.core.orchestratorMessage(.operationResult(OperationResult(request: turn.operations[0].request, status: .ok)), now: management.now)
        _ = management.core.finishTurn()
        let (_, _, products) = management.call("products", "{}")
        let payments = products["products"]?.array?.first
        #expect(payments?["priority_over_fairness"]?.bool == true)
        #expect(payments?["key_weights"]?["acme"]?.integer == 3)
        let (_, bad, badBody) = management.call("set-policy", #"{"product": "payments", "key_weights": {"acme": 0}, "actor": "a"}"#)
        #expect(bad.status == .badRequest && badBody["error"]?.string?.contains("the weight of key \"acme\"") == true)
    }

    @Test func theOrchestratorCarriesTheRunsPriorityAndFairnessKeyToTheShardAndChangesThem() {
        var harness = OrchestratorHarness()
        let keyed = """
            {"product": "payments", "flow": "eod", "params": {"customer": "acme"}, "fairness": {"param": "customer"},
             "jobs": [{"name": "a", "run": "true"}, {"name": "b", "after": ["a"], "run": "true", "batch": 10}]}
            """
        var start = OrchestratorHarness.start(definition: keyed)
        start.params = ["customer": "globex"]
        start.priority = 2
        let first = harness.operation(start)
        let spec = first.submits[2]![0]
        #expect(spec.runPriority == 2 && spec.fairnessKey == "globex" && spec.batch == 0)
        // Raised while the run goes on: the shard is told, and later jobs carry it.
        let raised = harness.operation(OperationRequest(request: 2, action: .setPriority, run: 1, priority: RunPriority.urgent))
        #expect(raised.answers.map(\.1.status) == [.ok])
        #expect(raised.controlSends.contains { $0.1.action == .setPriority && $0.1.priority == RunPriority.urgent && $0.1.run == 1 })
        let next = harness.report([("a", .succeeded)])
        let b = next.submits[2]!.first { $0.job == "b" }!
        #expect(b.runPriority == RunPriority.urgent && b.batch == 10 && b.fairnessKey == "globex")
    }

    @Test func theShardReordersARunsQueuedTasksAndKeepsItsPriorityAcrossARestart() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5), ShardHarness.job("b", run: 6), ShardHarness.job("c", run: 7)])
        shard.core.controlReceived(Control(request: 1, action: .setPriority, run: 7, priority: 1), from: orchestrator, now: shard.now)
        let changed = shard.turn()
        #expect(changed.priorities == [7: 1])
        #expect(changed.messages.contains { $0.1 == .controlResult(ControlResult(request: 1, status: .ok, detail: "run 7 at priority 1: 1 queued task reordered")) })
        // A submission sent before the change, still at the old priority, takes the new one.
        _ = shard.submit([ShardHarness.job("late", run: 7)])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 3), from: alice), to: alice)
        #expect(leased.map(\.job) == ["c", "late", "a"])

        var snapshot = ShardSnapshot(jobs: [shard.core.jobs.values.first { $0.spec.job == "b" }!], sequence: 1, nextTaskID: 10, nextJobID: 10)
        snapshot.jobs.append(ShardJob(id: 11, spec: ShardHarness.job("d", run: 7)))
        snapshot.priorities = [7: 1]
        var restarted = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: 2, restoring: snapshot, now: shard.now)
        restarted.received(ShardHarness.ready("w2", slots: 1), from: alice, now: shard.now)
        #expect(ShardHarness.tasks(in: restarted.finishTurn(now: shard.now), to: alice).map(\.job) == ["d"])
    }

    @Test func theShardAsksWorkersForTheWeightOfItsWaitingProducts() {
        var shard = ShardHarness()
        shard.core.controlReceived(Control(request: 1, action: .setPolicy, run: 0, policy: ProductPolicy(product: "heavy", weight: 4)), from: orchestrator, now: shard.now)
        _ = shard.turn()
        _ = shard.submit((0..<5).map { ShardHarness.job("h\($0)", product: "heavy") } + (0..<5).map { ShardHarness.job("l\($0)", product: "light") })
        let turn = shard.send(ShardHarness.ready("w1", slots: 2), from: alice)
        #expect(turn.messages.contains { $0.0 == alice && $0.1 == .demand(Demand(pending: 8, weight: 5)) }, "\(turn.messages.map(\.1))")
    }

    @Test func theShardForgetsARunsChangedPriorityWithItsLastJob() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5), ShardHarness.job("b", run: 5)])
        shard.core.controlReceived(Control(request: 1, action: .setPriority, run: 5, priority: 2), from: orchestrator, now: shard.now)
        #expect(shard.turn().priorities == [5: 2])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 2), from: alice), to: alice)
        #expect(shard.send(ShardHarness.result(leased[0], .succeeded), from: alice).forgottenPriorities.isEmpty)
        #expect(shard.send(ShardHarness.result(leased[1], .succeeded), from: alice).forgottenPriorities == [5])
    }
}
