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
        #expect(worker.turn().contains(.start(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 7, attempt: 1)), WorkerHarness.task(7))))
        worker.core.attemptEnded(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 7, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "hi", log: "h:/l", error: "", data: [], now: worker.now.adding(milliseconds: 5))
        let effects = worker.turn()
        let messages = WorkerHarness.sent(effects)
        guard case .results(let results) = messages.first else { Issue.record("\(messages)"); return }
        #expect(results.results.first?.duration == 5)
        #expect(messages.contains(.pull(Pull(credit: 1))))
        #expect(worker.core.unreceipted.count == 1)
        worker.core.received(.receipt(Receipt(tasks: [TaskRef(task: 7, attempt: 1)])), on: 0, now: worker.now)
        #expect(worker.core.unreceipted.isEmpty)
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
        #expect(worker.turn().contains(.signal(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 9, attempt: 1)), .terminate)))
        worker.now = worker.now.adding(milliseconds: 5000)
        worker.core.received(.heartbeat, on: 0, now: worker.now)
        worker.core.tick(now: worker.now)
        #expect(worker.turn().contains(.signal(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 9, attempt: 1)), .kill)))
        worker.core.attemptEnded(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 9, attempt: 1)), outcome: .failed, exitCode: -9, output: "", log: "", error: "killed", data: [], now: worker.now)
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
        worker.core.attemptEnded(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 1, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
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

    @Test func cancelStopsACommandAndReportsItCancelled() {
        var worker = WorkerHarness(slots: 1)
        worker.core.start(now: worker.now)
        _ = worker.welcome()
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(3)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.received(.cancel(Cancel(grace: 100, tasks: [TaskRef(task: 3, attempt: 1)])), on: 0, now: worker.now)
        #expect(worker.turn().contains(.signal(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 3, attempt: 1)), .terminate)))
        worker.core.attemptEnded(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 3, attempt: 1)), outcome: .failed, exitCode: -15, output: "", log: "", error: "", data: [], now: worker.now)
        guard case .results(let results) = WorkerHarness.sent(worker.turn()).first else { Issue.record("no RESULTS"); return }
        #expect(results.results.first?.outcome == .cancelled)
    }

    @Test func creditParkedAtAnIdleShardIsRecalledForAShardThatHasWork() {
        var worker = WorkerHarness(slots: 2, shards: 2)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        _ = worker.welcome(link: 0)
        _ = worker.welcome(link: 1)
        // Shard 0 used its credit; the freed slot went to shard 1, which is idle: all credit is parked there.
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.attemptEnded(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 1, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
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
        var worker = WorkerHarness(slots: 2, shards: 2)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        _ = worker.welcome(link: 0)
        _ = worker.welcome(link: 1)
        worker.core.received(.demand(Demand(pending: 9)), on: 1, now: worker.now)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.attemptEnded(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 1, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
        #expect(worker.turn().contains(.send(link: 1, .pull(Pull(credit: 1)))))
    }

    @Test func aWithdrawnDemandNoLongerDrawsTheFreedCredit() {
        var worker = WorkerHarness(slots: 2, shards: 2)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        _ = worker.welcome(link: 0)
        _ = worker.welcome(link: 1)
        // Shard 1 had work and has run out of it; shard 0 has work now.
        worker.core.received(.demand(Demand(pending: 9)), on: 1, now: worker.now)
        worker.core.received(.demand(Demand(pending: 0)), on: 1, now: worker.now)
        worker.core.received(.demand(Demand(pending: 3)), on: 0, now: worker.now)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(1)])), on: 0, now: worker.now)
        _ = worker.turn()
        worker.core.attemptEnded(WorkerCore.Attempt(link: 0, ref: TaskRef(task: 1, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
        let effects = worker.turn()
        #expect(effects.contains(.send(link: 0, .pull(Pull(credit: 1)))))
        #expect(!effects.contains { if case .send(link: 1, .pull) = $0 { true } else { false } })
        #expect(worker.core.links[1].demand == 0)
    }

    @Test func reconnectingToOneShardPromisesItNothingWhileAnotherIsRegistered() {
        var worker = WorkerHarness(slots: 4, shards: 2)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        _ = worker.welcome(link: 0)
        _ = worker.welcome(link: 1)
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

    @Test func tasksOfTwoShardsWithTheSameIDAreTwoAttempts() {
        var worker = WorkerHarness(slots: 2, shards: 2)
        worker.core.start(now: worker.now)
        _ = worker.turn()
        _ = worker.welcome(link: 0)
        _ = worker.welcome(link: 1)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(7)])), on: 0, now: worker.now)
        worker.core.received(.tasks(Tasks(tasks: [WorkerHarness.task(7)])), on: 1, now: worker.now)
        let starts = worker.turn().filter { if case .start = $0 { true } else { false } }
        #expect(starts.count == 2)
        worker.core.attemptEnded(WorkerCore.Attempt(link: 1, ref: TaskRef(task: 7, attempt: 1)), outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: worker.now)
        #expect(worker.turn().contains { if case .send(1, .results) = $0 { true } else { false } })
        #expect(worker.core.running.keys.map(\.link) == [0])
    }
}
