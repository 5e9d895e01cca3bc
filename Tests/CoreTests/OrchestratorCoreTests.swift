import Core
import Foundation
import Testing
import Wire

struct OrchestratorHarness {
    var core: OrchestratorCore
    var now = Timestamp(milliseconds: 5_000_000)
    var sequence: UInt64 = 0
    let manager = Peer([7])

    static let diamond = """
        {"product": "payments", "flow": "eod", "params": {"region": "north"}, "jobs": [
          {"name": "extract", "run": "true"},
          {"name": "check", "after": ["extract"], "run": "true", "retries": 2, "params": {"region": "south"}},
          {"name": "load", "after": ["extract"], "handler": "load-ledger"},
          {"name": "report", "after": ["check", "load"], "run": "true"},
          {"name": "audit", "run": "true"}]}
        """

    init(resendsPerTurn: Int = OrchestratorConfiguration(shards: []).resendsPerTurn) {
        var configuration = OrchestratorConfiguration(shards: [1, 2])
        configuration.resend = ResendPolicy(initial: 2000, maximum: 30_000)
        configuration.resendsPerTurn = resendsPerTurn
        core = OrchestratorCore(configuration: configuration, epoch: 1, restoring: OrchestratorSnapshot(), now: now)
    }

    static func start(run: UInt64 = 1, request: UInt64 = 1, definition: String = diamond) -> OperationRequest {
        OperationRequest(
            request: request, action: .start, run: run, product: "payments", flow: "eod", version: 1, shard: 2, moment: 99,
            params: ["region": "north"], definition: definition)
    }

    /// Management's move of product payments to `shard`.
    static func move(to shard: UInt32, request: UInt64) -> OperationRequest {
        OperationRequest(request: request, action: .move, run: 0, product: "payments", shard: shard, policy: ProductPolicy(product: "payments"))
    }

    /// A turn that takes an operation, and ends as the service's do: with a tick, then its end.
    mutating func operation(_ request: OperationRequest) -> OrchestratorTurn {
        core.operationReceived(request, from: manager, now: now)
        core.tick(now: now)
        return core.finishTurn(now: now)
    }

    mutating func report(_ statuses: [(String, JobState)], run: UInt64 = 1, generation: UInt32 = 0) -> OrchestratorTurn {
        sequence += 1
        let updates = statuses.map { JobStatus(run: run, job: $0.0, generation: generation, state: $0.1, time: now.wire) }
        core.updatesReceived(JobUpdates(publisher: "shard-2", epoch: 1, sequence: sequence, updates: updates), from: 2, now: now)
        return core.finishTurn(now: now)
    }

    static func submitted(_ turn: OrchestratorTurn) -> [String] { turn.submits[2]?.map(\.job) ?? [] }

    /// The answers to operations a turn sends.
    static func answers(_ turn: OrchestratorTurn) -> [OperationResult] {
        turn.replies.compactMap { reply -> OperationResult? in
            guard case .operationResult(let answer) = reply.1 else { return nil }
            return answer
        }
    }
}

@Suite struct OrchestratorCoreTests {
    @Test func startSubmitsTheRootsToTheProductsShardAndAnswersAfterCommitting() {
        var orchestrator = OrchestratorHarness()
        let turn = orchestrator.operation(OrchestratorHarness.start())
        #expect(OrchestratorHarness.submitted(turn) == ["extract", "audit"])
        #expect(turn.submits[1] == nil)
        #expect(turn.runs.map(\.id) == [1])
        // A job's first release writes no row: its row, counting the release, is written when it ends.
        #expect(turn.jobs.isEmpty)
        #expect(turn.answers.map(\.1.status) == [.accepted])
        #expect(turn.replies.count == 1)
        #expect(turn.updates?.updates.first?.state == .running)
        let spec = turn.submits[2]![0]
        #expect(spec.moment == 99 && spec.product == "payments" && spec.steps.count == 1)
    }

    @Test func theRunsParametersAreMergedUnderTheJobs() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        let turn = orchestrator.report([("extract", .succeeded)])
        let check = turn.submits[2]!.first { $0.job == "check" }!
        #expect(check.params == ["region": "south"])
        #expect(turn.submits[2]!.first { $0.job == "load" }!.params == ["region": "north"])
    }

    @Test func aRepeatedOperationIsAnsweredAgainAndAppliedOnce() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        let again = orchestrator.operation(OrchestratorHarness.start())
        #expect(again.submits.isEmpty && again.runs.isEmpty)
        #expect(again.replies.count == 1)
    }

    /// A start of a run it holds under another request: the same run sent again is answered 200; another
    /// run under the same ID (management gave it out again after losing its last commits) is refused.
    @Test func aStartUnderTheIDOfAnotherRunIsRefused() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        let again = orchestrator.operation(OrchestratorHarness.start(request: 2))
        #expect(again.answers.map(\.1.status) == [.ok] && again.submits.isEmpty)
        var other = OrchestratorHarness.start(request: 3)
        other.moment = 100
        let refused = orchestrator.operation(other)
        #expect(refused.answers.map(\.1.status) == [.conflict] && refused.submits.isEmpty && refused.runs.isEmpty)
        #expect(refused.answers.first?.1.detail.contains("run 1 is already payments/eod with entry moment 99") == true)
    }

    @Test func successorsAreReleasedOnceWhenTheirLastPredecessorSucceeds() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        #expect(OrchestratorHarness.submitted(orchestrator.report([("extract", .queued), ("extract", .running)])) == [])
        #expect(OrchestratorHarness.submitted(orchestrator.report([("extract", .succeeded)])) == ["check", "load"])
        #expect(OrchestratorHarness.submitted(orchestrator.report([("extract", .succeeded), ("check", .succeeded)])) == [])
        #expect(OrchestratorHarness.submitted(orchestrator.report([("check", .succeeded), ("load", .succeeded)])) == ["report"])
        #expect(OrchestratorHarness.submitted(orchestrator.report([("load", .succeeded)])) == [])
        let done = orchestrator.report([("report", .succeeded), ("audit", .succeeded)])
        #expect(done.updates?.updates.last?.state == .succeeded)
        #expect(done.updates?.updates.last?.succeeded == 5)
    }

    @Test func aFailedJobSkipsWhatDependsOnItWhileIndependentBranchesFinish() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .succeeded)])
        let failing = orchestrator.report([("check", .failed)])
        #expect(failing.updates?.updates.last?.state == .partlyFailed)
        let run = orchestrator.core.runs[1]!
        #expect(run.jobs[3].state == .skipped)
        #expect(run.jobs[2].state == .submitted)
        let end = orchestrator.report([("load", .succeeded), ("audit", .succeeded)])
        #expect(OrchestratorHarness.submitted(end) == [])
        #expect(end.updates?.updates.last?.state == .failed)
        #expect(end.updates?.updates.last?.detail.hasPrefix("check failed") == true)
    }

    /// Found by the simulator (seeds 3, 6, 8, 9 and 11 before the fix): report waits for check and load;
    /// check failed, so report was skipped; rerunning load with what follows it made report wait again,
    /// for a check that would never succeed, and the run stayed partly failed for ever.
    @Test func aJobMadeToWaitAgainAfterAFailedPredecessorIsSkippedSoItsRunEnds() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .succeeded)])
        _ = orchestrator.report([("check", .failed)])
        _ = orchestrator.report([("load", .succeeded), ("audit", .succeeded)])
        #expect(orchestrator.core.runs[1]?.state == .failed)
        let rerun = OperationRequest(request: 2, action: .rerunJob, run: 1, product: "payments", job: "load", options: OperationRequest.downstream)
        let again = orchestrator.operation(rerun)
        #expect(again.answers.first?.1.status == .ok)
        #expect(OrchestratorHarness.submitted(again) == ["load"])
        #expect(orchestrator.core.runs[1]?.jobs[3].state == .skipped && orchestrator.core.runs[1]?.jobs[3].detail == "not run: check failed")
        let end = orchestrator.report([("load", .succeeded)], generation: 1)
        #expect(end.updates?.updates.last?.state == .failed)

        // Rerunning the skipped job itself is refused, naming what it waits for.
        let refused = orchestrator.operation(OperationRequest(request: 3, action: .rerunJob, run: 1, product: "payments", job: "report"))
        #expect(refused.answers.first?.1.status == .conflict)
        #expect(refused.answers.first?.1.detail.contains("cannot run: check, before it, failed") == true, "\(refused.answers.map(\.1))")

        // Marking another job succeeded leaves report skipped, and the run ended.
        _ = orchestrator.operation(OperationRequest(request: 4, action: .markSucceeded, run: 1, product: "payments", job: "audit"))
        #expect(orchestrator.core.runs[1]?.jobs[3].state == .skipped && orchestrator.core.runs[1]?.state.isFinal == true)
    }

    /// Found by an explorer: a rerun of a job with what follows it counted the jobs after it that stayed
    /// skipped, waiting for another that failed, as rerun ("rerunning load and 1 job after it"). It counts
    /// only the jobs rerun, and says how many stay skipped.
    @Test func aRerunWithItsDownstreamJobsCountsOnlyThoseRerun() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .succeeded)])
        _ = orchestrator.report([("check", .failed)])
        _ = orchestrator.report([("load", .succeeded), ("audit", .succeeded)])
        let blocked = orchestrator.operation(
            OperationRequest(request: 2, action: .rerunJob, run: 1, product: "payments", job: "load", options: OperationRequest.downstream))
        #expect(blocked.answers.map(\.1.detail) == ["run 1: rerunning load; 1 job after it stays skipped, waiting for one that did not succeed"])
        _ = orchestrator.report([("load", .succeeded)], generation: 1)
        let rerun = orchestrator.operation(
            OperationRequest(request: 3, action: .rerunJob, run: 1, product: "payments", job: "extract", options: OperationRequest.downstream))
        #expect(rerun.answers.map(\.1.detail) == ["run 1: rerunning extract and 3 jobs after it"])
    }

    /// Found by the simulator (seed 39): a run that ended while its product was held stayed paused at its
    /// shard when the product was released, since only open runs are resumed; a rerun-job then submitted
    /// a job that the shard held for ever. Reopening a run that is not held tells the shard to let it go.
    @Test func aRunReopenedAfterEndingWhileHeldIsResumedAtItsShard() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .succeeded)])
        _ = orchestrator.report([("check", .succeeded), ("load", .succeeded)])
        // Every job is at the shard when the product is held: the run ends there while held.
        let held = orchestrator.operation(OperationRequest(request: 2, action: .hold, run: 0, product: "payments"))
        #expect(held.controlSends.contains { $0.1.action == .pauseRun && $0.1.run == 1 })
        _ = orchestrator.report([("report", .succeeded), ("audit", .succeeded)])
        #expect(orchestrator.core.runs[1]?.state == .succeeded)
        let released = orchestrator.operation(OperationRequest(request: 3, action: .release, run: 0, product: "payments"))
        #expect(!released.controlSends.contains { $0.1.action == .resumeRun && $0.1.run == 1 })
        let rerun = orchestrator.operation(OperationRequest(request: 4, action: .rerunJob, run: 1, product: "payments", job: "audit"))
        #expect(rerun.answers.first?.1.status == .ok)
        #expect(rerun.controlSends.contains { $0.1.action == .resumeRun && $0.1.run == 1 && $0.0 == 2 })
        #expect(OrchestratorHarness.submitted(rerun) == ["audit"])
    }

    /// Found by the simulator (seed 221009, durability normal): a power loss took back the orchestrator's
    /// commit of a hold whose pauses its shard had already applied; the operator's release then found
    /// the product not held and sent nothing, and the shard kept the run paused for ever. Releasing a
    /// product that is not held resumes its open runs that are not paused at their shards.
    @Test func releasingAProductThatIsNotHeldResumesItsOpenRunsAtTheirShards() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start(run: 1, request: 1))
        _ = orchestrator.operation(OrchestratorHarness.start(run: 2, request: 2))
        _ = orchestrator.operation(OperationRequest(request: 3, action: .pause, run: 2, product: "payments"))
        let released = orchestrator.operation(OperationRequest(request: 4, action: .release, run: 0, product: "payments"))
        #expect(released.answers.first?.1.status == .ok)
        #expect(released.answers.first?.1.detail == "product payments is not held")
        // Run 1 is resumed at its shard; run 2, paused by the operator, stays so.
        #expect(released.controlSends.map { "\($0.1.action.name) \($0.1.run) on \($0.0)" } == ["resume-run 1 on 2"])
    }

    /// Found by the simulator (seed 1051): a pause whose CONTROL-RESULT was lost was sent again after the
    /// resume that followed it, and the shard kept the run paused while the orchestrator had resumed it.
    /// A newer control of the same setting supersedes the older one.
    @Test func aResumeSupersedesAPauseNotYetAnsweredSoThePauseIsNeverSentAgain() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        let paused = orchestrator.operation(OperationRequest(request: 2, action: .pause, run: 1, product: "payments"))
        let pause = paused.controlSends.first { $0.1.action == .pauseRun }!.1
        let resumed = orchestrator.operation(OperationRequest(request: 3, action: .resume, run: 1, product: "payments"))
        #expect(resumed.controlSends.map(\.1.action) == [.resumeRun])
        #expect(resumed.answeredControls == [pause.request])
        // Neither was answered; only the resume goes again.
        for _ in 1...5 {
            orchestrator.now = orchestrator.now.adding(milliseconds: 31_000)
            orchestrator.core.tick(now: orchestrator.now)
            let turn = orchestrator.core.finishTurn(now: orchestrator.now)
            #expect(turn.controlSends.map(\.1.action) == [.resumeRun])
        }
    }

    /// A product's release lets go every job parked in its runs: they go to the shard a bounded number
    /// a turn, each once, in their runs' order, and none counts as sent again.
    @Test func parkedJobsGoABoundedNumberATurnOnRelease() {
        var orchestrator = OrchestratorHarness(resendsPerTurn: 3)
        let five = """
            {"product": "payments", "flow": "eod", "jobs": [
              {"name": "a", "run": "true"}, {"name": "b", "run": "true"}, {"name": "c", "run": "true"},
              {"name": "d", "run": "true"}, {"name": "e", "run": "true"}]}
            """
        _ = orchestrator.operation(OperationRequest(request: 1, action: .hold, run: 0, product: "payments"))
        for run in [UInt64(1), 2] {
            let started = orchestrator.operation(OrchestratorHarness.start(run: run, request: 1 + run, definition: five))
            #expect(OrchestratorHarness.submitted(started) == [])
        }
        let released = orchestrator.operation(OperationRequest(request: 4, action: .release, run: 0, product: "payments"))
        #expect(OrchestratorHarness.answers(released).map(\.detail) == ["product payments released: 2 open runs let go"])
        var sent = released.submits[2]?.map { "\($0.run)/\($0.job)" } ?? []
        #expect(sent == ["1/a", "1/b", "1/c"])
        // Each later turn takes the next three, with whatever else arrives.
        for expected in [["1/d", "1/e", "2/a"], ["2/b", "2/c", "2/d"], ["2/e"], []] {
            orchestrator.core.tick(now: orchestrator.now)
            let turn = orchestrator.core.finishTurn(now: orchestrator.now)
            let batch = turn.submits[2]?.map { "\($0.run)/\($0.job)" } ?? []
            #expect(batch == expected)
            sent += batch
        }
        #expect(Set(sent).count == 10)
        #expect(orchestrator.core.resentJobs == 0)
        // Not acknowledged, they go again on the resend policy, and count as sent again then.
        orchestrator.now = orchestrator.now.adding(milliseconds: 2000)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(orchestrator.core.finishTurn(now: orchestrator.now).submits[2]?.count == 3)
        #expect(orchestrator.core.resentJobs == 3)
    }

    /// Found by review: jobs let go at once went in their runs' order, whatever the runs' priorities: an
    /// urgent run started last waited behind every job of the runs before it. They go by priority, then
    /// run; a priority set while the jobs wait counts for those not yet sent.
    @Test func parkedJobsGoByTheirRunsPriority() {
        var orchestrator = OrchestratorHarness(resendsPerTurn: 3)
        let three = """
            {"product": "payments", "flow": "eod", "jobs": [
              {"name": "a", "run": "true"}, {"name": "b", "run": "true"}, {"name": "c", "run": "true"}]}
            """
        _ = orchestrator.operation(OperationRequest(request: 1, action: .hold, run: 0, product: "payments"))
        for (run, priority) in [(UInt64(1), RunPriority.last), (2, RunPriority.normal), (3, RunPriority.urgent), (4, RunPriority.first)] {
            var start = OrchestratorHarness.start(run: run, request: 1 + run, definition: three)
            start.priority = priority
            #expect(OrchestratorHarness.submitted(orchestrator.operation(start)) == [])
        }
        let released = orchestrator.operation(OperationRequest(request: 6, action: .release, run: 0, product: "payments"))
        #expect(released.submits[2]?.map { "\($0.run)/\($0.job)" } == ["3/a", "3/b", "3/c"])
        // Run 1's priority raised above run 2's before its jobs go: they go before run 2's.
        var raise = OperationRequest(request: 7, action: .setPriority, run: 1, product: "payments")
        raise.priority = 2
        let raised = orchestrator.operation(raise)
        #expect(OrchestratorHarness.answers(raised).map(\.detail) == ["run 1 at priority 2"])
        var sent = raised.submits[2]?.map { "\($0.run)/\($0.job)" } ?? []
        for _ in 0..<3 {
            orchestrator.core.tick(now: orchestrator.now)
            let turn = orchestrator.core.finishTurn(now: orchestrator.now)
            sent += turn.submits[2]?.map { "\($0.run)/\($0.job)" } ?? []
        }
        #expect(sent == ["4/a", "4/b", "4/c", "1/a", "1/b", "1/c", "2/a", "2/b", "2/c"])
    }

    /// Found by a new user: a release said every open run was let go while one an operator had paused
    /// stayed paused, as it should. The answer counts it apart.
    @Test func aReleaseSaysWhichRunsStayPausedByAnOperator() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OperationRequest(request: 1, action: .hold, run: 0, product: "payments"))
        _ = orchestrator.operation(OrchestratorHarness.start(run: 1, request: 2))
        _ = orchestrator.operation(OrchestratorHarness.start(run: 2, request: 3))
        _ = orchestrator.operation(OperationRequest(request: 4, action: .pause, run: 2, product: "payments"))
        let released = orchestrator.operation(OperationRequest(request: 5, action: .release, run: 0, product: "payments"))
        #expect(OrchestratorHarness.answers(released).map(\.detail)
            == ["product payments released: 1 open run let go, 1 paused by an operator stays paused (resume to let go)"])
        #expect(orchestrator.core.runs[2]?.paused == true && orchestrator.core.runs[1]?.held == false)
    }

    /// Found by review: a priority lowered while the run's jobs wait to be sent left their entries at the
    /// old priority, which still sent them first.
    @Test func parkedJobsOfARunWhosePriorityIsLoweredGoAfterTheOthers() {
        var orchestrator = OrchestratorHarness(resendsPerTurn: 2)
        let two = """
            {"product": "payments", "flow": "eod", "jobs": [{"name": "a", "run": "true"}, {"name": "b", "run": "true"}]}
            """
        _ = orchestrator.operation(OperationRequest(request: 1, action: .hold, run: 0, product: "payments"))
        for (run, priority) in [(UInt64(1), RunPriority.first), (2, RunPriority.normal), (3, RunPriority.urgent)] {
            var start = OrchestratorHarness.start(run: run, request: 1 + run, definition: two)
            start.priority = priority
            _ = orchestrator.operation(start)
        }
        let released = orchestrator.operation(OperationRequest(request: 5, action: .release, run: 0, product: "payments"))
        #expect(released.submits[2]?.map { "\($0.run)/\($0.job)" } == ["3/a", "3/b"])
        var lower = OperationRequest(request: 6, action: .setPriority, run: 1, product: "payments")
        lower.priority = RunPriority.last
        var sent = orchestrator.operation(lower).submits[2]?.map { "\($0.run)/\($0.job)" } ?? []
        for _ in 0..<2 {
            orchestrator.core.tick(now: orchestrator.now)
            sent += orchestrator.core.finishTurn(now: orchestrator.now).submits[2]?.map { "\($0.run)/\($0.job)" } ?? []
        }
        #expect(sent == ["2/a", "2/b", "1/a", "1/b"])
    }

    /// A run of five jobs parked by a hold, let go by the release three a turn: the first three go.
    static func releasedInTurns(onFailure: String = "finish-branches") -> OrchestratorHarness {
        var orchestrator = OrchestratorHarness(resendsPerTurn: 3)
        let five = """
            {"product": "payments", "flow": "eod", "on_failure": "\(onFailure)", "jobs": [
              {"name": "a", "run": "true"}, {"name": "b", "run": "true"}, {"name": "c", "run": "true"},
              {"name": "d", "run": "true"}, {"name": "e", "run": "true"}]}
            """
        _ = orchestrator.operation(OperationRequest(request: 1, action: .hold, run: 0, product: "payments"))
        _ = orchestrator.operation(OrchestratorHarness.start(request: 2, definition: five))
        let released = orchestrator.operation(OperationRequest(request: 3, action: .release, run: 0, product: "payments"))
        #expect(OrchestratorHarness.submitted(released) == ["a", "b", "c"])
        return orchestrator
    }

    /// Found by review: a stop while a release was still being sent cancelled the jobs sent, and the
    /// later turns sent the rest to run; they were cancelled one by one only once their shard said it
    /// had them. Jobs not yet sent have not started: they are skipped, as waiting ones are.
    @Test func aStopSkipsTheJobsAReleaseHasNotYetSent() {
        var orchestrator = Self.releasedInTurns()
        let stopped = orchestrator.operation(OperationRequest(request: 4, action: .stop, run: 1, product: "payments"))
        #expect(OrchestratorHarness.answers(stopped).map(\.detail) == ["run 1 stopping: 3 active jobs cancelled, 2 not run"])
        #expect(stopped.controlSends.map(\.1.action) == [.cancelRun])
        #expect(OrchestratorHarness.submitted(stopped) == [])
        let run = orchestrator.core.runs[1]!
        #expect(run.jobs.map(\.state) == [.submitted, .submitted, .submitted, .skipped, .skipped])
        #expect(run.jobs[4].detail == "not run: the run was stopped")
        // Nothing more goes, then or on the resend policy, but the three sent and not acknowledged.
        orchestrator.core.tick(now: orchestrator.now)
        #expect(OrchestratorHarness.submitted(orchestrator.core.finishTurn(now: orchestrator.now)) == [])
        orchestrator.now = orchestrator.now.adding(milliseconds: 2000)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(OrchestratorHarness.submitted(orchestrator.core.finishTurn(now: orchestrator.now)) == ["a", "b", "c"])
    }

    /// Found by review: a run failed at once (fail-run) while a release was still being sent cancelled
    /// the jobs sent, and the later turns sent the rest, which ran to their end. They are skipped now; and a
    /// job its shard takes after the cancel-run (one whose SUBMIT was on its way) is cancelled on its own,
    /// as a stopping run's is.
    @Test func aRunFailedAtOnceSkipsTheJobsAReleaseHasNotYetSentAndCancelsOnesTakenLate() {
        var orchestrator = Self.releasedInTurns(onFailure: "fail-run")
        _ = orchestrator.report([("a", .running)])
        let failed = orchestrator.report([("a", .failed)])
        #expect(failed.controlSends.map(\.1.action) == [.cancelRun])
        #expect(orchestrator.core.runs[1]!.jobs.map(\.state) == [.failed, .submitted, .submitted, .skipped, .skipped])
        orchestrator.core.tick(now: orchestrator.now)
        #expect(OrchestratorHarness.submitted(orchestrator.core.finishTurn(now: orchestrator.now)) == [])
        // "b" reaches the shard after the cancel-run: it is cancelled on its own.
        let late = orchestrator.report([("b", .queued)])
        #expect(late.controlSends.map(\.1.action) == [.cancelJob])
        #expect(late.controlSends.first?.1.job == "b" && late.controlSends.first?.1.generation == 0)
    }

    /// Found by the simulator (seed 22 under durability normal): a failed run marked succeeded answered
    /// RUN-DETAIL with its failure's time, so that management, which takes a status of an ended run only if
    /// newer than its own, kept it failed. A reopened run's status is as of its reopening.
    @Test func aRunReopenedByAnActionIsReportedAsOfThen() throws {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .succeeded), ("audit", .succeeded)])
        _ = orchestrator.report([("check", .failed), ("load", .succeeded)])
        #expect(orchestrator.core.runs[1]?.state == .failed)
        let failedAt = try #require(orchestrator.core.detail(answering: RunQuery(request: 9, run: 1, first: 0, limit: 0))).run.time
        orchestrator.now = orchestrator.now.adding(milliseconds: 60_000)
        _ = orchestrator.operation(OperationRequest(request: 5, action: .markSucceeded, run: 1, product: "payments", job: "check"))
        let detail = try #require(orchestrator.core.detail(answering: RunQuery(request: 10, run: 1, first: 0, limit: 0)))
        #expect(detail.run.time == orchestrator.now.wire && detail.run.time > failedAt, "\(detail.run)")
    }

    /// A cancel-job names the generation it means, so that one sent again after a rerun's generation was
    /// submitted does not cancel that one.
    @Test func aCancelJobNamesTheGenerationItMeans() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .succeeded)])
        _ = orchestrator.report([("check", .running)])
        let first = orchestrator.operation(OperationRequest(request: 2, action: .markSucceeded, run: 1, product: "payments", job: "check"))
        #expect(first.controlSends.filter { $0.1.action == .cancelJob }.map { $0.1.generation } == [0])
        _ = orchestrator.operation(OperationRequest(request: 3, action: .rerunJob, run: 1, product: "payments", job: "check"))
        let generation = orchestrator.core.runs[1]!.jobs.first { $0.name == "check" }!.generation
        #expect(generation > 0)
        _ = orchestrator.report([("check", .running)], generation: generation)
        let second = orchestrator.operation(OperationRequest(request: 4, action: .markSucceeded, run: 1, product: "payments", job: "check"))
        #expect(second.controlSends.filter { $0.1.action == .cancelJob }.map { ($0.1.job, $0.1.generation) }.elementsEqual([("check", generation)], by: ==))
    }

    /// Found by the simulator (seeds 1 to 3 once its check of predecessors knew generations): a job
    /// marked succeeded while its run was parked (its product held) stayed parked, and was submitted and
    /// run when the product was released, beside the successors its mark had let go.
    @Test func aJobMarkedSucceededWhileParkedIsNotSubmittedOnRelease() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OperationRequest(request: 1, action: .hold, run: 0, product: "payments"))
        let started = orchestrator.operation(OrchestratorHarness.start(request: 2))
        #expect(OrchestratorHarness.submitted(started) == [])
        _ = orchestrator.operation(OperationRequest(request: 3, action: .markSucceeded, run: 1, product: "payments", job: "extract"))
        let released = orchestrator.operation(OperationRequest(request: 4, action: .release, run: 0, product: "payments"))
        #expect(OrchestratorHarness.submitted(released).sorted() == ["audit", "check", "load"])
    }

    /// Found by the simulator (seed 10526, with the parked jobs' release deferred): jobs parked while their
    /// run was paused, and whose predecessor an operator then reruns, were released at the resume though
    /// the predecessor had not run again.
    @Test func aJobParkedBeforeItsPredecessorIsRerunWaitsForItAfterTheResume() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.operation(OperationRequest(request: 2, action: .pause, run: 1, product: "payments"))
        // extract succeeds while the run is paused: check and load are parked.
        _ = orchestrator.report([("extract", .succeeded)])
        var rerun = OperationRequest(request: 3, action: .rerunJob, run: 1, product: "payments", job: "extract")
        rerun.options = OperationRequest.downstream
        _ = orchestrator.operation(rerun)
        let resumed = orchestrator.operation(OperationRequest(request: 4, action: .resume, run: 1, product: "payments"))
        orchestrator.core.tick(now: orchestrator.now)
        let next = orchestrator.core.finishTurn(now: orchestrator.now)
        let sent = OrchestratorHarness.submitted(resumed) + OrchestratorHarness.submitted(next)
        #expect(sent == ["extract"], "\(sent)")
        // Once extract has run again, they go.
        let after = orchestrator.report([("extract", .succeeded)], generation: 1)
        #expect(OrchestratorHarness.submitted(after).sorted() == ["check", "load"])
    }

    @Test func statusesOfAnotherGenerationOrAFinalJobChangeNothing() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        #expect(orchestrator.report([("extract", .succeeded)], generation: 3).submits.isEmpty)
        _ = orchestrator.report([("extract", .succeeded)])
        let late = orchestrator.report([("extract", .failed)])
        #expect(orchestrator.core.runs[1]!.jobs[0].state == .succeeded)
        #expect(late.updates == nil && late.runs.isEmpty)
    }

    @Test func anUnacknowledgedSubmissionIsSentAgainWithADoublingDelayUntilTheShardReportsIt() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        orchestrator.now = orchestrator.now.adding(milliseconds: 1999)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(OrchestratorHarness.submitted(orchestrator.core.finishTurn(now: orchestrator.now)) == [])
        orchestrator.now = orchestrator.now.adding(milliseconds: 1)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(OrchestratorHarness.submitted(orchestrator.core.finishTurn(now: orchestrator.now)) == ["extract", "audit"])
        _ = orchestrator.report([("audit", .queued)])
        orchestrator.now = orchestrator.now.adding(milliseconds: 4000)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(OrchestratorHarness.submitted(orchestrator.core.finishTurn(now: orchestrator.now)) == ["extract"])
    }

    @Test func eachResendOfASubmissionOrAControlWaitsTwiceAsLongUpToTheLongest() {
        var orchestrator = OrchestratorHarness()
        let definition = OrchestratorHarness.diamond.replacingOccurrences(of: "\"params\": {\"region\": \"north\"},", with: "\"on_failure\": \"fail-run\",")
        _ = orchestrator.operation(OrchestratorHarness.start(definition: definition))
        let start = orchestrator.now
        // "audit" is accepted, then fails the run: its cancel-run is not answered, "extract" never accepted.
        _ = orchestrator.report([("audit", .queued)])
        _ = orchestrator.report([("audit", .failed)])
        var submissions: [Int64] = []
        var controls: [Int64] = []
        while orchestrator.now.since(start) < 100_000 {
            orchestrator.now = orchestrator.core.nextDeadline()
            orchestrator.core.tick(now: orchestrator.now)
            let turn = orchestrator.core.finishTurn(now: orchestrator.now)
            if OrchestratorHarness.submitted(turn) == ["extract"] { submissions.append(orchestrator.now.since(start)) }
            if turn.controlSends.map(\.1.action) == [.cancelRun] { controls.append(orchestrator.now.since(start)) }
        }
        // The harness's policy: 2 s, doubling, at most 30 s.
        #expect(submissions == [2000, 6000, 14_000, 30_000, 60_000, 90_000])
        #expect(controls == [2000, 6000, 14_000, 30_000, 60_000, 90_000])
    }

    @Test func controlsRestoredFromTheStoreAreSentAgainAtOnce() {
        let now = Timestamp(milliseconds: 1_000)
        let pending = OrchestratorCore.PendingControl(shard: 2, control: Control(request: 7, action: .cancelRun, run: 1))
        var core = OrchestratorCore(
            configuration: OrchestratorConfiguration(shards: [2]), epoch: 2,
            restoring: OrchestratorSnapshot(controls: [pending], lastControl: 7), now: now)
        core.tick(now: now)
        #expect(core.finishTurn(now: now).controlSends.map(\.1.request) == [7])
        core.tick(now: now.adding(milliseconds: 9999))
        #expect(core.finishTurn(now: now).controlSends.isEmpty)
        core.tick(now: now.adding(milliseconds: 10_000))
        #expect(core.finishTurn(now: now).controlSends.map(\.1.request) == [7])
        core.controlResultReceived(ControlResult(request: 7, status: .ok), now: now)
        #expect(core.finishTurn(now: now).answeredControls == [7])
    }

    @Test func messagesFromAShardNotConfiguredAndActionsOnAnUnknownRunChangeNothing() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        let status = JobStatus(run: 1, job: "extract", generation: 0, state: .succeeded, time: orchestrator.now.wire)
        orchestrator.core.updatesReceived(JobUpdates(publisher: "shard-9", epoch: 1, sequence: 1, updates: [status]), from: 9, now: orchestrator.now)
        orchestrator.core.beaconReceived(Beacon(publisher: "shard-9", epoch: 1, sequence: 5), from: 9, now: orchestrator.now)
        let turn = orchestrator.core.finishTurn(now: orchestrator.now)
        #expect(turn.submits.isEmpty && turn.fetches.isEmpty && turn.jobs.isEmpty)
        #expect(orchestrator.core.runs[1]?.jobs[0].state == .submitted)
        #expect(orchestrator.core.streams.cursor(of: 9) == nil)
        let stop = OperationRequest(request: 2, action: .stop, run: 42, product: "payments", flow: "eod", version: 1, shard: 2, moment: 0)
        #expect(orchestrator.operation(stop).answers.map(\.1.status) == [.notFound])
    }

    @Test func aGapInAShardsStreamFetchesInsteadOfApplying() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        orchestrator.sequence = 5  // Messages 1 to 5 were lost.
        let turn = orchestrator.report([("extract", .succeeded)])
        #expect(turn.submits.isEmpty)
        #expect(turn.fetches[2] == Fetch(after: 0, limit: 1000))
    }

    @Test func aShardThatLostWhatWasMissedGetsEveryOpenJobAgain() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .queued), ("audit", .queued)])
        orchestrator.core.fetchedReceived(Fetched(status: .gone, epoch: 2, sequence: 50, oldest: 40), from: 2, now: orchestrator.now)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(Set(OrchestratorHarness.submitted(orchestrator.core.finishTurn(now: orchestrator.now))) == ["extract", "audit"])
    }

    @Test func aRestartedOrchestratorResubmitsOpenJobsAndReleasesWhatWasReady() throws {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .succeeded)])
        var run = orchestrator.core.runs[1]!
        // The store lost nothing, but suppose "load" was never written as released.
        run.updateJob(2) { $0.state = .waiting }
        let definition = try FlowFile.parse(OrchestratorHarness.diamond, file: "x").get()
        let stored = FlowRun(
            id: 1, product: "payments", flow: "eod", version: 1, shard: 2, moment: 99, params: [:], definition: definition,
            jobs: run.jobs, state: .running, started: run.started, finished: .zero, detail: "")
        var restarted = OrchestratorCore(
            configuration: OrchestratorConfiguration(shards: [1, 2]), epoch: 2,
            restoring: OrchestratorSnapshot(runs: [stored], positions: [2: (1, 2)]), now: orchestrator.now)
        restarted.tick(now: orchestrator.now)
        let turn = restarted.finishTurn(now: orchestrator.now)
        #expect(Set(OrchestratorHarness.submitted(turn)) == ["check", "load", "audit"])
        #expect(restarted.streams.cursor(of: 2)?.sequence == 2)
    }

    @Test func jobsRestoredAsTheStoreHoldsThemAreResentOnceThenAfterTheInitialDelay() throws {
        let definition = try FlowFile.parse(OrchestratorHarness.diamond, file: "x").get()
        // What the store gives back: bare jobs, no resend delay of their own.
        var jobs = definition.jobs.map { FlowRunJob(name: $0.name) }
        jobs[0].state = .submitted
        jobs[4].state = .running
        let stored = FlowRun(
            id: 1, product: "payments", flow: "eod", version: 1, shard: 2, moment: 99, params: [:], definition: definition,
            jobs: jobs, state: .running, started: .zero, finished: .zero, detail: "")
        let now = Timestamp(milliseconds: 1_000)
        var configuration = OrchestratorConfiguration(shards: [2])
        configuration.resend = ResendPolicy(initial: 2000, maximum: 60_000)
        var core = OrchestratorCore(configuration: configuration, epoch: 2, restoring: OrchestratorSnapshot(runs: [stored]), now: now)
        core.tick(now: now)
        #expect(core.finishTurn(now: now).submits[2]?.map(\.job) == ["extract", "audit"])
        core.tick(now: now.adding(milliseconds: 1999))
        #expect(core.finishTurn(now: now).submits.isEmpty)
        core.tick(now: now.adding(milliseconds: 2000))
        #expect(core.finishTurn(now: now).submits[2]?.count == 2)
    }

    @Test func aRestartSendsWhatItReleasesABoundedNumberATurnAndNotWhatTheShardAcknowledgesMeanwhile() throws {
        let names = (0..<7).map { "j\($0)" }
        let file = #"{"product": "payments", "flow": "wide", "jobs": ["# + names.map { #"{"name": "\#($0)", "run": "true"}"# }.joined(separator: ", ") + "]}"
        let definition = try FlowFile.parse(file, file: "wide").get()
        // The store holds the run and no row of its jobs: their first release is not written.
        let stored = FlowRun(
            id: 1, product: "payments", flow: "wide", version: 1, shard: 2, moment: 99, params: [:], definition: definition,
            jobs: definition.jobs.map { FlowRunJob(name: $0.name) }, state: .running, started: .zero, finished: .zero, detail: "")
        let now = Timestamp(milliseconds: 1_000)
        var configuration = OrchestratorConfiguration(shards: [2])
        configuration.resendsPerTurn = 3
        var core = OrchestratorCore(
            configuration: configuration, epoch: 2, restoring: OrchestratorSnapshot(runs: [stored], positions: [2: (1, 1)]), now: now)
        // Released at the start, and sent by the turns after, not all in the first.
        #expect(core.runs[1]?.jobs.allSatisfy { $0.state == .submitted } == true)
        #expect(core.nextDeadline() == now)
        core.tick(now: now)
        #expect(core.finishTurn(now: now).submits[2]?.map(\.job) == ["j0", "j1", "j2"])
        #expect(core.nextDeadline() == now)
        // The shard had taken j4 before the restart: its status says so, and it is not sent again.
        let queued = JobStatus(run: 1, job: "j4", state: .queued, time: now.wire)
        core.updatesReceived(JobUpdates(publisher: "shard-2", epoch: 1, sequence: 2, updates: [queued]), from: 2, now: now)
        core.tick(now: now)
        #expect(core.finishTurn(now: now).submits[2]?.map(\.job) == ["j3", "j5", "j6"])
        // Every job sent once: the next sends wait for the policy's first wait.
        #expect(core.nextDeadline() > now)
        core.tick(now: now)
        #expect(core.finishTurn(now: now).submits.isEmpty)
        #expect(core.resentJobs == 6)
    }

    @Test func anInvalidDefinitionIsRefusedAndChangesNothing() {
        var orchestrator = OrchestratorHarness()
        let turn = orchestrator.operation(OrchestratorHarness.start(definition: "{\"product\": 1}"))
        #expect(turn.answers.map(\.1.status) == [.invalid])
        #expect(turn.runs.isEmpty && turn.submits.isEmpty)
    }

    @Test func underFailRunAFailureFailsTheRunAtOnceAndTheShardCancelsTheRest() {
        var orchestrator = OrchestratorHarness()
        let definition = OrchestratorHarness.diamond.replacingOccurrences(of: "\"params\": {\"region\": \"north\"},", with: "\"on_failure\": \"fail-run\",")
        _ = orchestrator.operation(OrchestratorHarness.start(definition: definition))
        _ = orchestrator.report([("extract", .succeeded)])
        let failed = orchestrator.report([("check", .failed)])
        #expect(failed.updates?.updates.last?.state == .failed)
        #expect(failed.updates?.updates.last?.detail.hasSuffix("(on_failure: fail-run, so the run failed at once)") == true)
        #expect(failed.controlSends.map(\.1.action) == [.cancelRun])
        #expect(failed.controls.count == 1)
        let run = orchestrator.core.runs[1]!
        #expect(run.jobs[3].state == .skipped)
        // The cancellation is resent until the shard answers.
        orchestrator.now = orchestrator.now.adding(milliseconds: 2000)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(orchestrator.core.finishTurn(now: orchestrator.now).controlSends.count == 1)
        orchestrator.core.controlResultReceived(ControlResult(request: 1, status: .ok), now: orchestrator.now)
        #expect(orchestrator.core.finishTurn(now: orchestrator.now).answeredControls == [1])
        // Jobs report cancelled afterwards; the run stays failed, and nothing new is submitted.
        let after = orchestrator.report([("load", .cancelled), ("audit", .succeeded)])
        #expect(after.submits.isEmpty)
        #expect(orchestrator.core.runs[1]!.state == .failed)
        #expect(orchestrator.core.runs[1]!.jobs[2].detail == "cancelled: the run failed at once (on_failure: fail-run)")
    }

    /// Found by an explorer: under fail-run, a partition failed with no retries left failed the run only once
    /// every other partition of its job had ended. The run fails at the first, and the shard cancels the rest.
    @Test func underFailRunAPartitionsFailureFailsTheRunAtOnce() {
        var orchestrator = OrchestratorHarness()
        let definition = OrchestratorHarness.diamond.replacingOccurrences(of: "\"params\": {\"region\": \"north\"},", with: "\"on_failure\": \"fail-run\",")
        _ = orchestrator.operation(OrchestratorHarness.start(definition: definition))
        orchestrator.sequence += 1
        let partly = JobStatus(run: 1, job: "extract", state: .running, running: 5, failed: 1, time: orchestrator.now.wire, detail: "exit status 5")
        orchestrator.core.updatesReceived(JobUpdates(publisher: "shard-2", epoch: 1, sequence: orchestrator.sequence, updates: [partly]), from: 2, now: orchestrator.now)
        let failed = orchestrator.core.finishTurn(now: orchestrator.now)
        #expect(failed.controlSends.map(\.1.action) == [.cancelRun])
        let run = orchestrator.core.runs[1]!
        #expect(run.state == .failed)
        #expect(run.detail == "extract failed: a partition failed with no retries left: exit status 5 (on_failure: fail-run, so the run failed at once)")
        #expect([run.jobs[1].state, run.jobs[2].state, run.jobs[3].state] == [.skipped, .skipped, .skipped])
        // The job then ends failed; nothing more is submitted, and the run stays failed.
        let after = orchestrator.report([("extract", .failed), ("audit", .cancelled)])
        #expect(after.submits.isEmpty && after.controlSends.isEmpty)
        #expect(orchestrator.core.runs[1]!.state == .failed && orchestrator.core.runs[1]!.jobs[0].state == .failed)
        // Under finish-branches, the other partitions run on: nothing is cancelled.
        var branches = OrchestratorHarness()
        _ = branches.operation(OrchestratorHarness.start())
        branches.sequence += 1
        branches.core.updatesReceived(JobUpdates(publisher: "shard-2", epoch: 1, sequence: branches.sequence, updates: [partly]), from: 2, now: branches.now)
        #expect(branches.core.finishTurn(now: branches.now).controlSends.isEmpty)
        #expect(branches.core.runs[1]!.state == .running)
    }

    /// A stop skips the jobs not started and cancels the rest at their shard. A job that succeeds there
    /// before the cancellation arrives does not release the jobs after it that the stop skipped.
    @Test func aSuccessArrivingAfterAStopReleasesNothingTheStopSkipped() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        let stopped = orchestrator.operation(OperationRequest(request: 2, action: .stop, run: 1))
        #expect(stopped.controlSends.map(\.1.action) == [.cancelRun])
        let succeeded = orchestrator.report([("extract", .succeeded)])
        #expect(succeeded.submits.isEmpty)
        let run = orchestrator.core.runs[1]
        #expect(run.map { [$0.jobs[1].state, $0.jobs[2].state, $0.jobs[3].state] } == [.skipped, .skipped, .skipped])
        // The run ends, stopped, once audit's cancellation is told.
        _ = orchestrator.report([("audit", .cancelled)])
        #expect(orchestrator.core.runs[1]?.state == .stopped)
        // Its detail says why, whatever the shard or the worker said (found by an explorer: "cancelled by the shard").
        #expect(orchestrator.core.runs[1]?.jobs[4].detail == "cancelled: an operator stopped the run")
    }

    /// A first release is marked with the job's first row, written when it ends (or anything else about
    /// it changes): once, in the turn that writes that row.
    @Test func eachReleaseAndEachSuccessActedOnIsMarkedForTheStoreOnce() {
        var orchestrator = OrchestratorHarness()
        let started = orchestrator.operation(OrchestratorHarness.start())
        #expect(started.jobs.isEmpty)
        let succeeded = orchestrator.report([("extract", .succeeded)])
        #expect(succeeded.jobs.map(\.job.name) == ["extract"])
        #expect(succeeded.jobs.first.map { $0.succeeded && $0.released } == true)
        let again = orchestrator.report([("extract", .succeeded)])
        #expect(again.jobs.isEmpty)
        // The successors released by extract's success, and audit, each counted with its end.
        let ended = orchestrator.report([("check", .succeeded), ("load", .failed), ("audit", .succeeded)])
        #expect(ended.jobs.filter(\.released).map(\.job.name).sorted() == ["audit", "check", "load"])
        #expect(orchestrator.core.runs[1].map { $0.jobs.allSatisfy { $0.stored || $0.state == .waiting } } == true)
    }

    /// A job released without a row is found, after a restart, waiting; it is released again only if its
    /// run is as it was. So the rows of such jobs are written as soon as anything else touches their run:
    /// an operator's pause (a paused run parks what it releases, and a stop would skip the job while its
    /// shard runs it), a rerun of a predecessor, or the run's end with jobs still active (fail-run).
    @Test func jobsReleasedWithoutARowGetTheirRowsWhenTheirRunIsTouchedOrEnds() {
        var paused = OrchestratorHarness()
        _ = paused.operation(OrchestratorHarness.start())
        let pause = paused.operation(OperationRequest(request: 2, action: .pause, run: 1))
        #expect(pause.jobs.map(\.job.name).sorted() == ["audit", "extract"])
        #expect(pause.jobs.allSatisfy { $0.released && $0.job.state == .submitted })
        #expect(paused.core.runs[1].map { $0.jobs.allSatisfy { $0.stored || $0.state == .waiting } } == true)
        // Counted once: the job's end writes its row again, not its release.
        let ended = paused.report([("extract", .succeeded)])
        #expect(ended.jobs.first { $0.job.name == "extract" }.map { !$0.released && $0.succeeded } == true)

        var rerun = OrchestratorHarness()
        _ = rerun.operation(OrchestratorHarness.start())
        _ = rerun.report([("extract", .succeeded)])
        let again = rerun.operation(OperationRequest(request: 2, action: .rerunJob, run: 1, job: "extract"))
        #expect(Set(again.jobs.filter(\.released).map(\.job.name)).isSuperset(of: ["audit", "check", "load"]), "\(again.jobs.map(\.job.name))")

        var failing = OrchestratorHarness()
        let definition = OrchestratorHarness.diamond.replacingOccurrences(of: "\"params\": {\"region\": \"north\"},", with: "\"on_failure\": \"fail-run\",")
        _ = failing.operation(OrchestratorHarness.start(definition: definition))
        let failed = failing.report([("extract", .failed)])
        #expect(failing.core.runs[1]?.state == .failed)
        // audit is still active on its shard: its row is written with the run's end.
        #expect(failed.jobs.first { $0.job.name == "audit" }.map { $0.released && $0.job.state == .submitted } == true)
    }

    /// Every other operator's action on a run writes, in its turn, the rows of the run's jobs released
    /// without one, each counting its release once.
    @Test(arguments: [
        OperationRequest(request: 2, action: .stop, run: 1),
        OperationRequest(request: 2, action: .hold, run: 0, product: "payments"),
        OperationRequest(request: 2, action: .markSucceeded, run: 1, job: "audit"),
        OperationRequest(request: 2, action: .setPriority, run: 1, priority: RunPriority.first),
    ])
    func anOperatorsActionWritesTheRowsOfJobsReleasedWithoutOne(_ action: OperationRequest) {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        #expect(orchestrator.core.runs[1]?.jobs.filter(\.releaseUnstored).map(\.name).sorted() == ["audit", "extract"])
        let turn = orchestrator.operation(action)
        #expect(OrchestratorHarness.answers(turn).map(\.status) == [.ok], "\(OrchestratorHarness.answers(turn).map(\.detail))")
        let released = turn.jobs.filter(\.released).map(\.job.name).sorted()
        #expect(released == ["audit", "extract"], "\(action.action.name)")
        #expect(orchestrator.core.runs[1].map { $0.jobs.allSatisfy { $0.stored || $0.state == .waiting } } == true)
        // A later row of the same jobs does not count their release again.
        let ended = orchestrator.report([("extract", .succeeded)])
        #expect(ended.jobs.filter(\.released).map(\.job.name).allSatisfy { $0 != "extract" })
    }

    /// A restart finds the jobs released without a row waiting, with their predecessors succeeded, and
    /// releases them again: sent to their shard, which answers with each job's status.
    @Test func jobsReleasedWithoutARowAreReleasedAgainAfterARestart() throws {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        _ = orchestrator.report([("extract", .succeeded)])
        // What a restart reads back: the run, extract's row (succeeded), and no row of the others.
        let held = try #require(orchestrator.core.runs[1])
        let restored = FlowRun(
            id: held.id, product: held.product, flow: held.flow, version: held.version, shard: held.shard, moment: held.moment,
            params: held.params, definition: held.definition, jobs: held.jobs.map { $0.stored ? $0 : FlowRunJob(name: $0.name) },
            state: held.state, started: held.started, finished: held.finished, detail: held.detail)
        var core = OrchestratorCore(
            configuration: OrchestratorConfiguration(shards: [2]), epoch: 2, restoring: OrchestratorSnapshot(runs: [restored]),
            now: orchestrator.now)
        // Released at the start, and sent by the first tick.
        core.tick(now: orchestrator.now)
        let turn = core.finishTurn(now: orchestrator.now)
        #expect(Set(OrchestratorHarness.submitted(turn)) == ["audit", "check", "load"])
        #expect(turn.jobs.isEmpty)
        #expect(core.runs[1]?.jobs.filter { $0.releaseUnstored }.map(\.name).sorted() == ["audit", "check", "load"])
    }

    @Test func aShardThatRestartedIsSentAtOnceWhatItHadNotAccepted() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        orchestrator.core.beaconReceived(Beacon(publisher: "shard-2", epoch: 1, sequence: 0), from: 2, now: orchestrator.now)
        _ = orchestrator.core.finishTurn(now: orchestrator.now)
        _ = orchestrator.report([("audit", .queued)])
        // The shard comes back with a new epoch: "extract", never accepted, goes again now, not in 2 s.
        orchestrator.now = orchestrator.now.adding(milliseconds: 100)
        orchestrator.core.beaconReceived(Beacon(publisher: "shard-2", epoch: 2, sequence: 1), from: 2, now: orchestrator.now)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(OrchestratorHarness.submitted(orchestrator.core.finishTurn(now: orchestrator.now)) == ["extract"])
    }

    @Test func aRunsStateIsPublishedAtOnceAndItsCountsAloneAsProgressAfterTheInterval() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        // Jobs queued and running move the counts only: nothing to store, nothing published yet.
        let running = orchestrator.report([("extract", .running), ("audit", .queued)])
        #expect(running.updates == nil && running.runs.isEmpty && !running.needsCommit)
        #expect(orchestrator.core.nextDeadline() == orchestrator.now.adding(milliseconds: orchestrator.core.configuration.progressInterval))
        orchestrator.now = orchestrator.now.adding(milliseconds: orchestrator.core.configuration.progressInterval)
        orchestrator.core.tick(now: orchestrator.now)
        let progress = orchestrator.core.finishTurn(now: orchestrator.now)
        #expect(progress.updates?.updates.map(\.active) == [2])
        #expect(progress.runs.isEmpty)
        // A failure changes the run's state (partly failed): published and stored in the same turn.
        let failed = orchestrator.report([("audit", .failed)])
        #expect(failed.updates?.updates.map(\.state) == [.partlyFailed])
        #expect(failed.runs.map(\.id) == [1])
    }

    @Test func aPositionIsStoredWithWhatItsEventsChangedAndAloneOnceASecondAtMost() {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start())
        // Statuses that change nothing durable leave the position unstored for now.
        #expect(orchestrator.report([("extract", .running)]).positions.isEmpty)
        // A success is stored with the position that covers it.
        let succeeded = orchestrator.report([("extract", .succeeded)])
        #expect(succeeded.positions.map(\.sequence) == [2])
        #expect(orchestrator.report([("check", .running)]).positions.isEmpty)
        orchestrator.now = orchestrator.now.adding(milliseconds: orchestrator.core.configuration.positionInterval)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(orchestrator.core.finishTurn(now: orchestrator.now).positions.map(\.sequence) == [3])
    }

    /// fail-run ends a run with jobs still active. One of them that then succeeds, before its cancellation
    /// arrives, releases nothing in the ended run; but its success counts for a rerun, whose jobs after it
    /// run without waiting for it again.
    @Test func aSuccessAfterFailRunEndedTheRunCountsForALaterRerun() throws {
        let definition = #"""
            {"product": "payments", "flow": "eod", "on_failure": "fail-run", "jobs": [
              {"name": "extract", "run": "true"},
              {"name": "audit", "run": "true"},
              {"name": "publish", "after": ["audit"], "run": "true"}]}
            """#
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start(definition: definition))
        _ = orchestrator.report([("extract", .failed)])
        #expect(orchestrator.core.runs[1]?.state == .failed)
        #expect(orchestrator.core.runs[1]?.jobs[2].state == .skipped)
        let late = orchestrator.report([("audit", .succeeded)])
        #expect(late.submits.isEmpty, "nothing is released in an ended run")
        let rerun = orchestrator.operation(OperationRequest(request: 2, action: .rerunFailed, run: 1))
        #expect(OrchestratorHarness.answers(rerun).map(\.status) == [.ok])
        #expect(Set(OrchestratorHarness.submitted(rerun)) == ["extract", "publish"])
    }

    /// A final run retention deleted from the store is forgotten: a rerun of it is unknown, not applied to
    /// a run no row would keep (its jobs were written with no run, and the rerun was lost at the next
    /// restart). A run still going is kept whatever the store says.
    @Test func aRunRetentionDeletedIsForgottenAndItsRerunRefused() throws {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start(definition: Self.failRunOfTwo))
        _ = orchestrator.report([("audit", .succeeded), ("extract", .failed)])
        #expect(orchestrator.core.runs[1]?.state == .failed)
        _ = orchestrator.operation(OrchestratorHarness.start(run: 2, request: 2, definition: Self.failRunOfTwo))
        #expect(orchestrator.core.runs[2]?.state == .running)
        orchestrator.core.forgetDeleted(runs: [1, 2])
        #expect(orchestrator.core.runs[1] == nil && orchestrator.core.runs[2] != nil)
        let rerun = orchestrator.operation(OperationRequest(request: 3, action: .rerunFailed, run: 1))
        #expect(OrchestratorHarness.answers(rerun).map(\.status) == [.notFound])
        #expect(rerun.submits.isEmpty && rerun.jobs.isEmpty && rerun.runs.isEmpty)
    }

    /// Two jobs side by side, the run failed at once when either fails.
    static let failRunOfTwo = #"""
        {"product": "payments", "flow": "eod", "on_failure": "fail-run", "jobs": [
          {"name": "extract", "run": "true"},
          {"name": "audit", "run": "true"}]}
        """#

    /// A rerun of a run fail-run ended, asked before its other jobs stopped, is refused, naming one: their
    /// cancelled ends, arriving in the run running again, would fail it again. Once they have ended, the
    /// rerun runs them again with the job that failed.
    @Test func aRerunWhileFailRunsCancellationsAreOnTheirWayIsRefusedUntilTheJobsStopped() throws {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start(definition: Self.failRunOfTwo))
        _ = orchestrator.report([("audit", .running)])
        _ = orchestrator.report([("extract", .failed)])
        #expect(orchestrator.core.runs[1]?.state == .failed)
        let early = orchestrator.operation(OperationRequest(request: 2, action: .rerunFailed, run: 1))
        let refusal = try #require(OrchestratorHarness.answers(early).first)
        #expect(refusal.status == .conflict)
        #expect(refusal.detail.contains("job audit of run 1 is still running"))
        #expect(early.submits.isEmpty && orchestrator.core.runs[1]?.state == .failed, "nothing changed")
        _ = orchestrator.report([("audit", .cancelled)])
        let rerun = orchestrator.operation(OperationRequest(request: 3, action: .rerunFailed, run: 1))
        #expect(OrchestratorHarness.answers(rerun).map(\.status) == [.ok])
        #expect(Set(OrchestratorHarness.submitted(rerun)) == ["extract", "audit"])
    }

    /// Found by an explorer: a fresh rerun from failure resumed a job of twelve partitions and a merge
    /// where it stopped, so that the merge combined partitions made at the old entry moment with those the
    /// rerun made at the new one. A fresh rerun runs the jobs it reruns whole, at the new moment; a rerun
    /// that keeps the moment still resumes them.
    @Test func aFreshRerunFromFailureRunsItsJobsWholeAtTheNewMoment() throws {
        let definition = #"""
            {"product": "payments", "flow": "eod", "jobs": [
              {"name": "extract", "run": "true"},
              {"name": "split", "after": ["extract"], "steps": [
                {"name": "part", "run": "true", "partitions": 12},
                {"name": "merge", "run": "true"}]},
              {"name": "publish", "after": ["split"], "run": "true"}]}
            """#
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start(definition: definition))
        _ = orchestrator.report([("extract", .succeeded)])
        _ = orchestrator.operation(OperationRequest(request: 2, action: .stop, run: 1))
        _ = orchestrator.report([("split", .cancelled)])
        #expect(orchestrator.core.runs[1]?.state == .stopped)

        let fresh = orchestrator.operation(OperationRequest(request: 3, action: .rerunFailed, run: 1, moment: 123))
        #expect(OrchestratorHarness.answers(fresh).map(\.detail) == ["run 1 rerunning 2 jobs from their start, with the fresh entry moment 123"])
        let split = try #require(fresh.submits[2]?.first { $0.job == "split" })
        #expect(split.resume == 0 && split.moment == 123 && split.generation == 1)
        #expect(orchestrator.core.runs[1]?.moment == 123)

        // Stopped again, and rerun keeping the moment: it goes on from where it stopped.
        _ = orchestrator.operation(OperationRequest(request: 4, action: .stop, run: 1))
        _ = orchestrator.report([("split", .cancelled)], generation: 1)
        let kept = orchestrator.operation(OperationRequest(request: 5, action: .rerunFailed, run: 1))
        let resumed = try #require(kept.submits[2]?.first { $0.job == "split" })
        #expect(resumed.resume == 1 && resumed.moment == 123 && resumed.generation == 2)
    }

    /// Should a stopping job's end never come (its status lost), mark-succeeded ends the wait: the run
    /// goes on and ends again, and its rerun is taken.
    @Test func aStoppingJobWhoseEndNeverCameIsMarkedSucceededAndTheRunRerun() throws {
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start(definition: Self.failRunOfTwo))
        _ = orchestrator.report([("audit", .running), ("extract", .failed)])
        let marked = orchestrator.operation(OperationRequest(request: 2, action: .markSucceeded, run: 1, job: "audit"))
        #expect(OrchestratorHarness.answers(marked).map(\.status) == [.ok])
        #expect(orchestrator.core.runs[1]?.state == .failed, "nothing left to run: it ended again")
        let rerun = orchestrator.operation(OperationRequest(request: 3, action: .rerunFailed, run: 1))
        #expect(OrchestratorHarness.answers(rerun).map(\.status) == [.ok])
        #expect(OrchestratorHarness.submitted(rerun) == ["extract"])
    }

    /// Found as a known limitation: a job's end that came while its ended run was out of memory was never
    /// applied, and the run's rerun was refused for ever. The refusal asks the shard for the job's status
    /// (report-job), which the run, held since, takes; the rerun is then taken.
    @Test func aRerunRefusedForAnEndMissedAsksTheShardForTheJobsStatus() throws {
        var orchestrator = OrchestratorHarness()
        let stored = try Self.endedWithAuditMissed(&orchestrator)
        #expect(stored.state == .failed)
        // Another run ended, and run 1 left memory; audit's end comes now, and is not applied.
        _ = orchestrator.report([("audit", .cancelled)])

        orchestrator.core.operationReceived(OperationRequest(request: 3, action: .rerunFailed, run: 1), from: orchestrator.manager, stored: stored, now: orchestrator.now)
        let refused = orchestrator.core.finishTurn(now: orchestrator.now)
        let refusal = try #require(OrchestratorHarness.answers(refused).first)
        #expect(refusal.status == .conflict)
        #expect(refusal.detail.contains("job audit of run 1 is still running") && refusal.detail.contains("asked for its status again"))
        let asked = refused.controlSends.filter { $0.1.action == .reportJob }
        #expect(asked.map { "\($0.0) \($0.1.run)/\($0.1.job)#\($0.1.generation)" } == ["2 1/audit#0"])
        #expect(refused.controls.map(\.control.action) == [.reportJob], "committed before it is sent")
        // Unanswered, it goes again on the resend policy; a rerun asked again meanwhile does not add another.
        let again = orchestrator.operation(OperationRequest(request: 5, action: .rerunFailed, run: 1))
        #expect(again.controlSends.isEmpty && OrchestratorHarness.answers(again).first?.status == .conflict)
        orchestrator.now = orchestrator.now.adding(milliseconds: 2000)
        orchestrator.core.tick(now: orchestrator.now)
        #expect(orchestrator.core.finishTurn(now: orchestrator.now).controlSends.map(\.1).filter { $0.action == .reportJob } == asked.map(\.1))

        // The shard publishes audit's status again: the run takes it, and the rerun is taken.
        #expect(orchestrator.report([("audit", .cancelled)]).jobs.map(\.job.state) == [.cancelled])
        let rerun = orchestrator.operation(OperationRequest(request: 4, action: .rerunFailed, run: 1))
        #expect(OrchestratorHarness.answers(rerun).map(\.status) == [.ok])
        #expect(Set(OrchestratorHarness.submitted(rerun)) == ["extract", "audit"])
    }

    /// Found by an explorer: after a restart of the orchestrator just after fail-run ended a run, a job
    /// its shard cancelled showed `running` for ever, its end lost, until an operator's refused rerun
    /// asked the shard. A restart now asks the shards of the runs that ended with jobs active, and the
    /// runs, held in memory, take their statuses: the jobs settle on their own.
    @Test func aRestartAsksTheShardForTheEndsOfJobsActiveInEndedRuns() throws {
        var orchestrator = OrchestratorHarness()
        let stored = try Self.endedWithAuditMissed(&orchestrator)
        var configuration = OrchestratorConfiguration(shards: [2])
        configuration.resend = ResendPolicy(initial: 2000, maximum: 30_000)
        var snapshot = OrchestratorSnapshot()
        snapshot.endedRuns = [stored]
        snapshot.positions = [2: (epoch: 1, sequence: orchestrator.sequence)]
        orchestrator.core = OrchestratorCore(configuration: configuration, epoch: 2, restoring: snapshot, now: orchestrator.now)
        orchestrator.core.tick(now: orchestrator.now)
        let first = orchestrator.core.finishTurn(now: orchestrator.now)
        #expect(first.controlSends.map { "\($0.0) \($0.1.run)/\($0.1.job)#\($0.1.generation)" } == ["2 1/audit#0"])
        #expect(first.controls.map(\.control.action) == [.reportJob], "committed before it is sent")
        #expect(first.submits.isEmpty, "nothing of an ended run is submitted again")
        #expect(orchestrator.core.runs[1]?.state == .failed)

        // The shard publishes audit's status again: the run takes it, and stays failed.
        let settled = orchestrator.report([("audit", .cancelled)])
        #expect(settled.jobs.map(\.job.state) == [.cancelled])
        #expect(orchestrator.core.runs[1]?.jobs[1].state == .cancelled && orchestrator.core.runs[1]?.state == .failed)
        let rerun = orchestrator.operation(OperationRequest(request: 4, action: .rerunFailed, run: 1))
        #expect(OrchestratorHarness.answers(rerun).map(\.status) == [.ok])
    }

    /// A run fail-run ended, out of memory with audit still running there, read back for an action.
    static func endedWithAuditMissed(_ orchestrator: inout OrchestratorHarness, definition: String = failRunOfTwo) throws -> FlowRun {
        var configuration = OrchestratorConfiguration(shards: [2])
        configuration.finishedRunsInMemory = 1
        configuration.resend = ResendPolicy(initial: 2000, maximum: 30_000)
        orchestrator.core = OrchestratorCore(configuration: configuration, epoch: 1, restoring: OrchestratorSnapshot(), now: orchestrator.now)
        _ = orchestrator.operation(OrchestratorHarness.start(definition: definition))
        _ = orchestrator.report([("audit", .running), ("extract", .failed)])
        let stored = try #require(orchestrator.core.runs[1])
        _ = orchestrator.operation(OrchestratorHarness.start(run: 2, request: 2, definition: failRunOfTwo))
        _ = orchestrator.report([("extract", .failed)], run: 2)
        #expect(orchestrator.core.runs[1] == nil)
        return stored
    }

    /// A shard that has no such job answers report-job 404: the next refusal says the end will never
    /// come, and how to go on, and does not ask again.
    @Test func aJobItsShardDoesNotHaveIsNamedInTheNextRefusal() throws {
        var orchestrator = OrchestratorHarness()
        let stored = try Self.endedWithAuditMissed(&orchestrator)
        orchestrator.core.operationReceived(OperationRequest(request: 3, action: .rerunFailed, run: 1), from: orchestrator.manager, stored: stored, now: orchestrator.now)
        let asked = try #require(orchestrator.core.finishTurn(now: orchestrator.now).controlSends.first?.1)
        orchestrator.core.controlResultReceived(ControlResult(request: asked.request, status: .notFound, detail: "shard 2 holds no job 1/audit"), now: orchestrator.now)
        _ = orchestrator.core.finishTurn(now: orchestrator.now)
        let refused = orchestrator.operation(OperationRequest(request: 4, action: .rerunFailed, run: 1))
        #expect(refused.controlSends.isEmpty)
        #expect(OrchestratorHarness.answers(refused).first?.detail
            == "job audit of run 1 is still running, its cancellation on its way to its shard (shard 2 has no job audit (generation 0), so its end will never come: mark-succeeded it): rerun the run once it has stopped")
    }

    /// At most 100 jobs are asked about an action; the next goes on after the last asked, and does not
    /// ask again about those still waiting for their answer.
    @Test func aRefusalAsksAboutAHundredJobsAndTheNextAboutTheRest() throws {
        let jobs = ["{\"name\": \"extract\", \"run\": \"true\"}", "{\"name\": \"audit\", \"run\": \"true\"}"]
            + (0..<101).map { "{\"name\": \"side\($0)\", \"run\": \"true\"}" }
        let definition = #"{"product": "payments", "flow": "eod", "on_failure": "fail-run", "jobs": [\#(jobs.joined(separator: ", "))]}"#
        var orchestrator = OrchestratorHarness()
        _ = orchestrator.operation(OrchestratorHarness.start(definition: definition))
        _ = orchestrator.report((0..<101).map { ("side\($0)", .running) } + [("extract", .failed)])
        #expect(orchestrator.core.runs[1]?.state == .failed)
        let first = orchestrator.operation(OperationRequest(request: 2, action: .rerunFailed, run: 1))
        #expect(first.controlSends.count == 100 && Set(first.controlSends.map(\.1.job)).count == 100)
        let second = orchestrator.operation(OperationRequest(request: 3, action: .rerunFailed, run: 1))
        #expect(second.controlSends.isEmpty, "a hundred still wait for their answers")
        for (_, control) in first.controlSends.prefix(50) {
            orchestrator.core.controlResultReceived(ControlResult(request: control.request, status: .ok), now: orchestrator.now)
        }
        // The next goes on after the last asked: the two never asked first, then round to those answered.
        let third = orchestrator.operation(OperationRequest(request: 4, action: .rerunFailed, run: 1))
        #expect(third.controlSends.map(\.1.job) == ["side99", "side100", "audit"] + (0..<47).map { "side\($0)" })
    }

    /// A rerun-job of another job reopens an ended run with a job whose end was missed: its shard is
    /// asked for it, or the run would stay open for ever.
    @Test func aRunReopenedWithAJobWhoseEndWasMissedAsksItsShard() throws {
        var orchestrator = OrchestratorHarness()
        let stored = try Self.endedWithAuditMissed(&orchestrator)
        orchestrator.core.operationReceived(
            OperationRequest(request: 3, action: .rerunJob, run: 1, job: "extract"), from: orchestrator.manager, stored: stored, now: orchestrator.now)
        let rerun = orchestrator.core.finishTurn(now: orchestrator.now)
        #expect(OrchestratorHarness.answers(rerun).map(\.status) == [.ok])
        #expect(rerun.controlSends.filter { $0.1.action == .reportJob }.map(\.1.job) == ["audit"])
        _ = orchestrator.report([("audit", .cancelled)])
        _ = orchestrator.report([("extract", .succeeded)], generation: 1)
        #expect(orchestrator.core.runs[1]?.state.isFinal == true, "it ended: \(String(describing: orchestrator.core.runs[1]?.state))")
    }

    @Test func aRunFailedAtOnceIsForgottenLikeAnyFinalRunOnceEnoughHaveEnded() {
        var configuration = OrchestratorConfiguration(shards: [2])
        configuration.finishedRunsInMemory = 1
        var orchestrator = OrchestratorHarness()
        orchestrator.core = OrchestratorCore(configuration: configuration, epoch: 1, restoring: OrchestratorSnapshot(), now: orchestrator.now)
        let definition = OrchestratorHarness.diamond.replacingOccurrences(of: "\"params\": {\"region\": \"north\"},", with: "\"on_failure\": \"fail-run\",")
        _ = orchestrator.operation(OrchestratorHarness.start(run: 1, request: 1, definition: definition))
        _ = orchestrator.report([("extract", .failed)], run: 1)
        #expect(orchestrator.core.runs[1]?.state == .failed)
        _ = orchestrator.operation(OrchestratorHarness.start(run: 2, request: 2, definition: definition))
        _ = orchestrator.report([("extract", .failed)], run: 2)
        #expect(orchestrator.core.runs[1] == nil && orchestrator.core.runs[2]?.state == .failed)
    }
}

/// The orchestrator keeps the newest answers in memory and every one in its store: a request answered
/// longer ago is answered again from the store, never applied twice.
@Suite struct OperationAnswersTests {
    @Test func aRequestAnsweredBeforeMemoryKeptItIsAnsweredFromTheStoreNotAppliedAgain() {
        let old = OperationResult(request: 3, status: .accepted, detail: "run 1 started")
        // What a restart restored: only the newest answer; request 3's is in the store.
        var core = OrchestratorCore(
            configuration: OrchestratorConfiguration(shards: [1, 2]), epoch: 2,
            restoring: OrchestratorSnapshot(answered: [9: OperationResult(request: 9, status: .ok)]), now: Timestamp(milliseconds: 1))
        let again = OrchestratorHarness.start(run: 1, request: 3)
        #expect(core.storedAnswerNeeded(for: again))
        #expect(!core.storedAnswerNeeded(for: OrchestratorHarness.start(run: 2, request: 10)), "a newer request was never answered")
        core.operationReceived(again, from: Peer([7]), answered: old, now: Timestamp(milliseconds: 1))
        let turn = core.finishTurn(now: Timestamp(milliseconds: 1))
        #expect(turn.runs.isEmpty && turn.submits.isEmpty, "the start was applied again")
        guard case .operationResult(let answer)? = turn.replies.first?.1 else { Issue.record("no answer"); return }
        #expect(answer.status == .accepted && answer.detail == "run 1 started")
        #expect(!core.storedAnswerNeeded(for: again), "the answer is in memory again")
    }
}
