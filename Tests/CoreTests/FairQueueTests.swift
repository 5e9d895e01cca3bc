import Core
import Testing
import Wire

/// Fair selection with a manual clock: shares, costs, starvation, caps, rate limits, tags and sets.
struct FairQueueTests {
    static let command = Requirement(kind: .command, handler: "", tags: [])
    static let anyWorker = Capabilities(commands: true, handlers: ["post"], tags: ["gpu", "linux"])

    /// A queue with tasks numbered from 1, each product's tasks in one lane unless said otherwise.
    struct Bench {
        var queue: FairQueue
        var now = Timestamp(milliseconds: 10_000_000)
        var nextTask: UInt64 = 1
        /// Each task's product, lane and job type.
        var owner: [UInt64: (product: String, requirement: Requirement, type: String)] = [:]
        var pending: Set<UInt64> = []
        var running: [String: Int] = [:]
        /// What each task handed out was charged.
        var charges: [UInt64: FairQueue.Charge] = [:]

        init(_ tuning: FairQueue.Tuning = FairQueue.Tuning()) { queue = FairQueue(tuning: tuning) }

        mutating func add(
            _ count: Int, product: String, key: String = "", type: String = "t", requirement: Requirement = FairQueueTests.command,
            priority: Int16 = 0, rank: UInt8 = RunPriority.normal, batch: Int = 0
        ) {
            var items: [(task: UInt64, order: UInt64, ticket: UInt32)] = []
            for _ in 0..<count {
                items.append((nextTask, nextTask, 1))
                owner[nextTask] = (product, requirement, type)
                pending.insert(nextTask)
                nextTask += 1
            }
            let work = FairQueue.Work(
                product: product, key: key, requirement: requirement, type: type, batchSize: batch, runPriority: rank, priority: priority)
            queue.enqueue(items, as: work, now: now)
        }

        mutating func select(
            _ limit: Int, worker: Capabilities = FairQueueTests.anyWorker, sets: [String: Int] = [:], free: Int? = nil
        ) -> [FairQueue.Pick] {
            let pending = self.pending
            let picks = queue.select(limit: limit, capabilities: worker, sets: sets, free: free, now: now) { task, _ in pending.contains(task) }
            for pick in picks {
                for task in pick.tasks {
                    self.pending.remove(task)
                    running[owner[task]!.product, default: 0] += 1
                    charges[task] = pick.charge
                }
            }
            return picks
        }

        /// Ends a running task that ran for `duration` milliseconds and reported a result; nil for one
        /// that ended without (a lost lease, never sent).
        mutating func finish(_ task: UInt64, duration: Int64? = 1) {
            let product = owner[task]!.product
            running[product]! -= 1
            let charge = charges.removeValue(forKey: task)!
            if let duration { queue.measured(charge, duration: duration) }
            queue.ended(charge, ran: duration ?? 0, now: now)
        }
    }

    /// A key's lanes are found by their heads (one lane per job type, so thousands in a run of different
    /// jobs): the order tasks go out in is the order of their entries, whatever lane they are in, and a
    /// worker that cannot run some lanes gets the best of those it can.
    @Test func tasksOfManyJobTypesGoOutInTheirOrderAcrossLanes() {
        var bench = Bench()
        let gpu = Requirement(kind: .command, handler: "", tags: ["gpu"])
        // 300 types, queued in an order unlike their tasks' order: type t(i) gets task orders i, i+300, ...
        for round in 0..<3 {
            for type in stride(from: 299, through: 0, by: -1) {
                bench.add(1, product: "p", type: "t\(type)", requirement: type % 3 == 0 ? gpu : Self.command,
                          priority: type == 151 && round == 2 ? 5 : 0)
            }
        }
        // The job of priority 5 first, then by queueing order.
        let plain = Capabilities(commands: true, handlers: [], tags: [])
        let first = bench.select(1, worker: plain).flatMap(\.tasks)
        #expect(first.map { bench.owner[$0]!.type } == ["t151"])
        var order: [UInt64] = first
        while true {
            let picks = bench.select(7, worker: plain).flatMap(\.tasks)
            if picks.isEmpty { break }
            order += picks
        }
        // The plain worker took every task but the gpu ones, in task order after the urgent one.
        #expect(order.count == 600)
        #expect(Array(order.dropFirst()) == Array(order.dropFirst()).sorted())
        #expect(order.allSatisfy { bench.owner[$0]!.requirement == Self.command })
        let rest = bench.select(1000).flatMap(\.tasks)
        #expect(rest.count == 300 && rest == rest.sorted())
    }

    @Test func sharesFollowTheWeightsOverTenThousandDispatches() {
        var bench = Bench()
        let weights: [String: UInt32] = ["a": 1, "b": 2, "c": 3, "d": 4]
        for (product, weight) in weights {
            bench.queue.setPolicy(ProductPolicy(product: product, weight: weight), now: bench.now)
            bench.add(10_000, product: product)
        }
        var served: [String: Int] = [:]
        for _ in 0..<10_000 {
            for pick in bench.select(1) {
                served[pick.product, default: 0] += 1
                bench.finish(pick.tasks[0])
            }
        }
        #expect(served.values.reduce(0, +) == 10_000)
        for (product, weight) in weights {
            let expected = 10_000 * Double(weight) / 10
            let share = Double(served[product] ?? 0)
            #expect(abs(share - expected) <= 0.05 * expected, "\(product): \(share) served, \(expected) expected")
        }
    }

    @Test func sharesAreOfWorkerTimeNotOfTasks() {
        // Equal weights; "slow" tasks run 10 ms, "fast" ones 1 ms: the fast product gets ten tasks for
        // each slow one, so that both get the same worker time.
        var bench = Bench()
        bench.add(20_000, product: "slow", type: "report")
        bench.add(20_000, product: "fast", type: "ping")
        var time: [String: Int64] = [:]
        for _ in 0..<10_000 {
            for pick in bench.select(1) {
                let duration: Int64 = pick.product == "slow" ? 10 : 1
                time[pick.product, default: 0] += duration
                bench.finish(pick.tasks[0], duration: duration)
            }
        }
        #expect(bench.queue.cost(of: "slow", type: "report") == 10)
        #expect(bench.queue.cost(of: "fast", type: "ping") == 1)
        let slow = Double(time["slow"]!)
        let fast = Double(time["fast"]!)
        #expect(abs(slow - fast) <= 0.05 * max(slow, fast), "worker time: slow \(slow) ms, fast \(fast) ms")
    }

    /// A task that ran shorter than it was charged lowers its product's pass: the product is served at
    /// its new place in turn at once, not left waiting at the place it had when it was charged.
    @Test func aProductWhosePassFallsIsServedAtItsNewPlaceAtOnce() {
        var bench = Bench()
        bench.add(100, product: "a")
        bench.add(100, product: "b")
        // Each type measured at 100 ms.
        for _ in 0..<2 { for pick in bench.select(1) { bench.finish(pick.tasks[0], duration: 100) } }
        // Three go out: one product gets two (its place then 300 ms), the other one (200 ms).
        let out = bench.select(3)
        let twice = out.count == 3 && out[0].product == out[2].product ? out[0].product : ""
        #expect(!twice.isEmpty, "\(out.map(\.product))")
        // Its two tasks ran 1 ms, not 100: its pass is 102, under the other's 200, so it goes next, though
        // its place in turn was 300.
        for task in out.filter({ $0.product == twice }).flatMap(\.tasks) { bench.finish(task, duration: 1) }
        #expect(bench.select(1).map(\.product) == [twice])
    }

    @Test func aProductComingBackFromIdleEarnsNoCredit() {
        var bench = Bench()
        bench.add(1_000, product: "busy")
        for _ in 0..<500 { for pick in bench.select(1) { bench.finish(pick.tasks[0]) } }
        // "late" was idle all along: it now shares equally, not until it has caught up 500 tasks.
        bench.add(1_000, product: "late")
        var served: [String: Int] = [:]
        for _ in 0..<100 { for pick in bench.select(1) { served[pick.product, default: 0] += 1; bench.finish(pick.tasks[0]) } }
        #expect((45...55).contains(served["late"] ?? 0), "\(served)")
    }

    @Test func aProductStarvedByPriorityOverFairnessIsServedOnceItsOwnExpectedWaitIsPassed() {
        var tuning = FairQueue.Tuning()
        tuning.starvationFloor = 500
        var bench = Bench(tuning)
        // "vip" puts priority over fairness and floods the queue with priority-1 work: it goes before
        // every other product. "flood" floods too, at the default priority, so that the shard's recent
        // queue waits are long; a guard measured against them would not see "light" starve.
        bench.queue.setPolicy(ProductPolicy(product: "vip", priorityOverFairness: 1), now: bench.now)
        bench.add(50_000, product: "vip", rank: 1)
        bench.add(50_000, product: "flood")
        bench.add(3, product: "light")
        var served: [Int64] = []
        let start = bench.now
        for _ in 0..<40 {
            bench.now = bench.now.adding(milliseconds: 100)
            for pick in bench.select(4) {
                if pick.product == "light" { served.append(bench.now.since(start)) }
                for task in pick.tasks { bench.finish(task) }
            }
        }
        // 40 hand-outs a second: light's share (a third) expects one every 75 ms, so it is served first
        // once it has waited more than ten times that, 750 ms: at the check of 800 ms, then again.
        #expect(served.first == 800, "\(served)")
        #expect(served.count >= 3, "\(served)")
        let reports = bench.queue.takeStarvationReports()
        #expect(reports.contains { $0.product == "light" && $0.waited > 500 && $0.expected <= 100 }, "\(reports)")
        #expect(bench.queue.starvationEpisodes == reports.count)
        #expect(bench.queue.takeStarvationReports().isEmpty)
    }

    @Test func aProductWhoseShareMakesItWaitLongIsStillServedWithinTheCeiling() {
        var tuning = FairQueue.Tuning()
        tuning.starvationFloor = 500
        tuning.starvationCeiling = 5_000
        var bench = Bench(tuning)
        // Four products of weight 10,000 with quick tasks, and one of weight 1 whose tasks turn out very
        // slow: after its first task, its share alone would keep its second waiting for years.
        for index in 0..<4 { bench.queue.setPolicy(ProductPolicy(product: "p\(index)", weight: 10_000), now: bench.now) }
        bench.add(2, product: "starved", type: "huge")
        let first = bench.select(1)
        #expect(first.map(\.product) == ["starved"])
        bench.finish(first[0].tasks[0], duration: 10_000_000)
        let queuedAt = bench.now
        var servedAfter: Int64?
        for _ in 0..<100 where servedAfter == nil {
            bench.now = bench.now.adding(milliseconds: 100)
            for index in 0..<4 { bench.add(1, product: "p\(index)") }
            let picks = bench.select(4)
            if let at = picks.firstIndex(where: { $0.product == "starved" }) {
                #expect(at == 0, "the starving product goes first")
                servedAfter = bench.now.since(queuedAt)
            }
            for pick in picks { for task in pick.tasks { bench.finish(task) } }
        }
        // It has waited past the ceiling (5 s) at 5.1 s, and the selection of that round served it.
        #expect(servedAfter == 5_100)
        #expect(!bench.queue.isStarving("starved"))
    }

    @Test func aProductServedAtItsShareIsNeverStarvingHoweverLongItsBacklog() {
        var bench = Bench()
        bench.add(100_000, product: "a")
        bench.add(100_000, product: "b")
        for _ in 0..<600 {  // A minute, in steps of 100 ms.
            bench.now = bench.now.adding(milliseconds: 100)
            for pick in bench.select(4) { for task in pick.tasks { bench.finish(task) } }
        }
        #expect(bench.queue.starvationEpisodes == 0)
    }

    @Test func capsAndTagsAreNeverViolated() {
        var random = SplitMix64(seed: 42)
        var bench = Bench()
        let gpu = Requirement(kind: .command, handler: "", tags: ["gpu"])
        let post = Requirement(kind: .handler, handler: "post", tags: [])
        let requirements = [Self.command, gpu, post]
        let caps: [String: UInt32] = ["a": 1, "b": 3, "c": 0, "d": 7]
        for (product, cap) in caps { bench.queue.setPolicy(ProductPolicy(product: product, cap: cap), now: bench.now) }
        let workers = [
            Capabilities(commands: true, handlers: [], tags: []),
            Capabilities(commands: true, handlers: [], tags: ["gpu"]),
            Capabilities(commands: false, handlers: ["post"], tags: []),
        ]
        var runningTasks: [UInt64] = []
        for _ in 0..<5_000 {
            switch random.next() % 3 {
            case 0:
                let product = ["a", "b", "c", "d"][Int(random.next() % 4)]
                bench.add(Int(random.next() % 5) + 1, product: product, requirement: requirements[Int(random.next() % 3)])
            case 1:
                let worker = workers[Int(random.next() % 3)]
                for pick in bench.select(Int(random.next() % 8) + 1, worker: worker) {
                    for task in pick.tasks {
                        #expect(worker.satisfy(bench.owner[task]!.requirement), "task \(task) went to a worker without what it requires")
                        runningTasks.append(task)
                    }
                }
            default:
                if !runningTasks.isEmpty {
                    let index = Int(random.next() % UInt64(runningTasks.count))
                    bench.finish(runningTasks.remove(at: index))
                }
            }
            for (product, cap) in caps {
                #expect(bench.queue.running(product) == (bench.running[product] ?? 0))
                if cap > 0 { #expect((bench.running[product] ?? 0) <= Int(cap), "\(product) runs \(bench.running[product] ?? 0), over its cap of \(cap)") }
            }
        }
        // Every task can still go: caps hold back, they do not lose work.
        while !runningTasks.isEmpty { bench.finish(runningTasks.removeLast()) }
        var rounds = 0
        while !bench.pending.isEmpty && rounds < 10_000 {
            rounds += 1
            for worker in workers { for pick in bench.select(8, worker: worker) { for task in pick.tasks { bench.finish(task) } } }
        }
        #expect(bench.pending.isEmpty)
    }

    @Test func aRateLimitSpacesTasksOut() {
        var bench = Bench()
        // 2 per second (7,200 per hour), with a burst of 3.
        bench.queue.setPolicy(ProductPolicy(product: "limited", rate: 7_200, burst: 3), now: bench.now)
        bench.add(100, product: "limited")
        bench.add(100, product: "free")
        var limited = 0
        var free = 0
        for _ in 0..<100 {  // 10 seconds in steps of 100 ms.
            for pick in bench.select(4) {
                if pick.product == "limited" { limited += 1 } else { free += 1 }
                bench.finish(pick.tasks[0])
            }
            if let release = bench.queue.nextRelease { #expect(release > bench.now) }
            bench.now = bench.now.adding(milliseconds: 100)
        }
        // The burst, then 2 per second for the 10 seconds.
        #expect((21...24).contains(limited), "\(limited) handed out")
        #expect(free == 100)
    }

    @Test func aPolicyChangeAppliesAtTheNextSelection() {
        var bench = Bench()
        bench.queue.setPolicy(ProductPolicy(product: "a", cap: 1), now: bench.now)
        bench.add(10, product: "a")
        #expect(bench.select(5).count == 1)
        bench.queue.setPolicy(ProductPolicy(product: "a", cap: 4), now: bench.now)
        #expect(bench.select(5).count == 3)
        bench.queue.setPolicy(ProductPolicy(product: "a"), now: bench.now)
        #expect(bench.select(5).count == 5)
    }

    @Test func setsNeverOverlapAndHoldOneLaneEach() {
        var bench = Bench()
        let post = Requirement(kind: .handler, handler: "post", tags: [])
        for product in ["a", "b", "c"] {
            bench.add(250, product: product, type: "payment", requirement: post)
            bench.add(50, product: product, type: "refund", requirement: post)
            bench.add(20, product: product)
        }
        var seen: Set<UInt64> = []
        var sets = 0
        var rounds = 0
        while !bench.pending.isEmpty && rounds < 1_000 {
            rounds += 1
            for pick in bench.select(3, sets: ["post": 16]) {
                for task in pick.tasks { #expect(seen.insert(task).inserted, "task \(task) claimed twice") }
                let lanes = Set(pick.tasks.map { "\(bench.owner[$0]!.product)/\(bench.owner[$0]!.type)" })
                #expect(lanes.count == 1, "a set mixes \(lanes)")
                if pick.isSet {
                    sets += 1
                    #expect(pick.tasks.count <= 16)
                    #expect(bench.owner[pick.tasks[0]]!.requirement == post)
                } else {
                    #expect(pick.tasks.count == 1)
                }
                for task in pick.tasks { bench.finish(task) }
            }
        }
        #expect(seen.count == 960)
        #expect(sets >= 900 / 16)
    }

    @Test func aSetStopsAtTheProductsCap() {
        var bench = Bench()
        let post = Requirement(kind: .handler, handler: "post", tags: [])
        bench.queue.setPolicy(ProductPolicy(product: "a", cap: 5), now: bench.now)
        bench.add(100, product: "a", requirement: post)
        let picks = bench.select(4, sets: ["post": 50])
        #expect(picks.map(\.tasks.count) == [5])
    }

    @Test func priorityThenAgeWithinAProduct() {
        var bench = Bench()
        bench.add(2, product: "a", priority: 0)  // tasks 1, 2
        bench.add(2, product: "a", priority: 5)  // tasks 3, 4
        let order = (0..<4).flatMap { _ in bench.select(1).flatMap(\.tasks) }
        #expect(order == [3, 4, 1, 2])
    }

    @Test func fifoModeServesInArrivalOrderAcrossProducts() {
        var tuning = FairQueue.Tuning()
        tuning.fairness = .fifo
        var bench = Bench(tuning)
        bench.add(3, product: "heavy")  // 1, 2, 3
        bench.add(1, product: "light")  // 4
        bench.add(1, product: "heavy")  // 5
        // Caps do not apply in FIFO mode.
        bench.queue.setPolicy(ProductPolicy(product: "heavy", cap: 1), now: bench.now)
        #expect(bench.select(10).flatMap(\.tasks) == [1, 2, 3, 4, 5])
    }

    @Test func droppedTasksAreSkippedAndCounted() {
        var bench = Bench()
        bench.add(4, product: "a")
        bench.pending.remove(2)
        #expect(bench.select(10).flatMap(\.tasks) == [1, 3, 4])
        #expect(bench.queue.count == 0)
        #expect(bench.queue.work(for: Self.anyWorker) == 0)
    }

    // MARK: - Headroom

    static func headroom(_ slots: Int, window: Int64 = 10_000) -> FairQueue.Tuning {
        var tuning = FairQueue.Tuning()
        tuning.headroom = slots
        tuning.headroomWindow = window
        return tuning
    }

    /// The tasks of the picks, by product.
    static func count(_ picks: [FairQueue.Pick]) -> [String: Int] {
        picks.reduce(into: [:]) { $0[$1.product, default: 0] += $1.tasks.count }
    }

    @Test func aProductOverItsShareCannotTakeTheLastFreeSlotsWhileAnotherWasRecentlyActive() {
        // 8 slots, 2 held back. The light product has one task, the heavy one a backlog.
        var bench = Bench(Self.headroom(2))
        bench.add(1, product: "light")
        bench.add(100, product: "heavy")
        let first = bench.select(8, free: 8)
        // Six picks while more than 2 slots are free; then the heavy product, over its share of 4 of 8, stops.
        #expect(Self.count(first) == ["light": 1, "heavy": 5])
        // The light task ends: the light product has nothing queued or running, but was active just now.
        let light = first.first { $0.product == "light" }!.tasks[0]
        bench.now = bench.now.adding(milliseconds: 5)
        bench.finish(light)
        #expect(bench.queue.isActive("light"))
        // 3 slots free (the light one's and the 2 held back): the heavy product, running 5 of its share
        // of 4, takes one and leaves the 2.
        #expect(Self.count(bench.select(3, free: 3)) == ["heavy": 1])
        #expect(bench.select(2, free: 2).isEmpty)
        #expect(bench.queue.running("heavy") == 6)
        // Its head waiting changes nothing: the slots stay free.
        bench.now = bench.now.adding(milliseconds: 500)
        #expect(bench.select(2, free: 2).isEmpty)
    }

    @Test func aLightProductArrivingTakesAHeldBackSlotAtOnce() {
        var bench = Bench(Self.headroom(2))
        bench.add(1, product: "light")
        bench.add(100, product: "heavy")
        let first = bench.select(8, free: 8)
        bench.finish(first.first { $0.product == "light" }!.tasks[0])
        #expect(Self.count(bench.select(3, free: 3)) == ["heavy": 1])
        // Two light tasks of two products arrive with the heavy product's backlog ahead of them in
        // time: each takes a held-back slot, in the selection that sees them.
        bench.now = bench.now.adding(milliseconds: 2000)
        bench.add(1, product: "light")
        bench.add(1, product: "other")
        #expect(Self.count(bench.select(2, free: 2)) == ["light": 1, "other": 1])
        #expect(bench.queue.running("heavy") == 6)
        // With three products active, each one's share is 3 of the 9 slots: a second light task still
        // takes the last free slot, which the heavy product, running 6, never does.
        bench.add(1, product: "light")
        bench.add(1, product: "heavy", priority: 5)
        #expect(Self.count(bench.select(1, free: 1)) == ["light": 1])
        #expect(bench.queue.running("heavy") == 6)
    }

    @Test func aLightProductWithMoreThanTheEqualSplitStillTakesAHeldBackSlot() {
        // Ten products and 8 slots: the equal split is 0.8 of a slot each, under one task. Nine light
        // products ran a task each a moment ago, so they count as active.
        var bench = Bench(Self.headroom(2))
        for k in 1...9 {
            bench.add(1, product: "light-\(k)")
            bench.finish(bench.select(1, free: 8)[0].tasks[0])
        }
        bench.add(100, product: "heavy")
        #expect(Self.count(bench.select(8, free: 8)) == ["heavy": 6])
        // One light product wants two slots: far under the 6 its max-min share leaves it beside the
        // heavy product's backlog, so both held-back slots go to it, though its first task already puts
        // it over the equal split.
        bench.add(2, product: "light-1")
        let light = bench.select(2, free: 2)
        #expect(Self.count(light) == ["light-1": 2])
        // Once they end, the heavy product, whose demand is over the level, still leaves both free.
        for task in light.flatMap(\.tasks) { bench.finish(task) }
        #expect(bench.select(2, free: 2).isEmpty)
    }

    @Test func heldBackSlotsGoToAProductUnderItsMaxMinShareEvenWithABacklog() {
        var bench = Bench(Self.headroom(2))
        for k in 1...9 {
            bench.add(1, product: "light-\(k)")
            bench.finish(bench.select(1, free: 8)[0].tasks[0])
        }
        bench.add(100, product: "heavy")
        let heavy = bench.select(8, free: 8).flatMap(\.tasks)
        #expect(heavy.count == 6)
        // light-1 wants 10: the 6 slots outside the headroom give it and the heavy product 3 each, so
        // it takes both held-back slots while it runs fewer than 3; the heavy product, running 6, none.
        bench.add(10, product: "light-1")
        #expect(Self.count(bench.select(2, free: 2)) == ["light-1": 2])
        // A heavy task ends: light-1, running 2, takes its slot; once it runs 3, neither takes one.
        bench.finish(heavy[0])
        #expect(Self.count(bench.select(1, free: 1)) == ["light-1": 1])
        bench.finish(heavy[1])
        #expect(bench.select(1, free: 1).isEmpty)
    }

    @Test func aProductWhoseDemandFitsStillLeavesTheHeadroom() {
        // The heavy product wants 7 of 8 slots: with a light one active it runs at most the 6 outside
        // the headroom.
        var bench = Bench(Self.headroom(2))
        bench.add(1, product: "light")
        bench.finish(bench.select(1, free: 8)[0].tasks[0])
        bench.add(7, product: "heavy")
        #expect(Self.count(bench.select(8, free: 8)) == ["heavy": 6])
        #expect(bench.select(2, free: 2).isEmpty)
    }

    @Test func aProductAloneUsesEverySlot() {
        var bench = Bench(Self.headroom(2))
        bench.add(100, product: "heavy")
        #expect(Self.count(bench.select(8, free: 8)) == ["heavy": 8])
        // One slot frees at a time: it is taken each time.
        var running = bench.running["heavy"]!
        for round in 0..<20 {
            bench.now = bench.now.adding(milliseconds: 5)
            let done = bench.owner.keys.filter { !bench.pending.contains($0) && bench.owner[$0]!.product == "heavy" }.min()!
            bench.finish(done)
            bench.owner[done] = nil
            #expect(Self.count(bench.select(1, free: 1)) == ["heavy": 1], "round \(round)")
            running = bench.running["heavy"]!
        }
        #expect(running == 8)
    }

    @Test func anotherProductQuietForTheWindowHoldsNothingBack() {
        var bench = Bench(Self.headroom(2, window: 1000))
        bench.add(1, product: "light")
        bench.add(100, product: "heavy")
        let first = bench.select(8, free: 8)
        bench.finish(first.first { $0.product == "light" }!.tasks[0])
        let quietAt = bench.now
        #expect(Self.count(bench.select(3, free: 3)) == ["heavy": 1])
        #expect(bench.select(2, free: 2).isEmpty)
        // The shard must look again when the light product's window ends.
        #expect(bench.queue.nextHeadroomChange == quietAt.adding(milliseconds: 1000))
        bench.now = quietAt.adding(milliseconds: 999)
        #expect(bench.select(2, free: 2).isEmpty)
        bench.now = quietAt.adding(milliseconds: 1000)
        #expect(Self.count(bench.select(2, free: 2)) == ["heavy": 2])
        #expect(!bench.queue.isActive("light"))
        #expect(bench.queue.nextHeadroomChange == nil)
    }

    @Test func sharesUnderHeadroomFollowTheWeights() {
        // Weight 3 against 1: of 8 slots the heavy product's share is 6, so it takes slots past the
        // headroom until it runs 6.
        var bench = Bench(Self.headroom(4))
        bench.queue.setPolicy(ProductPolicy(product: "heavy", weight: 3), now: bench.now)
        bench.add(1, product: "light")
        bench.add(100, product: "heavy")
        let first = bench.select(8, free: 8)
        #expect(Self.count(first) == ["light": 1, "heavy": 6])
        #expect(bench.select(1, free: 1).isEmpty)
    }

    @Test func withoutHeadroomOrInFifoModeEverySlotIsTaken() {
        for tuning in [FairQueue.Tuning(), { var t = Self.headroom(2); t.fairness = .fifo; return t }()] {
            var bench = Bench(tuning)
            bench.add(1, product: "light")
            bench.add(100, product: "heavy")
            let first = bench.select(8, free: 8)
            // FIFO mode names no product in its picks: the light task is found by its owner.
            bench.finish(first.flatMap(\.tasks).first { bench.owner[$0]!.product == "light" }!)
            #expect(first.reduce(0) { $0 + $1.tasks.count } == 8)
            #expect(bench.select(1, free: 1).count == 1)
        }
    }

    @Test func capsAndTagsAreNeverViolatedUnderHeadroom() {
        var bench = Bench(Self.headroom(3, window: 50))
        let gpu = Requirement(kind: .command, handler: "", tags: ["gpu"])
        let plainWorker = Capabilities(commands: true, handlers: [], tags: [])
        bench.queue.setPolicy(ProductPolicy(product: "capped", cap: 2), now: bench.now)
        bench.add(200, product: "heavy")
        bench.add(50, product: "capped")
        bench.add(50, product: "tagged", requirement: gpu)
        let slots = 12
        var random = SplitMix64(seed: 42)
        var running: [UInt64] = []
        for round in 0..<2000 {
            bench.now = bench.now.adding(milliseconds: 1)
            // End some running tasks, now and then add light work.
            running.shuffle(using: &random)
            while !running.isEmpty && random.next() % 3 == 0 { bench.finish(running.removeLast()) }
            if round % 40 == 0 { bench.add(1, product: "light-\(round % 7)") }
            let free = slots - running.count
            let worker = round % 2 == 0 ? FairQueueTests.anyWorker : plainWorker
            let picks = bench.select(free, worker: worker, free: free)
            for pick in picks {
                running += pick.tasks
                for task in pick.tasks { #expect(worker.satisfy(bench.owner[task]!.requirement)) }
            }
            #expect(running.count <= slots)
            #expect(bench.queue.running("capped") <= 2)
            #expect(bench.queue.running("capped") == bench.running["capped"] ?? 0)
        }
        // Everything ran in the end.
        #expect(bench.running.values.reduce(0, +) == running.count)
    }
}
