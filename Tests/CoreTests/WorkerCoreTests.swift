import Core
import Testing
import Wire

struct WorkerHarness {
    var core: WorkerCore
    var now = Timestamp(milliseconds: 100_000)

    init(slots: Int = 2, shards: Int = 1, handlers: [String] = []) {
        var configuration = WorkerConfiguration(name: "host/pool/1", slots: slots, shards: shards)
        configuration.handlers = handlers
        core = WorkerCore(configuration: configuration, session: 42, now: now)
    }

    static func task(_ id: UInt64, attempt: UInt16 = 1, kind: ActionKind = .command, action: String = "true", timeout: UInt32 = 0) -> TaskSpec {
        TaskSpec(task: id, attempt: attempt, run: 1, job: "j\(id)", product: "p", flow: "f", stepName: "j", kind: kind, action: action, type: "t", timeout: timeout, moment: 1)
    }

    static func sent(_ effects: [WorkerEffect]) -> [Message] {
        effects.compactMap { if case .send(_, let message) = $0 { message } else { nil } }
    }

    mutating func turn() -> [WorkerEffect] { core.finishTurn(now: now) }

    /// A worker started and welcomed by each of its `shards`, its credit split between them.
    static func welcomed(slots: Int, shards: Int) -> WorkerHarness {
        var worker = WorkerHarness(slots: slots, shards: shards)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        for link in 0..<shards { _ = worker.welcome(link: link) }
        return worker
    }

    mutating func welcome(link: Int = 0) -> [WorkerEffect] {
        core.received(.welcome(Welcome(shard: 1, epoch: 1, heartbeat: 1000, liveness: 3, resultLimit: 1 << 20)), on: link, now: now)
        return turn()
    }
}

@Suite struct WorkerCoreTests {
    @Test func registersWithItsSlotsAsOpeningCredit() {
        var worker = WorkerHarness(slots: 4)
        worker.core.start(now: worker.now)
        guard case .ready(let ready) = WorkerHarness.sent(worker.turn()).first else { Issue.record("no READY"); return }
        #expect(ready.slots == 4 && ready.session == 42 && ready.worker == "host/pool/1")
    }

    @Test func creditIsSplitBetweenShardsAndNeverExceedsTheSlots() {
        var worker = WorkerHarness(slots: 3, shards: 2)
        worker.core.start(now: worker.now)
        let readies = WorkerHarness.sent(worker.turn()).compactMap { if case .ready(let ready) = $0 { ready.slots } else { nil } }
        #expect(readies.reduce(0, +) == 3)
        #expect(worker.core.available == 0)
    }

    @Test func aTaskStartsAndItsResultIsSentThenHeldUntilTheReceipt() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(7)])), on: 0, now: worker.now)
        #expect(worker.turn().contains(.start(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 7, attempt: 1)), WorkerHarness.task(7))))
        worker.core.attemptEnded(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 7, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "hi", log: "h:/l", error: "", data: [], now: worker.now.adding(milliseconds: 5))
        let effects = worker.turn()
        let messages = WorkerHarness.sent(effects)
        guard case .results(let results) = messages.first else { Issue.record("\(messages)"); return }
        #expect(results.results.first?.duration == 5)
        #expect(messages.contains(.pull(Pull(credit: 1))))
        #expect(worker.core.unreceipted.count == 1)
        worker.core.received(.receipt(Receipt(tasks: [TaskRef(task: 7, attempt: 1)])), on: 0, now: worker.now)
        #expect(worker.core.unreceipted.isEmpty)
    }

    /// A graceful stop: the credit the shard holds is recalled at once and none is given again; the
    /// attempt running finishes, and after the shard restarts (401) the worker registers again with no
    /// credit, claiming it, so that its result is delivered.
    @Test func aDrainingWorkerRecallsItsCreditAndStillRegistersToDeliverItsResults() {
        var worker = WorkerHarness(slots: 4)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        _ = worker.welcome()
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(7)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.drain(now: worker.now)
        let recalled = WorkerHarness.sent(worker.turn())
        #expect(recalled == [.recall(Recall(credit: 3))], "\(recalled)")
        worker.core.received(.recalled(Recalled(credit: 3)), on: 0, now: worker.now)

        worker.core.received(.disconnect(Disconnect(status: .unknownPeer, reason: "unknown")), on: 0, now: worker.now)
        let again = WorkerHarness.sent(worker.turn())
        guard case .ready(let ready) = again.first else { Issue.record("no READY: \(again)"); return }
        #expect(ready.slots == 0)
        #expect(ready.held == [TaskRef(task: 7, attempt: 1)])
        _ = worker.welcome()
        worker.core.attemptEnded(
            WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 7, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [],
            now: worker.now)
        let ended = WorkerHarness.sent(worker.turn())
        #expect(ended.count == 1, "results, and no PULL: \(ended)")
        guard case .results(let results) = ended.first else { Issue.record("\(ended)"); return }
        #expect(results.results.map(\.task) == [7])
        worker.core.received(.receipt(Receipt(tasks: [TaskRef(task: 7, attempt: 1)])), on: 0, now: worker.now)
        #expect(worker.core.isIdle)
    }

    /// A RECALL in flight when the drain began covers only the credit given before it: what RECALLED
    /// leaves is recalled too.
    @Test func creditLeftByARecallInFlightAtTheDrainIsRecalledToo() {
        var worker = WorkerHarness.welcomed(slots: 4, shards: 2)
        // Shard 2 used its credit and demands more, none is free: shard 1's credit is recalled.
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1), WorkerHarness.task(2)])), on: 1, now: worker.now)
        _ = worker.turn()
        worker.core.received(.demand(Demand(pending: 5, weight: 1)), on: 1, now: worker.now)
        let recall = WorkerHarness.sent(worker.turn())
        #expect(recall == [.recall(Recall(credit: 2))], "\(recall)")
        worker.core.drain(now: worker.now)
        #expect(WorkerHarness.sent(worker.turn()).isEmpty, "shard 1's RECALL is in flight, shard 2 holds none")
        // Shard 1 gives back one of the two; the worker still counts one there: recalled too.
        worker.core.received(.recalled(Recalled(credit: 1)), on: 0, now: worker.now)
        #expect(WorkerHarness.sent(worker.turn()) == [.recall(Recall(credit: 1))])
    }

    /// A READY sent before the drain began gave credit: its WELCOME, come after, is answered with RECALL.
    @Test func aWelcomeAfterTheDrainBeganIsAnsweredWithARecall() {
        var worker = WorkerHarness(slots: 3)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        worker.core.drain(now: worker.now)
        #expect(WorkerHarness.sent(worker.turn()).isEmpty, "not registered yet: nothing to recall")
        #expect(WorkerHarness.sent(worker.welcome()) == [.recall(Recall(credit: 3))])
    }

    /// A DISCONNECT with a status the worker has no rule for reopens the socket only after the
    /// reconnection backoff: a shard answering every READY so cannot keep it in a loop.
    @Test func anotherDisconnectStatusReopensTheSocketAfterTheBackoff() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        _ = worker.welcome()
        worker.core.received(.disconnect(Disconnect(status: .internalError, reason: "odd")), on: 0, now: worker.now)
        let turned = worker.turn()
        #expect(!turned.contains(.reconnect(link: 0)), "not at once")
        #expect(turned.contains(.turnedAway(link: 0, status: 500, reason: "odd")), "said, for the log")
        var reopened = false
        for _ in 0..<100 where !reopened {
            worker.now = worker.now.adding(milliseconds: 100)
            worker.core.tick(now: worker.now)
            reopened = worker.turn().contains(.reconnect(link: 0))
        }
        #expect(reopened, "after the backoff")
    }

    /// Every message queued while the shard restarted is answered 401: the first makes the worker
    /// register again, the others, come while its READY waits, change nothing.
    @Test func a401WhileAReadyWaitsForItsWelcomeSendsNoOther() {
        var worker = WorkerHarness(slots: 2)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        _ = worker.welcome()
        let unknown = Message.disconnect(Disconnect(status: .unknownPeer, reason: "unknown"))
        worker.core.received(unknown, on: 0, now: worker.now)
        worker.core.received(unknown, on: 0, now: worker.now)
        worker.core.received(unknown, on: 0, now: worker.now)
        let sent = WorkerHarness.sent(worker.turn())
        #expect(sent.filter { if case .ready = $0 { true } else { false } }.count == 1, "\(sent)")
        _ = worker.welcome()
        worker.core.received(unknown, on: 0, now: worker.now)
        #expect(WorkerHarness.sent(worker.turn()).contains { if case .ready = $0 { true } else { false } }, "once registered, a 401 registers again")
    }

    @Test func unknownHandlerIsRejectedAtOnce() {
        var worker = WorkerHarness(slots: 1, handlers: ["known"])
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(8, kind: .handler, action: "unknown")])), on: 0, now: worker.now)
        guard case .results(let results) = WorkerHarness.sent(worker.turn()).first else { Issue.record("no RESULTS"); return }
        #expect(results.results.first?.outcome == .rejected)
        #expect(results.results.first?.error == "no handler \"unknown\" in this worker")
    }

    @Test func anAttemptPastItsTimeoutIsTerminatedThenKilledAndReportedTimedOut() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(9, timeout: 1000)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.now = worker.now.adding(milliseconds: 1000)
        worker.core.tick(now: worker.now)
        #expect(worker.turn().contains(.signal(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 9, attempt: 1)), .terminate)))
        worker.now = worker.now.adding(milliseconds: 5000)
        worker.core.received(.heartbeat, on: 0, now: worker.now)
        worker.core.tick(now: worker.now)
        #expect(worker.turn().contains(.signal(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 9, attempt: 1)), .kill)))
        worker.core.attemptEnded(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 9, attempt: 1)), outcome: .failed, exitCode: -9, output: "", log: "", error: "killed", data: [], now: worker.now)
        guard case .results(let results) = WorkerHarness.sent(worker.turn()).first else { Issue.record("no RESULTS"); return }
        #expect(results.results.first?.outcome == .timedOut)
        #expect(results.results.first?.error == "timed out after 1s")
    }

    @Test func afterASilentShardItReconnectsAndResendsWhatWasNotReceipted() {
        var worker = WorkerHarness(slots: 2)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1), WorkerHarness.task(2)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.attemptEnded(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 1, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
        _ = worker.turn()
        worker.now = worker.now.adding(milliseconds: 3000)
        worker.core.tick(now: worker.now)
        let effects = worker.turn()
        #expect(effects.first == .reconnect(link: 0))
        guard case .ready(let ready) = WorkerHarness.sent(effects).first else { Issue.record("no READY"); return }
        #expect(ready.held == [TaskRef(task: 1, attempt: 1), TaskRef(task: 2, attempt: 1)])
        let welcomed = WorkerHarness.sent(worker.welcome())
        guard case .results(let again) = welcomed.first else { Issue.record("\(welcomed)"); return }
        #expect(again.results.map(\.task) == [1])
    }

    @Test func disconnect401RegistersAgainOnTheSameSocket() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        worker.core.received(.disconnect(Disconnect(status: .unknownPeer, reason: "send READY")), on: 0, now: worker.now)
        let effects = worker.turn()
        #expect(!effects.contains(.reconnect(link: 0)))
        #expect(WorkerHarness.sent(effects).contains { if case .ready = $0 { true } else { false } })
    }

    @Test func aShardOfAnotherVersionRefusesTheWorkerForGood() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        worker.core.received(.disconnect(Disconnect(status: .versionNotSupported, reason: "v2")), on: 0, now: worker.now)
        #expect(worker.turn() == [.refused(link: 0, reason: "v2")])
        worker.now = worker.now.adding(milliseconds: 60_000)
        worker.core.tick(now: worker.now)
        #expect(worker.turn().isEmpty)
    }

    @Test func aNameBoundToAnotherKeyIsReportedAndRegisteredAgainOnlyAfterTheBackoff() {
        var worker = WorkerHarness(slots: 2)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        worker.core.received(.disconnect(Disconnect(status: .forbidden, reason: "bound")), on: 0, now: worker.now)
        // No READY at once, which would only be refused again: the slots are no shard's meanwhile.
        #expect(worker.turn() == [.forbidden(link: 0, reason: "bound")])
        #expect(worker.core.available == 2)
        // Then as for a READY not answered: a new socket and READY after `liveness` intervals at least,
        // and after the reconnection backoff, which doubles at each refusal up to its maximum.
        var waits: [Int64] = []
        for _ in 0..<5 {
            let refused = worker.now
            var effects: [WorkerEffect] = []
            while effects.isEmpty {
                worker.now = worker.now.adding(milliseconds: 100)
                worker.core.tick(now: worker.now)
                effects = worker.turn()
            }
            waits.append(worker.now.since(refused))
            #expect(effects.first == .reconnect(link: 0))
            #expect(WorkerHarness.sent(effects).contains { if case .ready = $0 { true } else { false } })
            worker.core.received(.disconnect(Disconnect(status: .forbidden, reason: "bound")), on: 0, now: worker.now)
            #expect(worker.turn() == [.forbidden(link: 0, reason: "bound")])
        }
        #expect(waits == [3000, 3000, 4000, 8000, 8000])
    }

    /// A 403 means the shard took back every lease of the connection (its key was removed, or its name is
    /// another key's): the attempts it ran for that shard stop, and their slots are free again.
    @Test func aRefusalStopsTheAttemptsOfThatShard() {
        var worker = WorkerHarness(slots: 2)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(3)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.received(.disconnect(Disconnect(status: .forbidden, reason: "key removed")), on: 0, now: worker.now)
        let effects = worker.turn()
        #expect(effects.contains(.signal(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 3, attempt: 1)), .terminate)))
        #expect(effects.contains(.forbidden(link: 0, reason: "key removed")))
    }

    @Test func cancelStopsACommandAndReportsItCancelled() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(3)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.received(.cancel(Cancel(grace: 100, tasks: [TaskRef(task: 3, attempt: 1)])), on: 0, now: worker.now)
        #expect(worker.turn().contains(.signal(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 3, attempt: 1)), .terminate)))
        worker.core.attemptEnded(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 3, attempt: 1)), outcome: .failed, exitCode: -15, output: "", log: "", error: "", data: [], now: worker.now)
        guard case .results(let results) = WorkerHarness.sent(worker.turn()).first else { Issue.record("no RESULTS"); return }
        #expect(results.results.first?.outcome == .cancelled)
    }

    @Test func creditParkedAtAnIdleShardIsRecalledForAShardThatHasWork() {
        var worker = WorkerHarness.welcomed(slots: 2, shards: 2)
        // Shard 0 used its credit; the freed slot went to shard 1, which is idle: all credit is parked there.
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.attemptEnded(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 1, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
        _ = worker.turn()
        #expect(worker.core.links[0].credit + worker.core.links[1].credit == 2)
        if worker.core.links[0].credit > 0 {
            worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(2)])), on: 0, now: worker.now)
            _ = worker.turn()
        }
        #expect(worker.core.links[0].credit == 0)
        // Shard 0 has more work: the worker recalls shard 1's unused credit, then gives it to shard 0.
        worker.core.received(.demand(Demand(pending: 5)), on: 0, now: worker.now)
        let recall = worker.turn()
        let parked = UInt32(worker.core.links[1].credit)
        #expect(recall.contains(.send(link: 1, .recall(Recall(credit: parked)))))
        #expect(WorkerHarness.sent(worker.turn()).isEmpty)  // One RECALL at a time.
        worker.core.received(.recalled(Recalled(credit: parked)), on: 1, now: worker.now)
        #expect(worker.turn().contains(.send(link: 0, .pull(Pull(credit: parked)))))
        #expect(worker.core.available == 0)
    }

    @Test func freedCreditGoesToDemandingShardsFirst() {
        var worker = WorkerHarness.welcomed(slots: 2, shards: 2)
        worker.core.received(.demand(Demand(pending: 9)), on: 1, now: worker.now)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.attemptEnded(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 1, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
        #expect(worker.turn().contains(.send(link: 1, .pull(Pull(credit: 1)))))
    }

    @Test func aWithdrawnDemandNoLongerDrawsTheFreedCredit() {
        var worker = WorkerHarness.welcomed(slots: 2, shards: 2)
        // Shard 1 had work and has run out of it; shard 0 has work now.
        worker.core.received(.demand(Demand(pending: 9)), on: 1, now: worker.now)
        worker.core.received(.demand(Demand(pending: 0)), on: 1, now: worker.now)
        worker.core.received(.demand(Demand(pending: 3)), on: 0, now: worker.now)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.attemptEnded(WorkerCore.AttemptID(link: 0, ref: TaskRef(task: 1, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
        let effects = worker.turn()
        #expect(effects.contains(.send(link: 0, .pull(Pull(credit: 1)))))
        #expect(!effects.contains { if case .send(link: 1, .pull) = $0 { true } else { false } })
        #expect(worker.core.links[1].demand == 0)
    }

    @Test func reconnectingToOneShardPromisesItNothingWhileAnotherIsRegistered() {
        var worker = WorkerHarness.welcomed(slots: 4, shards: 2)
        // A RECALL goes to shard 1, which then dies before answering.
        worker.core.received(.demand(Demand(pending: 5)), on: 0, now: worker.now)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1), WorkerHarness.task(2)])), on: 0, now: worker.now)
        _ = worker.turn()
        #expect(worker.core.links[1].recalling)
        for _ in 0..<3 {
            worker.now = worker.now.adding(milliseconds: 1000)
            worker.core.received(.heartbeat, on: 0, now: worker.now)
            worker.core.tick(now: worker.now)
        }
        let effects = worker.turn()
        guard case .ready(let ready) = WorkerHarness.sent(effects).first(where: { if case .ready = $0 { true } else { false } }) else {
            Issue.record("no READY: \(effects)")
            return
        }
        #expect(ready.slots == 0)
        #expect(!worker.core.links[1].recalling)
        // Its slots went back to the shard that is there.
        #expect(worker.core.links[0].credit + 2 == 4)
    }

    @Test func aSilentShardIsReconnectedToWithABackoffThatDoublesUpToTheLongestAndStartsAgainAtWelcome() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        /// The times of the next `count` reconnections while the shard stays silent, from now.
        func reconnections(_ count: Int) -> [Int64] {
            let start = worker.now
            var times: [Int64] = []
            while times.count < count {
                worker.now = worker.core.nextDeadline()
                worker.core.tick(now: worker.now)
                if worker.turn().contains(.reconnect(link: 0)) { times.append(worker.now.since(start)) }
            }
            return times
        }
        // Heartbeat 1 s, liveness 3: silent for 3 s, then waits of 2, 4, 8, 8 s, none shorter than 3 s.
        #expect(reconnections(6) == [3000, 6000, 10_000, 18_000, 26_000, 34_000])
        // A WELCOME starts the backoff again from one interval.
        _ = worker.welcome()
        #expect(reconnections(3) == [3000, 6000, 10_000])
    }

    @Test func tasksOfTwoShardsWithTheSameIDAreTwoAttempts() {
        var worker = WorkerHarness.welcomed(slots: 2, shards: 2)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(7)])), on: 0, now: worker.now)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(7)])), on: 1, now: worker.now)
        let starts = worker.turn().filter { if case .start = $0 { true } else { false } }
        #expect(starts.count == 2)
        worker.core.attemptEnded(WorkerCore.AttemptID(link: 1, ref: TaskRef(task: 7, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
        #expect(worker.turn().contains { if case .send(1, .results) = $0 { true } else { false } })
        #expect(worker.core.running.keys.map(\.link) == [0])
    }
}

/// Command batches: claimed sets of one command job's tasks, run by one process.
@Suite struct WorkerCoreBatchTests {
    /// A task of partition `id` of job `load`, run 1, step 0: tasks that can share a batch.
    static func batchTask(_ id: UInt64, timeout: UInt32 = 0) -> TaskSpec {
        var spec = TaskSpec(
            task: id, attempt: 1, run: 1, job: "load", product: "p", flow: "f", stepName: "load", kind: .command,
            action: "./load-batch.sh", type: "f.load", timeout: timeout, moment: 1)
        spec.partition = UInt32(id)
        spec.partitions = 20
        return spec
    }

    static func attempt(_ id: UInt64) -> WorkerCore.AttemptID { WorkerCore.AttemptID(link: 0, ref: TaskRef(task: id, attempt: 1)) }

    /// The signals among the effects, with the signal alone.
    static func signals(_ effects: [WorkerEffect]) -> [WorkerSignal] {
        effects.compactMap { if case .signal(_, let signal) = $0 { signal } else { nil } }
    }

    /// A registered worker of `slots` slots running one batch of tasks 1 to `count` (set 9).
    static func running(count: UInt64 = 3, slots: Int = 2, timeout: UInt32 = 0) -> WorkerHarness {
        var worker = WorkerHarness(slots: slots)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        let specs = (1...count).map { batchTask($0, timeout: timeout) }
        worker.core.received(.tasks(Tasks(set: 9, tasks: specs)), on: 0, now: worker.now)
        let effects = worker.turn()
        #expect(effects.contains(.startSet(link: 0, set: 9, specs)))
        #expect(!effects.contains { if case .start = $0 { true } else { false } })
        return worker
    }

    /// Ends every attempt of the batch as its process would, each with `outcome`, and returns the results sent.
    static func end(_ worker: inout WorkerHarness, _ outcomes: [UInt64: (Outcome, String)], exitCode: Int32) -> [TaskResult] {
        for (task, (outcome, error)) in outcomes.sorted(by: { $0.key < $1.key }) {
            worker.core.attemptEnded(
                attempt(task), outcome: outcome, exitCode: exitCode, output: "", log: "h:/logs/1/load.batch-1-3.set-9.log",
                error: error, data: outcome == .succeeded ? Array("p\(task)".utf8) : [], now: worker.now)
        }
        return results(worker.turn())
    }

    /// The results sent among the effects.
    static func results(_ effects: [WorkerEffect]) -> [TaskResult] {
        WorkerHarness.sent(effects).flatMap { message -> [TaskResult] in
            if case .results(let results) = message { results.results } else { [] }
        }
    }

    @Test func aBatchTakesOneSlotAndGivesItBackWhenItsTasksEnd() {
        var worker = Self.running(count: 3, slots: 2)
        #expect(worker.core.running.count == 3)
        #expect(worker.core.available == 0, "one slot for the batch, one credit with the shard")
        let results = Self.end(&worker, [1: (.succeeded, ""), 2: (.succeeded, ""), 3: (.succeeded, "")], exitCode: 0)
        #expect(results.map(\.outcome) == [.succeeded, .succeeded, .succeeded])
        #expect(worker.core.running.isEmpty)
        #expect(worker.core.links[0].credit == 2, "the batch's slot went back to the shard")
    }

    @Test func aBatchWhoseTasksAreAllCancelledIsTerminatedOnceThenKilledOnce() {
        var worker = Self.running(count: 3)
        // The run is stopped: the shard cancels the three tasks, two in one CANCEL and the last in another.
        worker.core.received(.cancel(Cancel(grace: 100, tasks: [TaskRef(task: 1, attempt: 1), TaskRef(task: 2, attempt: 1)])), on: 0, now: worker.now)
        #expect(Self.signals(worker.turn()).isEmpty, "task 3 still runs in the process")
        worker.core.received(.cancel(Cancel(grace: 100, tasks: [TaskRef(task: 3, attempt: 1)])), on: 0, now: worker.now)
        let stopping = worker.turn()
        #expect(Self.signals(stopping) == [.terminate])
        #expect(stopping.contains(.signal(Self.attempt(3), .terminate)), "any attempt of the batch names its process")
        #expect(worker.core.nextDeadline() == worker.now.adding(milliseconds: 100))

        worker.now = worker.now.adding(milliseconds: 100)
        worker.core.received(.heartbeat, on: 0, now: worker.now)
        worker.core.tick(now: worker.now)
        let killed = worker.turn()
        #expect(Self.signals(killed) == [.kill])
        #expect(killed.contains(.signal(Self.attempt(1), .kill)))

        let results = Self.end(&worker, [1: (.failed, "killed"), 2: (.failed, "killed"), 3: (.failed, "killed")], exitCode: -9)
        #expect(results.map(\.task) == [1, 2, 3])
        #expect(results.allSatisfy { $0.outcome == .cancelled && $0.error == "cancelled by the shard" && $0.exitCode == -9 })
        #expect(worker.core.running.isEmpty)
        #expect(worker.core.links[0].credit == 2)
    }

    @Test func aBatchPastItsTimeoutIsTerminatedOnceThenKilledOnceAndEveryTaskTimesOut() {
        var worker = Self.running(count: 3, timeout: 1000)
        worker.now = worker.now.adding(milliseconds: 1000)
        worker.core.received(.heartbeat, on: 0, now: worker.now)
        worker.core.tick(now: worker.now)
        #expect(Self.signals(worker.turn()) == [.terminate])
        worker.now = worker.now.adding(milliseconds: 4999)
        worker.core.received(.heartbeat, on: 0, now: worker.now)
        worker.core.tick(now: worker.now)
        #expect(Self.signals(worker.turn()).isEmpty)
        worker.now = worker.now.adding(milliseconds: 1)
        worker.core.tick(now: worker.now)
        #expect(Self.signals(worker.turn()) == [.kill])
        let results = Self.end(&worker, [1: (.succeeded, ""), 2: (.failed, "no"), 3: (.failed, "exit")], exitCode: -9)
        #expect(results.allSatisfy { $0.outcome == .timedOut && $0.error == "timed out after 1s" && $0.data.isEmpty })
    }

    @Test func cancellingSomeTasksOfABatchLeavesItsProcessRunningForTheOthers() {
        var worker = Self.running(count: 3)
        worker.core.received(.cancel(Cancel(grace: 100, tasks: [TaskRef(task: 2, attempt: 1)])), on: 0, now: worker.now)
        #expect(Self.signals(worker.turn()).isEmpty)
        #expect(worker.core.nextDeadline() > worker.now.adding(milliseconds: 100), "no kill is due for the batch")
        worker.now = worker.now.adding(milliseconds: 10_000)
        worker.core.received(.heartbeat, on: 0, now: worker.now)
        worker.core.tick(now: worker.now)
        #expect(Self.signals(worker.turn()).isEmpty, "never killed while tasks 1 and 3 run")

        let results = Self.end(&worker, [1: (.succeeded, ""), 2: (.succeeded, ""), 3: (.failed, "row 3 is malformed")], exitCode: 0)
        #expect(results.map(\.outcome) == [.succeeded, .cancelled, .failed])
        #expect(results[0].data == Array("p1".utf8))
        #expect(results[1].data.isEmpty && results[1].error == "cancelled by the shard")
        #expect(results[2].error == "row 3 is malformed")
        #expect(worker.core.links[0].credit == 2)
    }

    @Test func twoBatchesUnderOneSetIDFromARestartedShardAreSignalledApart() {
        var worker = Self.running(count: 2)
        // The shard restarted and numbers its sets from 1 again: its new set 9 is another batch.
        let later = [Self.batchTask(5), Self.batchTask(6)]
        worker.core.received(.tasks(Tasks(set: 9, tasks: later)), on: 0, now: worker.now)
        #expect(worker.turn().contains(.startSet(link: 0, set: 9, later)))
        #expect(worker.core.available == 0, "two batches, two slots")
        worker.core.received(.cancel(Cancel(grace: 100, tasks: [TaskRef(task: 5, attempt: 1), TaskRef(task: 6, attempt: 1)])), on: 0, now: worker.now)
        let effects = worker.turn()
        #expect(Self.signals(effects) == [.terminate])
        #expect(effects.contains(.signal(Self.attempt(6), .terminate)), "the later batch's process")
    }

    @Test func aTaskOfAnotherJobInABatchIsRejected() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        var stranger = Self.batchTask(2)
        stranger.job = "other"
        worker.core.received(.tasks(Tasks(set: 3, tasks: [Self.batchTask(1), stranger])), on: 0, now: worker.now)
        let effects = worker.turn()
        #expect(effects.contains(.startSet(link: 0, set: 3, [Self.batchTask(1)])))
        let results = Self.results(effects)
        #expect(results.map(\.task) == [2] && results.first?.outcome == .rejected)
        #expect(results.first?.error == "a command batch holds tasks of one run, job and step: this task is not of the first task's")
    }

    @Test func aHandlersSetIsStillAbandonedTaskByTask() {
        var worker = WorkerHarness(slots: 1, handlers: ["post"])
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        let specs = [WorkerHarness.task(1, kind: .handler, action: "post"), WorkerHarness.task(2, kind: .handler, action: "post")]
        worker.core.received(.tasks(Tasks(set: 4, tasks: specs)), on: 0, now: worker.now)
        #expect(worker.turn().contains(.startSet(link: 0, set: 4, specs)))
        worker.core.received(.cancel(Cancel(grace: 100, tasks: [TaskRef(task: 1, attempt: 1)])), on: 0, now: worker.now)
        let effects = worker.turn()
        #expect(effects.contains(.abandon(Self.attempt(1))))
        let results = Self.results(effects)
        #expect(results.map(\.outcome) == [.cancelled])
        #expect(worker.core.running.count == 1)
    }
}
