import Wire

extension FairQueue {
    /// The cost window of a product's job type, made on first use.
    mutating func window(product: Int32, type: String) -> Int32 {
        let key = CostKey(product: product, type: type)
        if let window = windowIndex[key] { return window }
        let window: Int32
        windowsMade += 1
        if let free = freeWindows.popLast() {
            // Left empty when it was forgotten.
            window = free
            windowKeys[Int(free)] = key
            windowLastUsed[Int(free)] = windowsMade
        } else {
            window = Int32(windows.count)
            windows.append(SlidingWindow(capacity: tuning.costWindow))
            inFlight.append(0)
            probes.append(Probe())
            windowKeys.append(key)
            windowLastUsed.append(windowsMade)
        }
        windowIndex[key] = window
        return window
    }

    /// What a task of a cost window is charged when it goes out, in milliseconds: the window's mean run
    /// time, never under 1. A window with no results yet is charged conservatively: the longest run time
    /// of the shard's recent tasks; the difference is corrected when each task ends. Until its first
    /// result, its product also has at most its equal split of the shard's slots out of it while others
    /// wait (``probeLimit(_:room:)``): a newcomer with 5-second tasks cannot take every slot before its
    /// first result shows what they cost.
    func cost(window: Int32) -> Double {
        let samples = windows[Int(window)]
        if samples.count > 0 { return max(1, samples.mean) }
        return max(1, allCosts.maximum)
    }

    /// The most slots that tasks of a job type with no results yet may hold for product `p` (a set, or a
    /// batch, holds one): its equal split of the shard's slots among the products with work, by weight,
    /// and at least 1. No limit while no other product has work waiting, or on a shard that has not
    /// measured any task yet (everything there is new, and nothing is known to be cheaper).
    func probeLimit(_ p: Int, room: inout Room) -> Int {
        guard isFair, allCosts.count > 0, count > products[p].queued else { return Int.max }
        let busy = room.busyWeight ?? products.reduce(0.0) { $0 + ($1.queued + $1.running > 0 ? weight(of: $1.policy) : 0) }
        room.busyWeight = busy
        let share = room.shardSlots * weight(of: products[p].policy) / max(busy, weight(of: products[p].policy))
        return max(1, Int(share))
    }

    /// The cost a product's next task of `type` would be charged; 1 for a product or type never queued.
    public func cost(of product: String, type: String) -> Double {
        guard let i = index[queueOwner(product)], let window = windowIndex[CostKey(product: i, type: type)] else { return 1 }
        return cost(window: window)
    }

    /// A task handed out by ``select(limit:capabilities:sets:free:now:isLive:)`` stopped running: its
    /// slot counts no more against its product's cap, and its product and key are charged what it really
    /// took, `ran` milliseconds of worker time (its share of a set's), in place of what it was charged
    /// when it went out. The product's place in turn follows when it next comes up.
    public mutating func ended(_ charge: Charge, ran: Int64, now: Timestamp) {
        guard let p = release(charge, now: now) else { return }
        guard isFair else { return }
        // Charged again at the first result of its type, when it was out then: corrected from that.
        let charged = probes[Int(charge.window)].ended(charge.probe, cost: charge.cost)
        correct(p, key: Int(charge.key), by: Double(max(0, ran)) - charged)
    }

    /// A task handed out was never sent after all (its inputs too large for any attempt, a set over its
    /// budget, a batch of another job): everything it was charged is given back, its token too.
    public mutating func returned(_ charge: Charge, now: Timestamp) {
        guard let p = release(charge, now: now) else { return }
        guard isFair else { return }
        let charged = probes[Int(charge.window)].ended(charge.probe, cost: charge.cost)
        correct(p, key: Int(charge.key), by: -charged)
        if products[p].policy.rate > 0 {
            products[p].tokens = min(burst(of: products[p].policy), products[p].tokens + 1)
            if products[p].state == .throttled && products[p].tokens >= 1 { activate(Int32(p), now: now) }
        }
    }

    /// The bookkeeping of a task that stopped holding a slot, whatever it ran; the product's index.
    private mutating func release(_ charge: Charge, now: Timestamp) -> Int? {
        let i = charge.product
        let p = Int(i)
        guard products.indices.contains(p), windows.indices.contains(Int(charge.window)) else { return nil }
        if products[p].running > 0 { runningTotal -= 1 }
        products[p].running = max(0, products[p].running - 1)
        let k = Int(charge.key)
        if products[p].keys.indices.contains(k) {
            products[p].keys[k].running = max(0, products[p].keys[k].running - 1)
            if !products[p].keys[k].inTurn { reclaimKey(k, of: p) }
        }
        inFlight[Int(charge.window)] = max(0, inFlight[Int(charge.window)] - charge.slot)
        noteQuiet(p, now: now)
        let cap = Int(products[p].policy.cap)
        if products[p].state == .capped && (cap == 0 || products[p].running < cap) { activate(i, now: now) }
        return p
    }

    /// Moves a product's and its key's passes by `correction` milliseconds of worker time. A product's
    /// pass that rises is seen when its place comes up (it goes in again there); one that falls takes its
    /// new place at once, or the product would wait at its old place for time it is owed. (A key's place
    /// among its product's keys follows when it next comes up, either way.)
    private mutating func correct(_ p: Int, key k: Int, by correction: Double) {
        guard correction != 0 else { return }
        products[p].pass += correction / weight(of: products[p].policy)
        if products[p].keys.indices.contains(k) && products[p].keys[k].inUse {
            products[p].keys[k].pass += correction / products[p].keys[k].weight
        }
        if correction < 0 && products[p].state == .ready { push(Int32(p)) }
    }

    /// A task reported a result after `duration` milliseconds on a worker (its share of a set's): the
    /// sample joins its product and job type's window. The first result of a type also charges the
    /// product for its other tasks of the type still out, at the cost the result shows instead of the
    /// guess they went out with: a newcomer whose long tasks went out cheap does not take more slots on
    /// the strength of a credit its running tasks are about to spend.
    public mutating func measured(_ charge: Charge, duration: Int64) {
        let w = Int(charge.window)
        guard windows.indices.contains(w), products.indices.contains(Int(charge.product)) else { return }
        let first = windows[w].count == 0
        windowLastUsed[w] = windowsMade
        let sample = Double(max(0, duration))
        windows[w].add(sample)
        allCosts.add(sample)
        let p = Int(charge.product)
        products[p].lastCost = cost(window: charge.window)
        guard isFair, first, charge.probe != 0 else { return }
        let excess = probes[w].recharge(at: cost(window: charge.window), reporter: charge)
        if excess != 0 { products[p].pass += excess / weight(of: products[p].policy) }
        if excess < 0 && products[p].state == .ready { push(Int32(p)) }
    }

    /// A running task restored after a restart: it counts against its product's cap. Its charge, of 0,
    /// is corrected to what it ran when it ends.
    public mutating func restoredRunning(_ work: Work) -> Charge {
        forgetIdleTypesIfDue()
        let i = productIndex(queueOwner(work.product))
        let p = Int(i)
        let k = keyIndex(isFair ? work.key : "", in: p)
        products[p].running += 1
        products[p].keys[Int(k)].running += 1
        runningTotal += 1
        noteBusy(p)
        let window = window(product: i, type: work.type)
        inFlight[Int(window)] += 1
        return Charge(product: i, key: k, window: window, cost: 0)
    }
}

/// The tasks of a job type handed out before it had a result, charged a guess: how many are out and
/// what they were charged, and, once the first result came, the cost they count as charged since.
struct Probe: Sendable {
    /// Numbers given so far, the tasks still out, and the sum of their charges.
    private var issued: UInt32 = 0
    private var out = 0
    private var charged = 0.0
    /// The cost the tasks out at the first result were charged again at, and the last number among them.
    private var recharged: (cost: Double, upTo: UInt32, reporter: UInt32)?

    /// Counts `count` tasks going out at `cost` each; returns the number of the first (they share it).
    mutating func issue(_ count: Int, cost: Double) -> UInt32 {
        issued += 1
        out += count
        charged += cost * Double(count)
        return issued
    }

    /// The first result came, of the task `reporter`, and shows `cost`: the other tasks out count as
    /// charged that from now on. Returns what they owe beyond what they were charged.
    mutating func recharge(at cost: Double, reporter: FairQueue.Charge) -> Double {
        let others = max(0, out - 1)
        let owed = Double(others) * cost - max(0, charged - reporter.cost)
        recharged = (cost, issued, reporter.probe)
        return others > 0 ? owed : 0
    }

    /// A task charged `cost` ended: what it counts as charged, to correct from.
    mutating func ended(_ number: UInt32, cost: Double) -> Double {
        guard number != 0 else { return cost }
        out = max(0, out - 1)
        charged = max(0, charged - cost)
        if let recharged, number <= recharged.upTo, number != recharged.reporter { return recharged.cost }
        return cost
    }
}

/// The last `capacity` samples of a measure, and their mean.
public struct SlidingWindow: Equatable, Sendable {
    private var samples: [Double] = []
    private var next = 0
    private var sum = 0.0
    public let capacity: Int

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public var count: Int { samples.count }

    /// The mean of the samples held; 0 if none.
    public var mean: Double { samples.isEmpty ? 0 : sum / Double(samples.count) }

    /// The largest sample held; 0 if none.
    public var maximum: Double { samples.max() ?? 0 }

    public mutating func add(_ sample: Double) {
        if samples.count < capacity {
            samples.append(sample)
        } else {
            sum -= samples[next]
            samples[next] = sample
            next = (next + 1) % capacity
        }
        sum += sample
    }
}

/// When the last `capacity` events happened, for their recent rate.
struct TimeWindow: Sendable {
    private var times: [Int64] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(2, capacity) }

    mutating func add(_ time: Int64) {
        if times.count < capacity {
            times.append(time)
        } else {
            times[next] = time
            next = (next + 1) % capacity
        }
    }

    /// Events per millisecond over the window, up to `now`; nil with fewer than two events.
    func rate(now: Int64) -> Double? {
        guard times.count >= 2 else { return nil }
        let oldest = times.count < capacity ? times[0] : times[next]
        return Double(times.count) / Double(max(1, now - oldest))
    }
}
