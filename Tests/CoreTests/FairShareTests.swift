import Core
import Testing
import Wire

/// Fair dispatch's second round, on the queue alone with a clock the test moves: costs that belong to
/// each product's work, corrected when tasks end; run priorities within and across products; fairness
/// keys within a product; the weight a shard asks workers for; command batches.
struct FairShareTests {
    /// A shard's slots over time: tasks run for the time `duration` gives them, then end, and free slots
    /// are filled by selection, every millisecond.
    struct Slots {
        var bench: FairQueueTests.Bench
        let slots: Int
        var running: [(ends: Timestamp, task: UInt64, ran: Int64)] = []
        /// Worker time by product, counted as tasks end.
        var time: [String: Int64] = [:]

        init(_ bench: FairQueueTests.Bench, slots: Int) {
            self.bench = bench
            self.slots = slots
        }

        /// Runs for `milliseconds`; `duration` says how long each task runs once handed out.
        mutating func run(for milliseconds: Int64, duration: (UInt64, String) -> Int64) {
            let end = bench.now.adding(milliseconds: milliseconds)
            while bench.now < end {
                running.sort { $0.ends < $1.ends }
                while let first = running.first, first.ends <= bench.now {
                    running.removeFirst()
                    time[bench.owner[first.task]!.product, default: 0] += first.ran
                    bench.finish(first.task, duration: first.ran)
                }
                let free = slots - running.count
                if free > 0 {
                    for pick in bench.select(free) {
                        for task in pick.tasks {
                            let ran = duration(task, pick.product)
                            running.append((bench.now.adding(milliseconds: ran), task, ran))
                        }
                    }
                }
                bench.now = bench.now.adding(milliseconds: 1)
            }
        }

        /// The share of the worker time counted so far that went to `product`.
        func share(_ product: String) -> Double { Double(time[product] ?? 0) / Double(max(1, time.values.reduce(0, +))) }
    }

    @Test func twoProductsWithTheSameTypeNameDoNotShareItsCost() {
        // Both call their job type "sleep"; a's tasks run 100 ms, b's 10 ms. Equal weights: equal time.
        var bench = FairQueueTests.Bench()
        bench.add(5_000, product: "a", type: "sleep")
        bench.add(50_000, product: "b", type: "sleep")
        var slots = Slots(bench, slots: 8)
        slots.run(for: 20_000) { _, product in product == "a" ? 100 : 10 }
        #expect(abs(slots.share("a") - 0.5) < 0.05, "\(slots.time)")
        #expect(slots.bench.queue.cost(of: "a", type: "sleep") == 100)
        #expect(slots.bench.queue.cost(of: "b", type: "sleep") == 10)
    }

    @Test func aNewTypeIsChargedTheLongestRecentRunUntilItsFirstResult() {
        // "old" runs 100 ms tasks on 8 slots; "new" arrives with 5-second tasks of a type never seen. It
        // must not take every slot before its first result shows what they cost.
        var bench = FairQueueTests.Bench()
        bench.add(10_000, product: "old", type: "steady")
        var slots = Slots(bench, slots: 8)
        slots.run(for: 2_000) { _, _ in 100 }
        slots.bench.add(100, product: "new", type: "huge")
        #expect(slots.bench.queue.cost(of: "new", type: "huge") == 100, "charged the longest recent run")
        slots.time = [:]
        slots.run(for: 5_000) { _, product in product == "new" ? 5_000 : 100 }
        let newRunning = slots.running.filter { slots.bench.owner[$0.task]!.product == "new" }.count
        #expect(newRunning <= 4, "the newcomer holds \(newRunning) of 8 slots")
        // In the five seconds before its first result, the old product kept at least half the worker.
        #expect(slots.share("old") >= 0.5, "\(slots.time)")
        // Its first results correct what its tasks were charged: from then on, time is shared evenly.
        slots.time = [:]
        slots.run(for: 60_000) { _, product in product == "new" ? 5_000 : 100 }
        #expect(abs(slots.share("new") - 0.5) < 0.1, "\(slots.time)")
    }

    @Test func aProductsChoiceOfTypeCannotLowerWhatItsWorkCosts() {
        // "sly" runs one 1 ms task then one 1,000 ms task, again and again, all of one type: what each is
        // charged when it goes out is wrong one way or the other, and corrected when it ends. "fair" runs
        // 100 ms tasks. Equal weights: equal time.
        var bench = FairQueueTests.Bench()
        bench.add(20_000, product: "sly", type: "cheap")
        bench.add(20_000, product: "fair", type: "report")
        var slots = Slots(bench, slots: 4)
        slots.run(for: 60_000) { task, product in product == "fair" ? 100 : (task % 2 == 0 ? 1 : 1_000) }
        #expect(abs(slots.share("sly") - 0.5) < 0.1, "\(slots.time)")
    }

    @Test func withinAProductTheMoreUrgentRunGoesFirstThenTheJobsPriorityThenAge() {
        var bench = FairQueueTests.Bench()
        bench.add(1, product: "a", rank: 5)  // 1
        bench.add(1, product: "a", priority: 7, rank: 3)  // 2
        bench.add(1, product: "a", rank: 3)  // 3
        bench.add(1, product: "a", rank: 1)  // 4
        bench.add(1, product: "a", rank: RunPriority.urgent)  // 5
        let order = (0..<5).flatMap { _ in bench.select(1).flatMap(\.tasks) }
        #expect(order == [5, 4, 2, 3, 1])
    }

    @Test func acrossProductsPriorityDoesNotBreakTheShares() {
        var bench = FairQueueTests.Bench()
        bench.add(1_000, product: "eager", rank: 1)
        bench.add(1_000, product: "calm", rank: 5)
        var served: [String: Int] = [:]
        for _ in 0..<1_000 { for pick in bench.select(1) { served[pick.product, default: 0] += 1; bench.finish(pick.tasks[0]) } }
        #expect(served["eager"] == 500 && served["calm"] == 500, "\(served)")
    }

    @Test func priorityOverFairnessPutsAProductsUrgentRunsFirstAndItsLeisurelyOnesLast() {
        var bench = FairQueueTests.Bench()
        bench.queue.setPolicy(ProductPolicy(product: "vip", priorityOverFairness: 1), now: bench.now)
        bench.add(3, product: "other")  // 1-3, at the default priority.
        bench.add(3, product: "vip", rank: 1)  // 4-6
        bench.add(3, product: "vip", rank: 5)  // 7-9
        let order = (0..<9).flatMap { _ in bench.select(1).flatMap { pick in pick.tasks.map { bench.finish($0); return $0 } } }
        #expect(order == [4, 5, 6, 1, 2, 3, 7, 8, 9], "\(order)")
        // Turned off again, the same product shares by pass.
        bench.queue.setPolicy(ProductPolicy(product: "vip"), now: bench.now)
        bench.add(2, product: "other")  // 10-11
        bench.add(2, product: "vip", rank: 1)  // 12-13
        let shared = (0..<4).flatMap { _ in bench.select(1).flatMap { pick in pick.tasks.map { bench.finish($0); return $0 } } }
        #expect(Set(shared.prefix(2)) == [10, 12], "\(shared)")
    }

    @Test func anUrgentRunGoesBeforeEveryProductsFairShare() {
        var bench = FairQueueTests.Bench()
        bench.add(100, product: "busy")
        for _ in 0..<10 { for pick in bench.select(1) { bench.finish(pick.tasks[0]) } }
        bench.add(2, product: "other")  // 101, 102
        bench.add(2, product: "busy", rank: RunPriority.urgent)  // 103, 104
        #expect(bench.select(2).flatMap(\.tasks) == [103, 104])
    }

    @Test func aProductsFairnessKeysShareItsTasksByTheirWeights() {
        var bench = FairQueueTests.Bench()
        bench.queue.setPolicy(ProductPolicy(product: "bank", keyWeights: [KeyWeight(key: "acme", weight: 3)]), now: bench.now)
        bench.add(10_000, product: "bank", key: "acme")
        bench.add(10_000, product: "bank", key: "globex")
        bench.add(10_000, product: "other")
        var served: [String: Int] = [:]
        for _ in 0..<4_000 {
            for pick in bench.select(1) {
                let task = pick.tasks[0]
                let name = pick.product == "bank" ? (task <= 10_000 ? "acme" : "globex") : "other"
                served[name, default: 0] += 1
                bench.finish(task)
            }
        }
        // The product keeps its half; within it, acme gets three quarters.
        #expect(served["other"] == 2_000, "\(served)")
        #expect(abs(Double(served["acme"] ?? 0) - 1_500) <= 75, "\(served)")
        #expect(abs(Double(served["globex"] ?? 0) - 500) <= 75, "\(served)")
    }

    @Test func aKeyThatFloodsCannotStarveTheProductsOtherKeys() {
        var bench = FairQueueTests.Bench()
        bench.add(50_000, product: "bank", key: "big-customer")
        bench.add(5, product: "bank", key: "small-customer")  // 50,001 ... 50,005
        let first = (0..<10).flatMap { _ in bench.select(1).flatMap { pick in pick.tasks.map { bench.finish($0); return $0 } } }
        #expect(first.filter { $0 > 50_000 }.count == 5, "\(first)")
    }

    @Test func aShardAsksWorkersForTheWeightOfTheProductsTheyCouldServe() {
        var bench = FairQueueTests.Bench()
        bench.queue.setPolicy(ProductPolicy(product: "a", weight: 3), now: bench.now)
        bench.add(5, product: "a")
        bench.add(5, product: "b")
        bench.add(5, product: "gpu-only", requirement: Requirement(kind: .command, handler: "", tags: ["gpu"]))
        #expect(bench.queue.demandWeight(for: Capabilities(commands: true, handlers: [], tags: [])) == 4)
        #expect(bench.queue.demandWeight(for: Capabilities(commands: true, handlers: [], tags: ["gpu"])) == 5)
        #expect(bench.queue.demandWeight(for: Capabilities(commands: false, handlers: [], tags: [])) == 0)
    }

    @Test func aCommandBatchGoesAsOneSetOnlyToAWorkerThatRunsBatches() {
        var bench = FairQueueTests.Bench()
        let batched = Requirement(kind: .command, handler: "", tags: [], batched: true)
        bench.add(12, product: "a", requirement: batched, batch: 5)
        #expect(bench.select(4, worker: Capabilities(commands: true, handlers: [], tags: [])).isEmpty)
        let picks = bench.select(4, worker: Capabilities(commands: true, handlers: [], tags: [], batches: true))
        #expect(picks.map(\.tasks.count) == [5, 5, 2])
        #expect(picks.allSatisfy { $0.isSet })
    }
}
