public import Wire

/// The tasks a shard can hand out now, and the choice of which go to a worker that asks.
///
/// Fair mode shares worker time between products by weight, with stride scheduling: each product has a
/// virtual pass, the product with the lowest pass is served next, and serving a task moves its pass on by
/// the task's cost divided by the product's weight. A task's cost is the mean run time of the last
/// tasks of its job type (a sliding window), so a product of slow jobs advances faster and gets fewer
/// tasks for the same worker time. A product that comes back after having no work starts at the
/// current virtual time: idling earns no credit. Within a product, higher priority first, then older.
///
/// Every product may also have a cap on its running tasks and a rate limit (a token bucket); a product
/// at its cap or out of tokens waits outside the turn order until a task of it ends or a token is due.
///
/// Starvation guard: every `checkInterval`, the queue looks at the task at the head of each product's
/// queue. A product whose head has waited more than `starvation` times the shard's recent mean queue
/// wait (and at least `starvationFloor`) is starving, and is served before the turn order until its
/// head's wait is back under that bound. Weights, costs or tags that go wrong cannot leave one waiting
/// for ever.
///
/// Headroom: with `headroom` N > 0, the last N free slots of the shard (its workers' credit) are held
/// back for products under their fair share of the slots: a product running at or over its share may
/// take a slot only while more than N are free. A product is under its share while it runs fewer
/// tasks than either its equal split (the shard's slots, running plus free, times its weight over the
/// weight of the active products: those with work queued or running, or that had some within the
/// last `headroomWindow` milliseconds) or its max-min fair share of the slots outside the headroom
/// (its demand, running plus queued up to its cap, but no more than the level those slots fill to
/// times its weight): with more products than slots the equal split is under one task, and a light
/// product wanting two must still get them beside a backlogged one. A light product that comes back
/// after a pause so finds a slot at once instead of waiting for one of a heavy product's tasks to
/// end; the price is up to N slots idle while the heavy product alone has work. A product alone on
/// its shard (or the only one active within the window) has all the slots as its share, and loses
/// nothing.
///
/// FIFO mode puts every task in one queue, by priority and then arrival, with no shares, caps or limits.
///
/// Choosing costs O(log P) per task handed out among P products, plus one visit for each product
/// whose work the asking worker cannot run, or (under headroom, once only the held-back slots are
/// free) that is at or over its share: only a product with tasks running can be. A selection that
/// meets such a product also works out the max-min level, once, by sorting the products with work.
/// Removal is lazy: a task that stops being pending stays queued until it reaches the head of its
/// queue, where the selection drops it. Each time a task is queued it comes with a new ticket, and only
/// the entry with its task's current ticket is live: a task queued again while an older entry of it
/// waits (a run resumed, a retry due) leaves that entry stale, so one selection can never return the
/// same task twice.
public struct FairQueue: Sendable {
    /// A queued task.
    struct Entry: Comparable, Sendable {
        var priority: Int16
        /// Which queueing of its task this entry is: only the task's current one is live.
        var ticket: UInt32
        var order: UInt64
        var task: UInt64
        /// When it was queued, in milliseconds since the epoch.
        var since: Int64

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
            return lhs.order < rhs.order
        }
    }

    /// Tasks of one product that need the same of a worker and are of one job type.
    struct Lane: Sendable {
        var kind: Int
        var heap = MinHeap<Entry>()
    }

    /// What the requirement and job type of a lane are; lanes of all products share these.
    struct Kind: Hashable, Sendable {
        var requirement: Requirement
        var type: String
    }

    enum State: Sendable {
        /// Nothing queued.
        case idle
        /// In the turn order.
        case ready
        /// At its cap of running tasks.
        case capped
        /// Out of tokens until a due time.
        case throttled
    }

    struct Product: Sendable {
        var name: String
        var policy: ProductPolicy
        var lanes: [Lane] = []
        /// Entries queued, lazily removed ones included.
        var queued = 0
        var running = 0
        var pass = 0.0
        var tokens = 0.0
        var refilled = Timestamp.zero
        /// The stamp of its valid entry in the turn order or the throttle heap.
        var stamp: UInt64 = 0
        var state = State.idle
        var starving = false
        /// Whether it counts among the active products, for shares under headroom.
        var active = false
        /// When it last ran out of work queued and running; nil while it has some.
        var quietSince: Int64?
    }

    /// A product's place in the turn order.
    struct Turn: Comparable, Sendable {
        var pass: Double
        var stamp: UInt64
        var product: Int32
        static func < (lhs: Turn, rhs: Turn) -> Bool { (lhs.pass, lhs.stamp) < (rhs.pass, rhs.stamp) }
    }

    /// When a throttled product has a token again.
    struct Due: Comparable, Sendable {
        var time: Int64
        var stamp: UInt64
        var product: Int32
        static func < (lhs: Due, rhs: Due) -> Bool { (lhs.time, lhs.stamp) < (rhs.time, rhs.stamp) }
    }

    /// What one selection hands to a worker: one task, or a claimed set of one handler's tasks.
    public struct Pick: Equatable, Sendable {
        public var tasks: [UInt64]
        /// Whether the tasks are a set, for a handler that takes sets (even a set of one).
        public var isSet: Bool
        /// The product they belong to.
        public var product: String
    }

    /// How selection is tuned: see ``ShardConfiguration``.
    public struct Tuning: Sendable {
        public var fairness: Fairness = .fair
        public var costWindow = 64
        public var waitWindow = 1024
        public var starvation: Int64 = 10
        public var starvationFloor: Int64 = 1000
        /// How often the heads of the queues are looked at for starvation, in milliseconds.
        public var checkInterval: Int64 = 100
        /// Free slots held back for products under their share (0: none), and how long a product
        /// counts as active after its last work, in milliseconds.
        public var headroom = 0
        public var headroomWindow: Int64 = 10_000

        public init() {}

        public init(_ configuration: ShardConfiguration) {
            fairness = configuration.fairness
            costWindow = configuration.costWindow
            waitWindow = configuration.waitWindow
            starvation = configuration.starvation
            starvationFloor = configuration.starvationFloor
            headroom = configuration.headroom
            headroomWindow = configuration.headroomWindow
        }
    }

    public let tuning: Tuning
    private var products: [Product] = []
    private var index: [String: Int32] = [:]
    private var kinds: [Kind] = []
    private var kindIndex: [Kind: Int] = [:]
    private var turns = MinHeap<Turn>()
    private var throttled = MinHeap<Due>()
    private var stamps: UInt64 = 0
    /// The virtual time: the pass of the last product served.
    private var clock = 0.0
    /// Recent run times by job type, and of all types together.
    private var costs: [String: SlidingWindow] = [:]
    private var allCosts: SlidingWindow
    /// Recent queue waits of the tasks handed out.
    private var waits: SlidingWindow
    private var starving: [Int32] = []
    private var lastCheck = Timestamp.zero
    /// Queued entries by requirement, lazily removed ones included.
    private var byRequirement: [Requirement: Int] = [:]
    /// Entries held, lazily removed ones included.
    public private(set) var count = 0
    /// Tasks handed out and not yet released, all products together.
    public private(set) var runningTotal = 0
    /// The sum of the active products' weights, for shares under headroom.
    private var activeWeight = 0.0
    /// Products that ran out of work, in the order they did, with when: they stop counting as active
    /// `headroomWindow` after, unless they had work again meanwhile. Read from `quietHead` on.
    private var quiet: [(time: Int64, product: Int32)] = []
    private var quietHead = 0
    /// Whether the last selection held a free slot back from a product over its share.
    private var heldBack = false

    public init(tuning: Tuning = Tuning()) {
        self.tuning = tuning
        allCosts = SlidingWindow(capacity: tuning.costWindow)
        waits = SlidingWindow(capacity: tuning.waitWindow)
    }

    // MARK: - Policies and measurements

    /// Sets a product's weight, cap and rate limit; they apply from the next selection.
    public mutating func setPolicy(_ policy: ProductPolicy, now: Timestamp) {
        guard tuning.fairness == .fair else { return }
        let i = slot(of: policy.product)
        if products[Int(i)].active { activeWeight += weight(of: policy) - weight(of: products[Int(i)].policy) }
        products[Int(i)].policy = policy
        products[Int(i)].tokens = min(products[Int(i)].tokens, burst(of: policy))
        // A product held back by the old terms goes back in turn; the selection holds it back again if
        // the new ones say so.
        if products[Int(i)].state == .capped || products[Int(i)].state == .throttled { activate(i) }
    }

    /// The cost charged for a task of `type`: its recent mean run time in milliseconds, or that of all
    /// types while it has none; never under 1.
    public func cost(of type: String) -> Double {
        if let window = costs[type], window.count > 0 { return max(1, window.mean) }
        return allCosts.count > 0 ? max(1, allCosts.mean) : 1
    }

    /// How many of a product's tasks are running.
    public func running(_ product: String) -> Int { index[lane(product)].map { products[Int($0)].running } ?? 0 }

    /// Whether a product is being served first because it was starving.
    public func isStarving(_ product: String) -> Bool { index[product].map { products[Int($0)].starving } ?? false }

    /// A task of `type` ran `duration` milliseconds on a worker: the sample joins its job type's window.
    public mutating func measured(type: String, duration: Int64) {
        let sample = Double(max(0, duration))
        costs[type, default: SlidingWindow(capacity: tuning.costWindow)].add(sample)
        allCosts.add(sample)
    }

    /// A task of `product` handed out by ``select(limit:capabilities:sets:free:now:isLive:)`` stopped
    /// running, or was never sent after all: its slot counts no more against the product's cap.
    public mutating func released(product: String, now: Timestamp) {
        guard let i = index[lane(product)] else { return }
        if products[Int(i)].running > 0 { runningTotal -= 1 }
        products[Int(i)].running = max(0, products[Int(i)].running - 1)
        noteQuiet(Int(i), now: now)
        let cap = Int(products[Int(i)].policy.cap)
        if products[Int(i)].state == .capped && (cap == 0 || products[Int(i)].running < cap) { activate(i) }
    }

    /// A running task of `product` that was restored after a restart: it counts against the cap.
    public mutating func restoredRunning(product: String) {
        let i = slot(of: lane(product))
        products[Int(i)].running += 1
        runningTotal += 1
        noteBusy(Int(i))
    }

    // MARK: - Queueing

    /// Queues tasks of one product, requirement, job type and priority, given as (task, order, ticket):
    /// the ticket is the task's count of queueings, so that an older entry of it is known to be stale.
    public mutating func enqueue(
        _ tasks: [(task: UInt64, order: UInt64, ticket: UInt32)], product: String, requirement: Requirement, type: String, priority: Int16,
        now: Timestamp
    ) {
        guard !tasks.isEmpty else { return }
        let i = slot(of: lane(product))
        let kind = kindID(Kind(requirement: requirement, type: type))
        let at: Int
        if let found = products[Int(i)].lanes.firstIndex(where: { $0.kind == kind }) {
            at = found
        } else {
            products[Int(i)].lanes.append(Lane(kind: kind))
            at = products[Int(i)].lanes.count - 1
        }
        for (task, order, ticket) in tasks {
            products[Int(i)].lanes[at].heap.insert(
                Entry(priority: priority, ticket: ticket, order: order, task: task, since: now.milliseconds))
        }
        products[Int(i)].queued += tasks.count
        noteBusy(Int(i))
        byRequirement[requirement, default: 0] += tasks.count
        count += tasks.count
        if products[Int(i)].state == .idle { activate(i) }
    }

    /// Roughly how many queued tasks a worker with `capabilities` could run (entries removed lazily count).
    public func work(for capabilities: Capabilities) -> Int {
        var total = 0
        for (requirement, count) in byRequirement where capabilities.satisfy(requirement) { total += count }
        return total
    }

    /// The earliest time a throttled product gets a token back, if any is throttled.
    public var nextRelease: Timestamp? {
        throttled.min.map { Timestamp(milliseconds: $0.time) }
    }

    // MARK: - Selection

    /// Chooses up to `limit` picks for a worker with `capabilities`: single tasks, or sets of up to
    /// `sets[handler]` tasks for the handlers it takes sets for. `isLive` tells, from a task and the
    /// ticket of an entry of it, whether that entry may still go: the task is pending, may be handed
    /// out, and was not queued again since; the others are dropped.
    ///
    /// `free` is the shard's free slots, this worker's `limit` among them: every worker's credit
    /// together. Given, and with a `headroom` in the tuning, a product at or over its share takes no
    /// pick that would leave fewer than `headroom` free. Each pick takes one slot.
    public mutating func select(
        limit: Int, capabilities: Capabilities, sets: [String: Int] = [:], free: Int? = nil, now: Timestamp,
        isLive: (_ task: UInt64, _ ticket: UInt32) -> Bool
    ) -> [Pick] {
        guard limit > 0, count > 0 else { return [] }
        releaseThrottled(now: now)
        if tuning.fairness == .fair && now.since(lastCheck) >= tuning.checkInterval { findStarving(now: now) }
        heldBack = false
        var room = Room(free: Int.max, slots: 0)
        if let free, holdsRoom {
            forgetQuiet(now: now)
            room = Room(free: free, slots: Double(runningTotal + free))
        }
        let eligible = kinds.map { capabilities.satisfy($0.requirement) }
        var picks: [Pick] = []
        // The starving first, one pick each per round, while any can be served.
        var served = true
        while served && !starving.isEmpty && picks.count < limit {
            served = false
            for i in starving where picks.count < limit && products[Int(i)].state == .ready {
                guard let pick = take(from: i, eligible: eligible, sets: sets, room: &room, now: now, isLive: isLive) else { continue }
                picks.append(pick)
                room.free -= 1
                served = true
                if headWait(of: i, now: now) <= starvationBound {
                    products[Int(i)].starving = false
                }
                reschedule(i, now: now)
            }
            starving.removeAll { !products[Int($0)].starving }
        }
        var skipped: [Int32] = []
        while picks.count < limit, let turn = turns.popMin() {
            let i = turn.product
            guard products[Int(i)].stamp == turn.stamp, products[Int(i)].state == .ready else { continue }
            clock = max(clock, turn.pass)
            if let pick = take(from: i, eligible: eligible, sets: sets, room: &room, now: now, isLive: isLive) {
                picks.append(pick)
                room.free -= 1
                reschedule(i, now: now)
            } else if products[Int(i)].queued == 0 {
                products[Int(i)].state = .idle
            } else if products[Int(i)].state == .ready {
                skipped.append(i)  // Work this worker cannot run, or over its share with only the headroom free.
            }
        }
        for i in skipped { push(i) }
        return picks
    }

    /// The free slots during a selection, and the slots of the shard (running and free) shares are of.
    struct Room {
        var free: Int
        var slots: Double
        /// The max-min fair level of the slots outside the headroom, per unit of weight, worked out
        /// when first needed.
        var level: Double?
    }

    /// Whether headroom applies: fair mode, with slots to hold back.
    private var holdsRoom: Bool { tuning.fairness == .fair && tuning.headroom > 0 }

    /// Takes the best pending task of product `i` that the worker can run, with as many more of its
    /// lane as a set may hold; charges the product for them. Nil if it has none, is at its cap or out
    /// of tokens (its state then says so), or is at or over its share with only the headroom free
    /// (it stays ready).
    private mutating func take(
        from i: Int32, eligible: [Bool], sets: [String: Int], room: inout Room, now: Timestamp,
        isLive: (UInt64, UInt32) -> Bool
    ) -> Pick? {
        let p = Int(i)
        let policy = products[p].policy
        let fair = tuning.fairness == .fair
        if room.free <= tuning.headroom && Double(products[p].running) * activeWeight >= room.slots * weight(of: policy)
            && isAtMaxMinShare(p, room: &room)
        {
            heldBack = true
            return nil
        }
        var allowance = fair && policy.cap > 0 ? Int(policy.cap) - products[p].running : Int.max
        if allowance <= 0 {
            products[p].state = .capped
            return nil
        }
        if fair && policy.rate > 0 {
            refill(p, now: now)
            if products[p].tokens < 1 {
                throttle(i, now: now)
                return nil
            }
            allowance = min(allowance, Int(products[p].tokens))
        }
        // The best head among the lanes the worker can run, dropping heads no longer pending.
        var best: Int?
        for lane in products[p].lanes.indices where eligible[products[p].lanes[lane].kind] {
            while let top = products[p].lanes[lane].heap.min, !isLive(top.task, top.ticket) { drop(p, lane: lane) }
            guard let top = products[p].lanes[lane].heap.min else { continue }
            if best == nil || top < products[p].lanes[best!].heap.min! { best = lane }
        }
        guard let lane = best else {
            products[p].lanes.removeAll { $0.heap.isEmpty }
            noteQuiet(p, now: now)
            return nil
        }
        let kind = kinds[products[p].lanes[lane].kind]
        let setLimit = kind.requirement.kind == .handler ? sets[kind.requirement.handler] : nil
        let wanted = min(allowance, setLimit ?? 1)
        var tasks: [UInt64] = []
        while tasks.count < wanted, let top = products[p].lanes[lane].heap.min {
            drop(p, lane: lane)
            guard isLive(top.task, top.ticket) else { continue }
            tasks.append(top.task)
            waits.add(Double(max(0, now.milliseconds - top.since)))
        }
        if products[p].lanes[lane].heap.isEmpty { products[p].lanes.remove(at: lane) }
        products[p].running += tasks.count
        runningTotal += tasks.count
        if fair {
            products[p].pass = max(products[p].pass, clock) + cost(of: kind.type) * Double(tasks.count) / Double(max(1, policy.weight))
            if policy.rate > 0 { products[p].tokens -= Double(tasks.count) }
        }
        return Pick(tasks: tasks, isSet: setLimit != nil, product: products[p].name)
    }

    /// Removes the head of a lane.
    private mutating func drop(_ p: Int, lane: Int) {
        _ = products[p].lanes[lane].heap.popMin()
        products[p].queued -= 1
        count -= 1
        let requirement = kinds[products[p].lanes[lane].kind].requirement
        byRequirement[requirement]! -= 1
        if byRequirement[requirement]! == 0 { byRequirement[requirement] = nil }
    }

    /// Puts a product just served back where it belongs: in turn, or idle, capped or throttled.
    private mutating func reschedule(_ i: Int32, now: Timestamp) {
        let p = Int(i)
        guard products[p].state == .ready else { return }
        let policy = products[p].policy
        if products[p].queued == 0 {
            products[p].state = .idle
        } else if tuning.fairness == .fair && policy.cap > 0 && products[p].running >= Int(policy.cap) {
            products[p].state = .capped
        } else if tuning.fairness == .fair && policy.rate > 0 && products[p].tokens < 1 {
            throttle(i, now: now)
        } else {
            push(i)
        }
    }

    private mutating func activate(_ i: Int32) {
        products[Int(i)].state = .ready
        products[Int(i)].pass = max(products[Int(i)].pass, clock)
        push(i)
    }

    private mutating func push(_ i: Int32) {
        stamps += 1
        products[Int(i)].stamp = stamps
        turns.insert(Turn(pass: products[Int(i)].pass, stamp: stamps, product: i))
    }

    // MARK: - Headroom

    /// Whether product `p` runs at least its max-min fair share of the slots outside the headroom: its
    /// demand (running and queued, no more than its cap), capped at the level at which the active
    /// products' demands, each capped at the level times its weight, fill those slots. A backlogged
    /// product reaches it; a light one, wanting less than the level gives it, does not.
    private func isAtMaxMinShare(_ p: Int, room: inout Room) -> Bool {
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

    private func weight(of policy: ProductPolicy) -> Double { Double(max(1, policy.weight)) }

    /// Product `p` has work queued or running: it is active, and stays so while it has.
    private mutating func noteBusy(_ p: Int) {
        guard holdsRoom else { return }
        products[p].quietSince = nil
        if !products[p].active {
            products[p].active = true
            activeWeight += weight(of: products[p].policy)
        }
    }

    /// Product `p` may have run out of work: if so, it stays active for the window from now.
    private mutating func noteQuiet(_ p: Int, now: Timestamp) {
        guard holdsRoom, products[p].active, products[p].quietSince == nil, products[p].queued == 0, products[p].running == 0
        else { return }
        products[p].quietSince = now.milliseconds
        quiet.append((now.milliseconds, Int32(p)))
    }

    /// Stops counting as active the products quiet for the whole window.
    private mutating func forgetQuiet(now: Timestamp) {
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

    // MARK: - Rate limits

    private func burst(of policy: ProductPolicy) -> Double {
        policy.burst > 0 ? Double(policy.burst) : max(1, Double(policy.rate) / 3600)
    }

    /// Adds the tokens earned since the last refill, up to the burst.
    private mutating func refill(_ p: Int, now: Timestamp) {
        let policy = products[p].policy
        if products[p].refilled == .zero {
            products[p].tokens = burst(of: policy)
        } else {
            let earned = Double(now.since(products[p].refilled)) * Double(policy.rate) / 3_600_000
            products[p].tokens = min(burst(of: policy), products[p].tokens + earned)
        }
        products[p].refilled = now
    }

    private mutating func throttle(_ i: Int32, now: Timestamp) {
        let p = Int(i)
        products[p].state = .throttled
        let perMillisecond = Double(products[p].policy.rate) / 3_600_000
        let wait = Int64((1 - products[p].tokens) / perMillisecond) + 1
        stamps += 1
        products[p].stamp = stamps
        throttled.insert(Due(time: now.milliseconds + max(1, wait), stamp: stamps, product: i))
    }

    private mutating func releaseThrottled(now: Timestamp) {
        while let due = throttled.min, due.time <= now.milliseconds {
            _ = throttled.popMin()
            let p = Int(due.product)
            guard products[p].stamp == due.stamp, products[p].state == .throttled else { continue }
            activate(due.product)
        }
    }

    // MARK: - Starvation

    /// The wait beyond which a product's head is starving.
    private var starvationBound: Int64 {
        max(tuning.starvationFloor, Int64(Double(tuning.starvation) * waits.mean))
    }

    /// How long the head of a product's queue has waited: the oldest among its lanes' heads.
    private func headWait(of i: Int32, now: Timestamp) -> Int64 {
        var oldest = Int64.max
        for lane in products[Int(i)].lanes { if let top = lane.heap.min { oldest = min(oldest, top.since) } }
        return oldest == .max ? 0 : now.milliseconds - oldest
    }

    /// Marks the products in turn whose head has waited past the bound, the longest waiting first.
    private mutating func findStarving(now: Timestamp) {
        lastCheck = now
        let bound = starvationBound
        var found: [(wait: Int64, product: Int32)] = []
        for i in products.indices where products[i].state == .ready && !products[i].starving {
            let wait = headWait(of: Int32(i), now: now)
            if wait > bound { found.append((wait, Int32(i))) }
        }
        guard !found.isEmpty else { return }
        for (_, i) in found.sorted(by: { $0.wait > $1.wait }) {
            products[Int(i)].starving = true
            starving.append(i)
        }
    }

    // MARK: - Names

    /// The product a task is queued under: its own, or the one queue of FIFO mode.
    private func lane(_ product: String) -> String { tuning.fairness == .fair ? product : "" }

    private mutating func slot(of product: String) -> Int32 {
        if let i = index[product] { return i }
        let i = Int32(products.count)
        products.append(Product(name: product, policy: ProductPolicy(product: product)))
        index[product] = i
        return i
    }

    private mutating func kindID(_ kind: Kind) -> Int {
        if let id = kindIndex[kind] { return id }
        kinds.append(kind)
        kindIndex[kind] = kinds.count - 1
        return kinds.count - 1
    }
}

/// The last `capacity` samples of a measure, and their mean.
public struct SlidingWindow: Sendable {
    private var samples: [Double] = []
    private var next = 0
    private var sum = 0.0
    public let capacity: Int

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public var count: Int { samples.count }

    /// The mean of the samples held; 0 if none.
    public var mean: Double { samples.isEmpty ? 0 : sum / Double(samples.count) }

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

extension ProductPolicy {
    /// The policy in words, for the audit log and CONTROL-RESULT: `weight 3, cap 20, rate 36000/h, burst 50`.
    public var summary: String {
        "weight \(weight), cap \(cap == 0 ? "none" : String(cap)), rate \(rate == 0 ? "none" : "\(rate)/h"), "
            + "burst \(burst == 0 ? "default" : String(burst))"
    }
}
