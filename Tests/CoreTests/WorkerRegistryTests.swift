import Core
import Testing
import Wire

/// The shard's worker registry on its own: registration and its terms, liveness, orphaned leases after
/// a restart, credit, demand, and the order dispatch serves workers in.
@Suite struct WorkerRegistryTests {
    let alice = Peer([1])
    let bob = Peer([2])
    let carol = Peer([3])
    let start = Timestamp(milliseconds: 1_000_000)

    /// A registry with the default terms: heartbeat 1,000 ms, liveness 3.
    func registry() -> WorkerRegistry { WorkerRegistry(configuration: ShardConfiguration(shard: 1)) }

    static func ready(
        _ name: String, slots: UInt32 = 1, session: UInt64 = 1, heartbeat: UInt32 = 1000, tags: [String] = []
    ) -> Ready {
        Ready(worker: name, session: session, slots: slots, heartbeat: heartbeat, tags: tags)
    }

    @Test func theHeartbeatAskedForIsClampedAndNoneMeansTheShardsOwn() {
        var workers = registry()
        #expect(workers.register(Self.ready("a", heartbeat: 0), peer: alice, now: start).worker.heartbeat == 1000)
        #expect(workers.register(Self.ready("b", heartbeat: 5), peer: bob, now: start).worker.heartbeat == 100)
        let slow = workers.register(Self.ready("c", heartbeat: 600_000), peer: carol, now: start)
        #expect(slow.worker.heartbeat == 60_000)
        #expect(workers.count == 3 && workers.credit == 3)
    }

    @Test func aWorkerRegisteringAgainReplacesItsEarlierConnectionAndMayClaimItsLeases() {
        var workers = registry()
        _ = workers.register(Self.ready("w1"), peer: alice, now: start)
        _ = workers.register(Self.ready("w2"), peer: bob, now: start)
        workers.leased(10, to: alice)
        workers.leased(11, to: alice)
        // The same worker on a new connection: the old one is forgotten, its leases are candidates.
        let again = workers.register(Self.ready("w1", session: 2), peer: carol, now: start)
        #expect(again.candidates == [10, 11])
        #expect(workers[alice] == nil && workers.count == 2)
        #expect(workers[carol]?.leases.isEmpty == true)
        workers.leased(10, to: carol)
        #expect(workers[carol]?.leases == [10])
        // It is served after the workers registered before it.
        #expect(Array(workers.nextRound()) == [bob, carol])
    }

    @Test func aMessageFromAnUnknownConnectionIsNotHeard() {
        var workers = registry()
        let before = workers.heard(from: alice, now: start)
        #expect(!before)
        _ = workers.register(Self.ready("w1"), peer: alice, now: start)
        let registered = workers.heard(from: alice, now: start.adding(milliseconds: 10))
        #expect(registered && workers[alice]?.lastHeard == start.adding(milliseconds: 10))
        #expect(workers.remove(alice)?.name == "w1")
        let after = workers.heard(from: alice, now: start.adding(milliseconds: 20))
        #expect(!after)
    }

    @Test func aWorkerSilentForLivenessIntervalsExpiresWithItsLeasesAndAQuietOneIsDueAHeartbeat() {
        var workers = registry()
        _ = workers.register(Self.ready("w1"), peer: alice, now: start)
        _ = workers.register(Self.ready("w2"), peer: bob, now: start)
        workers.leased(7, to: alice)
        // Nothing is due before an interval.
        let early = workers.tick(now: start.adding(milliseconds: 999))
        #expect(early.silent.isEmpty && early.heartbeats.isEmpty)
        // After one interval both are due a HEARTBEAT; bob keeps talking, and is sent something.
        #expect(workers.tick(now: start.adding(milliseconds: 1000)).heartbeats == [alice, bob])
        workers.sent(to: alice, now: start.adding(milliseconds: 1000))
        workers.sent(to: bob, now: start.adding(milliseconds: 1000))
        _ = workers.heard(from: bob, now: start.adding(milliseconds: 2500))
        // Alice, heard from last at the start, is dead one millisecond short of three intervals later: not yet.
        #expect(workers.tick(now: start.adding(milliseconds: 2999)).silent.isEmpty)
        let expiry = workers.tick(now: start.adding(milliseconds: 3000))
        #expect(expiry.silent.map(\.name) == ["w1"])
        #expect(expiry.silent.first?.leases == [7])
        #expect(workers[alice] == nil && workers[bob] != nil)
        // Bob, sent nothing since 1,000 ms, is due a heartbeat; heard from at 2,500, he is alive until 5,500.
        #expect(expiry.heartbeats == [bob])
        #expect(workers.tick(now: start.adding(milliseconds: 5499)).silent.isEmpty)
        #expect(workers.tick(now: start.adding(milliseconds: 5500)).silent.map(\.name) == ["w2"])
        #expect(workers.count == 0)
    }

    @Test func livenessAndDemandDeadlinesComeFromEveryWorker() {
        var workers = registry()
        #expect(workers.deadlines().liveness == nil && workers.deadlines().demand == nil)
        _ = workers.register(Self.ready("fast", slots: 0, heartbeat: 200), peer: alice, now: start)
        _ = workers.register(Self.ready("slow", slots: 2, heartbeat: 5000), peer: bob, now: start)
        workers.sent(to: alice, now: start.adding(milliseconds: 100))
        let deadlines = workers.deadlines()
        // Alice is due a heartbeat at 300; she was last heard at 0, dead at 600.
        #expect(deadlines.liveness == start.adding(milliseconds: 300))
        // Out of credit and never told of work: she may be told at once. Bob has credit.
        #expect(deadlines.demand == .zero)
        #expect(deadlines.anyCredit)
        workers.demandSent(to: alice, now: start.adding(milliseconds: 100))
        #expect(workers.deadlines().demand == start.adding(milliseconds: 300))
    }

    @Test func anOrphanedLeaseIsTakenBackOnlyOnceTheRestartGraceRunsOut() {
        var workers = registry()
        #expect(workers.restartGrace() == 6000)
        #expect(workers.restartGrace(heartbeat: 5000) == 30_000, "a worker granted a longer heartbeat is waited for longer")
        workers.restored(21, heldBy: "w1", now: start)
        workers.restored(20, heldBy: "w1", now: start)
        workers.restored(30, heldBy: "w2", now: start)
        workers.restored(31, heldBy: "w3", now: start)
        #expect(workers.deadlines().liveness == start.adding(milliseconds: 6000))
        #expect(workers.tick(now: start.adding(milliseconds: 5999)).orphans.isEmpty)
        // w2's task ended meanwhile (its run was cancelled, and its job finished): it is no orphan any more.
        workers.released(30, from: Lease(worker: "w2", session: 1, peer: nil))
        let expiry = workers.tick(now: start.adding(milliseconds: 6000))
        let reclaimed = Dictionary(uniqueKeysWithValues: expiry.orphans.map { ($0.worker, $0.tasks) })
        #expect(reclaimed == ["w1": [20, 21], "w3": [31]])
        #expect(workers.tick(now: start.adding(milliseconds: 7000)).orphans.isEmpty)
        #expect(workers.deadlines().liveness == nil)
    }

    @Test func aWorkerBackWithinTheGraceClaimsItsOrphansAndNoneIsTakenBackLater() {
        var workers = registry()
        workers.restored(20, heldBy: "w1", now: start)
        workers.restored(30, heldBy: "w2", now: start)
        let back = workers.register(Self.ready("w1"), peer: alice, now: start.adding(milliseconds: 1000))
        #expect(back.candidates == [20])
        workers.leased(20, to: alice)
        _ = workers.heard(from: alice, now: start.adding(milliseconds: 5000))
        workers.sent(to: alice, now: start.adding(milliseconds: 5000))
        let expiry = workers.tick(now: start.adding(milliseconds: 6000))
        #expect(expiry.orphans.map(\.worker) == ["w2"])
        #expect(expiry.silent.isEmpty)
        #expect(workers[alice]?.leases == [20])
    }

    @Test func aWorkerIsToldOfWorkOncePerHeartbeatUnlessItGivesOrRecallsCredit() {
        var workers = registry()
        _ = workers.register(Self.ready("w1", slots: 2, tags: ["gpu"]), peer: alice, now: start)
        workers.spend(2, of: alice)
        #expect(workers.mayDemand(from: alice, now: start)?.capabilities.tags == ["gpu"])
        workers.demandSent(to: alice, now: start)
        #expect(workers.mayDemand(from: alice, now: start.adding(milliseconds: 999)) == nil)
        #expect(workers.mayDemand(from: alice, now: start.adding(milliseconds: 1000)) != nil)
        workers.demandSent(to: alice, now: start.adding(milliseconds: 1000))
        // PULL: it answered; it may be told again at once, should this credit run out too.
        workers.pulled(3, from: alice)
        #expect(workers[alice]?.credit == 3)
        #expect(workers.mayDemand(from: alice, now: start.adding(milliseconds: 1001)) != nil)
        workers.demandSent(to: alice, now: start.adding(milliseconds: 1001))
        // RECALL gives back what is left, at most what was asked for, and lifts the throttle as PULL does.
        #expect(workers.recalled(5, from: alice) == 3)
        #expect(workers.recalled(5, from: alice) == 0)
        #expect(workers.mayDemand(from: alice, now: start.adding(milliseconds: 1002)) != nil)
        #expect(workers.recalled(5, from: bob) == 0)
    }

    @Test func creditGivenIsCappedAtAMillion() {
        var workers = registry()
        _ = workers.register(Self.ready("w1", slots: 999_999), peer: alice, now: start)
        workers.pulled(10, from: alice)
        #expect(workers[alice]?.credit == 1_000_000)
    }

    @Test func aDemandIsWithdrawnOnceWhenItsWorkIsOverAndAWorkerGoneIsDroppedWithoutAWord() {
        var workers = registry()
        _ = workers.register(Self.ready("cpu", slots: 0), peer: alice, now: start)
        _ = workers.register(Self.ready("gpu", slots: 0, tags: ["gpu"]), peer: bob, now: start)
        _ = workers.register(Self.ready("gone", slots: 0), peer: carol, now: start)
        for peer in [alice, bob, carol] { workers.demandSent(to: peer, now: start) }
        _ = workers.remove(carol)
        // Only gpu work is left: the plain worker's demand is over, the gpu worker's stands.
        let gpuWorkLeft: (WorkerRegistry.Worker) -> Bool = { !$0.capabilities.tags.contains("gpu") }
        #expect(workers.withdrawDemands(where: gpuWorkLeft) == [alice])
        #expect(workers.withdrawDemands(where: gpuWorkLeft).isEmpty)
        #expect(workers.withdrawDemands(where: { _ in true }) == [bob])
        #expect(workers.withdrawDemands(where: { _ in true }).isEmpty)
        // A worker never told of work is never told it is over.
        _ = workers.register(Self.ready("new"), peer: carol, now: start)
        #expect(workers.withdrawDemands(where: { _ in true }).isEmpty)
    }

    @Test func eachDispatchRoundStartsOneWorkerFurther() {
        var workers = registry()
        #expect(Array(workers.nextRound()).isEmpty)
        for (peer, name) in [(alice, "a"), (bob, "b"), (carol, "c")] {
            _ = workers.register(Self.ready(name), peer: peer, now: start)
        }
        #expect(Array(workers.nextRound()) == [alice, bob, carol])
        #expect(Array(workers.nextRound()) == [bob, carol, alice])
        #expect(Array(workers.nextRound()) == [carol, alice, bob])
        #expect(Array(workers.nextRound()) == [alice, bob, carol])
        // The next round starts at the next place in the order, whoever holds it now.
        _ = workers.remove(alice)
        #expect(Array(workers.nextRound()) == [carol, bob])
    }

    @Test func aLeaseEndsWithItsResultAndCreditIsSpentOnlyOnWhatWasSent() {
        var workers = registry()
        _ = workers.register(Self.ready("w1", slots: 4), peer: alice, now: start)
        for task in [1, 2, 3] as [UInt64] { workers.leased(task, to: alice) }
        workers.spend(3, of: alice)
        workers.released(2, from: Lease(worker: "w1", session: 1, peer: alice))
        #expect(workers[alice]?.leases == [1, 3])
        #expect(workers[alice]?.credit == 1)
        #expect(workers.credit == 1)
    }
}
