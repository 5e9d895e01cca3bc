import Wire

extension FairQueue {
    /// The cost window of a product's job type, made on first use.
    mutating func window(product: Int32, type: String) -> Int32 {
        let key = CostKey(product: product, type: type)
        if let window = windowIndex[key] { return window }
        windows.append(SlidingWindow(capacity: tuning.costWindow))
        inFlight.append(0)
        windowIndex[key] = Int32(windows.count - 1)
        return Int32(windows.count - 1)
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
        guard let i = index[lane(product)], let window = windowIndex[CostKey(product: i, type: type)] else { return 1 }
        return cost(window: window)
    }

    /// A task handed out by ``select(limit:capabilities:sets:free:now:isLive:)`` stopped running, or
    /// was never sent after all: its slot counts no more against its product's cap, and its product and
    /// key are charged what it really took, `ran` milliseconds of worker time (its share of a set's), in
    /// place of what it was charged when it went out. A task never sent ran 0: its charge is given back.
    public mutating func ended(_ charge: Charge, ran: Int64, now: Timestamp) {
        let i = charge.product
        let p = Int(i)
        guard products.indices.contains(p) else { return }
        if products[p].running > 0 { runningTotal -= 1 }
        products[p].running = max(0, products[p].running - 1)
        if inFlight.indices.contains(Int(charge.window)) { inFlight[Int(charge.window)] = max(0, inFlight[Int(charge.window)] - 1) }
        if isFair {
            let correction = Double(max(0, ran)) - charge.cost
            if correction != 0 {
                products[p].pass += correction / weight(of: products[p].policy)
                if products[p].keys.indices.contains(Int(charge.key)) {
                    products[p].keys[Int(charge.key)].pass += correction / products[p].keys[Int(charge.key)].weight
                }
                if products[p].state == .ready { push(i) }
            }
        }
        noteQuiet(p, now: now)
        let cap = Int(products[p].policy.cap)
        if products[p].state == .capped && (cap == 0 || products[p].running < cap) { activate(i) }
    }

    /// A task reported a result after `duration` milliseconds on a worker (its share of a set's): the
    /// sample joins its product and job type's window.
    public mutating func measured(_ charge: Charge, duration: Int64) {
        guard windows.indices.contains(Int(charge.window)) else { return }
        let sample = Double(max(0, duration))
        windows[Int(charge.window)].add(sample)
        allCosts.add(sample)
        if products.indices.contains(Int(charge.product)) { products[Int(charge.product)].lastCost = cost(window: charge.window) }
    }

    /// A running task restored after a restart: it counts against its product's cap. Its charge, of 0,
    /// is corrected to what it ran when it ends.
    public mutating func restoredRunning(_ work: Work) -> Charge {
        let i = slot(of: lane(work.product))
        let p = Int(i)
        let k = keySlot(isFair ? work.key : "", in: p)
        products[p].running += 1
        runningTotal += 1
        noteBusy(p)
        let window = window(product: i, type: work.type)
        inFlight[Int(window)] += 1
        return Charge(product: i, key: k, window: window, cost: 0)
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
