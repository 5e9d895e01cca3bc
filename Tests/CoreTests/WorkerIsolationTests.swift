import Core
import Testing
import Wire

extension ShardHarness {
    /// A shard in `fairness` mode, with `policies` set.
    init(fairness: Fairness, policies: [ProductPolicy] = []) {
        var configuration = ShardConfiguration(shard: 1)
        configuration.fairness = fairness
        self.init(configuration: configuration)
        if !policies.isEmpty {
            var snapshot = ShardSnapshot()
            snapshot.policies = policies
            core = ShardCore(configuration: configuration, epoch: 1, restoring: snapshot, now: now)
        }
    }

    /// A message from `peer`, whose connection's handshake established `credentials`.
    mutating func send(_ message: Message, from peer: Peer, as credentials: WorkerCredentials?) -> ShardTurn {
        core.received(message, from: peer, credentials: credentials, now: now)
        return turn()
    }

    /// What the store would hold after the turns so far, to start a shard again from.
    func snapshot(nextTaskID: UInt64 = 100, nextJobID: Int64 = 100) -> ShardSnapshot {
        let (jobs, tasks) = stored
        return ShardSnapshot(
            jobs: Array(jobs.values.filter { !$0.state.isFinal }), tasks: Array(tasks.values), sequence: core.sequence,
            nextTaskID: nextTaskID, nextJobID: nextJobID)
    }

    /// Every task sent to `peer` in the turns so far.
    func allTasks(to peer: Peer) -> [TaskSpec] { turns.flatMap { Self.tasks(in: $0, to: peer) } }

    static func demands(in turn: ShardTurn, to peer: Peer) -> [Demand] {
        turn.messages.compactMap { target, message in
            guard target == peer, case .demand(let demand) = message else { return nil }
            return demand
        }
    }

    static func disconnects(in turn: ShardTurn, to peer: Peer) -> [Disconnect] {
        turn.messages.compactMap { target, message in
            guard target == peer, case .disconnect(let disconnect) = message else { return nil }
            return disconnect
        }
    }

    static func welcomed(_ peer: Peer, in turn: ShardTurn) -> Bool {
        turn.messages.contains { target, message in
            if target == peer, case .welcome = message { true } else { false }
        }
    }
}

/// The shard's three rules for authenticated workers: a worker limited to some products is given, and
/// told of, none of another's tasks; only the holder of a lease reports its result; a worker's name is
/// bound to its key. And with no credentials (keyless `baton dev`), everything as before.
@Suite struct WorkerIsolationTests {
    let alice = Peer([1])
    let bob = Peer([2])
    let carol = Peer([3])

    static let payments = WorkerCredentials(key: String(repeating: "P", count: 40), pool: "payments", products: ["payments"])
    static let shared = WorkerCredentials(key: String(repeating: "S", count: 40), pool: "shared")
    static let intruder = WorkerCredentials(key: String(repeating: "I", count: 40), pool: "intruders", products: ["ledger"])
    static let forger = WorkerCredentials(key: String(repeating: "F", count: 40), pool: "forgers")

    static func jobs(_ count: Int, product: String, run: UInt64 = 1, handler: String? = nil) -> [JobSpec] {
        (0..<count).map { ShardHarness.job("\(product)-\($0)", run: run, product: product, handler: handler) }
    }

    static func isCancel(_ message: Message) -> Bool { if case .cancel = message { true } else { false } }

    // MARK: - Products isolated

    @Test(arguments: [Fairness.fair, .fifo])
    func aWorkerLimitedToAProductIsNeverLeasedAnothersTasksEvenWhenTheyAreTheOnlyWork(_ fairness: Fairness) {
        var shard = ShardHarness(fairness: fairness)
        _ = shard.submit(Self.jobs(5, product: "ledger"))
        let welcome = shard.send(ShardHarness.ready("pay-1", slots: 4), from: alice, as: Self.payments)
        #expect(ShardHarness.welcomed(alice, in: welcome))
        #expect(ShardHarness.tasks(in: welcome, to: alice).isEmpty)
        for _ in 0..<5 {
            shard.advance(1000)
            _ = shard.send(.heartbeat, from: alice, as: Self.payments)
        }
        #expect(shard.allTasks(to: alice).isEmpty)
        // A worker of any product takes the ledger's work; the payments worker still gets none of it.
        let shared = shard.send(ShardHarness.ready("any-1", slots: 2), from: bob, as: Self.shared)
        #expect(ShardHarness.tasks(in: shared, to: bob).map(\.product) == ["ledger", "ledger"])
        // Work of its own product goes to it, and only that.
        let mine = shard.submit(Self.jobs(2, product: "payments", run: 2))
        #expect(ShardHarness.tasks(in: mine, to: alice).map(\.product) == ["payments", "payments"])
        #expect(shard.allTasks(to: alice).allSatisfy { $0.product == "payments" })
    }

    /// A worker claims in READY the tags it has; a key is held to its pool's, so a worker of a pool without
    /// `gpu` that claims it is not given the tasks that need it.
    @Test func aWorkerClaimsNoTagItsPoolWasNotGiven() {
        var shard = ShardHarness()
        _ = shard.submit([ShardHarness.job("train", tags: ["gpu"]), ShardHarness.job("plain")])
        let general = WorkerCredentials(key: String(repeating: "G", count: 40), pool: "general", tags: [])
        let liar = shard.send(ShardHarness.ready("general-1", slots: 4, tags: ["gpu"]), from: alice, as: general)
        #expect(ShardHarness.tasks(in: liar, to: alice).map(\.job) == ["plain"])
        // Said, for the log: the worker's operator sees why it is given none of them.
        #expect(liar.ignoredTags.map { "\($0.worker): \($0.tags)" } == [#"general-1: ["gpu"]"#])
        let gpu = WorkerCredentials(key: String(repeating: "U", count: 40), pool: "gpu", tags: ["gpu", "linux"])
        let real = shard.send(ShardHarness.ready("gpu-1", slots: 4, tags: ["gpu"]), from: bob, as: gpu)
        #expect(ShardHarness.tasks(in: real, to: bob).map(\.job) == ["train"])
        #expect(real.ignoredTags.isEmpty)
    }

    @Test(arguments: [Fairness.fair, .fifo])
    func workersOfEachProductAndSharedOnesRunEverythingAndEachOnlyWhatItMay(_ fairness: Fairness) {
        var shard = ShardHarness(fairness: fairness, policies: [ProductPolicy(product: "ledger", weight: 3)])
        let products = ["payments", "ledger", "risk"]
        for (run, product) in products.enumerated() { _ = shard.submit(Self.jobs(40, product: product, run: UInt64(run + 1))) }
        let workers: [(peer: Peer, name: String, slots: UInt32, credentials: WorkerCredentials)] = [
            (alice, "pay-1", 3, Self.payments), (bob, "ledger-1", 3, Self.intruder), (carol, "any-1", 1, Self.shared),
        ]
        var running: [Peer: [TaskSpec]] = [:]
        var succeeded = 0
        func harvest(_ turn: ShardTurn) {
            for worker in workers { running[worker.peer, default: []] += ShardHarness.tasks(in: turn, to: worker.peer) }
            succeeded += ShardHarness.states(turn).filter { $0.hasSuffix(":succeeded") }.count
        }
        for worker in workers { harvest(shard.send(ShardHarness.ready(worker.name, slots: worker.slots), from: worker.peer, as: worker.credentials)) }
        for round in 0..<600 where succeeded < 120 {
            // One worker in turn reports its oldest attempt and gives the slot back.
            let worker = workers[round % 3]
            guard let task = running[worker.peer]?.first else { continue }
            running[worker.peer]!.removeFirst()
            harvest(shard.send(ShardHarness.result(task, .succeeded), from: worker.peer, as: worker.credentials))
            harvest(shard.send(.pull(Pull(credit: 1)), from: worker.peer, as: worker.credentials))
        }
        #expect(succeeded == 120)
        #expect(shard.allTasks(to: alice).allSatisfy { $0.product == "payments" })
        #expect(shard.allTasks(to: bob).allSatisfy { $0.product == "ledger" })
        #expect(Set(shard.allTasks(to: carol).map(\.product)).isSubset(of: Set(products)))
        #expect(shard.allTasks(to: alice).count > 0 && shard.allTasks(to: bob).count > 0)
    }

    @Test(arguments: [Fairness.fair, .fifo])
    func aClaimedSetHoldsOnlyTasksOfTheProductsTheWorkerMayRun(_ fairness: Fairness) {
        var shard = ShardHarness(fairness: fairness)
        // The ledger's tasks are older: in FIFO mode they are ahead of the payments' in the one lane.
        _ = shard.submit(Self.jobs(6, product: "ledger", handler: "post"))
        _ = shard.submit(Self.jobs(6, product: "payments", run: 2, handler: "post"))
        let ready = Message.ready(
            Ready(worker: "pay-1", session: 1, slots: 1, heartbeat: 1000, handlers: ["post"], sets: [SetOffer(handler: "post", limit: 10)]))
        let turn = shard.send(ready, from: alice, as: Self.payments)
        let sets = turn.messages.compactMap { peer, message -> Tasks? in
            guard peer == alice, case .tasks(let tasks) = message else { return nil }
            return tasks
        }
        #expect(sets.count == 1)
        #expect(sets.first?.set != 0)
        #expect(sets.first?.tasks.map(\.product) == Array(repeating: "payments", count: 6))
        // The ledger's tasks are all still there for a worker that may run them.
        let other = shard.send(
            .ready(Ready(worker: "any-1", session: 1, slots: 1, heartbeat: 1000, handlers: ["post"], sets: [SetOffer(handler: "post", limit: 10)])),
            from: bob, as: Self.shared)
        #expect(ShardHarness.tasks(in: other, to: bob).map(\.product) == Array(repeating: "ledger", count: 6))
    }

    @Test(arguments: [Fairness.fair, .fifo])
    func aCommandBatchHoldsOnlyTasksOfTheProductsTheWorkerMayRun(_ fairness: Fairness) {
        var shard = ShardHarness(fairness: fairness)
        func batched(_ name: String, product: String, run: UInt64) -> JobSpec {
            var job = ShardHarness.job(name, run: run, product: product, steps: [StepSpec(name: name, kind: .command, action: "run.sh", partitions: 4)])
            job.batch = 10
            return job
        }
        _ = shard.submit([batched("close", product: "ledger", run: 1)])
        _ = shard.submit([batched("settle", product: "payments", run: 2)])
        let ready = Message.ready(Ready(worker: "pay-1", session: 1, slots: 2, heartbeat: 1000, batches: 1))
        let turn = shard.send(ready, from: alice, as: Self.payments)
        let tasks = ShardHarness.tasks(in: turn, to: alice)
        #expect(tasks.count == 4)
        #expect(tasks.allSatisfy { $0.product == "payments" && $0.job == "settle" })
    }

    @Test(arguments: [Fairness.fair, .fifo])
    func aWorkerLimitedToAProductIsToldOnlyOfItsWorkAndTheDemandEndsWhenThatIsGone(_ fairness: Fairness) {
        var shard = ShardHarness(
            fairness: fairness, policies: [ProductPolicy(product: "ledger", weight: 5), ProductPolicy(product: "payments", weight: 2)])
        _ = shard.submit(Self.jobs(3, product: "ledger"))
        // Out of credit, with only another product's work queued: nothing to ask of it.
        let first = shard.send(ShardHarness.ready("pay-1", slots: 0), from: alice, as: Self.payments)
        #expect(ShardHarness.demands(in: first, to: alice).isEmpty)
        shard.advance(1000)
        #expect(ShardHarness.demands(in: shard.send(.heartbeat, from: alice, as: Self.payments), to: alice).isEmpty)
        // Its own product's work: it is told of that alone, with that product's weight.
        let mine = shard.submit(Self.jobs(1, product: "payments", run: 2))
        let expected = Demand(pending: 1, weight: fairness == .fair ? 2 : 1)
        #expect(ShardHarness.demands(in: mine, to: alice) == [expected])
        // Another worker of the pool takes it; the ledger's work is left, and the demand is over.
        let taken = shard.send(ShardHarness.ready("pay-2", slots: 1), from: bob, as: Self.payments)
        #expect(ShardHarness.tasks(in: taken, to: bob).map(\.product) == ["payments"])
        #expect(ShardHarness.demands(in: taken, to: alice) == [Demand(pending: 0)])
    }

    @Test func attemptsOfAProductTheKeyMayNoLongerRunAreCancelledWhenItRegistersAgain() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(1, product: "ledger"))
        let key = WorkerCredentials(key: Self.payments.key, pool: "payments")
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("pay-1", slots: 1), from: alice, as: key), to: alice)
        #expect(leased.map(\.product) == ["ledger"])
        // The key's products were narrowed meanwhile: its READY holding the ledger's attempt keeps none of it.
        let again = shard.send(ShardHarness.ready("pay-1", slots: 1, held: [leased[0].ref]), from: alice, as: Self.payments)
        #expect(again.messages.contains { $0.0 == alice && $0.1 == .cancel(Cancel(grace: 0, tasks: [leased[0].ref])) })
        #expect(ShardHarness.tasks(in: again, to: alice).isEmpty)
        #expect(shard.core.tasks[leased[0].task]?.state == .pending)
    }

    // MARK: - Results only from the lease holder

    /// A shard where alice, registered as `w1` with `credentials`, holds the first step of a two-step job,
    /// and bob is registered as `w2` with `other`.
    func twoStepJob(
        _ credentials: WorkerCredentials?, other: WorkerCredentials?
    ) -> (shard: ShardHarness, task: TaskSpec) {
        var shard = ShardHarness()
        let steps = [StepSpec(name: "extract", kind: .command, action: "true"), StepSpec(name: "load", kind: .command, action: "true")]
        _ = shard.submit([ShardHarness.job("etl", steps: steps)])
        let task = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice, as: credentials), to: alice)[0]
        _ = shard.send(ShardHarness.ready("w2", slots: 1), from: bob, as: other)
        return (shard, task)
    }

    @Test(arguments: [(WorkerIsolationTests.shared, WorkerIsolationTests.forger), (nil, nil)] as [(WorkerCredentials?, WorkerCredentials?)])
    func forgedResultsForAnotherWorkersLeaseChangeNothing(_ credentials: WorkerCredentials?, other: WorkerCredentials?) {
        var (shard, task) = twoStepJob(credentials, other: other)
        for outcome in [Outcome.succeeded, .failed, .rejected, .cancelled] {
            let forged = shard.send(ShardHarness.result(task, outcome), from: bob, as: other)
            #expect(forged.updates == nil && forged.tasks.isEmpty && forged.jobs.isEmpty)
            #expect(ShardHarness.tasks(in: forged, to: bob).isEmpty)  // The next step did not start.
            // Receipted, as a stale result, so that a worker that lost track forgets it; and reported.
            #expect(forged.messages.contains { $0.0 == bob && $0.1 == .receipt(Receipt(tasks: [task.ref])) })
            #expect(forged.foreignResults == [ForeignResults(peer: bob, worker: "w2", key: other?.key, tasks: [task.ref])])
            #expect(shard.core.tasks[task.task]?.state == .running)
            #expect(shard.core.tasks[task.task]?.lease?.peer == alice)
        }
        // The holder's own result is applied: the next step goes out (to bob, who has a free slot).
        let done = shard.send(ShardHarness.result(task, .succeeded), from: alice, as: credentials)
        #expect(done.foreignResults.isEmpty)
        #expect(ShardHarness.tasks(in: done, to: bob).map(\.stepName) == ["load"])
    }

    @Test func aResultForALeaseRestoredAfterARestartCountsOnlyOnceItsWorkerClaimsIt() {
        let (shard, task) = twoStepJob(Self.shared, other: Self.shared)
        var restarted = ShardHarness()
        restarted.core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: 2, restoring: shard.snapshot(), now: restarted.now)
        // Another worker, registered, reports the attempt nobody has claimed yet.
        _ = restarted.send(ShardHarness.ready("w2", slots: 0), from: bob, as: Self.shared)
        let forged = restarted.send(ShardHarness.result(task, .succeeded), from: bob, as: Self.shared)
        #expect(forged.updates == nil && forged.tasks.isEmpty)
        #expect(forged.foreignResults.map(\.tasks) == [[task.ref]])
        // Its worker comes back holding it, and its result counts.
        _ = restarted.send(ShardHarness.ready("w1", slots: 0, held: [task.ref]), from: carol, as: Self.shared)
        let done = restarted.send(ShardHarness.result(task, .succeeded), from: carol, as: Self.shared)
        #expect(done.foreignResults.isEmpty)
        #expect(restarted.core.tasks[task.task] == nil || restarted.core.tasks[task.task]?.state == .succeeded)
        #expect(ShardHarness.states(done) == ["etl:queued"])  // On to the second step.
    }

    // MARK: - A worker's name bound to its key

    @Test(arguments: [WorkerIsolationTests.intruder, nil] as [WorkerCredentials?])
    func aReadyUnderALiveWorkersNameWithAnotherKeyIsRefusedAndTheWorkerKeepsItsLeases(_ impostor: WorkerCredentials?) {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(3, product: "payments"))
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 2), from: alice, as: Self.payments), to: alice)
        #expect(leased.count == 2)
        // The impostor claims the name, and the attempts.
        let refused = shard.send(ShardHarness.ready("w1", slots: 5, held: leased.map(\.ref)), from: carol, as: impostor)
        #expect(ShardHarness.disconnects(in: refused, to: carol).map(\.status) == [.forbidden])
        #expect(refused.messages.allSatisfy { $0.0 == carol })  // Nothing to alice: no CANCEL, nothing taken back.
        #expect(!ShardHarness.welcomed(carol, in: refused) && ShardHarness.tasks(in: refused, to: carol).isEmpty)
        #expect(refused.tasks.isEmpty && refused.updates == nil)
        #expect(refused.refusedRegistrations == [RefusedRegistration(peer: carol, worker: "w1", key: impostor?.key, holder: Self.payments.key)])
        #expect(shard.core.workerCount == 1)
        #expect(leased.allSatisfy { shard.core.tasks[$0.task]?.lease?.peer == alice })
        // The impostor is not registered: what it sends next is answered as from an unknown peer.
        let after = shard.send(ShardHarness.result(leased[0], .succeeded), from: carol, as: impostor)
        #expect(ShardHarness.disconnects(in: after, to: carol).map(\.status) == [.unknownPeer])
        #expect(after.updates == nil)
        // The worker's results count.
        let done = shard.send(ShardHarness.result(leased[0], .succeeded), from: alice, as: Self.payments)
        #expect(ShardHarness.states(done) == ["\(leased[0].job):succeeded"])
    }

    @Test func theSameNameWithTheSameKeyOnANewConnectionTakesOverAsBefore() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(1, product: "payments"))
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 1), from: alice, as: Self.payments), to: alice)
        let again = shard.send(ShardHarness.ready("w1", slots: 1, held: [leased[0].ref]), from: bob, as: Self.payments)
        #expect(ShardHarness.welcomed(bob, in: again) && again.refusedRegistrations.isEmpty)
        #expect(!again.messages.contains { Self.isCancel($0.1) })
        #expect(shard.core.tasks[leased[0].task]?.lease?.peer == bob)
        #expect(shard.core.workerCount == 1)
    }

    @Test func aConnectionThatRegistersAgainUnderANameBoundToAnotherKeyIsRefusedAndItsOwnRegistrationEnds() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(2, product: "ledger"))
        _ = shard.send(ShardHarness.ready("w1", slots: 1), from: alice, as: Self.shared)
        let mine = ShardHarness.tasks(in: shard.send(ShardHarness.ready("i1", slots: 1), from: carol, as: Self.intruder), to: carol)
        let refused = shard.send(ShardHarness.ready("w1", slots: 1), from: carol, as: Self.intruder)
        #expect(ShardHarness.disconnects(in: refused, to: carol).map(\.status) == [.forbidden])
        #expect(shard.core.workerCount == 1)
        // Its own leases are taken back, as for any worker that goes away.
        #expect(ShardHarness.states(refused) == ["\(mine[0].job):queued"])
    }

    @Test func afterARestartOnlyTheSameNameWithTheSameKeyClaimsItsLeases() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(2, product: "payments"))
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 2, session: 7), from: alice, as: Self.payments), to: alice)
        var restarted = ShardHarness()
        restarted.core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: 2, restoring: shard.snapshot(), now: restarted.now)
        // An impostor first, with the worker's name, session and attempts: refused, and the leases wait.
        let impostor = restarted.send(ShardHarness.ready("w1", slots: 2, session: 7, held: leased.map(\.ref)), from: carol, as: Self.intruder)
        #expect(ShardHarness.disconnects(in: impostor, to: carol).map(\.status) == [.forbidden])
        #expect(impostor.refusedRegistrations.map(\.holder) == [Self.payments.key])
        #expect(impostor.tasks.isEmpty && impostor.updates == nil)
        // A keyless READY is no better.
        let keyless = restarted.send(ShardHarness.ready("w1", slots: 2, session: 7, held: leased.map(\.ref)), from: carol, as: nil)
        #expect(ShardHarness.disconnects(in: keyless, to: carol).map(\.status) == [.forbidden])
        // The worker itself claims them.
        let back = restarted.send(ShardHarness.ready("w1", slots: 0, session: 7, held: leased.map(\.ref)), from: bob, as: Self.payments)
        #expect(ShardHarness.welcomed(bob, in: back) && !back.messages.contains { Self.isCancel($0.1) })
        #expect(back.tasks.isEmpty)
        let done = restarted.send(ShardHarness.result(leased[0], .succeeded), from: bob, as: Self.payments)
        #expect(ShardHarness.states(done) == ["\(leased[0].job):succeeded"])
        #expect(restarted.core.tasks[leased[1].task]?.lease?.peer == bob)
    }

    @Test func leasesRestoredWithNoOneClaimingThemFreeTheNameOnceTakenBack() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(1, product: "ledger"))
        _ = shard.send(ShardHarness.ready("w1", slots: 1), from: alice, as: Self.shared)
        var restarted = ShardHarness()
        restarted.core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: 2, restoring: shard.snapshot(), now: restarted.now)
        restarted.advance(6000)
        #expect(ShardHarness.states(restarted.turn()) == ["ledger-0:queued"])
        let other = restarted.send(ShardHarness.ready("w1", slots: 1), from: carol, as: Self.intruder)
        #expect(ShardHarness.welcomed(carol, in: other) && other.refusedRegistrations.isEmpty)
    }

    @Test func aMessageWhoseKeyIsNotTheOneItsConnectionRegisteredWithIsFromAnUnknownPeer() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 0), from: alice, as: Self.payments)
        let pull = shard.send(.pull(Pull(credit: 3)), from: alice, as: Self.intruder)
        #expect(ShardHarness.disconnects(in: pull, to: alice).map(\.status) == [.unknownPeer])
        #expect(shard.core.workerCount == 1)
    }

    /// A key removed from the cluster ends its workers at once: they are told DISCONNECT 403, their tasks
    /// go back to the queue for other workers, and they are handed nothing more.
    @Test func aWorkerWhoseKeyIsRemovedIsEndedAndItsTasksGoToOthers() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(2, product: "payments"))
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("pay-1", slots: 2), from: alice, as: Self.payments), to: alice)
        _ = shard.send(ShardHarness.ready("any-1", slots: 0), from: bob, as: Self.shared)
        #expect(leased.count == 2)
        let ended = shard.core.keysRemoved(trusted: { $0 != Self.payments.key }, now: shard.now)
        #expect(ended == ["pay-1"])
        let turn = shard.turn()
        #expect(ShardHarness.disconnects(in: turn, to: alice).map(\.status) == [.forbidden])
        #expect(ShardHarness.disconnects(in: turn, to: bob).isEmpty)
        #expect(Set(ShardHarness.states(turn)) == ["payments-0:queued", "payments-1:queued"])
        #expect(shard.core.workerCount == 1)
        // The other worker takes them, and the ended one's late result changes nothing.
        let taken = shard.send(.pull(Pull(credit: 2)), from: bob, as: Self.shared)
        #expect(ShardHarness.tasks(in: taken, to: bob).map(\.job).sorted() == ["payments-0", "payments-1"])
        let late = shard.send(ShardHarness.result(leased[0], .succeeded), from: alice, as: Self.payments)
        #expect(ShardHarness.states(late).isEmpty)
        // A removal of keys no worker holds ends no one.
        #expect(shard.core.keysRemoved(trusted: { $0 != Self.forger.key }, now: shard.now).isEmpty)
    }

    /// Leases restored after a restart for a worker whose key is then removed go back to the queue at once:
    /// no READY can claim them.
    @Test func leasesRestoredForARemovedKeysWorkerGoBackAtOnce() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(1, product: "payments"))
        _ = shard.send(ShardHarness.ready("pay-1", slots: 1), from: alice, as: Self.payments)
        var restarted = ShardHarness()
        restarted.core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: 2, restoring: shard.snapshot(), now: restarted.now)
        #expect(restarted.core.keysRemoved(trusted: { $0 != Self.payments.key }, now: restarted.now) == ["pay-1"])
        #expect(ShardHarness.states(restarted.turn()) == ["payments-0:queued"])
        let other = restarted.send(ShardHarness.ready("pay-1", slots: 1), from: bob, as: Self.shared)
        #expect(ShardHarness.welcomed(bob, in: other) && other.refusedRegistrations.isEmpty)
    }

    // MARK: - Keyless, as before

    @Test func withoutCredentialsAReadyUnderALiveWorkersNameTakesOverAsBefore() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(2, product: "payments"))
        let leased = ShardHarness.tasks(in: shard.send(ShardHarness.ready("w1", slots: 2), from: alice), to: alice)
        let again = shard.send(ShardHarness.ready("w1", slots: 2, held: [leased[0].ref]), from: bob)
        #expect(ShardHarness.welcomed(bob, in: again) && again.refusedRegistrations.isEmpty)
        #expect(shard.core.workerCount == 1)
        #expect(shard.core.tasks[leased[0].task]?.lease?.peer == bob)
        // The attempt it did not claim was taken back and goes out again, to the worker now registered.
        #expect(ShardHarness.tasks(in: again, to: bob).map(\.attempt) == [2])
    }

    @Test func withoutCredentialsEveryProductsWorkGoesToEveryWorker() {
        var shard = ShardHarness()
        _ = shard.submit(Self.jobs(2, product: "payments") + Self.jobs(2, product: "ledger", run: 2))
        let turn = shard.send(ShardHarness.ready("w1", slots: 4), from: alice)
        #expect(Set(ShardHarness.tasks(in: turn, to: alice).map(\.product)) == ["payments", "ledger"])
        #expect(turn.refusedRegistrations.isEmpty && turn.foreignResults.isEmpty)
    }
}

extension FairQueueTests.Bench {
    /// A selection for a worker that may run only tasks of `products`.
    mutating func select(_ limit: Int, products: Set<String>, worker: Capabilities = FairQueueTests.anyWorker, sets: [String: Int] = [:]) -> [FairQueue.Pick] {
        let pending = self.pending
        let owner = self.owner
        let picks = queue.select(limit: limit, capabilities: worker, sets: sets, products: products, now: now) { task, _ in
            guard pending.contains(task) else { return .stale }
            return products.contains(owner[task]!.product) ? .live : .barred
        }
        for pick in picks {
            for task in pick.tasks {
                self.pending.remove(task)
                running[owner[task]!.product, default: 0] += 1
                charges[task] = pick.charge
            }
        }
        return picks
    }

    func work(for products: Set<String>?) -> (tasks: Int, weight: UInt32) {
        let owner = self.owner
        let allowed = { (task: UInt64) in products?.contains(owner[task]!.product) ?? true }
        return (
            queue.work(for: FairQueueTests.anyWorker, products: products, isAllowed: allowed),
            queue.demandWeight(for: FairQueueTests.anyWorker, products: products, isAllowed: allowed)
        )
    }
}

/// Fair selection for a worker limited to some products, on the queue alone.
@Suite struct ProductScopeTests {
    static func bench(_ fairness: Fairness) -> FairQueueTests.Bench {
        var tuning = FairQueue.Tuning()
        tuning.fairness = fairness
        return FairQueueTests.Bench(tuning)
    }

    @Test(arguments: [Fairness.fair, .fifo])
    func aLimitedSelectionTakesOnlyItsProductsAndLeavesTheRestInPlace(_ fairness: Fairness) {
        var bench = Self.bench(fairness)
        bench.add(4, product: "a")  // 1-4
        bench.add(4, product: "b")  // 5-8
        bench.add(4, product: "a")  // 9-12
        bench.add(4, product: "c")  // 13-16
        let limited = bench.select(6, products: ["b", "zzz"]).flatMap(\.tasks)
        #expect(limited == [5, 6, 7, 8])
        #expect(bench.select(3, products: ["nothing"]).isEmpty)
        #expect(bench.queue.count == 12)
        // Everything passed over is still there, in its order.
        let rest = bench.select(100).flatMap(\.tasks)
        #expect(rest.sorted() == [1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15, 16])
        if fairness == .fifo { #expect(rest == [1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15, 16]) }
    }

    @Test(arguments: [Fairness.fair, .fifo])
    func aLimitedSetHoldsOnlyItsProductsTasks(_ fairness: Fairness) {
        var bench = Self.bench(fairness)
        let post = Requirement(kind: .handler, handler: "post", tags: [])
        bench.add(5, product: "a", requirement: post)
        bench.add(5, product: "b", requirement: post)
        bench.add(5, product: "a", requirement: post)
        let picks = bench.select(1, products: ["b"], sets: ["post": 8])
        #expect(picks.map(\.tasks) == [[6, 7, 8, 9, 10]])
        #expect(bench.select(1, sets: ["post": 20]).flatMap(\.tasks).sorted() == [1, 2, 3, 4, 5, 11, 12, 13, 14, 15])
    }

    @Test func amongItsProductsALimitedWorkerFollowsTheirShares() {
        var bench = Self.bench(.fair)
        bench.queue.setPolicy(ProductPolicy(product: "a", weight: 1), now: bench.now)
        bench.queue.setPolicy(ProductPolicy(product: "b", weight: 3), now: bench.now)
        for product in ["a", "b", "c"] { bench.add(2_000, product: product) }
        var served: [String: Int] = [:]
        for _ in 0..<2_000 {
            for pick in bench.select(1, products: ["a", "b"]) {
                served[pick.product, default: 0] += 1
                bench.finish(pick.tasks[0])
            }
        }
        #expect(served["c"] == nil)
        let ratio = Double(served["b"] ?? 0) / Double(max(1, served["a"] ?? 0))
        #expect((2.5...3.5).contains(ratio), "served: \(served)")
    }

    @Test func aLimitedSelectionLeavesTheTurnOrderOfOtherWorkersAsItWas() {
        var plain = Self.bench(.fair)
        var limited = Self.bench(.fair)
        for bench in [0, 1] {
            for product in ["a", "b", "c", "d"] {
                if bench == 0 { plain.add(20, product: product) } else { limited.add(20, product: product) }
            }
        }
        _ = limited.select(4, products: ["none"])
        #expect(plain.select(12).flatMap(\.tasks) == limited.select(12).flatMap(\.tasks))
    }

    @Test func selectionsForLimitedWorkersAloneLeaveNoPileOfStaleTurns() {
        var bench = Self.bench(.fair)
        // Work no worker here may run: its place stays at the head of the turn order.
        bench.add(10, product: "nobody")
        bench.add(5_000, product: "a")
        for _ in 0..<5_000 {
            for pick in bench.select(1, products: ["a"]) { bench.finish(pick.tasks[0]) }
        }
        #expect(bench.pending.count == 10)
        #expect(bench.queue.turnEntries <= 2 * 2 + 64)
    }

    @Test func aProductBackFromIdleIsNotPutBehindEveryoneByAnotherProductsOwnPool() {
        var bench = Self.bench(.fair)
        bench.add(2_000, product: "a")
        // One of a's tasks measured: its type is no longer held to a probe's share.
        for pick in bench.select(1) { bench.finish(pick.tasks[0]) }
        bench.add(2_000, product: "x")
        // x has a pool of its own, which serves it far ahead of a.
        for _ in 0..<1_000 {
            for pick in bench.select(1, products: ["x"]) { bench.finish(pick.tasks[0]) }
        }
        bench.add(1, product: "new")
        // A worker of any product serves the newcomer at once, level with a: not after a has caught up with x.
        #expect(bench.select(2).map(\.product) == ["a", "new"])
    }

    @Test(arguments: [Fairness.fair, .fifo])
    func aLimitedWorkerWithNothingOfItsOwnLeavesEveryoneElsesWorkAsItWas(_ fairness: Fairness) {
        var bench = Self.bench(fairness)
        bench.add(3, product: "a", rank: RunPriority.urgent)
        bench.add(3, product: "b")
        // Nothing for it, however often it asks: no pick, and nothing dropped or reordered.
        for _ in 0..<3 { #expect(bench.select(5, products: ["c"]).isEmpty) }
        #expect(bench.queue.count == 6)
        #expect(bench.select(6).flatMap(\.tasks) == [1, 2, 3, 4, 5, 6])
    }

    @Test func inFIFOModeAnIdleLimitedWorkerReadsPastTheOthersWorkOnlyWhenItsProductsHadTasksQueued() {
        var bench = Self.bench(.fifo)
        bench.add(1_000, product: "b")
        var asked = 0
        func select(_ products: Set<String>) -> [UInt64] {
            let (pending, owner) = (bench.pending, bench.owner)
            let picks = bench.queue.select(
                limit: 1, capabilities: FairQueueTests.anyWorker, products: products, now: bench.now
            ) { task, _ -> FairQueue.Standing in
                asked += 1
                guard pending.contains(task) else { return .stale }
                return products.contains(owner[task]!.product) ? .live : .barred
            }
            for task in picks.flatMap(\.tasks) { bench.pending.remove(task) }
            return picks.flatMap(\.tasks)
        }
        #expect(select(["a"]).isEmpty && asked == 1_000)
        // Nothing of a's queued since: not read again, nor for another product's work.
        #expect(select(["a"]).isEmpty && asked == 1_000)
        bench.add(1, product: "c")  // 1001
        #expect(select(["a"]).isEmpty && asked == 1_000)
        // A worker limited otherwise reads on its own account.
        #expect(select(["c"]) == [1001])
        bench.add(1, product: "a")  // 1002
        #expect(select(["a"]) == [1002])
        #expect(bench.queue.count == 1_000)
    }

    @Test(arguments: [Fairness.fair, .fifo])
    func workAndDemandWeightCountOnlyTheProductsAWorkerMayRun(_ fairness: Fairness) {
        var bench = Self.bench(fairness)
        bench.queue.setPolicy(ProductPolicy(product: "a", weight: 4), now: bench.now)
        bench.queue.setPolicy(ProductPolicy(product: "b", weight: 2), now: bench.now)
        bench.add(3, product: "a")
        bench.add(5, product: "b")
        let fair = fairness == .fair
        #expect(bench.work(for: nil) == (8, fair ? 6 : 1))
        #expect(bench.work(for: ["b"]) == (5, fair ? 2 : 1))
        #expect(bench.work(for: ["c"]) == (0, 0))
        let owner = bench.owner
        let hasWork = { (products: Set<String>) in
            bench.queue.hasWork(for: FairQueueTests.anyWorker, products: products) { products.contains(owner[$0]!.product) }
        }
        #expect(hasWork(["a", "c"]) && hasWork(["b"]) && !hasWork(["c"]))
    }
}
