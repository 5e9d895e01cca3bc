import Core
import Foundation
import Testing
import Wire

struct SchedulerHarness {
    var core: SchedulerCore
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

    init() {
        var configuration = SchedulerConfiguration(shards: [1, 2])
        configuration.resendInitial = 2000
        configuration.resendMaximum = 30_000
        core = SchedulerCore(configuration: configuration, epoch: 1, restoring: SchedulerSnapshot(), now: now)
    }

    static func start(run: UInt64 = 1, request: UInt64 = 1, definition: String = diamond) -> OperationRequest {
        OperationRequest(
            request: request, action: .start, run: run, product: "payments", flow: "eod", version: 1, shard: 2, moment: 99,
            params: ["region": "north"], definition: definition)
    }

    mutating func operation(_ request: OperationRequest) -> SchedulerTurn {
        core.operationReceived(request, from: manager, now: now)
        return core.finishTurn(now: now)
    }

    mutating func report(_ statuses: [(String, JobState)], run: UInt64 = 1, generation: UInt32 = 0) -> SchedulerTurn {
        sequence += 1
        let updates = statuses.map { JobStatus(run: run, job: $0.0, generation: generation, state: $0.1, time: now.wire) }
        core.updatesReceived(JobUpdates(publisher: "shard-2", epoch: 1, sequence: sequence, updates: updates), from: 2, now: now)
        return core.finishTurn(now: now)
    }

    static func submitted(_ turn: SchedulerTurn) -> [String] { turn.submits[2]?.map(\.job) ?? [] }
}

@Suite struct SchedulerCoreTests {
    @Test func startSubmitsTheRootsToTheProductsShardAndAnswersAfterCommitting() {
        var scheduler = SchedulerHarness()
        let turn = scheduler.operation(SchedulerHarness.start())
        #expect(SchedulerHarness.submitted(turn) == ["extract", "audit"])
        #expect(turn.submits[1] == nil)
        #expect(turn.runs.map(\.id) == [1])
        #expect(turn.jobs.map(\.job.name).sorted() == ["audit", "extract"])
        #expect(turn.answers.map(\.1.status) == [.accepted])
        #expect(turn.replies.count == 1)
        #expect(turn.updates?.updates.first?.state == .running)
        let spec = turn.submits[2]![0]
        #expect(spec.moment == 99 && spec.product == "payments" && spec.steps.count == 1)
    }

    @Test func theRunsParametersAreMergedUnderTheJobs() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        let turn = scheduler.report([("extract", .succeeded)])
        let check = turn.submits[2]!.first { $0.job == "check" }!
        #expect(check.params == ["region": "south"])
        #expect(turn.submits[2]!.first { $0.job == "load" }!.params == ["region": "north"])
    }

    @Test func aRepeatedOperationIsAnsweredAgainAndAppliedOnce() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        let again = scheduler.operation(SchedulerHarness.start())
        #expect(again.submits.isEmpty && again.runs.isEmpty)
        #expect(again.replies.count == 1)
    }

    @Test func successorsAreReleasedOnceWhenTheirLastPredecessorSucceeds() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        #expect(SchedulerHarness.submitted(scheduler.report([("extract", .queued), ("extract", .running)])) == [])
        #expect(SchedulerHarness.submitted(scheduler.report([("extract", .succeeded)])) == ["check", "load"])
        #expect(SchedulerHarness.submitted(scheduler.report([("extract", .succeeded), ("check", .succeeded)])) == [])
        #expect(SchedulerHarness.submitted(scheduler.report([("check", .succeeded), ("load", .succeeded)])) == ["report"])
        #expect(SchedulerHarness.submitted(scheduler.report([("load", .succeeded)])) == [])
        let done = scheduler.report([("report", .succeeded), ("audit", .succeeded)])
        #expect(done.updates?.updates.last?.state == .succeeded)
        #expect(done.updates?.updates.last?.succeeded == 5)
    }

    @Test func aFailedJobSkipsWhatDependsOnItWhileIndependentBranchesFinish() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        _ = scheduler.report([("extract", .succeeded)])
        let failing = scheduler.report([("check", .failed)])
        #expect(failing.updates?.updates.last?.state == .partlyFailed)
        let run = scheduler.core.runs[1]!
        #expect(run.jobs[3].state == .skipped)
        #expect(run.jobs[2].state == .submitted)
        let end = scheduler.report([("load", .succeeded), ("audit", .succeeded)])
        #expect(SchedulerHarness.submitted(end) == [])
        #expect(end.updates?.updates.last?.state == .failed)
        #expect(end.updates?.updates.last?.detail.hasPrefix("check failed") == true)
    }

    @Test func statusesOfAnotherGenerationOrAFinalJobChangeNothing() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        #expect(scheduler.report([("extract", .succeeded)], generation: 3).submits.isEmpty)
        _ = scheduler.report([("extract", .succeeded)])
        let late = scheduler.report([("extract", .failed)])
        #expect(scheduler.core.runs[1]!.jobs[0].state == .succeeded)
        #expect(late.updates == nil && late.runs.isEmpty)
    }

    @Test func anUnacknowledgedSubmissionIsSentAgainWithADoublingDelayUntilTheShardReportsIt() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        scheduler.now = scheduler.now.adding(milliseconds: 1999)
        scheduler.core.tick(now: scheduler.now)
        #expect(SchedulerHarness.submitted(scheduler.core.finishTurn(now: scheduler.now)) == [])
        scheduler.now = scheduler.now.adding(milliseconds: 1)
        scheduler.core.tick(now: scheduler.now)
        #expect(SchedulerHarness.submitted(scheduler.core.finishTurn(now: scheduler.now)) == ["extract", "audit"])
        _ = scheduler.report([("audit", .queued)])
        scheduler.now = scheduler.now.adding(milliseconds: 4000)
        scheduler.core.tick(now: scheduler.now)
        #expect(SchedulerHarness.submitted(scheduler.core.finishTurn(now: scheduler.now)) == ["extract"])
    }

    @Test func aGapInAShardsStreamFetchesInsteadOfApplying() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        scheduler.sequence = 5  // Messages 1 to 5 were lost.
        let turn = scheduler.report([("extract", .succeeded)])
        #expect(turn.submits.isEmpty)
        #expect(turn.fetches[2] == Fetch(after: 0, limit: 1000))
    }

    @Test func aShardThatLostWhatWasMissedGetsEveryOpenJobAgain() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        _ = scheduler.report([("extract", .queued), ("audit", .queued)])
        scheduler.core.fetchedReceived(Fetched(status: .gone, epoch: 2, sequence: 50, oldest: 40), from: 2, now: scheduler.now)
        scheduler.core.tick(now: scheduler.now)
        #expect(Set(SchedulerHarness.submitted(scheduler.core.finishTurn(now: scheduler.now))) == ["extract", "audit"])
    }

    @Test func aRestartedSchedulerResubmitsOpenJobsAndReleasesWhatWasReady() throws {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        _ = scheduler.report([("extract", .succeeded)])
        var run = scheduler.core.runs[1]!
        // The store lost nothing, but suppose "load" was never written as released.
        run.updateJob(2) { $0.state = .waiting }
        let definition = try FlowFile.parse(SchedulerHarness.diamond, file: "x").get()
        let stored = ScheduledRun(
            id: 1, product: "payments", flow: "eod", version: 1, shard: 2, moment: 99, params: [:], definition: definition,
            jobs: run.jobs, state: .running, started: run.started, finished: .zero, detail: "")
        var restarted = SchedulerCore(
            configuration: SchedulerConfiguration(shards: [1, 2]), epoch: 2,
            restoring: SchedulerSnapshot(runs: [stored], positions: [2: (1, 2)]), now: scheduler.now)
        restarted.tick(now: scheduler.now)
        let turn = restarted.finishTurn(now: scheduler.now)
        #expect(Set(SchedulerHarness.submitted(turn)) == ["check", "load", "audit"])
        #expect(restarted.cursors[2]!.sequence == 2)
    }

    @Test func jobsRestoredAsTheStoreHoldsThemAreResentOnceThenAfterTheInitialDelay() throws {
        let definition = try FlowFile.parse(SchedulerHarness.diamond, file: "x").get()
        // What the store gives back: bare jobs, no resend delay of their own.
        var jobs = definition.jobs.map { ScheduledJob(name: $0.name) }
        jobs[0].state = .submitted
        jobs[4].state = .running
        let stored = ScheduledRun(
            id: 1, product: "payments", flow: "eod", version: 1, shard: 2, moment: 99, params: [:], definition: definition,
            jobs: jobs, state: .running, started: .zero, finished: .zero, detail: "")
        let now = Timestamp(milliseconds: 1_000)
        var configuration = SchedulerConfiguration(shards: [2])
        configuration.resendInitial = 2000
        var core = SchedulerCore(configuration: configuration, epoch: 2, restoring: SchedulerSnapshot(runs: [stored]), now: now)
        core.tick(now: now)
        #expect(core.finishTurn(now: now).submits[2]?.map(\.job) == ["extract", "audit"])
        core.tick(now: now.adding(milliseconds: 1999))
        #expect(core.finishTurn(now: now).submits.isEmpty)
        core.tick(now: now.adding(milliseconds: 2000))
        #expect(core.finishTurn(now: now).submits[2]?.count == 2)
    }

    @Test func anInvalidDefinitionIsRefusedAndChangesNothing() {
        var scheduler = SchedulerHarness()
        let turn = scheduler.operation(SchedulerHarness.start(definition: "{\"product\": 1}"))
        #expect(turn.answers.map(\.1.status) == [.invalid])
        #expect(turn.runs.isEmpty && turn.submits.isEmpty)
    }

    @Test func underFailRunAFailureFailsTheRunAtOnceAndTheShardCancelsTheRest() {
        var scheduler = SchedulerHarness()
        let definition = SchedulerHarness.diamond.replacingOccurrences(of: "\"params\": {\"region\": \"north\"},", with: "\"on_failure\": \"fail-run\",")
        _ = scheduler.operation(SchedulerHarness.start(definition: definition))
        _ = scheduler.report([("extract", .succeeded)])
        let failed = scheduler.report([("check", .failed)])
        #expect(failed.updates?.updates.last?.state == .failed)
        #expect(failed.updates?.updates.last?.detail.hasSuffix("(on_failure: fail-run, so the run failed at once)") == true)
        #expect(failed.controlSends.map(\.1.action) == [.cancelRun])
        #expect(failed.controls.count == 1)
        let run = scheduler.core.runs[1]!
        #expect(run.jobs[3].state == .skipped)
        // The cancellation is resent until the shard answers.
        scheduler.now = scheduler.now.adding(milliseconds: 2000)
        scheduler.core.tick(now: scheduler.now)
        #expect(scheduler.core.finishTurn(now: scheduler.now).controlSends.count == 1)
        scheduler.core.controlResultReceived(ControlResult(request: 1, status: .ok), now: scheduler.now)
        #expect(scheduler.core.finishTurn(now: scheduler.now).answeredControls == [1])
        // Jobs report cancelled afterwards; the run stays failed, and nothing new is submitted.
        let after = scheduler.report([("load", .cancelled), ("audit", .succeeded)])
        #expect(after.submits.isEmpty)
        #expect(scheduler.core.runs[1]!.state == .failed)
    }

    @Test func eachReleaseAndEachSuccessActedOnIsMarkedForTheStoreOnce() {
        var scheduler = SchedulerHarness()
        let started = scheduler.operation(SchedulerHarness.start())
        #expect(started.jobs.filter(\.released).map(\.job.name).sorted() == ["audit", "extract"])
        let succeeded = scheduler.report([("extract", .succeeded)])
        #expect(succeeded.jobs.filter(\.succeeded).map(\.job.name) == ["extract"])
        #expect(succeeded.jobs.filter(\.released).map(\.job.name).sorted() == ["check", "load"])
        let again = scheduler.report([("extract", .succeeded)])
        #expect(again.jobs.isEmpty)
    }

    @Test func aShardThatRestartedIsSentAtOnceWhatItHadNotAccepted() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        scheduler.core.beaconReceived(Beacon(publisher: "shard-2", epoch: 1, sequence: 0), from: 2, now: scheduler.now)
        _ = scheduler.core.finishTurn(now: scheduler.now)
        _ = scheduler.report([("audit", .queued)])
        // The shard comes back with a new epoch: "extract", never accepted, goes again now, not in 2 s.
        scheduler.now = scheduler.now.adding(milliseconds: 100)
        scheduler.core.beaconReceived(Beacon(publisher: "shard-2", epoch: 2, sequence: 1), from: 2, now: scheduler.now)
        scheduler.core.tick(now: scheduler.now)
        #expect(SchedulerHarness.submitted(scheduler.core.finishTurn(now: scheduler.now)) == ["extract"])
    }

    @Test func aRunsStateIsPublishedAtOnceAndItsCountsAloneAsProgressAfterTheInterval() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        // Jobs queued and running move the counts only: nothing to store, nothing published yet.
        let running = scheduler.report([("extract", .running), ("audit", .queued)])
        #expect(running.updates == nil && running.runs.isEmpty && !running.needsCommit)
        #expect(scheduler.core.nextDeadline() == scheduler.now.adding(milliseconds: scheduler.core.configuration.progressInterval))
        scheduler.now = scheduler.now.adding(milliseconds: scheduler.core.configuration.progressInterval)
        scheduler.core.tick(now: scheduler.now)
        let progress = scheduler.core.finishTurn(now: scheduler.now)
        #expect(progress.updates?.updates.map(\.active) == [2])
        #expect(progress.runs.isEmpty)
        // A failure changes the run's state (partly failed): published and stored in the same turn.
        let failed = scheduler.report([("audit", .failed)])
        #expect(failed.updates?.updates.map(\.state) == [.partlyFailed])
        #expect(failed.runs.map(\.id) == [1])
    }

    @Test func aPositionIsStoredWithWhatItsEventsChangedAndAloneOnceASecondAtMost() {
        var scheduler = SchedulerHarness()
        _ = scheduler.operation(SchedulerHarness.start())
        // Statuses that change nothing durable leave the position unstored for now.
        #expect(scheduler.report([("extract", .running)]).positions.isEmpty)
        // A success is stored with the position that covers it.
        let succeeded = scheduler.report([("extract", .succeeded)])
        #expect(succeeded.positions.map(\.sequence) == [2])
        #expect(scheduler.report([("check", .running)]).positions.isEmpty)
        scheduler.now = scheduler.now.adding(milliseconds: scheduler.core.configuration.positionInterval)
        scheduler.core.tick(now: scheduler.now)
        #expect(scheduler.core.finishTurn(now: scheduler.now).positions.map(\.sequence) == [3])
    }

    @Test func aRunFailedAtOnceIsForgottenLikeAnyFinalRunOnceEnoughHaveEnded() {
        var configuration = SchedulerConfiguration(shards: [2])
        configuration.finishedRunsInMemory = 1
        var scheduler = SchedulerHarness()
        scheduler.core = SchedulerCore(configuration: configuration, epoch: 1, restoring: SchedulerSnapshot(), now: scheduler.now)
        let definition = SchedulerHarness.diamond.replacingOccurrences(of: "\"params\": {\"region\": \"north\"},", with: "\"on_failure\": \"fail-run\",")
        _ = scheduler.operation(SchedulerHarness.start(run: 1, request: 1, definition: definition))
        _ = scheduler.report([("extract", .failed)], run: 1)
        #expect(scheduler.core.runs[1]?.state == .failed)
        _ = scheduler.operation(SchedulerHarness.start(run: 2, request: 2, definition: definition))
        _ = scheduler.report([("extract", .failed)], run: 2)
        #expect(scheduler.core.runs[1] == nil && scheduler.core.runs[2]?.state == .failed)
    }
}
