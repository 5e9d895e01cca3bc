import Core
import Testing
import Wire

/// A move hands over the runs of its product, each when none of its tasks runs: the old shard gives it up
/// with what it had got to and drops copies still on their way; the orchestrator sends it to the new shard
/// one generation on, in a TAKE-OVER that the new shard goes on from.
@Suite struct HandOverTests {
    let orchestrator = Peer([9])
    let worker = Peer([1])

    static func handOver(_ run: UInt64, request: UInt64 = 1, generation: UInt32 = 0) -> Control {
        Control(request: request, action: .handOver, run: run, generation: generation)
    }

    static func refusals(_ turn: ShardTurn) -> [String] {
        turn.messages.compactMap { _, message in
            if case .controlResult(let result) = message { "\(result.status.rawValue) \(result.detail)" } else { nil }
        }
    }

    /// Shard 2, having taken over run 5's job `big` of two partitions, one of them `away` on shard 1.
    static func takingOver(away: PartitionAttempts) -> ShardHarness {
        var target = ShardHarness(configuration: ShardConfiguration(shard: 2))
        let steps = [StepSpec(name: "work", kind: .command, action: "b", partitions: 2)]
        target.core.takenOver(
            TakeOver(run: 5, jobs: [ShardHarness.job("big", run: 5, generation: 1, steps: steps)], carries: [JobCarry(job: "big", away: [away])]),
            lookup: SubmissionLookup(), now: target.now)
        _ = target.turn()
        return target
    }

    static func handed(_ turn: ShardTurn) -> [HandedOver] {
        turn.messages.compactMap { _, message in
            if case .handedOver(let handed) = message { handed } else { nil }
        }
    }

    @Test func aRunNeverHandedOutLeavesTheShardAndItsLateCopiesAreDropped() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5), ShardHarness.job("b", run: 5), ShardHarness.job("c", run: 6)])
        shard.core.handOverReceived(Self.handOver(5), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        let turn = shard.turn()
        let answer = Self.handed(turn)
        #expect(answer.map(\.run) == [5] && answer.first?.jobs.map(\.job) == ["a", "b"])
        #expect(answer.first?.jobs.allSatisfy { $0.step == 0 && $0.succeeded.isEmpty } == true)
        #expect(turn.tombstones.mapValues(\.generation) == [5: 0])
        // Both were only in the submission log: no row to delete, and a restart skips them, their run handed over.
        #expect(turn.handedOverRows.isEmpty)
        #expect(turn.updates == nil)  // Nothing of the run is announced: the orchestrator learns from the answer.
        #expect(shard.core.jobs.values.map(\.spec.job) == ["c"])
        // Asked again in the same turn, it is answered from memory; later, from what the store kept.
        shard.core.handOverReceived(Self.handOver(6, request: 7), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        shard.core.handOverReceived(Self.handOver(6, request: 8), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        #expect(Self.handed(shard.turn()).map(\.request) == [7, 8])
        shard.core.handOverReceived(Self.handOver(5, request: 2), lookup: HandOverLookup(answered: answer.first), from: orchestrator, now: shard.now)
        #expect(Self.handed(shard.turn()).map { ($0.request, $0.jobs.count) }.first ?? (0, 0) == (2, 2))
        let late = shard.submit([ShardHarness.job("a", run: 5), ShardHarness.job("d", run: 5)])
        #expect(late.droppedSubmissions.map(\.description) == ["5/a", "5/d"])
        #expect(late.jobs.isEmpty && late.updates == nil)
        // The run at a later generation is taken, as when its product moves back here.
        let back = shard.submit([ShardHarness.job("a", run: 5, generation: 1)])
        #expect(ShardHarness.states(back) == ["a:queued"])
        // A worker gets only what stayed, and the handed-over tasks' queue entries are dropped as stale.
        _ = shard.send(ShardHarness.ready("w", slots: 8), from: worker)
        let handedOut = ShardHarness.tasks(in: shard.turns.last!, to: worker).map(\.job).sorted()
        #expect(handedOut == ["a"])
    }

    @Test func aRunWithATaskRetryingOrPausedStays() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5, retries: 1), ShardHarness.job("b", run: 6)])
        _ = shard.send(ShardHarness.ready("w", slots: 1), from: worker)
        let leased = ShardHarness.tasks(in: shard.turns.last!, to: worker)
        #expect(leased.count == 1)
        let retrying = leased[0].run
        _ = shard.send(ShardHarness.result(leased[0], retrying == 5 ? .failed : .succeeded), from: worker)
        shard.core.handOverReceived(Self.handOver(5), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        if retrying == 5 {
            #expect(Self.refusals(shard.turn()) == ["409 run 5 has tasks of a retrying or failed here: it stays until they end"])
        } else {
            _ = shard.turn()
        }
        shard.core.controlReceived(Control(request: 2, action: .pauseRun, run: 6), from: orchestrator, now: shard.now)
        _ = shard.turn()
        shard.core.handOverReceived(Self.handOver(6, request: 3), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        let paused = shard.turn()
        if retrying == 5 {
            #expect(Self.refusals(paused) == ["409 run 6 is paused here: it stays until it is resumed"])
            #expect(paused.tombstones.isEmpty && shard.core.jobs.count == 2)
        }
    }

    /// A run handed over while two of its four partitions run: they finish on the old shard, with their
    /// workers, never handed out on the new one; each end is told when the hand-over is asked again, and
    /// the new shard applies it as its own worker's result: a success once, a failure as a retry there.
    @Test func tasksRunningAtTheHandOverFinishWhereTheyAreAndTheirEndsCompleteTheJobOnTheNewShard() throws {
        var shard = ShardHarness()
        let steps = [StepSpec(name: "work", kind: .command, action: "b", partitions: 4)]
        _ = shard.submit([ShardHarness.job("big", run: 5, retries: 1, steps: steps)])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w", slots: 2), from: worker), to: worker)
        #expect(leased.map(\.partition) == [0, 1])
        shard.core.handOverReceived(Self.handOver(5), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        let turn = shard.turn()
        let answer = try #require(Self.handed(turn).first)
        let carry = try #require(answer.jobs.first)
        #expect(carry.away.map { "\($0.partition) \($0.attempt)" } == ["0 1", "1 1"] && carry.attempts.isEmpty && answer.running == 2)
        #expect(turn.tombstones[5] != nil && turn.handedOverRows.isEmpty)
        // The job stays, finishing its two tasks; nothing else of it is handed out here.
        let finishing = try #require(shard.core.jobs.values.first)
        #expect(finishing.finishing && finishing.tasks.count == 2 && turn.jobs.map(\.finishing) == [true])
        #expect(ShardHarness.tasks(in: shard.send(.pull(Pull(credit: 2)), from: worker), to: worker).isEmpty)

        // The new shard holds those two as away, and hands out only the other two.
        var target = ShardHarness(configuration: ShardConfiguration(shard: 2))
        let moved = ShardHarness.job("big", run: 5, retries: 1, generation: 1, steps: steps)
        target.core.takenOver(TakeOver(run: 5, jobs: [moved], carries: [carry]), lookup: SubmissionLookup(), now: target.now)
        let taken = target.turn()
        #expect(taken.tasks.map { "\($0.partition) \($0.state) \($0.attempt)" }.sorted() == ["0 away 1", "1 away 1"])
        #expect(ShardHarness.states(taken) == ["big:running"])
        let there = ShardHarness.tasks(in: target.send(ShardHarness.ready("v", slots: 4), from: worker), to: worker)
        #expect(there.map(\.partition) == [2, 3])

        // On the old shard: partition 0 succeeds, and the hand-over asked again tells it.
        let first = shard.send(ShardHarness.result(leased[0], .succeeded, data: [5]), from: worker)
        #expect(first.awayEnds.map { "\($0.run) \($0.end.partition) \($0.end.outcome)" } == ["5 0 succeeded"])
        #expect(first.updates != nil)  // The orchestrator hears of it, and asks.
        shard.core.handOverReceived(
            Self.handOver(5, request: 2), lookup: HandOverLookup(answered: answer, ends: first.awayEnds.map(\.end)), from: orchestrator,
            now: shard.now)
        let asked = try #require(Self.handed(shard.turn()).first)
        #expect(asked.request == 2 && asked.ends.map(\.partition) == [0] && asked.running == 1)
        // Partition 1 fails there: not retried there. The job leaves the old shard with its last task.
        let second = shard.send(ShardHarness.result(leased[1], .failed, error: "exit status 1"), from: worker)
        #expect(second.awayEnds.map { "\($0.end.partition) \($0.end.outcome) \($0.end.failures)" } == ["1 failed 1"])
        #expect(second.handedOverRows.count == 1 && shard.core.jobs.isEmpty)
        let ends = (first.awayEnds + second.awayEnds).map(\.end)
        // A relay's ask from the second end: only the ends from there, not what the run carried.
        var from = Self.handOver(5, request: 3)
        from.from = 2
        shard.core.handOverReceived(from, lookup: HandOverLookup(answered: answer, ends: ends), from: orchestrator, now: shard.now)
        let last = try #require(Self.handed(shard.turn()).first)
        #expect(last.ends.map(\.partition) == [1] && last.running == 0 && last.jobs.isEmpty)

        // The new shard applies the ends: the success once (sent again, it changes nothing), the failure
        // as a failed attempt with a retry left.
        target.core.partitionsEnded(PartitionsEnded(request: 9, run: 5, ends: ends), from: orchestrator, now: target.now)
        let applied = target.turn()
        #expect(Self.refusals(applied) == ["200 2 of 2 ends of run 5 applied"])
        #expect(applied.succeeded.count == 1)
        #expect(applied.tasks.map { "\($0.partition) \($0.state) \($0.failures)" }.sorted() == ["0 succeeded 0", "1 retrying 1"])
        target.core.partitionsEnded(PartitionsEnded(request: 10, run: 5, ends: ends), from: orchestrator, now: target.now)
        let again = target.turn()
        #expect(Self.refusals(again) == ["200 0 of 2 ends of run 5 applied"] && again.succeeded.isEmpty)
        for task in there { _ = target.send(ShardHarness.result(task, .succeeded), from: worker) }
        // Its backoff over (the worker keeps beating meanwhile), the partition runs again here.
        var retry: [TaskSpec] = []
        for _ in 0..<10 where retry.isEmpty {
            target.advance(500)
            retry = ShardHarness.tasks(in: target.send(.heartbeat, from: worker), to: worker)
        }
        let retried = try #require(retry.first)
        #expect(retried.partition == 1 && retried.attempt == 2)
        let done = target.send(ShardHarness.result(retried, .succeeded), from: worker)
        #expect(ShardHarness.states(done) == ["big:succeeded"])
    }

    /// A task finishing on the old shard whose worker goes silent is lost there, not queued there: its
    /// end says so, and the new shard runs it again with the next attempt. A cancel there is told as such.
    @Test func aFinishingTaskLostOnTheOldShardRunsAgainOnTheNewOne() throws {
        var shard = ShardHarness()
        let steps = [StepSpec(name: "work", kind: .command, action: "b", partitions: 2)]
        _ = shard.submit([ShardHarness.job("big", run: 5, steps: steps)])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w", slots: 1), from: worker), to: worker)
        shard.core.handOverReceived(Self.handOver(5), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        let answer = try #require(Self.handed(shard.turn()).first)
        shard.advance(60_000)  // The worker is silent: its lease is taken back.
        let lost = shard.turn()
        #expect(lost.awayEnds.map { "\($0.end.partition) \($0.end.outcome) \($0.end.losses)" } == ["\(leased[0].partition) lost 1"])
        #expect(shard.core.jobs.isEmpty && ShardHarness.tasks(in: lost, to: worker).isEmpty)

        var target = ShardHarness(configuration: ShardConfiguration(shard: 2))
        let moved = ShardHarness.job("big", run: 5, generation: 1, steps: steps)
        target.core.takenOver(TakeOver(run: 5, jobs: [moved], carries: answer.jobs), lookup: SubmissionLookup(), now: target.now)
        _ = target.turn()
        target.core.partitionsEnded(PartitionsEnded(request: 1, run: 5, ends: lost.awayEnds.map(\.end)), from: orchestrator, now: target.now)
        _ = target.turn()
        let again = ShardHarness.tasks(in: target.send(ShardHarness.ready("v", slots: 2), from: worker), to: worker)
        #expect(again.map { "\($0.partition) \($0.attempt)" }.sorted() == ["0 2", "1 1"])
    }

    /// A cancel on the new shard cancels what waits there at once, but not a partition still running on
    /// the old shard: the job stays running until that one's end (cancelled there) comes, as it would on
    /// one shard, so that nothing rerun overlaps it.
    @Test func aCancelledJobWaitsForItsPartitionsStillRunningOnTheOldShard() throws {
        var target = Self.takingOver(away: PartitionAttempts(partition: 0, attempt: 1))
        target.core.controlReceived(Control(request: 1, action: .cancelRun, run: 5), from: orchestrator, now: target.now)
        #expect(ShardHarness.states(target.turn()) == ["big:running"])
        let end = PartitionEnd(job: "big", step: 0, partition: 0, attempt: 1, outcome: .cancelled)
        target.core.partitionsEnded(PartitionsEnded(request: 2, run: 5, ends: [end]), from: orchestrator, now: target.now)
        #expect(ShardHarness.states(target.turn()) == ["big:cancelled"])
    }

    /// The last PARTITIONS-ENDED of a relay says the old shard runs nothing of the run and has told every
    /// end: a partition still away (its end lost, as with commits a power loss took) runs again here.
    @Test func aPartitionStillAwayAtTheLastEndRunsAgainHere() throws {
        var target = Self.takingOver(away: PartitionAttempts(partition: 0, attempt: 3))
        target.core.partitionsEnded(PartitionsEnded(request: 1, run: 5, ends: [], last: 1), from: orchestrator, now: target.now)
        #expect(Self.refusals(target.turn()) == ["200 0 of 0 ends of run 5 applied; 1 partition still away taken as lost"])
        let again = ShardHarness.tasks(in: target.send(ShardHarness.ready("v", slots: 2), from: worker), to: worker)
        #expect(again.map { "\($0.partition) \($0.attempt)" }.sorted() == ["0 4", "1 1"])
    }

    /// A run that has started: a job of two steps half through its second, and one whose only task
    /// succeeded in this very turn. What succeeded goes with the answer, and only what did not runs on the
    /// new shard.
    @Test func aStartedRunGoesWithWhatSucceededAndTheNewShardRunsOnlyTheRest() throws {
        var shard = ShardHarness()
        let steps = [
            StepSpec(name: "split", kind: .command, action: "a", partitions: 1),
            StepSpec(name: "work", kind: .command, action: "b", partitions: 3, partitionKeys: ["x", "y", "z"]),
        ]
        var later = ShardHarness.job("later", run: 5)
        later.inputs = ["big", "early"]
        _ = shard.submit([ShardHarness.job("big", run: 5, steps: steps), ShardHarness.job("quick", run: 5)])
        var leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w", slots: 2), from: worker), to: worker)
        let split = try #require(leased.first { $0.job == "big" })
        let quick = try #require(leased.first { $0.job == "quick" })
        _ = shard.send(ShardHarness.result(split, .succeeded, data: [1]), from: worker)
        // One partition of the second step runs and succeeds.
        leased = ShardHarness.tasks(in: shard.send(.pull(Pull(credit: 1)), from: worker), to: worker)
        let work = try #require(leased.first)
        _ = shard.send(ShardHarness.result(work, .succeeded, data: [7]), from: worker)
        // quick succeeds in the turn that hands the run over.
        shard.core.received(ShardHarness.result(quick, .succeeded, data: [9]), from: worker, now: shard.now)
        let earlier = TaskInput(job: "early", step: 0, partition: 0, data: [3])
        shard.core.handOverReceived(Self.handOver(5), lookup: HandOverLookup(results: [earlier]), from: orchestrator, now: shard.now)
        let turn = shard.turn()
        let answer = try #require(Self.handed(turn).first)
        #expect(answer.results.map(\.job) == ["early"] && answer.results.map(\.data) == [[3]])
        // quick is not settled until the turn ends: it goes as work whose one partition succeeded.
        #expect(answer.jobs.map(\.job) == ["big", "quick"] && answer.jobs[1].succeeded.map(\.data) == [[9]])
        let carry = answer.jobs[0]
        #expect(carry.step == 1 && carry.completed == 1)
        #expect(carry.succeeded.map { "\($0.partition) \($0.partitionKey) \($0.data)" } == ["\(work.partition) \(work.partitionKey) [7]"])
        #expect(carry.previous.map(\.data) == [[1]])
        // quick was only in the submission log: there is no row of it to delete, and a restart skips it, its run handed over.
        #expect(turn.handedOverRows.count == 1 && shard.core.jobs.isEmpty)

        // The new shard takes the run over: the carried partition does not run again, the others read the
        // first step's result, and a later job of the run reads the results the old shard sent.
        var target = ShardHarness(configuration: ShardConfiguration(shard: 2))
        var big = ShardHarness.job("big", run: 5, generation: 1, steps: steps)
        big.resume = 0
        target.core.takenOver(TakeOver(run: 5, jobs: [big], carries: [carry], results: answer.results), lookup: SubmissionLookup(), now: target.now)
        let taken = target.turn()
        #expect(taken.importedResults.map(\.1.job) == ["early"])
        // The old shard deleted its rows: the carried partition and the first step's result are counted as
        // successes here, once, so that each success is in exactly one shard's store.
        #expect(taken.succeeded.count == 2 && taken.tasks.filter { $0.state == .succeeded }.count == 2)
        #expect(taken.updates?.updates.first.map { ($0.step, $0.succeeded, $0.pending) } ?? (0, 0, 0) == (1, 2, 2))
        let rest = ShardHarness.tasks(in: target.send(ShardHarness.ready("w", slots: 10), from: worker), to: worker)
        #expect(rest.map(\.partition).sorted() == [0, 1, 2].filter { $0 != work.partition })
        #expect(rest.allSatisfy { $0.inputs.map(\.data) == [[1]] })
        // Sent again, the TAKE-OVER changes nothing: the job is announced as it is.
        target.core.takenOver(TakeOver(run: 5, jobs: [big], carries: [carry], results: answer.results), lookup: SubmissionLookup(), now: target.now)
        #expect(ShardHarness.states(target.turn()) == ["big:running"])
        later.generation = 1
        target.core.takenOver(TakeOver(run: 5, jobs: [later], results: answer.results), lookup: SubmissionLookup(), now: target.now)
        let reads = ShardHarness.tasks(in: target.turn(), to: worker)
        #expect(reads.first { $0.job == "later" }?.inputs.map(\.data) == [[3]])
    }

    /// Found by the simulator: a hand-over in the middle of a turn settles nothing, so another run's job
    /// whose results arrive before and after it in that turn still ends.
    @Test func aHandOverAmidResultsLeavesOtherJobsToSettleAtTheEndOfTheTurn() {
        var shard = ShardHarness()
        let steps = [StepSpec(name: "wide", kind: .command, action: "a", partitions: 3)]
        _ = shard.submit([ShardHarness.job("wide", run: 45, steps: steps), ShardHarness.job("x", run: 42)])
        shard.core.controlReceived(Control(request: 1, action: .pauseRun, run: 42), from: orchestrator, now: shard.now)
        _ = shard.turn()
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w", slots: 3), from: worker), to: worker)
        shard.core.controlReceived(Control(request: 2, action: .resumeRun, run: 42), from: orchestrator, now: shard.now)
        _ = shard.turn()
        shard.core.received(ShardHarness.result(leased[0], .succeeded), from: worker, now: shard.now)
        shard.core.handOverReceived(Self.handOver(42, request: 3), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        for task in leased.dropFirst() { shard.core.received(ShardHarness.result(task, .succeeded), from: worker, now: shard.now) }
        let turn = shard.turn()
        #expect(Self.handed(turn).map(\.run) == [42])
        #expect(ShardHarness.states(turn) == ["wide:succeeded"])
        #expect(turn.jobs.map { "\($0.spec.job) \($0.state.name)" } == ["wide succeeded"])
    }

    /// A partition that failed once and waits for its next attempt goes with its attempts: on the new shard
    /// its next attempt is the second, and it has one retry left, not two.
    @Test func attemptsAndRetriesGoOnWhereTheOldShardLeftThem() throws {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("flaky", run: 5, retries: 1)])
        let first = try #require(ShardHarness.tasks(in: shard.send(ShardHarness.ready("w", slots: 1), from: worker), to: worker).first)
        _ = shard.send(ShardHarness.result(first, .failed, error: "exit status 1"), from: worker)
        shard.advance(5000)  // Past the backoff: the partition waits for a worker again.
        _ = shard.turn()
        shard.core.handOverReceived(Self.handOver(5), lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        let answer = try #require(Self.handed(shard.turn()).first)
        #expect(answer.jobs.first?.attempts == [PartitionAttempts(partition: 0, attempt: 1, failures: 1)])

        var target = ShardHarness(configuration: ShardConfiguration(shard: 2))
        var spec = ShardHarness.job("flaky", run: 5, retries: 1, generation: 1)
        spec.resume = 0
        target.core.takenOver(TakeOver(run: 5, jobs: [spec], carries: answer.jobs), lookup: SubmissionLookup(), now: target.now)
        let taken = target.turn()
        #expect(taken.tasks.map { "\($0.attempt) \($0.failures) \($0.state)" } == ["1 1 pending"])  // Kept in the store.
        let second = try #require(ShardHarness.tasks(in: target.send(ShardHarness.ready("w", slots: 1), from: worker), to: worker).first)
        #expect(second.attempt == 2)
        let failed = target.send(ShardHarness.result(second, .failed, error: "exit status 1"), from: worker)
        #expect(ShardHarness.states(failed) == ["flaky:failed"])
    }

    @Test func theOrchestratorHandsOverRunsNotRetryingAndSendsThemToTheNewShardOneGenerationOn() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.operation(OrchestratorHarness.start(run: 2, request: 2))
        // Run 1's extract is queued; run 2's waits to retry.
        _ = flow.report([("extract", .queued), ("audit", .succeeded)], run: 1)
        _ = flow.report([("extract", .retrying)], run: 2)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 3))
        #expect(move.answers.first?.1.detail.hasSuffix("1 run asked to follow") == true, "\(move.answers)")
        #expect(move.productShards == ["payments": 1])
        let handOvers = move.controlSends.filter { $0.1.action == .handOver }
        #expect(handOvers.map(\.0) == [2] && handOvers.map(\.1.run) == [1] && handOvers.map(\.1.generation) == [0])
        #expect(move.controls.count == 2)  // The policy and the hand-over, both committed before they are sent.

        // The answer moves the run: every job not final one generation on; those that were with the old
        // shard go in a TAKE-OVER with what it carried.
        let carry = JobCarry(job: "extract")
        let results = [TaskInput(job: "audit", step: 0, partition: 0, data: [4])]
        flow.core.handedOverReceived(HandedOver(request: handOvers[0].1.request, run: 1, jobs: [carry], results: results), now: flow.now)
        let switched = flow.core.finishTurn(now: flow.now)
        let sent = try #require(switched.takeOverSends.first)
        #expect(sent.shard == 1 && sent.takeOver.jobs.map(\.job) == ["extract"] && sent.takeOver.jobs.map(\.generation) == [1])
        #expect(sent.takeOver.carries == [carry] && sent.takeOver.results == results)
        #expect(switched.submits.isEmpty && switched.takeOvers[1] != nil)
        // Not a release: the store counts each job's once. extract's first row is written now, at its new
        // generation, and counts its release at the first.
        #expect(switched.jobs.filter(\.released).map(\.job.name) == ["extract"])
        #expect(switched.jobs.first { $0.job.name == "extract" }?.job.generation == 1)
        #expect(switched.updates?.updates.map(\.shard) == [1])
        let run = flow.core.runs[1]!
        #expect(run.shard == 1 && run.jobs.filter { !$0.state.isFinal }.allSatisfy { $0.generation == 1 })
        #expect(run.jobs.first { $0.name == "audit" }?.generation == 0)

        // Not yet reported by the new shard, it is sent again whole when due.
        flow.now = flow.now.adding(milliseconds: 2000)
        flow.core.tick(now: flow.now)
        let again = flow.core.finishTurn(now: flow.now)
        #expect(again.takeOverSends.map(\.takeOver.run) == [1] && again.submits[1] == nil)
        // The old shard's statuses of the earlier generation change nothing; the new shard's count, and
        // once it has reported every job the take-over is done.
        #expect(flow.report([("extract", .succeeded)], run: 1).submits.isEmpty)
        let updates = JobUpdates(
            publisher: "shard-1", epoch: 1, sequence: 1, updates: [JobStatus(run: 1, job: "extract", generation: 1, state: .succeeded, time: flow.now.wire)])
        flow.core.updatesReceived(updates, from: 1, now: flow.now)
        let released = flow.core.finishTurn(now: flow.now)
        #expect(released.submits[1]?.map(\.job).sorted() == ["check", "load"])
        #expect(released.submits[1]?.allSatisfy { $0.generation == 1 } == true)
        #expect(released.takeOvers.keys.contains(1) && released.takeOvers[1]! == nil)
        #expect(flow.core.takeOvers.isEmpty)
        // The run that retries stays where it is.
        #expect(flow.core.runs[2]!.shard == 2)
    }

    /// A run handed over while a task of it ran: the orchestrator asks its old shard again whenever that
    /// shard publishes a change of it (once the new shard holds the run), relays each end to the new shard
    /// in PARTITIONS-ENDED, and stops once every end is relayed and nothing of the run runs there. A cancel
    /// meanwhile goes to both shards.
    @Test func theEndsOfTasksFinishingOnTheOldShardAreRelayedToTheNewOne() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.report([("extract", .running)], run: 1)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let asked = try #require(move.controlSends.first { $0.1.action == .handOver })
        #expect(asked.0 == 2 && asked.1.run == 1)  // Running is no reason to wait.
        let carry = JobCarry(job: "extract", away: [PartitionAttempts(partition: 0, attempt: 1)])
        flow.core.handedOverReceived(HandedOver(request: asked.1.request, run: 1, jobs: [carry, JobCarry(job: "audit")], running: 1), now: flow.now)
        let switched = flow.core.finishTurn(now: flow.now)
        #expect(switched.takeOverSends.map(\.takeOver.carries) == [[carry, JobCarry(job: "audit")]])
        #expect(switched.relays[1] == .some(OrchestratorCore.Relay(source: 2, target: 1, generation: 0)))

        // The old shard's change is heard before the new shard holds the run: nothing is asked yet.
        #expect(flow.report([("extract", .running)], run: 1).controlSends.isEmpty)
        // Once the new shard reports the job, the old one is asked for the ends, from the first.
        var sequence: UInt64 = 0
        func fromTarget(_ state: JobState) -> OrchestratorTurn {
            sequence += 1
            let statuses = ["extract", "audit"].map { JobStatus(run: 1, job: $0, generation: 1, state: state, time: flow.now.wire) }
            flow.core.updatesReceived(JobUpdates(publisher: "shard-1", epoch: 1, sequence: sequence, updates: statuses), from: 1, now: flow.now)
            return flow.core.finishTurn(now: flow.now)
        }
        let reported = fromTarget(.running)
        let again = try #require(reported.controlSends.first { $0.1.action == .handOver })
        #expect(again.0 == 2 && again.1.generation == 0 && again.1.from == 1)
        let end = PartitionEnd(job: "extract", step: 0, partition: 0, attempt: 1, outcome: .succeeded, data: [1])
        flow.core.handedOverReceived(HandedOver(request: again.1.request, run: 1, jobs: [carry], ends: [end], running: 0), now: flow.now)
        let relayed = flow.core.finishTurn(now: flow.now)
        let sent = try #require(relayed.relaySends.first)
        #expect(sent.0 == 1 && sent.1.run == 1 && sent.1.ends == [end])
        // Not answered in time, it is sent again, the same.
        flow.now = flow.now.adding(milliseconds: 11_000)
        flow.core.tick(now: flow.now)
        #expect(flow.core.finishTurn(now: flow.now).relaySends.map(\.1) == [sent.1])
        // Taken: the old shard is asked from the next end; none more, and nothing runs there: done.
        flow.core.controlResultReceived(ControlResult(request: sent.1.request, status: .ok), now: flow.now)
        let taken = flow.core.finishTurn(now: flow.now)
        #expect(taken.relays[1]??.relayed == 1)
        let next = try #require(taken.controlSends.first { $0.1.action == .handOver })
        #expect(next.1.from == 2)
        flow.core.handedOverReceived(HandedOver(request: next.1.request, run: 1, jobs: [carry], running: 0), now: flow.now)
        // The last tells the new shard that what it still holds away is lost; once taken, the relay is done.
        let last = try #require(flow.core.finishTurn(now: flow.now).relaySends.first)
        #expect(last.1.ends.isEmpty && last.1.last == 1)
        flow.core.controlResultReceived(ControlResult(request: last.1.request, status: .ok), now: flow.now)
        let done = flow.core.finishTurn(now: flow.now)
        #expect(done.relays.keys.contains(1) && done.relays[1]! == nil && flow.core.relays.isEmpty)
        // Seed 41037 of the simulator, under `durability normal`: the new shard restarts, having lost the
        // commits that took the last ends to a power loss. While the run is open it is told the last again,
        // on which what it still holds away runs again (and nothing, if it lost nothing).
        flow.core.updatesReceived(JobUpdates(publisher: "shard-1", epoch: 2, sequence: 1, updates: []), from: 1, now: flow.now)
        let told = flow.core.finishTurn(now: flow.now)
        #expect(told.relaySends.contains { $0.0 == 1 && $0.1.run == 1 && $0.1.last == 1 && $0.1.ends.isEmpty }, "\(told.relaySends)")
    }

    @Test func aCancelOfARunWithTasksFinishingOnItsOldShardGoesToBoth() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.report([("extract", .running)], run: 1)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let handOver = try #require(move.controlSends.first { $0.1.action == .handOver })
        let carry = JobCarry(job: "extract", away: [PartitionAttempts(partition: 0, attempt: 1)])
        flow.core.handedOverReceived(HandedOver(request: handOver.1.request, run: 1, jobs: [carry, JobCarry(job: "audit")], running: 1), now: flow.now)
        _ = flow.core.finishTurn(now: flow.now)
        let stop = flow.operation(OperationRequest(request: 3, action: .stop, run: 1))
        #expect(stop.controlSends.filter { $0.1.action == .cancelRun }.map(\.0).sorted() == [1, 2])
        // The new shard cancels its jobs; the run stays stopping while its task still runs on the old one,
        // so that no rerun starts meanwhile, and ends stopped once the old shard says none runs.
        var sequence: UInt64 = 0
        sequence += 1
        let cancelled = ["extract", "audit"].map { JobStatus(run: 1, job: $0, generation: 1, state: .cancelled, time: flow.now.wire) }
        flow.core.updatesReceived(JobUpdates(publisher: "shard-1", epoch: 1, sequence: sequence, updates: cancelled), from: 1, now: flow.now)
        let reported = flow.core.finishTurn(now: flow.now)
        #expect(flow.core.runs[1]?.state == .stopping && flow.core.runs[1]?.finishingOn == 2)
        // The new shard holds the run's jobs (ended): the old one is asked how its task ended.
        let asked = try #require(reported.controlSends.first { $0.1.action == .handOver })
        let end = PartitionEnd(job: "extract", step: 0, partition: 0, attempt: 1, outcome: .cancelled)
        flow.core.handedOverReceived(HandedOver(request: asked.1.request, run: 1, jobs: [carry], ends: [end], running: 0), now: flow.now)
        let relayed = try #require(flow.core.finishTurn(now: flow.now).relaySends.first)
        flow.core.controlResultReceived(ControlResult(request: relayed.1.request, status: .ok), now: flow.now)
        let next = try #require(flow.core.finishTurn(now: flow.now).controlSends.first { $0.1.action == .handOver })
        flow.core.handedOverReceived(HandedOver(request: next.1.request, run: 1, jobs: [carry], running: 0), now: flow.now)
        let last = try #require(flow.core.finishTurn(now: flow.now).relaySends.first)
        #expect(flow.core.runs[1]?.state == .stopping)
        flow.core.controlResultReceived(ControlResult(request: last.1.request, status: .ok), now: flow.now)
        let ended = flow.core.finishTurn(now: flow.now)
        #expect(flow.core.runs[1]?.state == .stopped && ended.updates?.updates.first?.finishing == 0)
    }

    /// Found by the simulator: a run paused while its old shard was giving it up. The pause reached the old
    /// shard after the hand-over, which kept it for a run it no longer held; when the run came back there
    /// later, its jobs never started. The answer now lifts it there, and pauses the run on its new shard.
    @Test func aPauseThatReachedTheOldShardAfterTheHandOverIsLiftedThere() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.report([("extract", .queued), ("audit", .queued)], run: 1)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let asked = try #require(move.controlSends.first { $0.1.action == .handOver })
        let pause = flow.operation(OperationRequest(request: 3, action: .pause, run: 1))
        #expect(pause.controlSends.map { "\($0.0) \($0.1.action)" } == ["2 pauseRun"])
        flow.core.handedOverReceived(HandedOver(request: asked.1.request, run: 1, jobs: [JobCarry(job: "extract"), JobCarry(job: "audit")]), now: flow.now)
        let answered = flow.core.finishTurn(now: flow.now)
        #expect(answered.controlSends.map { "\($0.0) \($0.1.action)" }.sorted() == ["1 pauseRun", "2 resumeRun"])
    }

    /// Found by the simulator: a run handed over while paused with nothing submitted (its next jobs parked)
    /// took over no job, so its TAKE-OVER was never acknowledged, and a job released later was sent again
    /// only inside it, never arriving. Now such a take-over waits for the first job released, which goes
    /// in it, after the results it brings.
    @Test func aTakeOverWithNoJobWaitsForTheFirstReleasedAndCarriesIt() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.report([("extract", .queued), ("audit", .queued)], run: 1)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let asked = try #require(move.controlSends.first { $0.1.action == .handOver })
        _ = flow.operation(OperationRequest(request: 3, action: .pause, run: 1))
        // Both roots succeed on the old shard; their successors are parked, not submitted.
        _ = flow.report([("extract", .succeeded), ("audit", .succeeded)], run: 1)
        let results = [TaskInput(job: "extract", step: 0, partition: 0, data: [1])]
        flow.core.handedOverReceived(HandedOver(request: asked.1.request, run: 1, results: results), now: flow.now)
        let answered = flow.core.finishTurn(now: flow.now)
        #expect(answered.takeOverSends.isEmpty && flow.core.takeOvers[1]?.takeOver.jobs.isEmpty == true)
        // Resumed: the parked jobs go to the new shard inside the take-over, with the results.
        let resumed = flow.operation(OperationRequest(request: 4, action: .resume, run: 1))
        let sent = try #require(resumed.takeOverSends.first)
        #expect(sent.shard == 1 && sent.takeOver.results == results && !sent.takeOver.jobs.isEmpty && resumed.submits.isEmpty)
        // Not acknowledged in time, they go again with it, not alone.
        flow.now = flow.now.adding(milliseconds: 11_000)
        flow.core.tick(now: flow.now)
        let again = flow.core.finishTurn(now: flow.now)
        #expect(again.takeOverSends.map(\.takeOver.jobs.count) == [sent.takeOver.jobs.count] && again.submits.isEmpty)
    }

    /// Found by the simulator: a run whose every job ended on the old shard stays there, but that shard
    /// keeps a tombstone up to the generation given up; a job of it rerun at that generation or below was
    /// dropped there for ever. Its jobs now take that generation, so a rerun goes past it.
    @Test func aRerunOfARunThatEndedOnTheOldShardGoesPastItsTombstone() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        // extract fails, so the run fails; rerun, it is at generation 1 when the product moves.
        _ = flow.report([("extract", .failed), ("audit", .succeeded)], run: 1)
        #expect(flow.core.runs[1]?.state.isFinal == true)
        _ = flow.operation(OperationRequest(request: 2, action: .rerunJob, run: 1, job: "extract"))
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 3))
        let asked = try #require(move.controlSends.first { $0.1.action == .handOver }?.1)
        #expect(asked.generation == 1)
        // extract fails again there before the answer, which says so: the run ends there, and stays.
        let ended = JobStatus(run: 1, job: "extract", generation: 1, state: .failed, finished: flow.now.wire, time: flow.now.wire)
        flow.core.handedOverReceived(HandedOver(request: asked.request, run: 1, ended: [ended]), now: flow.now)
        _ = flow.core.finishTurn(now: flow.now)
        let run = try #require(flow.core.runs[1])
        #expect(run.state.isFinal && run.shard == 2 && run.jobs.allSatisfy { $0.generation >= 1 })
        // A rerun of audit goes to the old shard past the tombstone (up to generation 1).
        let rerun = flow.operation(OperationRequest(request: 4, action: .rerunJob, run: 1, job: "audit"))
        #expect(rerun.submits[2]?.map { "\($0.job) \($0.generation)" } == ["audit 2"])
    }

    /// A relay's ask at a shard that has no tombstone of the hand-over (its commit lost to a power loss
    /// under durability normal) is answered 410, giving nothing up; the orchestrator then ends the relay
    /// as if nothing ran there any more, so the run does not wait for ends that will never come.
    @Test func aRelayAskedOfAShardThatLostItsHandOverEnds() throws {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5)])
        var ask = Self.handOver(5, request: 3)
        ask.from = 1
        shard.core.handOverReceived(ask, lookup: HandOverLookup(), from: orchestrator, now: shard.now)
        let turn = shard.turn()
        #expect(Self.refusals(turn).first?.hasPrefix("410 run 5 has no hand-over here") == true && turn.tombstones.isEmpty)
        #expect(shard.core.jobs.count == 1)

        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.report([("extract", .running), ("audit", .queued)], run: 1)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let asked = try #require(move.controlSends.first { $0.1.action == .handOver })
        let carry = JobCarry(job: "extract", away: [PartitionAttempts(partition: 0, attempt: 1)])
        flow.core.handedOverReceived(HandedOver(request: asked.1.request, run: 1, jobs: [carry, JobCarry(job: "audit")], running: 1), now: flow.now)
        _ = flow.core.finishTurn(now: flow.now)
        var sequence: UInt64 = 0
        sequence += 1
        let reported = ["extract", "audit"].map { JobStatus(run: 1, job: $0, generation: 1, state: .running, time: flow.now.wire) }
        flow.core.updatesReceived(JobUpdates(publisher: "shard-1", epoch: 1, sequence: sequence, updates: reported), from: 1, now: flow.now)
        let relayAsk = try #require(flow.core.finishTurn(now: flow.now).controlSends.first { $0.1.action == .handOver })
        flow.core.controlResultReceived(ControlResult(request: relayAsk.1.request, status: .gone, detail: "no hand-over here"), now: flow.now)
        let last = try #require(flow.core.finishTurn(now: flow.now).relaySends.first)
        #expect(last.1.last == 1 && last.1.ends.isEmpty)
    }

    /// Found by the simulator: a job of a TAKE-OVER marked succeeded by an operator before the new shard
    /// reported it. Its later statuses (of the older generation) were ignored, so the take-over was never
    /// done, and the relay of the run's task finishing on the old shard never started: the run stayed
    /// open. The operator's action itself now completes the take-over.
    @Test func aTakeOverWhoseJobIsMarkedSucceededIsDone() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.report([("extract", .running), ("audit", .succeeded)], run: 1)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let asked = try #require(move.controlSends.first { $0.1.action == .handOver })
        let carry = JobCarry(job: "extract", away: [PartitionAttempts(partition: 0, attempt: 1)])
        flow.core.handedOverReceived(HandedOver(request: asked.1.request, run: 1, jobs: [carry], running: 1), now: flow.now)
        _ = flow.core.finishTurn(now: flow.now)
        #expect(flow.core.takeOvers[1] != nil)
        // Marked succeeded: the take-over waits no more for extract, only for the jobs it released.
        let marked = flow.operation(OperationRequest(request: 3, action: .markSucceeded, run: 1, job: "extract"))
        let carried = try #require(flow.core.takeOvers[1]).takeOver.jobs.map(\.job)
        #expect(carried == ["extract", "check", "load"] && marked.takeOverSends.count == 1)
        let statuses = ["check", "load"].map { JobStatus(run: 1, job: $0, generation: 1, state: .queued, time: flow.now.wire) }
        flow.core.updatesReceived(JobUpdates(publisher: "shard-1", epoch: 1, sequence: 1, updates: statuses), from: 1, now: flow.now)
        let reported = flow.core.finishTurn(now: flow.now)
        #expect(flow.core.takeOvers[1] == nil)
        // The relay starts at once: the old shard is asked for the task's end.
        #expect(reported.controlSends.contains { $0.0 == 2 && $0.1.action == .handOver && $0.1.from == 1 })
    }

    /// A run retrying at the move is asked again, at most once a second, once its shard says nothing of
    /// it retries; one whose results are too large to carry is not asked again.
    @Test func aRunRetryingAtTheMoveIsAskedAgainOnceItIsNot() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.operation(OrchestratorHarness.start(run: 2, request: 2))
        _ = flow.report([("extract", .retrying)], run: 1)
        _ = flow.report([("extract", .retrying)], run: 2)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 3))
        #expect(move.controlSends.filter { $0.1.action == .handOver }.isEmpty)
        func askedAfter(_ milliseconds: Int64) -> [Control] {
            flow.now = flow.now.adding(milliseconds: milliseconds)
            flow.core.tick(now: flow.now)
            return flow.core.finishTurn(now: flow.now).controlSends.filter { $0.1.action == .handOver }.map(\.1)
        }
        #expect(askedAfter(1500).isEmpty)  // Still retrying, as far as the shard has said.
        _ = flow.report([("extract", .succeeded), ("audit", .queued)], run: 1)
        _ = flow.report([("extract", .succeeded), ("audit", .queued)], run: 2)
        let asked = askedAfter(1000)
        #expect(asked.map(\.run) == [1, 2])
        #expect(askedAfter(300).isEmpty)  // Asked, and not answered yet: not asked twice.
        // Run 1 failed a task meanwhile (409): asked again a second later. Run 2's results are too large
        // to carry (413): it is not asked again, and finishes where it is.
        flow.core.controlResultReceived(ControlResult(request: asked[0].request, status: .conflict, detail: "running"), now: flow.now)
        flow.core.controlResultReceived(ControlResult(request: asked[1].request, status: .tooLarge, detail: "too large"), now: flow.now)
        _ = flow.core.finishTurn(now: flow.now)
        #expect(askedAfter(1000).map(\.run) == [1])
        #expect(flow.core.runs[2]!.shard == 2)
    }

    /// Found by the simulator: a job ended on the old shard between the ask and the answer, and the answer
    /// came before the stream said so. It is applied from the answer: not sent again, its successors go
    /// with the take-over.
    @Test func aJobThatEndedBeforeTheAnswerIsAppliedAndNotSentAgain() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let handOver = try #require(move.controlSends.first { $0.1.action == .handOver }?.1)
        let ended = JobStatus(run: 1, job: "extract", generation: 0, state: .succeeded, succeeded: 1, finished: flow.now.wire, time: flow.now.wire)
        flow.core.handedOverReceived(HandedOver(request: handOver.request, run: 1, jobs: [JobCarry(job: "audit")], ended: [ended]), now: flow.now)
        let turn = flow.core.finishTurn(now: flow.now)
        let run = flow.core.runs[1]!
        #expect(run.jobs.first { $0.name == "extract" }.map { "\($0.state.name) \($0.generation)" } == "succeeded 0")
        let sent = try #require(turn.takeOverSends.first)
        #expect(sent.takeOver.jobs.map(\.job).sorted() == ["audit", "check", "load"])
        #expect(sent.takeOver.jobs.allSatisfy { $0.generation == 1 })
        // check and load were released while the run was still on the old shard: sent there too, where the
        // tombstone drops them. Each job's first row, written now, counts its one release (extract's and
        // audit's were released with the run's start, and had no row until now).
        #expect(turn.jobs.filter(\.released).map(\.job.name).sorted() == ["audit", "check", "extract", "load"])
    }

    /// A rerun's new generation would be past the tombstone of a hand-over under way: refused until the
    /// run has moved.
    @Test func aRerunWaitsUntilTheRunHasMoved() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.report([("extract", .failed), ("audit", .queued)], run: 1)
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let handOver = try #require(move.controlSends.first { $0.1.action == .handOver }?.1)
        let rerun = flow.operation(OperationRequest(request: 3, action: .rerunJob, run: 1, job: "extract"))
        #expect(rerun.answers.first?.1.status == .conflict)
        #expect(rerun.answers.first?.1.detail == "run 1 is being handed over to its product's new shard: rerun it once it has moved, in a moment")
        flow.core.handedOverReceived(HandedOver(request: handOver.request, run: 1, jobs: [JobCarry(job: "audit")]), now: flow.now)
        _ = flow.core.finishTurn(now: flow.now)
        let again = flow.operation(OperationRequest(request: 4, action: .rerunJob, run: 1, job: "extract"))
        #expect(again.answers.first?.1.status.isSuccess == true, "\(again.answers)")
        // The take-over (of audit) not yet acknowledged, the rerun goes with it.
        #expect(again.takeOverSends.first?.takeOver.jobs.map(\.job).sorted() == ["audit", "extract"] && again.submits.isEmpty)
    }

    @Test func aHandOverRefusedLeavesTheRunAndOneAnsweredAfterAMoveBackStaysOneGenerationOn() {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = flow.operation(OrchestratorHarness.start(run: 2, request: 2))
        let first = flow.operation(OrchestratorHarness.move(to: 1, request: 3))
        let asked = first.controlSends.filter { $0.1.action == .handOver }.map(\.1)
        #expect(asked.map(\.run) == [1, 2])
        // Moved back before the shard answers: the runs asked for are not asked twice.
        let second = flow.operation(OrchestratorHarness.move(to: 2, request: 4))
        #expect(second.controlSends.filter { $0.1.action == .handOver }.isEmpty)
        flow.core.controlResultReceived(ControlResult(request: asked[0].request, status: .conflict, detail: "running"), now: flow.now)
        flow.core.handedOverReceived(HandedOver(request: asked[1].request, run: 2, jobs: [JobCarry(job: "extract"), JobCarry(job: "audit")]), now: flow.now)
        let turn = flow.core.finishTurn(now: flow.now)
        #expect(flow.core.runs[1]!.shard == 2 && flow.core.runs[1]!.jobs.allSatisfy { $0.generation == 0 })
        // The shard gave run 2 up, so it goes back to it one generation on, past the tombstone.
        #expect(flow.core.runs[2]!.shard == 2)
        #expect(turn.takeOverSends.first?.takeOver.jobs.map(\.job).sorted() == ["audit", "extract"])
        #expect(turn.takeOverSends.first?.takeOver.jobs.allSatisfy { $0.generation == 1 } == true)
    }

    @Test func aRunStoppedWhileItsShardGaveItUpEndsStoppedWithoutRunningAnywhere() throws {
        var flow = OrchestratorHarness()
        _ = flow.operation(OrchestratorHarness.start(run: 1, request: 1))
        let move = flow.operation(OrchestratorHarness.move(to: 1, request: 2))
        let handOver = try #require(move.controlSends.first { $0.1.action == .handOver }?.1)
        // The stop's cancel goes to the old shard, behind the hand-over, and finds nothing there.
        let stop = flow.operation(OperationRequest(request: 3, action: .stop, run: 1))
        #expect(stop.controlSends.map(\.1.action) == [.cancelRun])
        flow.core.handedOverReceived(HandedOver(request: handOver.request, run: 1, jobs: [JobCarry(job: "extract"), JobCarry(job: "audit")]), now: flow.now)
        let turn = flow.core.finishTurn(now: flow.now)
        #expect(turn.submits.isEmpty && turn.takeOverSends.isEmpty)
        let run = flow.core.runs[1]!
        #expect(run.state == .stopped && run.shard == 1, "\(run.state)")
        #expect(run.jobs.filter { $0.state == .cancelled }.map(\.name).sorted() == ["audit", "extract"])
    }
}
