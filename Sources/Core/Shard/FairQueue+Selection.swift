import Wire

extension FairQueue {
    /// What taking from a product gave.
    enum Taken {
        /// A pick.
        case picked(Pick)
        /// Nothing for now: the best task this worker could take of it is of a later tier than the one the
        /// product was taken in turn at (stale or, for this worker, unreachable urgent work counted in its
        /// tier); it competes again at that tier in this selection.
        case deferred(tier: UInt8)
        /// Nothing: none it could run, at its cap or out of tokens (its state then says so), or held back.
        case nothing
    }

    /// How a queued entry stands for the worker a selection is for.
    public enum Standing: Sendable {
        /// It may go to the worker.
        case live
        /// It may go to no one: its task is no longer pending, may not be handed out, or was queued again
        /// since. It is dropped.
        case stale
        /// It may go, but not to this worker: its task is of a product the worker may not run. It stays.
        case barred
    }

    /// Chooses up to `limit` picks for a worker with `capabilities` that may run any product's tasks:
    /// ``select(limit:capabilities:sets:free:products:now:standing:)`` with `isLive` telling live entries
    /// from stale ones.
    public mutating func select(
        limit: Int, capabilities: Capabilities, sets: [String: Int] = [:], free: Int? = nil, now: Timestamp,
        isLive: (_ task: UInt64, _ ticket: UInt32) -> Bool
    ) -> [Pick] {
        select(limit: limit, capabilities: capabilities, sets: sets, free: free, products: nil, now: now) { task, ticket in
            isLive(task, ticket) ? .live : .stale
        }
    }

    /// Chooses up to `limit` picks for a worker with `capabilities`: single tasks, or sets of up to
    /// `sets[handler]` tasks for the handlers it takes sets for, and of up to a command job's batch size.
    /// `standing` tells, from a task and the ticket of an entry of it, whether that entry may go to this
    /// worker: the task is pending, may be handed out, was not queued again since, and is of a product the
    /// worker may run.
    ///
    /// `products`, if given, are the only products the worker may run, and `standing` MUST answer
    /// ``Standing/barred`` for the others' tasks. Fair mode then looks only at those products, in their
    /// order among all (it never asks about another product's task); FIFO mode, whose one queue holds
    /// every product's tasks, passes over the entries `standing` bars and leaves them in place, so that
    /// its cost for such a worker grows with the other products' tasks ahead of its own. Without
    /// `products`, nothing costs more than before.
    ///
    /// `free` is the shard's free slots, this worker's `limit` among them: every worker's credit
    /// together. Given, and with a `headroom` in the tuning, a product at or over its share takes no
    /// pick that would leave fewer than `headroom` free. Each pick takes one slot.
    public mutating func select(
        limit: Int, capabilities: Capabilities, sets: [String: Int] = [:], free: Int? = nil, products allowed: Set<String>?,
        now: Timestamp, standing: (_ task: UInt64, _ ticket: UInt32) -> Standing
    ) -> [Pick] {
        guard limit > 0, count > 0 else { return [] }
        // FIFO mode reads past other products' tasks for a limited worker: not again while nothing changed.
        if let allowed, !isFair, isBarren(allowed, for: capabilities) { return [] }
        defer { if !parked.isEmpty { unpark() } }
        releaseThrottled(now: now)
        if isFair && now.since(lastCheck) >= tuning.checkInterval { findStarving(now: now) }
        heldBack = false
        var room = Room(free: Int.max, slots: 0)
        if let free, holdsRoom {
            forgetQuiet(now: now)
            room = Room(free: free, slots: Double(runningTotal + free))
        }
        room.shardSlots = Double(runningTotal + max(free ?? 0, limit))
        let eligible = eligibility(for: capabilities)
        var picks: [Pick] = []
        // The starving first, one pick each, whatever their tier.
        for i in starving where picks.count < limit && products[Int(i)].state == .ready {
            if let allowed, !allowed.contains(products[Int(i)].name) { continue }
            guard case .picked(let pick) = take(from: i, tier: .max, eligible: eligible, sets: sets, room: &room, now: now, standing: standing)
            else { continue }
            picks.append(pick)
            room.free -= 1
            products[Int(i)].starving = false
            reschedule(i, now: now)
        }
        starving.removeAll { !products[Int($0)].starving }
        // Then in turn. Products whose best task for this worker is of a later tier than their place wait
        // aside, in this selection only, at that tier.
        var deferred = MinHeap<Turn>()
        var skipped: [Int32] = []
        // A worker limited to some products, in fair mode, takes turns among those alone: in the order the
        // turn order gives them, without reading past the others' places. Theirs stay as they are.
        let own = isFair && allowed != nil
        var ownTurns = MinHeap<Turn>()
        var served = clock
        if own, let allowed {
            for name in allowed {
                guard let i = index[name], products[Int(i)].state == .ready else { continue }
                ownTurns.insert(currentTurn(of: i))
            }
        }
        while picks.count < limit {
            let turn: Turn
            let wasDeferred: Bool
            if let aside = deferred.min, (own ? ownTurns.min : turns.min).map({ aside < $0 }) ?? true {
                turn = deferred.popMin()!
                wasDeferred = true
            } else if let next = own ? ownTurns.popMin() : turns.popMin() {
                turn = next
                wasDeferred = false
            } else {
                break
            }
            let i = turn.product
            let p = Int(i)
            guard products[p].state == .ready, wasDeferred || products[p].stamp == turn.stamp else { continue }
            if products[p].pass > turn.pass + 1e-9 {
                push(i)  // Charged more since it went in (a task ran longer than it was charged): in again.
                if own { ownTurns.insert(currentTurn(of: i)) }
                continue
            }
            if own { served = max(served, turn.pass) } else { clock = max(clock, turn.pass) }
            switch take(from: i, tier: turn.tier, eligible: eligible, sets: sets, room: &room, now: now, standing: standing) {
            case .picked(let pick):
                picks.append(pick)
                room.free -= 1
                reschedule(i, now: now)
                if own && products[p].state == .ready { ownTurns.insert(currentTurn(of: i)) }
            case .deferred(let tier):
                deferred.insert(Turn(tier: tier, pass: turn.pass, stamp: turn.stamp, product: i))
            case .nothing:
                if products[p].queued == 0 {
                    products[p].state = .idle
                    products[p].starving = false
                } else if products[p].state == .ready && !own {
                    skipped.append(i)  // Work this worker cannot run, or held back: it keeps its place.
                }
            }
        }
        // Products deferred were taken out of the turn order, unless the worker took turns among its own.
        while let aside = deferred.popMin() {
            if products[Int(aside.product)].state == .ready && (!own || products[Int(aside.product)].stamp != aside.stamp) {
                push(aside.product)
            }
        }
        for i in skipped where products[Int(i)].state == .ready { push(i) }
        if own && served > clock { clock = max(clock, clockAfterLimitedSelection(served: served)) }
        if let allowed, !isFair { noteSelection(for: allowed, capabilities, found: !picks.isEmpty) }
        return picks
    }

    /// Product `i`'s place in the turn order as it stands: its entry there, at its pass now.
    private func currentTurn(of i: Int32) -> Turn {
        Turn(tier: products[Int(i)].turnTier, pass: products[Int(i)].pass, stamp: products[Int(i)].stamp, product: i)
    }

    /// Sets aside the head of a lane, barred for the worker of this selection, until the selection ends.
    private mutating func park(_ p: Int, key k: Int, lane: Int) {
        let from = products[p].keys[k].lanes[lane]
        guard let entry = products[p].keys[k].lanes.popMin(of: lane) else { return }
        parked.append(Parked(product: Int32(p), key: Int32(k), kind: from.kind, window: from.window, entry: entry))
    }

    /// Puts back the entries set aside, in their lanes (made again if they emptied meanwhile); they were
    /// counted as queued all along.
    private mutating func unpark() {
        for item in parked {
            let p = Int(item.product)
            let k = Int(item.key)
            let lane = products[p].keys[k].lanes.lane(of: item.kind, window: item.window)
            products[p].keys[k].lanes.insert(item.entry, into: lane)
        }
        parked.removeAll(keepingCapacity: true)
    }

    /// Takes the best pending task of product `i` that the worker can run, with as many more of its lane
    /// as a set may hold, if it is of `tier` or an earlier one; charges the product and the task's key.
    private mutating func take(
        from i: Int32, tier: UInt8, eligible: Eligibility, sets: [String: Int], room: inout Room, now: Timestamp,
        standing: (UInt64, UInt32) -> Standing
    ) -> Taken {
        let p = Int(i)
        let policy = products[p].policy
        if room.free <= tuning.headroom && Double(products[p].running) * activeWeight >= room.slots * weight(of: policy)
            && isAtMaxMinShare(p, room: &room)
        {
            heldBack = true
            products[p].waitingSince = now.milliseconds  // Over its share: it is not kept waiting by others.
            return .nothing
        }
        var allowance = isFair && policy.cap > 0 ? Int(policy.cap) - products[p].running : Int.max
        if allowance <= 0 {
            products[p].state = .capped
            return .nothing
        }
        if isFair && policy.rate > 0 {
            refill(p, now: now)
            if products[p].tokens < 1 {
                throttle(i, now: now)
                return .nothing
            }
            allowance = min(allowance, Int(products[p].tokens))
        }
        var heldForProbes = false
        guard let (turn, lane) = nextKey(of: p, eligible: eligible, room: &room, heldForProbes: &heldForProbes, standing: standing) else {
            // A product whose only work is of types not yet measured, at its share of them, waits on
            // itself, not on others.
            if heldForProbes { products[p].waitingSince = now.milliseconds }
            noteQuiet(p, now: now)
            return .nothing
        }
        let k = Int(turn.key)
        let best = tierFor(products[p].keys[k].lanes[lane].heap.min!.runPriority, of: p)
        if best > tier {
            if products[p].keys.count > 1 { products[p].keyTurns.insert(turn) }
            return .deferred(tier: best)
        }
        products[p].keyClock = max(products[p].keyClock, turn.pass)
        let kind = kinds[products[p].keys[k].lanes[lane].kind]
        let setLimit = kind.requirement.kind == .handler ? sets[kind.requirement.handler] : (kind.batchSize > 1 ? kind.batchSize : nil)
        let wanted = min(allowance, setLimit ?? 1)
        let window = products[p].keys[k].lanes[lane].window
        var tasks: [UInt64] = []
        while tasks.count < wanted, let top = products[p].keys[k].lanes[lane].heap.min {
            switch standing(top.task, top.ticket) {
            case .live:
                drop(p, key: k, lane: lane)
                tasks.append(top.task)
                handouts.add(now.milliseconds)
            case .stale:
                drop(p, key: k, lane: lane)
            case .barred:
                park(p, key: k, lane: lane)
            }
        }
        products[p].keys[k].lanes.removeIfEmpty(lane)
        let cost = cost(window: window)
        inFlight[Int(window)] += 1
        let probe = isFair && windows[Int(window)].count == 0 ? probes[Int(window)].issue(tasks.count, cost: cost) : 0
        products[p].running += tasks.count
        products[p].keys[k].running += tasks.count
        runningTotal += tasks.count
        products[p].waitingSince = now.milliseconds
        if !tasks.isEmpty {
            if lastServed.product != Int32(p) { lastServedOther = lastServed }
            lastServed = (now.milliseconds, Int32(p))
        }
        if isFair {
            let charged = cost * Double(tasks.count)
            products[p].pass += charged / weight(of: policy)
            products[p].keys[k].pass += charged / products[p].keys[k].weight
            products[p].lastCost = cost
            if policy.rate > 0 { products[p].tokens -= Double(tasks.count) }
        }
        if products[p].keys[k].queued > 0 {
            pushKey(Int32(k), of: p)
        } else {
            products[p].keys[k].inTurn = false
        }
        return .picked(
            Pick(
                tasks: tasks, isSet: setLimit != nil, product: products[p].name,
                charge: Charge(
                    product: i, key: Int32(k), window: window, cost: isFair ? cost : 0, slot: 1 / Double(max(1, tasks.count)),
                    probe: probe)))
    }

    /// The product's next fairness key with a live task the worker can run (its place in the key order,
    /// taken out of it), and the lane of its best such task; keys with nothing the worker can run keep
    /// their places, and keys left empty leave the order. A lane whose job type has no results yet may hold
    /// at most the product's probe limit of slots (``probeLimit(_:room:)``); `heldForProbes` says whether
    /// a lane was passed over for that.
    private mutating func nextKey(
        of p: Int, eligible: Eligibility, room: inout Room, heldForProbes: inout Bool, standing: (UInt64, UInt32) -> Standing
    ) -> (KeyTurn, Int)? {
        var aside: [KeyTurn] = []
        defer { for turn in aside { products[p].keyTurns.insert(turn) } }
        var probeSlots: Int?
        // A product of one key (most are) keeps no key order: its key is the one in turn.
        let single = products[p].keys.count == 1
        while let turn = single ? onlyKeyTurn(of: p) : products[p].keyTurns.popMin() {
            let k = Int(turn.key)
            guard products[p].keys[k].stamp == turn.stamp, products[p].keys[k].inTurn else { continue }
            if !single && products[p].keys[k].pass > turn.pass + 1e-9 {
                pushKey(turn.key, of: p)  // Charged more since it went in: in again at its pass.
                continue
            }
            // The lanes by their heads, best first: the first the worker can run, whose head is live, is the
            // key's best. Heads of lanes passed over go back as they were.
            var passed: [Lanes.Head] = []
            var best: Int?
            while best == nil, let (head, lane) = products[p].keys[k].lanes.popHead() {
                guard eligible[head.kind] else {
                    passed.append(head)
                    continue
                }
                let window = Int(products[p].keys[k].lanes[lane].window)
                if windows[window].count == 0 {
                    let limit = probeSlots ?? probeLimit(p, room: &room)
                    probeSlots = limit
                    if inFlight[window] >= Double(limit) {
                        heldForProbes = true
                        passed.append(head)
                        continue
                    }
                }
                switch standing(head.entry.task, head.entry.ticket) {
                case .live:
                    passed.append(head)
                    best = lane
                case .stale: drop(p, key: k, lane: lane)
                case .barred: park(p, key: k, lane: lane)
                }
            }
            products[p].keys[k].lanes.restore(passed)
            if let best { return (turn, best) }
            if products[p].keys[k].queued == 0 {
                products[p].keys[k].lanes.removeAll()
                products[p].keys[k].inTurn = false
                reclaimKey(k, of: p)
            } else if !single {
                aside.append(turn)
            }
            if single { return nil }
        }
        return nil
    }

    /// The place in turn of the one key of a product that has only ever had one, if it is in turn.
    private func onlyKeyTurn(of p: Int) -> KeyTurn? {
        let key = products[p].keys[0]
        guard key.inUse, key.inTurn else { return nil }
        return KeyTurn(runPriority: key.turnPriority, pass: key.pass, stamp: key.stamp, key: 0)
    }

    /// Removes the head of a lane.
    private mutating func drop(_ p: Int, key k: Int, lane: Int) {
        guard let entry = products[p].keys[k].lanes.popMin(of: lane) else { return }
        products[p].keys[k].queued -= 1
        products[p].queued -= 1
        products[p].priorities[Int(min(entry.runPriority, RunPriority.last))] -= 1
        count -= 1
        queuedByRequirement[Int(requirementOfKind[products[p].keys[k].lanes[lane].kind])] -= 1
    }

    /// Puts a product just served back where it belongs: in turn, or idle, capped or throttled.
    private mutating func reschedule(_ i: Int32, now: Timestamp) {
        let p = Int(i)
        guard products[p].state == .ready else { return }
        let policy = products[p].policy
        if products[p].queued == 0 {
            products[p].state = .idle
            products[p].starving = false
        } else if isFair && policy.cap > 0 && products[p].running >= Int(policy.cap) {
            products[p].state = .capped
        } else if isFair && policy.rate > 0 && products[p].tokens < 1 {
            throttle(i, now: now)
        } else {
            push(i)
        }
    }

    /// Puts product `i` back in turn, from idle, its cap or its rate limit: at the current virtual time at
    /// least (idling earns no credit), and waiting from `now` (time held back by its own limits is not time
    /// others kept it waiting).
    mutating func activate(_ i: Int32, now: Timestamp) {
        let p = Int(i)
        if products[p].state != .ready { products[p].waitingSince = now.milliseconds }
        products[p].state = .ready
        products[p].pass = max(products[p].pass, clock)
        push(i)
    }

    /// Puts product `i` in the turn order at its pass and tier; an entry it had there becomes stale.
    mutating func push(_ i: Int32) {
        stamps += 1
        let tier = tier(of: Int(i))
        products[Int(i)].stamp = stamps
        products[Int(i)].turnTier = tier
        turns.insert(Turn(tier: tier, pass: products[Int(i)].pass, stamp: stamps, product: i))
        // Stale entries leave as they come up in turn. Selections for workers limited to some products
        // take none out, so where only such workers ask, they are swept out instead, past twice the
        // products: in O(1) per push, amortized.
        if turns.count > 2 * products.count + 64 {
            let products = self.products
            turns.removeAll { !Self.isLive($0, in: products) }
        }
    }

    /// Whether an entry of the turn order is its product's place in it: the product is in turn, and the
    /// entry is the one it went in with last.
    private static func isLive(_ turn: Turn, in products: [Product]) -> Bool {
        products[Int(turn.product)].state == .ready && products[Int(turn.product)].stamp == turn.stamp
    }

    /// The virtual time a selection among some products only (a worker limited to them) moves the clock
    /// to, having served them up to `served`: no further than the first product in the turn order, whose
    /// stale entries ahead it drops. Such a worker's products may be far ahead of the others (a pool of
    /// their own serves them); a product coming back from idle starts at the clock, and must not start
    /// behind every product in turn.
    private mutating func clockAfterLimitedSelection(served: Double) -> Double {
        while let head = turns.min, !Self.isLive(head, in: products) { _ = turns.popMin() }
        return min(served, turns.min?.pass ?? served)
    }

    /// Puts key `k` in its product's key order at its pass and the run priority of its most urgent head.
    mutating func pushKey(_ k: Int32, of p: Int) {
        stamps += 1
        let priority = products[p].keys[Int(k)].lanes.best()?.runPriority ?? RunPriority.last
        products[p].keys[Int(k)].stamp = stamps
        products[p].keys[Int(k)].turnPriority = priority
        products[p].keys[Int(k)].inTurn = true
        // A product of one key keeps no key order (``onlyKeyTurn(of:)``).
        if products[p].keys.count > 1 {
            products[p].keyTurns.insert(KeyTurn(runPriority: priority, pass: products[p].keys[Int(k)].pass, stamp: stamps, key: k))
        }
    }

    /// A product's tier in the turn order, from the run priorities it has queued: 0 while it has urgent
    /// work; under priority over fairness, its most urgent run priority; otherwise the default, 3. Counted
    /// over all its entries, stale ones and those some workers cannot run included: a selection that finds
    /// the product's best task for its worker of a later tier defers it to that tier.
    func tier(of p: Int) -> UInt8 {
        if products[p].priorities[Int(RunPriority.urgent)] > 0 { return RunPriority.urgent }
        guard products[p].policy.priorityOverFairness == 1 else { return RunPriority.normal }
        for priority in RunPriority.first...RunPriority.last where products[p].priorities[Int(priority)] > 0 { return priority }
        return RunPriority.normal
    }

    /// The tier a task of run priority `priority` of product `p` competes in.
    func tierFor(_ priority: UInt8, of p: Int) -> UInt8 {
        if priority == RunPriority.urgent { return RunPriority.urgent }
        return products[p].policy.priorityOverFairness == 1 ? priority : RunPriority.normal
    }
}
