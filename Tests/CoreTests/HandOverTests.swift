import Core
import Testing
import Wire

/// A move hands over the runs of its product that have not started: the old shard gives their jobs up
/// and drops copies still on their way; the orchestrator submits them to the new shard, one generation on.
@Suite struct HandOverTests {
    let orchestrator = Peer([9])
    let worker = Peer([1])

    static func handOver(_ run: UInt64, request: UInt64 = 1, generation: UInt32 = 0) -> Control {
        Control(request: request, action: .handOver, run: run, generation: generation)
    }

    static func answers(_ turn: ShardTurn) -> [(Status, String)] {
        turn.messages.compactMap { _, message in
            if case .controlResult(let result) = message { (result.status, result.detail) } else { nil }
        }
    }

    @Test func aRunNeverHandedOutLeavesTheShardAndItsLateCopiesAreDropped() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5), ShardHarness.job("b", run: 5), ShardHarness.job("c", run: 6)])
        shard.core.handOverReceived(Self.handOver(5), startedHere: false, from: orchestrator, now: shard.now)
        let turn = shard.turn()
        #expect(Self.answers(turn).map(\.0) == [.ok])
        #expect(turn.tombstones == [5: 0])
        #expect(turn.handedOverRows.count == 2)
        #expect(turn.updates == nil)  // Nothing of the run is announced: the orchestrator learns from the answer.
        #expect(shard.core.jobs.values.map(\.spec.job) == ["c"])
        // The same request again is answered the same; a copy of the run's submission is dropped.
        shard.core.handOverReceived(Self.handOver(5), startedHere: false, from: orchestrator, now: shard.now)
        #expect(Self.answers(shard.turn()).map(\.0) == [.ok])
        let late = shard.submit([ShardHarness.job("a", run: 5), ShardHarness.job("d", run: 5)])
        #expect(late.droppedSubmissions.map(\.description) == ["5/a", "5/d"])
        #expect(late.jobs.isEmpty && late.updates == nil)
        // The run at a later generation is taken, as when its product moves back here.
        let back = shard.submit([ShardHarness.job("a", run: 5, generation: 1)])
        #expect(ShardHarness.states(back) == ["a:queued"])
        // A worker gets only what stayed, and the handed-over tasks' queue entries are dropped as stale.
        _ = shard.send(ShardHarness.ready("w", slots: 8), from: worker)
        let handed = ShardHarness.tasks(in: shard.turns.last!, to: worker).map(\.job).sorted()
        #expect(handed == ["a", "c"])
    }

    @Test func aRunThatStartedPausedOrWasRerunStays() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5), ShardHarness.job("b", run: 6), ShardHarness.job("c", run: 7)])
        _ = shard.send(ShardHarness.ready("w", slots: 1), from: worker)
        let leased = ShardHarness.tasks(in: shard.turns.last!, to: worker).map(\.run)
        #expect(leased.count == 1)
        let started = leased[0]
        shard.core.handOverReceived(Self.handOver(started), startedHere: false, from: orchestrator, now: shard.now)
        #expect(Self.answers(shard.turn()).map(\.1) == ["run \(started) has started here: it finishes here"])
        // The store knows of a job of the run that ended or was handed out before a restart.
        let other = [5, 6, 7].map(UInt64.init).first { $0 != started }!
        shard.core.handOverReceived(Self.handOver(other), startedHere: true, from: orchestrator, now: shard.now)
        #expect(Self.answers(shard.turn()).map(\.0) == [.conflict])
        let last = [5, 6, 7].map(UInt64.init).first { $0 != started && $0 != other }!
        shard.core.controlReceived(Control(request: 2, action: .pauseRun, run: last), from: orchestrator, now: shard.now)
        _ = shard.turn()
        shard.core.handOverReceived(Self.handOver(last, request: 3), startedHere: false, from: orchestrator, now: shard.now)
        let paused = shard.turn()
        #expect(Self.answers(paused).map(\.1) == ["run \(last) is paused here: it stays until it is resumed"])
        #expect(paused.tombstones.isEmpty && shard.core.jobs.count == 3)
    }

    @Test func theOrchestratorHandsOverOnlyRunsNotStartedAndSubmitsThemToTheNewShardOneGenerationOn() {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.operation(OrchestratorHarness.start(run: 2, request: 2))
        // Run 1's extract is queued and never handed out; run 2's has started.
        _ = flow.report([("extract", .queued), ("audit", .queued)], run: 1)
        _ = flow.report([("extract", .running)], run: 2)
        let move = flow.operation(OperationRequest(
            request: 3, action: .move, run: 0, product: "payments", shard: 1, policy: ProductPolicy(product: "payments")))
        #expect(move.answers.first?.1.detail.hasSuffix("1 run not started there asked to follow") == true, "\(move.answers)")
        #expect(move.productShards == ["payments": 1])
        let handOvers = move.controlSends.filter { $0.1.action == .handOver }
        #expect(handOvers.map(\.0) == [2] && handOvers.map(\.1.run) == [1] && handOvers.map(\.1.generation) == [0])
        #expect(move.controls.count == 2)  // The policy and the hand-over, both committed before they are sent.

        // Its answer moves the run: every job not final one generation on, those the old shard had sent to the new.
        flow.core.controlResultReceived(ControlResult(request: handOvers[0].1.request, status: .ok), now: flow.now)
        let switched = flow.core.finishTurn(now: flow.now)
        #expect(switched.submits[1]?.map(\.job).sorted() == ["audit", "extract"])
        #expect(switched.submits[1]?.allSatisfy { $0.generation == 1 } == true)
        #expect(switched.submits[2] == nil)
        #expect(switched.jobs.filter(\.released).isEmpty)  // Not a release: the store counts each job's once.
        #expect(switched.updates?.updates.map(\.shard) == [1])
        let run = flow.core.runs[1]!
        #expect(run.shard == 1 && run.jobs.allSatisfy { $0.generation == 1 })
        // The old shard's statuses of the earlier generation change nothing; the new shard's count.
        #expect(flow.report([("extract", .succeeded)], run: 1).submits.isEmpty)
        flow.sequence += 1
        let updates = JobUpdates(
            publisher: "shard-1", epoch: 1, sequence: 1, updates: [JobStatus(run: 1, job: "extract", generation: 1, state: .succeeded, time: flow.now.wire)])
        flow.core.updatesReceived(updates, from: 1, now: flow.now)
        let released = flow.core.finishTurn(now: flow.now)
        #expect(released.submits[1]?.map(\.job).sorted() == ["check", "load"])
        #expect(released.submits[1]?.allSatisfy { $0.generation == 1 } == true)
        // The run that started stays where it is.
        #expect(flow.core.runs[2]!.shard == 2)
    }

    @Test func aHandOverRefusedLeavesTheRunAndOneAnsweredAfterAMoveBackStaysOneGenerationOn() {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.operation(OrchestratorHarness.start(run: 2, request: 2))
        let first = flow.operation(OperationRequest(
            request: 3, action: .move, run: 0, product: "payments", shard: 1, policy: ProductPolicy(product: "payments")))
        let asked = first.controlSends.filter { $0.1.action == .handOver }.map(\.1)
        #expect(asked.map(\.run) == [1, 2])
        // Moved back before the shard answers: the runs asked for are not asked twice.
        let second = flow.operation(OperationRequest(
            request: 4, action: .move, run: 0, product: "payments", shard: 2, policy: ProductPolicy(product: "payments")))
        #expect(second.controlSends.filter { $0.1.action == .handOver }.isEmpty)
        flow.core.controlResultReceived(ControlResult(request: asked[0].request, status: .conflict, detail: "started"), now: flow.now)
        flow.core.controlResultReceived(ControlResult(request: asked[1].request, status: .ok), now: flow.now)
        let turn = flow.core.finishTurn(now: flow.now)
        #expect(flow.core.runs[1]!.shard == 2 && flow.core.runs[1]!.jobs.allSatisfy { $0.generation == 0 })
        // The shard gave run 2 up, so it goes back to it one generation on, past the tombstone.
        #expect(flow.core.runs[2]!.shard == 2)
        #expect(turn.submits[2]?.map(\.job).sorted() == ["audit", "extract"])
        #expect(turn.submits[2]?.allSatisfy { $0.generation == 1 } == true)
    }

    @Test func aRunStoppedWhileItsShardGaveItUpEndsStoppedWithoutRunningAnywhere() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        let move = flow.operation(OperationRequest(
            request: 2, action: .move, run: 0, product: "payments", shard: 1, policy: ProductPolicy(product: "payments")))
        let handOver = try #require(move.controlSends.first { $0.1.action == .handOver }?.1)
        // The stop's cancel goes to the old shard, behind the hand-over, and finds nothing there.
        let stop = flow.operation(OperationRequest(request: 3, action: .stop, run: 1))
        #expect(stop.controlSends.map(\.1.action) == [.cancelRun])
        flow.core.controlResultReceived(ControlResult(request: handOver.request, status: .ok), now: flow.now)
        let turn = flow.core.finishTurn(now: flow.now)
        #expect(turn.submits.isEmpty)
        let run = flow.core.runs[1]!
        #expect(run.state == .stopped && run.shard == 1, "\(run.state)")
        #expect(run.jobs.filter { $0.state == .cancelled }.map(\.name).sorted() == ["audit", "extract"])
    }
}
