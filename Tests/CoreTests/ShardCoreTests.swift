import Core
import Testing
import Wire

/// Builds jobs and workers for shard tests.
struct ShardHarness {
    var core: ShardCore
    var now = Timestamp(milliseconds: 1_000_000)
    var turns: [ShardTurn] = []

    init(configuration: ShardConfiguration = ShardConfiguration(shard: 1)) {
        core = ShardCore(configuration: configuration, epoch: 1, now: now)
    }

    static func job(
        _ name: String, run: UInt64 = 1, product: String = "payments", retries: UInt16 = 0, generation: UInt32 = 0,
        steps: [StepSpec]? = nil, priority: Int16 = 0, handler: String? = nil, tags: [String] = []
    ) -> JobSpec {
        let step = StepSpec(name: name, kind: handler == nil ? .command : .handler, action: handler ?? "true")
        return JobSpec(
            run: run, job: name, generation: generation, product: product, flow: "eod", moment: 7, priority: priority,
            type: "t", tags: tags, retries: retries, backoff: 1000, timeout: 0, params: ["region": "north"],
            steps: steps ?? [step])
    }

    /// What the store would hold after every turn so far: each job's and task's last row written.
    var stored: (jobs: [JobIdentity: ShardJob], tasks: [UInt64: ShardTask]) {
        var jobs: [JobIdentity: ShardJob] = [:]
        var tasks: [UInt64: ShardTask] = [:]
        for turn in turns {
            // A logged job comes back unless its row was written: a row is always written after the log's.
            for job in turn.submissions where jobs[job.identity] == nil { jobs[job.identity] = job }
            for job in turn.jobs { jobs[job.identity] = job }
            for task in turn.tasks + turn.leases { tasks[task.id] = task }
        }
        return (jobs, tasks)
    }

    mutating func advance(_ milliseconds: Int64) {
        now = now.adding(milliseconds: milliseconds)
        core.tick(now: now)
    }

    @discardableResult
    mutating func turn() -> ShardTurn {
        let turn = core.finishTurn(now: now)
        turns.append(turn)
        return turn
    }

    mutating func submit(_ jobs: [JobSpec], finished: [JobIdentity: JobStatus] = [:]) -> ShardTurn {
        core.submitted(jobs, lookup: SubmissionLookup(finished: finished), now: now)
        return turn()
    }

    mutating func send(_ message: Message, from peer: Peer) -> ShardTurn {
        core.received(message, from: peer, now: now)
        return turn()
    }

    static func ready(_ name: String, slots: UInt32, session: UInt64 = 1, held: [TaskRef] = [], handlers: [String] = [], tags: [String] = []) -> Message {
        .ready(Ready(worker: name, session: session, slots: slots, heartbeat: 1000, commands: 1, tags: tags, handlers: handlers, held: held))
    }

    static func tasks(in turn: ShardTurn, to peer: Peer) -> [TaskSpec] {
        turn.messages.flatMap { target, message -> [TaskSpec] in
            guard target == peer, case .tasks(let tasks) = message else { return [] }
            return tasks.tasks
        }
    }

    static func result(_ spec: TaskSpec, _ outcome: Outcome, error: String = "", data: [UInt8] = []) -> Message {
        .results(Results(results: [TaskResult(task: spec.task, attempt: spec.attempt, outcome: outcome, started: 0, duration: 1, error: error, data: data)]))
    }

    static func states(_ turn: ShardTurn) -> [String] {
        turn.updates?.updates.map { "\($0.job):\($0.state.name)" } ?? []
    }
}

@Suite struct ShardCoreTests {
    let alice = Peer([1])
    let bob = Peer([2])

    @Test func submittedJobIsCommittedQueuedAndPublished() {
        var shard = ShardHarness()
        let turn = shard.submit([ShardHarness.job("extract")])
        // A job of one task goes whole to the submission log; its row is written when it ends.
        #expect(turn.jobs.isEmpty)
        #expect(turn.submissions.map(\.spec.job) == ["extract"])
        #expect(turn.tasks.isEmpty)  // A task is stored at its first lease; until then its job implies it.
        #expect(turn.updates?.sequence == 1)
        #expect(turn.updates?.publisher == "shard-1")
        #expect(ShardHarness.states(turn) == ["extract:queued"])
    }

    /// A job whose task a worker takes in the turn that queues it is published running, not queued with
    /// a task running.
    @Test func aJobHandedOutInTheTurnThatQueuesItIsPublishedRunning() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 1), from: alice)
        let turn = shard.submit([ShardHarness.job("extract")])
        #expect(turn.updates?.updates.map { "\($0.job):\($0.state.name) \($0.running)" } == ["extract:running 1"])
    }

    @Test func aRepeatedKeyIsNeverQueuedTwiceAndItsStatusIsPublishedAgain() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("extract")])
        let again = shard.submit([ShardHarness.job("extract")])
        #expect(again.jobs.isEmpty && again.tasks.isEmpty)
        #expect(ShardHarness.states(again) == ["extract:queued"])
        #expect(shard.core.tasks.count == 1)
        // A key the store holds as finished is announced as the store says.
        let done = JobStatus(run: 1, job: "old", state: .succeeded, time: 5)
        let finished = shard.submit([ShardHarness.job("old")], finished: [done.identity: done])
        #expect(finished.tasks.isEmpty)
        #expect(finished.updates?.updates == [done])
    }

    /// A worker that rejects a task cannot run its kind: the shard offers it none again while it is
    /// registered, and the task waits a backoff, saying who rejected it and why, before another takes it.
    @Test func aRejectedTaskGoesToAnotherWorkerAfterABackoffAndNeverBackToTheOneThatRejectedIt() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("load", handler: "ledger")])
        let offered = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 2, handlers: ["ledger"]), from: alice), to: alice)
        #expect(offered.map(\.job) == ["load"])
        let rejected = Message.results(Results(results: [
            TaskResult(task: offered[0].task, attempt: offered[0].attempt, outcome: .rejected, started: 0, duration: 0, error: "no handler \"ledger\" here"),
        ]))
        let turn = shard.send(rejected, from: alice)
        #expect(ShardHarness.states(turn) == ["load:retrying"])
        #expect(shard.core.tasks[offered[0].task]?.error == "worker w1 rejected it: no handler \"ledger\" here")
        // Not at once, even to another worker that offers the handler, and never to the one that rejected it.
        #expect(ShardHarness.tasks(in: shard.send(.pull(Pull(credit: 1)), from: alice), to: alice).isEmpty)
        let waiting = shard.send(ShardHarness.ready("w2", slots: 1, handlers: ["ledger"]), from: bob)
        #expect(ShardHarness.welcomed(bob, in: waiting) && ShardHarness.tasks(in: waiting, to: bob).isEmpty)
        shard.advance(1_000)
        let after = shard.turn()
        #expect(ShardHarness.tasks(in: after, to: alice).isEmpty)
        // After the backoff, the other worker takes it.
        let other = ShardHarness.tasks(in: after, to: bob)
        #expect(other.map(\.job) == ["load"] && other.first?.attempt == 2)
    }

    /// A worker that rejects a batched command loses only its batches; one that rejects a handler's set
    /// loses only the set, then the handler if it rejects again.
    @Test func aRejectionTakesBackTheNarrowestOffer() {
        var registry = WorkerRegistry(configuration: ShardConfiguration(shard: 1))
        let ready = Ready(worker: "w", session: 1, slots: 2, heartbeat: 1000, commands: 1, handlers: ["post"], sets: [SetOffer(handler: "post", limit: 8)], batches: 1)
        _ = registry.register(ready, peer: alice, now: .zero)
        registry.cannotRun(Requirement(kind: .command, handler: "", tags: [], batched: true), on: alice)
        #expect(registry[alice]?.capabilities.commands == true && registry[alice]?.capabilities.batches == false)
        registry.cannotRun(Requirement(kind: .handler, handler: "post", tags: []), on: alice)
        #expect(registry[alice]?.sets["post"] == nil && registry[alice]?.capabilities.handlers == ["post"])
        registry.cannotRun(Requirement(kind: .handler, handler: "post", tags: []), on: alice)
        #expect(registry[alice]?.capabilities.handlers.isEmpty == true)
        registry.cannotRun(Requirement(kind: .command, handler: "", tags: []), on: alice)
        #expect(registry[alice]?.capabilities.commands == false)
    }

    @Test func aTaskRejectedByEveryWorkerFailsOnceLostTooOftenSayingWhy() {
        var configuration = ShardConfiguration(shard: 1)
        configuration.maximumLosses = 2
        var shard = ShardHarness(configuration: configuration)
        _ = shard.submit([ShardHarness.job("load", handler: "ledger")])
        var last: ShardTurn?
        for round in 0..<3 {
            // A new connection each time: a READY starts afresh, and this worker rejects again.
            let peer = Peer([UInt8(10 + round)])
            let offered = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w\(round)", slots: 1, handlers: ["ledger"]), from: peer), to: peer)
            #expect(offered.count == 1, "round \(round)")
            guard let task = offered.first else { return }
            last = shard.send(
                .results(Results(results: [TaskResult(task: task.task, attempt: task.attempt, outcome: .rejected, started: 0, duration: 0, error: "busy")])),
                from: peer)
            shard.advance(120_000)
        }
        #expect(last.map(ShardHarness.states) == ["load:failed"])
        #expect(last?.tasks.first?.error == "lost 3 times; the last time worker w2 rejected it: busy")
    }

    @Test func workerGetsWelcomeThenNeverMoreTasksThanItsCredit() {
        var shard = ShardHarness()
        _ = shard.submit((0..<5).map { ShardHarness.job("j\($0)") })
        let welcome = shard.send(ShardHarness.ready("w1", slots: 2), from: alice)
        guard case .welcome(let terms) = welcome.messages.first?.1 else { Issue.record("no WELCOME"); return }
        #expect(terms.heartbeat == 1000 && terms.liveness == 3 && terms.shard == 1)
        let leased = ShardHarness.tasks(in: welcome, to: alice)
        #expect(leased.count == 2)
        #expect(leased.allSatisfy { $0.attempt == 1 })
        // The leases are in the same turn, committed before the TASKS message goes out: in its lease log's
        // row, since nothing else changed those tasks (their jobs' rows were written the turn before).
        #expect(welcome.leases.filter { $0.state == .running && $0.leaseLogged }.count == 2 && welcome.tasks.isEmpty)
        #expect(ShardHarness.tasks(in: shard.send(.heartbeat, from: alice), to: alice).isEmpty)
        #expect(ShardHarness.tasks(in: shard.send(.pull(Pull(credit: 1)), from: alice), to: alice).count == 1)
    }

    @Test func successfulResultFinishesTheJobAndIsReceipted() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("extract")])
        let task = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice), to: alice)[0]
        let done = shard.send(ShardHarness.result(task, .succeeded), from: alice)
        #expect(ShardHarness.states(done) == ["extract:succeeded"])
        #expect(done.messages.contains { $0.0 == alice && $0.1 == .receipt(Receipt(tasks: [task.ref])) })
        #expect(shard.core.jobs.isEmpty && shard.core.tasks.isEmpty)  // Final jobs leave memory once committed.
    }

    @Test func failedAttemptIsRetriedAfterItsBackoffWithTheNextAttemptNumber() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("check", retries: 2)])
        let first = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice), to: alice)[0]
        let failed = shard.send(ShardHarness.result(first, .failed, error: "exit status 3"), from: alice)
        #expect(ShardHarness.states(failed) == ["check:retrying"])
        #expect(failed.updates?.updates.first?.detail == "exit status 3")
        _ = shard.send(.pull(Pull(credit: 1)), from: alice)
        shard.advance(999)
        #expect(ShardHarness.tasks(in: shard.turn(), to: alice).isEmpty)  // Backoff 1 s, plus up to 20% jitter.
        shard.advance(201)
        let second = ShardHarness.tasks(in: shard.turn(), to: alice)
        #expect(second.map(\.attempt) == [2])
        #expect(second.first?.task == first.task)
    }

    @Test func failureWithNoRetriesLeftFailsTheJob() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("check", retries: 0)])
        let task = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice), to: alice)[0]
        let failed = shard.send(ShardHarness.result(task, .timedOut), from: alice)
        #expect(ShardHarness.states(failed) == ["check:failed"])
        #expect(failed.updates?.updates.first?.detail == "timed out")
    }

    @Test func staleOrRepeatedResultChangesNothingButIsReceipted() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("extract", retries: 1)])
        let task = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice), to: alice)[0]
        var wrongAttempt = task
        wrongAttempt.attempt = 9
        let stale = shard.send(ShardHarness.result(wrongAttempt, .failed), from: alice)
        #expect(stale.updates == nil && stale.tasks.isEmpty)
        #expect(stale.messages.contains { $0.1 == .receipt(Receipt(tasks: [wrongAttempt.ref])) })
        _ = shard.send(ShardHarness.result(task, .succeeded), from: alice)
        let repeated = shard.send(ShardHarness.result(task, .failed), from: alice)
        #expect(repeated.updates == nil && repeated.tasks.isEmpty)
    }

    /// Found by a new user: a handler job that logged on its failed attempt and not on the one that
    /// succeeded showed the failed attempt's log as its output. A job's output is its last attempt's.
    @Test func aJobsOutputIsItsLastAttemptsLogNotAnEarlierOne() throws {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("flaky", retries: 1)])
        let first = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice), to: alice)[0]
        let failed = TaskResult(task: first.task, attempt: first.attempt, outcome: .failed, started: 0, duration: 1, log: "w1:/logs/1/flaky.1.log", error: "boom")
        let retrying = shard.send(.results(Results(results: [failed])), from: alice)
        #expect(retrying.updates?.updates.first?.output == "w1:/logs/1/flaky.1.log")
        _ = shard.send(.pull(Pull(credit: 1)), from: alice)
        shard.advance(1200)  // the backoff, 1 s and up to 20% jitter
        let second = try #require(ShardHarness.tasks(in: shard.turn(), to: alice).first)
        let succeeded = shard.send(ShardHarness.result(second, .succeeded), from: alice)
        #expect(ShardHarness.states(succeeded) == ["flaky:succeeded"])
        #expect(succeeded.updates?.updates.first?.output == "", "the second attempt logged nowhere")
    }

    @Test func silentWorkerLosesItsLeasesAndTheTaskRunsElsewhereWithTheNextAttempt() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("load")])
        let first = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice), to: alice)[0]
        _ = shard.send(ShardHarness.ready("w2", slots: 1), from: bob)
        // Bob keeps talking; alice falls silent for three intervals.
        for _ in 0..<3 {
            shard.advance(1000)
            _ = shard.send(.heartbeat, from: bob)
        }
        let turn = shard.turn()
        let again = ShardHarness.tasks(in: shard.turns.suffix(4).reduce(into: ShardTurn()) { $0.messages += $1.messages }, to: bob)
        #expect(again.map(\.task) == [first.task])
        #expect(again.map(\.attempt) == [2])
        _ = turn
        // The late result of the lost attempt is stale.
        let late = shard.send(ShardHarness.result(first, .succeeded), from: bob)
        #expect(late.updates == nil)
    }

    @Test func unknownPeerIsToldToRegister() {
        var shard = ShardHarness()
        let turn = shard.send(.pull(Pull(credit: 3)), from: alice)
        #expect(turn.messages.count == 1)
        guard case .disconnect(let disconnect) = turn.messages[0].1 else { Issue.record("\(turn.messages)"); return }
        #expect(disconnect.status == .unknownPeer)
    }

    @Test func heartbeatIsSentToAnIdleWorker() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 1), from: alice)
        shard.advance(1000)
        _ = shard.send(.heartbeat, from: alice)  // Hearing from alice does not stop the shard from heartbeating.
        #expect(shard.turns.last!.messages.contains { $0.0 == alice && $0.1 == .heartbeat })
    }

    @Test func stepsRunInOrderAndPartitionsOfAStepInParallel() {
        var shard = ShardHarness()
        let steps = [
            StepSpec(name: "split", kind: .command, action: "a", partitions: 3),
            StepSpec(name: "merge", kind: .command, action: "b", partitions: 1),
        ]
        _ = shard.submit([ShardHarness.job("big", steps: steps)])
        let firstStep = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 10), from: alice), to: alice)
        #expect(firstStep.map(\.stepName) == ["split", "split", "split"])
        #expect(firstStep.map(\.partition) == [0, 1, 2])
        #expect(firstStep.allSatisfy { $0.partitions == 3 && $0.steps == 2 })
        _ = shard.send(ShardHarness.result(firstStep[0], .succeeded), from: alice)
        let partial = shard.send(ShardHarness.result(firstStep[1], .succeeded), from: alice)
        #expect(partial.updates?.updates.first.map { ($0.succeeded, $0.running) } ?? (0, 0) == (2, 1))
        let next = shard.send(ShardHarness.result(firstStep[2], .succeeded), from: alice)
        let merge = ShardHarness.tasks(in: next, to: alice)
        #expect(merge.map(\.stepName) == ["merge"])
        #expect(next.updates?.updates.last?.step == 1)
        let done = shard.send(ShardHarness.result(merge[0], .succeeded), from: alice)
        #expect(done.updates?.updates.last.map { ($0.state, $0.succeeded) } ?? (.failed, 0) == (.succeeded, 4))
    }

    @Test func aStepReceivesTheResultOfItsPartitionOrAllOfThePreviousStep() {
        var shard = ShardHarness()
        let steps = [
            StepSpec(name: "split", kind: .command, action: "a", partitions: 2, partitionKeys: ["eu", "us"]),
            StepSpec(name: "check", kind: .command, action: "b", partitions: 2),
            StepSpec(name: "merge", kind: .command, action: "c", partitions: 1),
        ]
        _ = shard.submit([ShardHarness.job("big", steps: steps)])
        var leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 10), from: alice), to: alice)
        #expect(leased.map(\.partitionKey) == ["eu", "us"] && leased.allSatisfy { $0.inputs.isEmpty })
        for (index, task) in leased.enumerated() {
            let done = shard.send(ShardHarness.result(task, .succeeded, data: [UInt8(index + 1)]), from: alice)
            if index == 1 { leased = ShardHarness.tasks(in: done, to: alice) }
        }
        // The same number of partitions: each receives its own partition's result.
        #expect(leased.map { $0.inputs.map(\.data) } == [[[1]], [[2]]])
        #expect(leased[0].inputs[0].partitionKey == "eu" && leased[0].inputs[0].step == 0)
        for (index, task) in leased.enumerated() {
            let done = shard.send(ShardHarness.result(task, .succeeded, data: [UInt8(10 + index)]), from: alice)
            if index == 1 { leased = ShardHarness.tasks(in: done, to: alice) }
        }
        // Fewer partitions: the one receives them all, in partition order.
        #expect(leased.map { $0.inputs.map(\.data) } == [[[10], [11]]])
    }

    @Test func aResumedGenerationRunsOnlyWhatTheEarlierOneDidNotFinish() {
        var shard = ShardHarness()
        let steps = [
            StepSpec(name: "split", kind: .command, action: "a", partitions: 1),
            StepSpec(name: "work", kind: .command, action: "b", partitions: 4),
        ]
        var spec = ShardHarness.job("big", generation: 1, steps: steps)
        spec.resume = 1
        let carried = CarriedWork(
            step: 1, completed: 1,
            succeeded: [TaskInput(job: "big", step: 1, partition: 0, data: [7]), TaskInput(job: "big", step: 1, partition: 2, data: [8])],
            previous: [TaskInput(job: "big", step: 0, partition: 0, data: [1])])
        shard.core.submitted([spec], lookup: SubmissionLookup(carried: [spec.identity: carried]), now: shard.now)
        let accepted = shard.turn()
        #expect(accepted.updates?.updates.first.map { ($0.step, $0.succeeded, $0.pending) } ?? (0, 0, 0) == (1, 3, 2))
        // The carried results are written under the new generation, so that a later rerun finds them.
        #expect(accepted.tasks.filter { $0.state == .succeeded }.map(\.data).sorted { $0.first! < $1.first! } == [[1], [7], [8]])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 10), from: alice), to: alice)
        #expect(leased.map(\.partition) == [1, 3])
        #expect(leased.allSatisfy { $0.inputs.map(\.data) == [[1]] && $0.step == 1 })
    }

    @Test func aPausedRunsTasksWaitUntilItIsResumedEvenAcrossARestart() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5), ShardHarness.job("b", run: 6)])
        shard.core.controlReceived(Control(request: 1, action: .pauseRun, run: 5), from: bob, now: shard.now)
        let paused = shard.turn()
        #expect(paused.pauses == [5: true])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 10), from: alice), to: alice)
        #expect(leased.map(\.job) == ["b"])
        var restarted = ShardCore(
            configuration: ShardConfiguration(shard: 1), epoch: 2,
            restoring: { var snapshot = ShardSnapshot(jobs: [shard.core.jobs.values.first { $0.spec.job == "a" }!]); snapshot.paused = [5]; return snapshot }(),
            now: shard.now)
        restarted.received(ShardHarness.ready("w2", slots: 10), from: alice, now: shard.now)
        #expect(ShardHarness.tasks(in: restarted.finishTurn(now: shard.now), to: alice).isEmpty)
        restarted.controlReceived(Control(request: 2, action: .resumeRun, run: 5), from: bob, now: shard.now)
        let resumed = restarted.finishTurn(now: shard.now)
        #expect(resumed.pauses == [5: false])
        #expect(ShardHarness.tasks(in: resumed, to: alice).map(\.job) == ["a"])
    }

    @Test func productsTakeTurnsSoABacklogDoesNotHoldOthersBack() {
        var shard = ShardHarness()
        _ = shard.submit((0..<50).map { ShardHarness.job("heavy\($0)", product: "heavy") })
        _ = shard.submit([ShardHarness.job("light", product: "light")])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 2), from: alice), to: alice)
        #expect(Set(leased.map(\.product)) == ["heavy", "light"])
    }

    @Test func headroomKeepsFreeSlotsForALightProductWhichGetsOneInTheTurnItArrives() {
        var configuration = ShardConfiguration(shard: 1)
        configuration.headroom = 2
        configuration.headroomWindow = 10_000
        var shard = ShardHarness(configuration: configuration)
        _ = shard.submit([ShardHarness.job("light0", product: "light")])
        _ = shard.submit((0..<50).map { ShardHarness.job("heavy\($0)", product: "heavy") })
        // Two workers of 4 slots: the light task and 5 heavy ones; the last 2 free slots stay free.
        let first = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 4), from: alice), to: alice)
        let second = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w2", slots: 4), from: bob), to: bob)
        #expect((first + second).filter { $0.product == "heavy" }.count == 5)
        #expect((first + second).filter { $0.product == "light" }.count == 1)
        // The light task ends; its slot goes back as credit and the heavy product, over its share, leaves it.
        let light = (first + second).first { $0.product == "light" }!
        let holder = first.contains(light) ? alice : bob
        shard.advance(5)
        #expect(ShardHarness.tasks(in: shard.send(ShardHarness.result(light, .succeeded), from: holder), to: holder).isEmpty)
        // Its worker gives the slot back: 3 free, and the heavy product takes one (on either worker).
        let pulled = shard.send(.pull(Pull(credit: 1)), from: holder)
        #expect((ShardHarness.tasks(in: pulled, to: alice) + ShardHarness.tasks(in: pulled, to: bob)).map(\.product) == ["heavy"])
        // A light job arrives: it goes out in the turn that queued it.
        shard.advance(200)
        let turn = shard.submit([ShardHarness.job("light1", product: "light")])
        let sent = ShardHarness.tasks(in: turn, to: alice) + ShardHarness.tasks(in: turn, to: bob)
        #expect(sent.map(\.job) == ["light1"])
        #expect(turn.updates?.updates.first { $0.job == "light1" }.map { $0.started == $0.queued } == true)
        // It ends and its slot comes back: 2 free again, both held back from the heavy product.
        shard.advance(5)
        let worker = ShardHarness.tasks(in: turn, to: alice).isEmpty ? bob : alice
        _ = shard.send(ShardHarness.result(sent[0], .succeeded), from: worker)
        let back = shard.send(.pull(Pull(credit: 1)), from: worker)
        #expect(ShardHarness.tasks(in: back, to: alice).isEmpty && ShardHarness.tasks(in: back, to: bob).isEmpty)
    }

    @Test func priorityThenAgeOrderWithinAProduct() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("old"), ShardHarness.job("new"), ShardHarness.job("urgent", priority: 5)])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 3), from: alice), to: alice)
        #expect(leased.map(\.job) == ["urgent", "old", "new"])
    }

    @Test func handlerTasksGoOnlyToWorkersThatRegisteredTheHandler() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("load", handler: "load-ledger"), ShardHarness.job("gpu", tags: ["gpu"])])
        #expect(ShardHarness.tasks(in: shard.send(ShardHarness.ready("plain", slots: 5), from: alice), to: alice).isEmpty)
        let capable = shard.send(ShardHarness.ready("able", slots: 5, handlers: ["load-ledger"], tags: ["gpu"]), from: bob)
        #expect(Set(ShardHarness.tasks(in: capable, to: bob).map(\.job)) == ["load", "gpu"])
    }

    @Test func restartedShardKeepsTheLeaseOfAWorkerThatRegistersAgainAndTakesBackTheRest() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a"), ShardHarness.job("b")])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1, session: 7), from: alice), to: alice)
        _ = shard.send(ShardHarness.ready("w2", slots: 1, session: 8), from: bob)
        // Gather what the store would hold, and start a new shard from it.
        let (jobs, tasks) = shard.stored
        let snapshot = ShardSnapshot(jobs: Array(jobs.values), tasks: Array(tasks.values), sequence: shard.core.sequence, nextTaskID: 3, nextJobID: 3)
        var restarted = ShardHarness()
        restarted.core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: 2, restoring: snapshot, now: restarted.now)
        // Alice comes back holding her task; bob never does.
        let welcome = restarted.send(ShardHarness.ready("w1", slots: 0, session: 7, held: [leased[0].ref]), from: Peer([9]))
        #expect(!welcome.messages.contains { if case .cancel = $0.1 { true } else { false } })
        let result = restarted.send(ShardHarness.result(leased[0], .succeeded), from: Peer([9]))
        #expect(ShardHarness.states(result) == ["\(leased[0].job):succeeded"])
        restarted.advance(6000)
        let lost = restarted.turn()
        #expect(ShardHarness.states(lost) == ["\(leased[0].job == "a" ? "b" : "a"):queued"])
    }

    /// Under `durability normal` a power loss can take back the commit of a lease already sent. The
    /// worker still holds that attempt when it registers again: the shard cancels it, and the task's next
    /// lease has a number the worker has not seen, or the worker would drop it as one it holds already.
    @Test func anAttemptALostCommitHandedOutIsNeverHandedOutAgain() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", retries: 2)])
        let first = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1, session: 7), from: alice), to: alice)
        _ = shard.send(ShardHarness.result(first[0], .failed), from: alice)
        _ = shard.send(.pull(Pull(credit: 1)), from: alice)
        // What the store holds once the failure is committed: the task retrying after attempt 1.
        let (jobs, tasks) = shard.stored
        let snapshot = ShardSnapshot(jobs: Array(jobs.values), tasks: Array(tasks.values), sequence: shard.core.sequence, nextTaskID: 2, nextJobID: 2)
        shard.advance(2000)
        let second = ShardHarness.tasks(in: shard.turn(), to: alice)
        #expect(second.map(\.attempt) == [2])  // Sent, and its commit then lost with the power.

        var restarted = ShardHarness()
        restarted.now = shard.now
        restarted.core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: 2, restoring: snapshot, now: shard.now)
        let welcome = restarted.send(ShardHarness.ready("w1", slots: 1, session: 7, held: [second[0].ref]), from: alice)
        #expect(welcome.messages.contains { if case .cancel(let cancel) = $0.1 { cancel.tasks == [second[0].ref] } else { false } })
        #expect(welcome.tasks.contains { $0.id == second[0].task && $0.attempt == 2 })  // The number skipped, committed.
        // The worker ends the attempt it was told to cancel, and gives its slot back.
        _ = restarted.send(ShardHarness.result(second[0], .cancelled), from: alice)
        _ = restarted.send(.pull(Pull(credit: 1)), from: alice)
        restarted.advance(1)  // The retry was due before the restart.
        let again = ShardHarness.tasks(in: restarted.turn(), to: alice)
        #expect(again.map(\.task) == [second[0].task] && again.map(\.attempt) == [3])
    }

    /// A READY cannot make a task skip more numbers than lost commits could have handed out: one naming
    /// the last attempt number a task could have changes nothing, and the task runs on as attempt 1.
    @Test func aReadyCannotUseUpATasksAttemptNumbers() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a")])
        let registered = shard.send(ShardHarness.ready("w1", slots: 0, session: 7, held: [TaskRef(task: 1, attempt: .max)]), from: alice)
        #expect(registered.messages.contains { if case .cancel(let cancel) = $0.1 { cancel.tasks.map(\.attempt) == [.max] } else { false } })
        #expect(registered.tasks.isEmpty)
        let leased = ShardHarness.tasks(in: shard.send(.pull(Pull(credit: 1)), from: alice), to: alice)
        #expect(leased.map(\.task) == [1] && leased.map(\.attempt) == [1])
    }

    /// Under `durability normal` a power loss can take back the commit of a lease already sent. The
    /// shard restarted from the store before it gives the task an ID and attempt number again; the worker
    /// still holds the first attempt's result, unreceipted, and names it in its READY. That attempt is
    /// cancelled, the task's next lease takes a higher number, and the old result, sent again, changes
    /// nothing: a result never lands on a lease it was not for.
    @Test func aLeaseAPowerLossTookBackIsCancelledAndItsNumberNeverHandedOutAgain() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a")])
        // What the store keeps through the power loss: the job, and no lease.
        let (jobs, _) = shard.stored
        let lost = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1, session: 7), from: alice), to: alice)
        #expect(lost.map(\.attempt) == [1])
        var restarted = ShardHarness()
        restarted.core = ShardCore(
            configuration: ShardConfiguration(shard: 1), epoch: 2,
            restoring: ShardSnapshot(jobs: Array(jobs.values), tasks: [], sequence: 1, nextTaskID: 1, nextJobID: 2), now: restarted.now)
        #expect(restarted.core.tasks[lost[0].task]?.state == .pending, "the same task ID given again")
        let back = restarted.send(ShardHarness.ready("w1", slots: 0, session: 7, held: [lost[0].ref]), from: alice)
        #expect(back.messages.contains { $0.0 == alice && $0.1 == .cancel(Cancel(grace: 0, tasks: [lost[0].ref])) })
        let again = ShardHarness.tasks(in: restarted.send(.pull(Pull(credit: 1)), from: alice), to: alice)
        #expect(again.map(\.task) == [lost[0].task] && again.map(\.attempt) == [2])
        #expect(ShardHarness.states(restarted.send(ShardHarness.result(lost[0], .succeeded), from: alice)).isEmpty)
        #expect(ShardHarness.states(restarted.send(ShardHarness.result(again[0], .succeeded), from: alice)) == ["a:succeeded"])
    }

    /// A deep queue comes back a batch at a time: the jobs a worker may name (a task of them leased)
    /// and a first batch at once, the rest between turns, while workers are served from what is back.
    @Test func aRestartedShardServesItsFirstBatchWhileItPutsBackTheRest() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("held")])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1, session: 7), from: alice), to: alice)
        _ = shard.submit((1...7).map { ShardHarness.job("q\($0)", run: 2) })
        let (jobs, tasks) = shard.stored
        let waiting = jobs.values.filter { $0.spec.job != "held" }.sorted { $0.id < $1.id }
        // What the store gives at the start: the leased job and a first batch of two, and more to come.
        var snapshot = ShardSnapshot(
            jobs: [jobs.values.first { $0.spec.job == "held" }!] + waiting.prefix(2), tasks: Array(tasks.values), sequence: shard.core.sequence,
            nextTaskID: 20, nextJobID: 20)
        snapshot.more = true
        snapshot.openJobs = 8
        var restarted = ShardHarness()
        restarted.core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: 2, restoring: snapshot, now: restarted.now)
        #expect(restarted.core.isRestoring)
        // The worker holding its task claims it; another is served from the first batch.
        let claimed = restarted.send(ShardHarness.ready("w1", slots: 0, session: 7, held: [leased[0].ref]), from: alice)
        #expect(!claimed.messages.contains { if case .cancel = $0.1 { true } else { false } })
        var handed = ShardHarness.tasks(in: restarted.send(ShardHarness.ready("w2", slots: 10, session: 8), from: bob), to: bob).map(\.job)
        #expect(handed == ["q1", "q2"])
        for (index, batch) in [Array(waiting[2..<4]), Array(waiting[4..<6]), Array(waiting[6...])].enumerated() {
            restarted.core.restore(batch, last: index == 2, now: restarted.now)
            handed += ShardHarness.tasks(in: restarted.turn(), to: bob).map(\.job)
        }
        #expect(!restarted.core.isRestoring)
        #expect(handed == (1...7).map { "q\($0)" }, "each task once, in the order queued")
        #expect(restarted.core.jobs.count == 8)
        let result = restarted.send(ShardHarness.result(leased[0], .succeeded), from: alice)
        #expect(ShardHarness.states(result) == ["held:succeeded"])
    }

    /// A worker granted a longer heartbeat than the shard's own may stay silent that long before it
    /// notices the shard restarted: its restored lease waits for it accordingly.
    @Test func aRestoredLeaseWaitsAsLongAsItsWorkersHeartbeatAllows() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("slow")])
        let ready = Message.ready(Ready(worker: "w1", session: 7, slots: 1, heartbeat: 5000, commands: 1))
        let leased = ShardHarness.tasks(in: shard.send(ready, from: alice), to: alice)
        let (jobs, tasks) = shard.stored
        #expect(tasks.values.first?.lease?.heartbeat == 5000)
        var restarted = ShardHarness()
        restarted.core = ShardCore(
            configuration: ShardConfiguration(shard: 1), epoch: 2,
            restoring: ShardSnapshot(jobs: Array(jobs.values), tasks: Array(tasks.values), sequence: 1, nextTaskID: 10, nextJobID: 10), now: restarted.now)
        // Past the shard's own grace (2 × 3 × 1 s), within the worker's (2 × 3 × 5 s): still kept.
        restarted.advance(10_000)
        #expect(ShardHarness.states(restarted.turn()).isEmpty)
        let back = Message.ready(Ready(worker: "w1", session: 7, slots: 0, heartbeat: 5000, commands: 1, held: [leased[0].ref]))
        let claimed = restarted.send(back, from: bob)
        #expect(!claimed.messages.contains { if case .cancel = $0.1 { true } else { false } })
        #expect(ShardHarness.states(restarted.send(ShardHarness.result(leased[0], .succeeded), from: bob)) == ["slow:succeeded"])
    }

    @Test func workerThatRestartedLosesItsOldLeasesAndIsToldToCancelStaleOnes() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a")])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1, session: 1), from: alice), to: alice)
        // The same worker, a new process, the old one silent for two intervals (killed): its session
        // differs, and it claims the old attempt.
        shard.advance(2001)
        let again = shard.send(ShardHarness.ready("w1", slots: 1, session: 2, held: [leased[0].ref]), from: bob)
        #expect(again.messages.contains { $0.0 == bob && $0.1 == .cancel(Cancel(grace: 0, tasks: [leased[0].ref])) })
        let rerun = ShardHarness.tasks(in: again, to: bob)
        #expect(rerun.map(\.attempt) == [2])
    }

    /// Found by a new user's rolling restart of a Python worker under a fixed name: the new process's READY
    /// took back the attempt the old one still ran, to run it again at once; the old one's heartbeat then
    /// met 401, its READY took the new one's, and the task ran three times, two at once. A second live
    /// process under a name is turned away (409) until the first stops.
    @Test func aSecondLiveProcessUnderAWorkersNameWaitsUntilTheFirstStops() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a")])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1, session: 1), from: alice), to: alice)
        shard.advance(500)
        let refused = shard.send(ShardHarness.ready("w1", slots: 4, session: 2), from: bob)
        #expect(refused.messages.contains { $0.0 == bob && { if case .disconnect(let d) = $0.1 { d.status == .conflict } else { false } }($0) })
        #expect(refused.namesInUse == ["w1"] && ShardHarness.tasks(in: refused, to: bob).isEmpty)
        #expect(!refused.messages.contains { $0.0 == alice }, "the first keeps its lease, told nothing")
        // The first drains, delivers its result, and stops: the second registers.
        _ = shard.send(ShardHarness.result(leased[0], .succeeded), from: alice)
        _ = shard.send(.disconnect(Disconnect(status: .unavailable, reason: "worker stopping")), from: alice)
        let welcomed = shard.send(ShardHarness.ready("w1", slots: 4, session: 2), from: bob)
        #expect(welcomed.messages.contains { $0.0 == bob && { if case .welcome = $0.1 { true } else { false } }($0) })
        #expect(ShardHarness.states(welcomed).isEmpty && welcomed.namesInUse.isEmpty)
    }

    @Test func aTaskThatKeepsLosingItsWorkerFailsInsteadOfLoopingForever() {
        var configuration = ShardConfiguration(shard: 1)
        configuration.maximumLosses = 2
        var shard = ShardHarness(configuration: configuration)
        _ = shard.submit([ShardHarness.job("poison")])
        var last: ShardTurn?
        for session in 1...3 as ClosedRange<UInt64> {
            _ = shard.send(ShardHarness.ready("w", slots: 1, session: session), from: Peer([UInt8(session)]))
            last = shard.send(.disconnect(Disconnect(status: .ok, reason: "bye")), from: Peer([UInt8(session)]))
        }
        #expect(ShardHarness.states(last!) == ["poison:failed"])
        #expect(last!.updates!.updates[0].detail.hasPrefix("lost 3 times"))
    }

    @Test func idleShardSendsABeaconWithItsLastSequence() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a")])
        shard.advance(1000)
        let turn = shard.turn()
        #expect(turn.beacon == Beacon(publisher: "shard-1", epoch: 1, sequence: 1))
        #expect(shard.core.nextDeadline() == shard.now.adding(milliseconds: 1000))
    }

    @Test func creditFromTheWorkerLetsTheShardDemandAgainAtOnceAndAnEmptyQueueWithdrawsTheDemand() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a"), ShardHarness.job("b"), ShardHarness.job("c")])
        let first = shard.send(ShardHarness.ready("w1", slots: 1), from: alice)
        #expect(first.messages.contains { $0.0 == alice && $0.1 == .demand(Demand(pending: 2)) })
        // The worker answers with credit: the task goes out and, credit spent with work left, the shard
        // says so again in the same turn rather than a heartbeat later.
        let answered = shard.send(.pull(Pull(credit: 1)), from: alice)
        #expect(ShardHarness.tasks(in: answered, to: alice).count == 1)
        #expect(answered.messages.contains { $0.0 == alice && $0.1 == .demand(Demand(pending: 1)) })
        // The last task goes out: nothing is left for this worker, and the demand is withdrawn once.
        let last = shard.send(.pull(Pull(credit: 1)), from: alice)
        #expect(ShardHarness.tasks(in: last, to: alice).count == 1)
        #expect(last.messages.contains { $0.0 == alice && $0.1 == .demand(Demand(pending: 0)) })
        let after = shard.send(.heartbeat, from: alice)
        #expect(!after.messages.contains { if case .demand = $0.1 { true } else { false } })
    }

    /// Found by an explorer: a rate-limited product's backlog stalled for good once its workers' credit had
    /// gone to other shards. A DEMAND is only for work that may go now, and the shard woke for the next
    /// token only while a worker had credit here, so that no one was told when the token came. It wakes
    /// for it either way, and tells the workers out of credit.
    @Test func aRateLimitedBacklogIsAnnouncedWhenItsNextTokenIsDueThoughNoWorkerHasCreditHere() {
        var shard = ShardHarness()
        let policy = ProductPolicy(product: "payments", rate: 3_600, burst: 1)
        shard.core.controlReceived(Control(request: 1, action: .setPolicy, run: 0, policy: policy), from: bob, now: shard.now)
        _ = shard.turn()
        _ = shard.submit([ShardHarness.job("a"), ShardHarness.job("b"), ShardHarness.job("c")])
        let first = shard.send(ShardHarness.ready("w1", slots: 1), from: alice)
        let leased = ShardHarness.tasks(in: first, to: alice)
        #expect(leased.count == 1)
        #expect(!first.messages.contains { if case .demand = $0.1 { true } else { false } }, "nothing may go before the next token")
        // The task ends; the worker's credit goes to another shard.
        _ = shard.send(ShardHarness.result(leased[0], .succeeded), from: alice)
        #expect(shard.core.nextDeadline() <= shard.now.adding(milliseconds: 1001), "the shard wakes for the token")
        #expect(shard.core.nextDeadline() > shard.now, "and does not spin until then")
        shard.advance(1001)
        let due = shard.turn()
        #expect(due.messages.contains { $0.0 == alice && $0.1 == .demand(Demand(pending: 2)) }, "\(due.messages.map(\.1))")
        let served = shard.send(.pull(Pull(credit: 1)), from: alice)
        #expect(ShardHarness.tasks(in: served, to: alice).count == 1)
    }

    @Test func aWorkerOutOfCreditIsToldOfWorkOncePerHeartbeatAndCanRecallUnusedCredit() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a"), ShardHarness.job("b")])
        let first = shard.send(ShardHarness.ready("w1", slots: 1), from: alice)
        #expect(ShardHarness.tasks(in: first, to: alice).count == 1)
        #expect(first.messages.contains { $0.0 == alice && $0.1 == .demand(Demand(pending: 1)) })
        #expect(!shard.send(.heartbeat, from: alice).messages.contains { if case .demand = $0.1 { true } else { false } })
        shard.advance(1000)
        _ = shard.send(.heartbeat, from: alice)
        #expect(shard.turns.last!.messages.contains { $0.1 == .demand(Demand(pending: 1)) })
        // A worker with credit the shard cannot use takes it back.
        let idle = shard.send(ShardHarness.ready("w2", slots: 3), from: bob)
        #expect(ShardHarness.tasks(in: idle, to: bob).count == 1)
        let recalled = shard.send(.recall(Recall(credit: 5)), from: bob)
        #expect(recalled.messages.contains { $0.0 == bob && $0.1 == .recalled(Recalled(credit: 2)) })
        _ = shard.submit([ShardHarness.job("c")])
        #expect(ShardHarness.tasks(in: shard.turns.last!, to: bob).isEmpty)
    }

    @Test func cancellingARunCancelsWhatWaitsAtOnceAndSignalsWhatRuns() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("running", run: 5), ShardHarness.job("waiting", run: 5, retries: 0), ShardHarness.job("other", run: 6)])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice), to: alice)
        #expect(leased.map(\.job) == ["running"])
        shard.core.controlReceived(Control(request: 1, action: .cancelRun, run: 5, grace: 3000), from: bob, now: shard.now)
        let turn = shard.turn()
        #expect(turn.messages.contains { $0.0 == alice && $0.1 == .cancel(Cancel(grace: 3000, tasks: [leased[0].ref])) })
        #expect(turn.messages.contains { $0.0 == bob && $0.1 == .controlResult(ControlResult(request: 1, status: .ok, detail: "2 jobs cancelled, 1 running task signalled")) })
        #expect(Set(ShardHarness.states(turn)) == ["waiting:cancelled", "running:running"])
        // The attempt stops; whatever it reports, the job ends cancelled and nothing runs again.
        let stopped = shard.send(ShardHarness.result(leased[0], .cancelled, error: "cancelled by the shard"), from: alice)
        #expect(ShardHarness.states(stopped) == ["running:cancelled"])
        // Its detail is the shard's, not the attempt's (found by an explorer: a stop read "cancelled by the shard").
        #expect(stopped.updates?.updates.map(\.detail) == ["cancelled by the orchestrator"])
        _ = shard.send(.pull(Pull(credit: 5)), from: alice)
        #expect(ShardHarness.tasks(in: shard.turns.last!, to: alice).map(\.job) == ["other"])
        // Repeated, it changes nothing.
        shard.core.controlReceived(Control(request: 1, action: .cancelRun, run: 5, grace: 3000), from: bob, now: shard.now)
        #expect(shard.turn().updates == nil)
    }

    /// A fail-run's cancel of a job one of whose partitions failed: the job ends failed, with its partition's
    /// error, not "cancelled" (found by an explorer, once such a run fails at the first failed partition).
    @Test func aJobCancelledAfterAPartitionFailedEndsFailedWithItsError() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("p", run: 5, steps: [StepSpec(name: "p", kind: .command, action: "a", partitions: 2)])])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 2), from: alice), to: alice)
        #expect(leased.count == 2)
        let partly = shard.send(ShardHarness.result(leased[0], .failed, error: "exit status 5"), from: alice)
        #expect(partly.updates?.updates.map { "\($0.state.name) \($0.failed) \($0.detail)" } == ["running 1 exit status 5"])
        shard.core.controlReceived(Control(request: 1, action: .cancelRun, run: 5, grace: 0), from: bob, now: shard.now)
        _ = shard.turn()
        let ended = shard.send(ShardHarness.result(leased[1], .cancelled, error: "cancelled by the shard"), from: alice)
        #expect(ended.updates?.updates.map { "\($0.state.name) \($0.detail)" } == ["failed exit status 5"])
    }

    /// Found by review: a cancel-job named only the job, so that one sent for a generation and reaching the
    /// shard after a rerun's (sent again, its shard having been away) cancelled the rerun. It names the
    /// highest generation meant now, and a later one is left alone.
    @Test func aCancelJobCancelsTheGenerationsItNamesAndNotALaterOne() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5, generation: 1)])
        shard.core.controlReceived(Control(request: 1, action: .cancelJob, run: 5, job: "a", grace: 0, generation: 0), from: bob, now: shard.now)
        #expect(ShardHarness.states(shard.turn()) == [])
        shard.core.controlReceived(Control(request: 2, action: .cancelJob, run: 5, job: "a", grace: 0, generation: 1), from: bob, now: shard.now)
        #expect(ShardHarness.states(shard.turn()) == ["a:cancelled"])
    }

    /// report-job publishes again the status of the generation named: from memory while the shard holds
    /// the job, as the store has it once it has left (what the runtime reads), and nothing for a job the
    /// shard does not have, which is answered 404.
    @Test func aReportJobPublishesTheJobsStatusAgainFromMemoryOrTheStore() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5)])
        shard.core.controlReceived(Control(request: 1, action: .reportJob, run: 5, job: "a"), from: bob, now: shard.now)
        let held = shard.turn()
        #expect(ShardHarness.states(held) == ["a:queued"])
        #expect(held.messages.contains { $0.0 == bob && $0.1 == .controlResult(ControlResult(request: 1, status: .ok, detail: "job 5/a queued: its status published again")) })
        let ended = JobStatus(run: 6, job: "b", generation: 2, state: .cancelled, time: shard.now.wire, detail: "cancelled by an operator")
        shard.core.reportReceived(Control(request: 2, action: .reportJob, run: 6, job: "b", generation: 2), stored: ended, from: bob, now: shard.now)
        let stored = shard.turn()
        #expect(stored.updates?.updates == [ended])
        shard.core.controlReceived(Control(request: 3, action: .reportJob, run: 5, job: "a", generation: 1), from: bob, now: shard.now)
        let unknown = shard.turn()
        #expect(unknown.updates == nil, "nothing published")
        #expect(unknown.messages.contains { $0.0 == bob && $0.1 == .controlResult(ControlResult(request: 3, status: .notFound, detail: "shard 1 holds no job 5/a#1")) })
    }

    @Test func aCancelledTaskWhoseWorkerIsLostIsNotQueuedAgain() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("a", run: 5)])
        _ = shard.send(ShardHarness.ready("w1", slots: 1), from: alice)
        shard.core.controlReceived(Control(request: 1, action: .cancelJob, run: 5, job: "a", grace: 0), from: bob, now: shard.now)
        _ = shard.turn()
        let gone = shard.send(.disconnect(Disconnect(status: .ok, reason: "bye")), from: alice)
        #expect(ShardHarness.states(gone) == ["a:cancelled"])
    }

    @Test func aRestartedShardQueuesAgainThePartitionsNeverLeased() {
        var shard = ShardHarness()
        let steps = [StepSpec(name: "split", kind: .command, action: "a", partitions: 3)]
        _ = shard.submit([ShardHarness.job("big", steps: steps)])
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1, session: 5), from: alice), to: alice)
        #expect(leased.map(\.partition) == [0])
        let (jobs, tasks) = shard.stored
        #expect(tasks.count == 1)
        var restarted = ShardHarness()
        restarted.core = ShardCore(
            configuration: ShardConfiguration(shard: 1), epoch: 2,
            restoring: ShardSnapshot(jobs: Array(jobs.values), tasks: Array(tasks.values), sequence: 1, nextTaskID: 10, nextJobID: 2),
            now: restarted.now)
        let again = restarted.send(ShardHarness.ready("w1", slots: 5, session: 5, held: [leased[0].ref]), from: alice)
        #expect(ShardHarness.tasks(in: again, to: alice).map(\.partition) == [1, 2])
        #expect(ShardHarness.tasks(in: again, to: alice).map(\.attempt) == [1, 1])
    }
}

/// Pausing and resuming a run (or holding and releasing its product, which the shard sees as the same
/// CONTROL for each run) queues its pending tasks again: a task must still go out once.
@Suite struct RequeueTests {
    let alice = Peer([1])
    let bob = Peer([2])

    /// A shard with a worker of one slot busy on run 1, and run 2's partitions queued behind it, of the same product.
    func busyShard(partitions: UInt32, handler: String? = nil, policy: ProductPolicy? = nil) -> (ShardHarness, TaskSpec) {
        var shard = ShardHarness()
        if let policy {
            shard.core.controlReceived(Control(request: 99, action: .setPolicy, run: 0, policy: policy), from: bob, now: shard.now)
        }
        let step = StepSpec(name: "big", kind: handler == nil ? .command : .handler, action: handler ?? "true", partitions: partitions)
        _ = shard.submit([ShardHarness.job("first", run: 1), ShardHarness.job("big", run: 2, steps: [step])])
        let first = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1, handlers: handler.map { [$0] } ?? []), from: alice), to: alice)
        #expect(first.map(\.job) == ["first"])
        return (shard, first[0])
    }

    func pauseAndResume(_ shard: inout ShardHarness, run: UInt64, times: Int) {
        for round in 0..<times {
            shard.core.controlReceived(Control(request: UInt64(10 + 2 * round), action: .pauseRun, run: run), from: bob, now: shard.now)
            _ = shard.turn()
            shard.core.controlReceived(Control(request: UInt64(11 + 2 * round), action: .resumeRun, run: run), from: bob, now: shard.now)
            _ = shard.turn()
        }
    }

    @Test func aResumedRunsTasksGoOutOnceEachAndTheRunningCountReturnsToZero() {
        var (shard, first) = busyShard(partitions: 8)
        // Pause and resume (the shard's side of pause, resume, hold and release), twice.
        pauseAndResume(&shard, run: 2, times: 2)
        let handedOut = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w2", slots: 20), from: bob), to: bob)
        #expect(handedOut.count == 8)
        #expect(Set(handedOut.map(\.task)).count == handedOut.count, "a task went out twice: \(handedOut.map(\.task))")
        #expect(handedOut.allSatisfy { $0.attempt == 1 }, "\(handedOut.map(\.attempt))")
        #expect(shard.core.runningTasks(of: "payments") == 9)
        _ = shard.send(ShardHarness.result(first, .succeeded), from: alice)
        for task in handedOut { _ = shard.send(ShardHarness.result(task, .succeeded), from: bob) }
        #expect(shard.core.runningTasks(of: "payments") == 0)
        #expect(shard.core.jobs.isEmpty)
    }

    @Test func aCappedProductStillRunsEverythingAfterAResume() {
        var (shard, first) = busyShard(partitions: 8, policy: ProductPolicy(product: "payments", cap: 4))
        pauseAndResume(&shard, run: 2, times: 3)
        _ = shard.send(ShardHarness.result(first, .succeeded), from: alice)
        // Every task the worker is handed, it finishes at once; never more than 4 run together.
        var seen: [UInt64] = []
        var running = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w2", slots: 20), from: bob), to: bob)
        while let task = running.first {
            #expect(running.count <= 4)
            seen.append(task.task)
            running.removeFirst()
            running += ShardHarness.tasks(in: shard.send(ShardHarness.result(task, .succeeded), from: bob), to: bob)
        }
        #expect(seen.count == 8 && Set(seen).count == 8, "\(seen)")
        #expect(shard.core.runningTasks(of: "payments") == 0)
        #expect(shard.core.jobs.isEmpty)
    }

    @Test func aClaimedSetNeverHoldsATaskTwice() {
        var (shard, _) = busyShard(partitions: 6, handler: "post")
        pauseAndResume(&shard, run: 2, times: 2)
        let ready = Message.ready(
            Ready(worker: "w2", session: 1, slots: 1, heartbeat: 1000, commands: 1, tags: [], handlers: ["post"], held: [],
                  sets: [SetOffer(handler: "post", limit: 20)]))
        let set = ShardHarness.tasks(in: shard.send(ready, from: bob), to: bob)
        #expect(set.count == 6)
        #expect(Set(set.map(\.task)).count == set.count, "a task is twice in one set: \(set.map(\.task))")
    }
}
