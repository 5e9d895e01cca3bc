import Wire

extension FairQueue {
    /// The free slots during a selection, and the slots of the shard (running and free) shares are of.
    struct Room {
        var free: Int
        var slots: Double
        /// The max-min fair level of the slots outside the headroom, per unit of weight, worked out
        /// when first needed.
        var level: Double?
        /// The shard's slots, running and free (at least this worker's), for the tasks a type never
        /// measured may have out; and the weight of the products with work, worked out when first needed.
        var shardSlots = 0.0
        var busyWeight: Double?
    }

    /// Whether headroom applies: fair mode, with slots to hold back.
    ///
    /// With `headroom` N > 0, the last N free slots of the shard (its workers' credit) are held back for
    /// products under their fair share of the slots: a product running at or over its share may take a
    /// slot only while more than N are free. A product is under its share while it runs fewer tasks than
    /// either its equal split (the shard's slots, running plus free, times its weight over the weight of
    /// the active products: those with work queued or running, or that had some within the last
    /// `headroomWindow` milliseconds) or its max-min fair share of the slots outside the headroom (its
    /// demand, running plus queued up to its cap, but no more than the level those slots fill to times its
    /// weight): with more products than slots the equal split is under one task, and a light product
    /// wanting two must still get them beside a backlogged one. A light product that comes back after a
    /// pause so finds a slot at once instead of waiting for one of a heavy product's tasks to end; the
    /// price is up to N slots idle while the heavy product alone has work. A product alone on its shard
    /// (or the only one active within the window) has all the slots as its share, and loses nothing.
    var holdsRoom: Bool { isFair && tuning.headroom > 0 }

    /// Whether product `p` runs at least its max-min fair share of the slots outside the headroom: its
    /// demand (running and queued, no more than its cap), capped at the level at which the active
    /// products' demands, each capped at the level times its weight, fill those slots. A backlogged
    /// product reaches it; a light one, wanting less than the level gives it, does not.
    func isAtMaxMinShare(_ p: Int, room: inout Room) -> Bool {
        let level = room.level ?? waterLevel(slots: room.slots - Double(tuning.headroom))
        room.level = level
        return Double(products[p].running) >= min(demand(of: products[p]), level * weight(of: products[p].policy))
    }

    /// Tasks a product would run if it could: running and queued (lazily removed entries included), up to its cap.
    private func demand(of product: Product) -> Double {
        let wanted = product.running + product.queued
        return Double(product.policy.cap > 0 ? min(wanted, Int(product.policy.cap)) : wanted)
    }

    /// The level L at which Σ min(demand, L × weight) over the products equals `slots`; infinite when
    /// their demands together are under it.
    private func waterLevel(slots: Double) -> Double {
        var demands: [(ratio: Double, demand: Double, weight: Double)] = []
        for product in products where product.running + product.queued > 0 {
            let demand = demand(of: product)
            let weight = weight(of: product.policy)
            demands.append((demand / weight, demand, weight))
        }
        demands.sort { $0.ratio < $1.ratio }
        var left = max(0, slots)
        var weights = demands.reduce(0) { $0 + $1.weight }
        for item in demands {
            // Every product from here on wants more than the level would give: they share what is left.
            if item.ratio * weights >= left { return left / weights }
            left -= item.demand
            weights -= item.weight
        }
        return .infinity
    }

    /// Product `p` has work queued or running: it is active, and stays so while it has.
    mutating func noteBusy(_ p: Int) {
        guard holdsRoom else { return }
        products[p].quietSince = nil
        if !products[p].active {
            products[p].active = true
            activeWeight += weight(of: products[p].policy)
        }
    }

    /// Product `p` may have run out of work: if so, it stays active for the window from now.
    mutating func noteQuiet(_ p: Int, now: Timestamp) {
        guard holdsRoom, products[p].active, products[p].quietSince == nil, products[p].queued == 0, products[p].running == 0
        else { return }
        products[p].quietSince = now.milliseconds
        quiet.append((now.milliseconds, Int32(p)))
    }

    /// Stops counting as active the products quiet for the whole window.
    mutating func forgetQuiet(now: Timestamp) {
        while quietHead < quiet.count, now.milliseconds - quiet[quietHead].time >= tuning.headroomWindow {
            let (time, i) = quiet[quietHead]
            quietHead += 1
            let p = Int(i)
            guard products[p].active, products[p].quietSince == time else { continue }  // Busy again since.
            products[p].active = false
            activeWeight -= weight(of: products[p].policy)
        }
        if quietHead > 1024 && quietHead * 2 > quiet.count {
            quiet.removeFirst(quietHead)
            quietHead = 0
        }
    }

    /// When a product quiet for the window stops counting as active, which may free a slot held back
    /// by the last selection; nil if that selection held none back.
    public var nextHeadroomChange: Timestamp? {
        guard heldBack, quietHead < quiet.count else { return nil }
        return Timestamp(milliseconds: quiet[quietHead].time + tuning.headroomWindow)
    }

    /// Whether the product counts as active, for shares under headroom.
    public func isActive(_ product: String) -> Bool { index[product].map { products[Int($0)].active } ?? false }
}
