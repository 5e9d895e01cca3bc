@testable import Core
import Testing
import Wire

/// A shard meets a job type for every job definition of its products: what it holds of them is bounded by
/// the work at hand, not by the types it ever ran.
@Suite struct FairQueueForgettingTests {
    typealias Bench = FairQueueTests.Bench

    @Test func typesRunOnceAreForgottenWhileTheOnesInUseKeepTheirPlaces() throws {
        var bench = Bench()
        let rare = Requirement(kind: .handler, handler: "rare", tags: [])
        let plain = Capabilities(commands: true, handlers: [], tags: [])
        // Held through every sweep: a task out for the whole test, a task queued that only a worker with
        // the "rare" handler runs, and a type measured in every round.
        bench.add(1, product: "p", type: "long")
        let long = try #require(bench.select(1, worker: plain).first?.tasks.first)
        bench.add(1, product: "p", type: "waiting", requirement: rare)
        for round in 0..<30_000 {
            bench.add(1, product: "p", type: "once \(round)")
            bench.add(1, product: "p", type: "steady")
            for task in bench.select(2, worker: plain).flatMap(\.tasks) {
                bench.finish(task, duration: bench.owner[task]!.type == "steady" ? 40 : 5)
            }
            // The types in use, and those met since the sweep before, twice at most.
            #expect(bench.queue.kindsHeld <= 2 * FairQueue.minimumSweep + 10 && bench.queue.windowsHeld <= 2 * FairQueue.minimumSweep + 10)
        }
        #expect(bench.pending.count == 1 && bench.running == ["p": 1])
        #expect(bench.queue.kinds.count <= 2 * FairQueue.minimumSweep + 10, "slots given again, not added")
        #expect(bench.queue.windows.count <= 2 * FairQueue.minimumSweep + 10)
        // The cost learned for the type in use is kept; a type forgotten is new again.
        #expect(bench.queue.cost(of: "p", type: "steady") == 40)
        #expect(bench.queue.cost(of: "p", type: "once 3") == 1)
        // The task out all along ends against its own window, and the queued one is still found.
        let charge = try #require(bench.charges[long])
        #expect(bench.queue.windowKeys[Int(charge.window)] == FairQueue.CostKey(product: charge.product, type: "long"))
        bench.finish(long, duration: 7)
        #expect(bench.queue.cost(of: "p", type: "long") == 7 && bench.queue.runningTotal == 0)
        let waiting = bench.select(5, worker: Capabilities(commands: false, handlers: ["rare"], tags: [])).flatMap(\.tasks)
        #expect(waiting.map { bench.owner[$0]!.type } == ["waiting"])
    }

    @Test func whatAPeakTookIsGivenBackOnceItsTypesAreIdle() {
        var bench = Bench()
        // 30,000 types queued at once: every sweep meanwhile finds them all in use.
        for type in 0..<30_000 { bench.add(1, product: "p", type: "peak \(type)") }
        #expect(bench.queue.windowsHeld == 30_000 && bench.queue.kindsHeld == 30_000)
        for task in bench.select(100_000).flatMap(\.tasks) { bench.finish(task, duration: 3) }
        let peak = (kinds: bench.queue.kindIndex.capacity, windows: bench.queue.windowIndex.capacity)
        // Then new types, one at a time, as a shard meets them.
        for round in 0..<25_000 {
            bench.add(1, product: "p", type: "after \(round)")
            for task in bench.select(1).flatMap(\.tasks) { bench.finish(task, duration: 3) }
        }
        #expect(bench.queue.cost(of: "p", type: "peak 7") == 1, "forgotten")
        #expect(bench.queue.cost(of: "p", type: "after 24999") == 3, "kept")
        // The slots and the indexes' room shrink back, not only what they hold.
        #expect(bench.queue.windows.count <= 2 * FairQueue.minimumSweep + 10 && bench.queue.kinds.count <= 2 * FairQueue.minimumSweep + 10)
        #expect(
            bench.queue.kindIndex.capacity <= peak.kinds / 2 && bench.queue.windowIndex.capacity <= peak.windows / 2,
            "the indexes' room at the peak \(peak), now \(bench.queue.kindIndex.capacity) and \(bench.queue.windowIndex.capacity)")
    }

    @Test func aSweepThatFindsEverythingInUseComesAgainOnlyOnceAsManyMoreAreHeld() {
        var bench = Bench()
        // Queued and never handed out: every kind and window stays in use.
        for type in 0..<(FairQueue.minimumSweep + 10) { bench.add(1, product: "p", type: "t\(type)") }
        #expect(bench.queue.kindsHeld == FairQueue.minimumSweep + 10)
        // Swept once, when the first 10,000 were held, all in use: the next after as many more.
        #expect(bench.queue.sweepAt == 2 * FairQueue.minimumSweep)
        let all = bench.select(100_000).flatMap(\.tasks)
        #expect(all.count == FairQueue.minimumSweep + 10 && all == all.sorted())
    }
}
