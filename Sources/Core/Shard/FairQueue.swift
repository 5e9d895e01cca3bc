public import Wire

/// The tasks a shard can hand out now, and the choice of which go to a worker that asks.
///
/// Fair mode shares worker time between products by weight, with stride scheduling: each product has a
/// virtual pass, the product with the lowest pass is served next, and serving a task moves its pass on by
/// the task's cost divided by the product's weight. A task is charged, when it goes out, the mean run
/// time of the last tasks of its product and job type (a sliding window; a type with no results yet is
/// charged the most expensive recent run time of the shard), and corrected by what it really ran when it
/// ends: a product's choice of job type cannot lower what its work costs it. A product that comes back
/// after having no work starts at the current virtual time: idling earns no credit.
///
/// Within a product, tasks are shared in the same way among its fairness keys (a customer within a
/// product's batch, say), by the keys' weights. Before any of that, within a product, a task of a more
/// urgent run priority goes first, then a higher job priority, then the older. Across products, priority
/// counts only for urgent runs, which go before everything, and for products whose policy puts priority
/// over fairness, which compete by their most urgent task's priority before their pass. Starving
/// products (below) go before even urgent work, once each.
///
/// Every product may also have a cap on its running tasks and a rate limit (a token bucket); a product
/// at its cap or out of tokens waits outside the turn order until a task of it ends or a token is due.
///
/// Starvation guard (`FairQueue+Starvation.swift`): a product whose wait since it was last served passes
/// its own expected wait (from its share and the shard's recent rate of hand-outs) many times over is
/// served before the turn order, once, and the episode is counted and reported.
///
/// Headroom (`FairQueue+Headroom.swift`): with `headroom` N > 0, the last N free slots of the shard are
/// held back for products under their fair share of the slots.
///
/// FIFO mode puts every task in one queue, by run priority, job priority and arrival, with no shares,
/// caps or limits.
///
/// Choosing costs O(log P) per task handed out among P products, plus one visit for each product whose
/// work the asking worker cannot run, or (under headroom) that is at or over its share. Removal is lazy:
/// a task that stops being pending stays queued until it reaches the head of its queue, where the
/// selection drops it. Each time a task is queued it comes with a new ticket, and only the entry with
/// its task's current ticket is live: a task queued again while an older entry of it waits (a run
/// resumed, a retry due) leaves that entry stale, so one selection can never return the same task twice.
public struct FairQueue: Sendable {
    /// A queued task.
    struct Entry: Comparable, Sendable {
        /// Its run's priority: 0 urgent, then 1 (first) to 5.
        var rank: UInt8
        var priority: Int16
        /// Which queueing of its task this entry is: only the task's current one is live.
        var ticket: UInt32
        var order: UInt64
        var task: UInt64
        /// When it was queued, in milliseconds since the epoch.
        var since: Int64

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            if lhs.rank != rhs.rank { return lhs.rank < rhs.rank }
            if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
            return lhs.order < rhs.order
        }
    }

    /// Tasks of one fairness key of one product that need the same of a worker and are of one job type.
    struct Lane: Sendable {
        var kind: Int
        /// The cost window of its product and job type.
        var window: Int32
        var heap = MinHeap<Entry>()
    }

    /// What the requirement, job type and batch size of a lane are; lanes of all products share these.
    struct Kind: Hashable, Sendable {
        var requirement: Requirement
        var type: String
        /// For command batches: the most tasks in one batch; 0 for none.
        var batch: Int
    }

    /// The tasks of one fairness key of a product, and the key's place among the product's keys.
    struct KeyQueue: Sendable {
        var name: String
        var weight: Double
        var lanes: [Lane] = []
        /// Entries queued, lazily removed ones included.
        var queued = 0
        var pass = 0.0
        /// The stamp of its valid entry in the product's key order, and the rank it went in with.
        var stamp: UInt64 = 0
        var turnRank: UInt8 = 0
        var inTurn = false
    }

    /// A fairness key's place among its product's keys: the most urgent head first, then the lowest pass.
    struct KeyTurn: Comparable, Sendable {
        var rank: UInt8
        var pass: Double
        var stamp: UInt64
        var key: Int32
        static func < (lhs: KeyTurn, rhs: KeyTurn) -> Bool { (lhs.rank, lhs.pass, lhs.stamp) < (rhs.rank, rhs.pass, rhs.stamp) }
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
        var keys: [KeyQueue] = []
        var keyIndex: [String: Int32] = [:]
        var keyTurns = MinHeap<KeyTurn>()
        /// The pass of the key served last: a key coming back from idle starts there.
        var keyClock = 0.0
        /// Entries queued, lazily removed ones included, all keys together and by run priority.
        var queued = 0
        var ranks = [Int](repeating: 0, count: Int(RunPriority.last) + 1)
        var running = 0
        var pass = 0.0
        var tokens = 0.0
        var refilled = Timestamp.zero
        /// The stamp of its valid entry in the turn order or the throttle heap, and the tier it went in with.
        var stamp: UInt64 = 0
        var turnTier: UInt8 = RunPriority.normal
        var state = State.idle
        var starving = false
        /// Since when it has waited to be served: when it last was, or when its work arrived.
        var waitingSince: Int64 = 0
        /// What its last task handed out was charged, for its expected wait.
        var lastCost: Double?
        /// Whether it counts among the active products, for shares under headroom.
        var active = false
        /// When it last ran out of work queued and running; nil while it has some.
        var quietSince: Int64?
    }

    /// A product's place in the turn order: its tier (0 for urgent work, its most urgent priority under
    /// priority over fairness, 3 otherwise), then its pass.
    struct Turn: Comparable, Sendable {
        var tier: UInt8
        var pass: Double
        var stamp: UInt64
        var product: Int32
        static func < (lhs: Turn, rhs: Turn) -> Bool { (lhs.tier, lhs.pass, lhs.stamp) < (rhs.tier, rhs.pass, rhs.stamp) }
    }

    /// When a throttled product has a token again.
    struct Due: Comparable, Sendable {
        var time: Int64
        var stamp: UInt64
        var product: Int32
        static func < (lhs: Due, rhs: Due) -> Bool { (lhs.time, lhs.stamp) < (rhs.time, rhs.stamp) }
    }

    /// What a group of tasks is, for queueing: whose, which key, what it needs, its type and its order.
    public struct Work: Sendable {
        public var product: String
        /// Its fairness key within the product; empty for the product's default key.
        public var key: String
        public var requirement: Requirement
        /// The job type, within the product: the cost window it is charged from.
        public var type: String
        /// For command batches: the most tasks in one batch; 0 for none.
        public var batch: Int
        /// The run priority (``RunPriority``) and the job's own priority.
        public var rank: UInt8
        public var priority: Int16

        public init(
            product: String, key: String = "", requirement: Requirement, type: String, batch: Int = 0,
            rank: UInt8 = RunPriority.normal, priority: Int16 = 0
        ) {
            self.product = product
            self.key = key
            self.requirement = requirement
            self.type = type
            self.batch = batch
            self.rank = rank
            self.priority = priority
        }
    }

    /// What a task handed out was charged, to correct when it ends: opaque outside the queue.
    public struct Charge: Equatable, Sendable {
        var product: Int32
        var key: Int32
        var window: Int32
        /// The cost charged for it, in milliseconds of worker time.
        public var cost: Double
    }

    /// What one selection hands to a worker: one task, or a claimed set of one lane's tasks.
    public struct Pick: Equatable, Sendable {
        public var tasks: [UInt64]
        /// Whether the tasks are a set: for a handler that takes sets, or a command batch (even a set of one).
        public var isSet: Bool
        /// The product they belong to.
        public var product: String
        /// What each of them was charged.
        public var charge: Charge
    }

    /// How selection is tuned: see ``ShardConfiguration``.
    public struct Tuning: Sendable {
        public var fairness: Fairness = .fair
        public var costWindow = 64
        public var handoutWindow = 1024
        public var starvation: Int64 = 10
        public var starvationFloor: Int64 = 1000
        public var starvationCeiling: Int64 = 60_000
        /// How often products are looked at for starvation, in milliseconds.
        public var checkInterval: Int64 = 100
        /// Free slots held back for products under their share (0: none), and how long a product
        /// counts as active after its last work, in milliseconds.
        public var headroom = 0
        public var headroomWindow: Int64 = 10_000

        public init() {}

        public init(_ configuration: ShardConfiguration) {
            fairness = configuration.fairness
            costWindow = configuration.costWindow
            handoutWindow = configuration.handoutWindow
            starvation = configuration.starvation
            starvationFloor = configuration.starvationFloor
            starvationCeiling = configuration.starvationCeiling
            headroom = configuration.headroom
            headroomWindow = configuration.headroomWindow
        }
    }

    public let tuning: Tuning
    var products: [Product] = []
    var index: [String: Int32] = [:]
    var kinds: [Kind] = []
    private var kindIndex: [Kind: Int] = [:]
    var turns = MinHeap<Turn>()
    var throttled = MinHeap<Due>()
    var stamps: UInt64 = 0
    /// The virtual time: the pass of the last product served.
    var clock = 0.0
    /// Recent run times by product and job type, and of all of them together.
    var windows: [SlidingWindow] = []
    var windowIndex: [CostKey: Int32] = [:]
    /// Tasks out of each cost window.
    var inFlight: [Int] = []
    var allCosts: SlidingWindow
    /// When the recent tasks were handed out, for the rate at which slots come free.
    var handouts: TimeWindow
    var starving: [Int32] = []
    var lastCheck = Timestamp.zero
    /// Starving episodes since the shard started, and those not yet taken by ``takeStarvationReports()``.
    public internal(set) var starvationEpisodes = 0
    var starvationReports: [StarvationReport] = []
    /// Queued entries by requirement, lazily removed ones included.
    private var byRequirement: [Requirement: Int] = [:]
    /// Entries held, lazily removed ones included.
    public private(set) var count = 0
    /// Tasks handed out and not yet released, all products together.
    public internal(set) var runningTotal = 0
    /// The sum of the active products' weights, for shares under headroom.
    var activeWeight = 0.0
    /// Products that ran out of work, in the order they did, with when: they stop counting as active
    /// `headroomWindow` after, unless they had work again meanwhile. Read from `quietHead` on.
    var quiet: [(time: Int64, product: Int32)] = []
    var quietHead = 0
    /// Whether the last selection held a free slot back from a product over its share.
    var heldBack = false

    /// A cost window's key: a product and a job type of it.
    struct CostKey: Hashable, Sendable {
        var product: Int32
        var type: String
    }

    public init(tuning: Tuning = Tuning()) {
        self.tuning = tuning
        allCosts = SlidingWindow(capacity: tuning.costWindow)
        handouts = TimeWindow(capacity: tuning.handoutWindow)
    }

    var isFair: Bool { tuning.fairness == .fair }

    // MARK: - Policies

    /// Sets a product's weight, cap, rate limit, priority rule and key weights; they apply from the next selection.
    public mutating func setPolicy(_ policy: ProductPolicy, now: Timestamp) {
        guard isFair else { return }
        let i = slot(of: policy.product)
        let p = Int(i)
        if products[p].active { activeWeight += weight(of: policy) - weight(of: products[p].policy) }
        products[p].policy = policy
        products[p].tokens = min(products[p].tokens, burst(of: policy))
        for k in products[p].keys.indices { products[p].keys[k].weight = Double(policy.weight(ofKey: products[p].keys[k].name)) }
        // A product held back by the old terms goes back in turn; the selection holds it back again if
        // the new ones say so. One in turn goes in again at the tier the new terms give it.
        switch products[p].state {
        case .capped, .throttled: activate(i)
        case .ready: push(i)
        case .idle: break
        }
    }

    /// How many of a product's tasks are running.
    public func running(_ product: String) -> Int { index[lane(product)].map { products[Int($0)].running } ?? 0 }

    // MARK: - Queueing

    /// Queues tasks of one kind of work, given as (task, order, ticket): the ticket is the task's count of
    /// queueings, so that an older entry of it is known to be stale.
    public mutating func enqueue(_ tasks: [(task: UInt64, order: UInt64, ticket: UInt32)], as work: Work, now: Timestamp) {
        guard !tasks.isEmpty else { return }
        let i = slot(of: lane(work.product))
        let p = Int(i)
        let k = Int(keySlot(isFair ? work.key : "", in: p))
        let kind = kindID(Kind(requirement: work.requirement, type: work.type, batch: work.batch > 1 ? work.batch : 0))
        let at: Int
        if let found = products[p].keys[k].lanes.firstIndex(where: { $0.kind == kind }) {
            at = found
        } else {
            products[p].keys[k].lanes.append(Lane(kind: kind, window: window(product: Int32(p), type: work.type)))
            at = products[p].keys[k].lanes.count - 1
        }
        let rank = isFair ? min(work.rank, RunPriority.last) : work.rank
        for (task, order, ticket) in tasks {
            products[p].keys[k].lanes[at].heap.insert(
                Entry(rank: rank, priority: work.priority, ticket: ticket, order: order, task: task, since: now.milliseconds))
        }
        products[p].keys[k].queued += tasks.count
        products[p].queued += tasks.count
        products[p].ranks[Int(min(rank, RunPriority.last))] += tasks.count
        noteBusy(p)
        byRequirement[work.requirement, default: 0] += tasks.count
        count += tasks.count
        if !products[p].keys[k].inTurn {
            products[p].keys[k].pass = max(products[p].keys[k].pass, products[p].keyClock)
            pushKey(Int32(k), of: p)
        } else if rank < products[p].keys[k].turnRank {
            pushKey(Int32(k), of: p)
        }
        switch products[p].state {
        case .idle:
            products[p].waitingSince = now.milliseconds
            activate(i)
        case .ready where tier(of: p) < products[p].turnTier:
            push(i)
        default:
            break
        }
    }

    /// Roughly how many queued tasks a worker with `capabilities` could run (entries removed lazily count).
    public func work(for capabilities: Capabilities) -> Int {
        var total = 0
        for (requirement, count) in byRequirement where capabilities.satisfy(requirement) { total += count }
        return total
    }

    /// The share of a worker's time this shard asks for, against the other shards it serves: the sum of
    /// the weights of the products with tasks queued that a worker with `capabilities` could run.
    public func demandWeight(for capabilities: Capabilities) -> UInt32 {
        let eligible = kinds.map { capabilities.satisfy($0.requirement) }
        var total: UInt64 = 0
        for product in products where product.queued > 0 {
            let runnable = product.keys.contains { key in key.lanes.contains { eligible[$0.kind] && !$0.heap.isEmpty } }
            if runnable { total += UInt64(weight(of: product.policy)) }
        }
        return UInt32(min(total, UInt64(UInt32.max)))
    }

    // MARK: - Selection

    /// Chooses up to `limit` picks for a worker with `capabilities`: single tasks, or sets of up to
    /// `sets[handler]` tasks for the handlers it takes sets for, and of up to a command job's batch size.
    /// `isLive` tells, from a task and the ticket of an entry of it, whether that entry may still go: the
    /// task is pending, may be handed out, and was not queued again since; the others are dropped.
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
        if isFair && now.since(lastCheck) >= tuning.checkInterval { findStarving(now: now) }
        heldBack = false
        var room = Room(free: Int.max, slots: 0)
        if let free, holdsRoom {
            forgetQuiet(now: now)
            room = Room(free: free, slots: Double(runningTotal + free))
        }
        room.shardSlots = Double(runningTotal + max(free ?? 0, limit))
        let eligible = kinds.map { capabilities.satisfy($0.requirement) }
        var picks: [Pick] = []
        // The starving first, one pick each, while any can be served.
        for i in starving where picks.count < limit && products[Int(i)].state == .ready {
            guard let pick = take(from: i, eligible: eligible, sets: sets, room: &room, now: now, isLive: isLive) else { continue }
            picks.append(pick)
            room.free -= 1
            products[Int(i)].starving = false
            reschedule(i, now: now)
        }
        starving.removeAll { !products[Int($0)].starving }
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

    /// Takes the best pending task of product `i` that the worker can run, with as many more of its
    /// lane as a set may hold; charges the product and the task's key for them. Nil if it has none, is at
    /// its cap or out of tokens (its state then says so), or is at or over its share with only the
    /// headroom free (it stays ready).
    private mutating func take(
        from i: Int32, eligible: [Bool], sets: [String: Int], room: inout Room, now: Timestamp,
        isLive: (UInt64, UInt32) -> Bool
    ) -> Pick? {
        let p = Int(i)
        let policy = products[p].policy
        if room.free <= tuning.headroom && Double(products[p].running) * activeWeight >= room.slots * weight(of: policy)
            && isAtMaxMinShare(p, room: &room)
        {
            heldBack = true
            return nil
        }
        var allowance = isFair && policy.cap > 0 ? Int(policy.cap) - products[p].running : Int.max
        if allowance <= 0 {
            products[p].state = .capped
            return nil
        }
        if isFair && policy.rate > 0 {
            refill(p, now: now)
            if products[p].tokens < 1 {
                throttle(i, now: now)
                return nil
            }
            allowance = min(allowance, Int(products[p].tokens))
        }
        let probes = probeLimit(p, room: &room)
        guard let (k, lane) = nextKey(of: p, eligible: eligible, probes: probes, isLive: isLive) else {
            noteQuiet(p, now: now)
            return nil
        }
        let kind = kinds[products[p].keys[k].lanes[lane].kind]
        let setLimit = kind.requirement.kind == .handler ? sets[kind.requirement.handler] : (kind.batch > 1 ? kind.batch : nil)
        let wanted = min(allowance, setLimit ?? 1)
        let window = products[p].keys[k].lanes[lane].window
        var tasks: [UInt64] = []
        while tasks.count < wanted, let top = products[p].keys[k].lanes[lane].heap.min {
            drop(p, key: k, lane: lane)
            guard isLive(top.task, top.ticket) else { continue }
            tasks.append(top.task)
            handouts.add(now.milliseconds)
        }
        if products[p].keys[k].lanes[lane].heap.isEmpty { products[p].keys[k].lanes.remove(at: lane) }
        inFlight[Int(window)] += 1
        products[p].running += tasks.count
        runningTotal += tasks.count
        products[p].waitingSince = now.milliseconds
        let cost = cost(window: window)
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
        return Pick(
            tasks: tasks, isSet: setLimit != nil, product: products[p].name,
            charge: Charge(product: i, key: Int32(k), window: window, cost: isFair ? cost : 0))
    }

    /// The product's next fairness key with a live task the worker can run, and the lane of its best such
    /// task; keys with nothing the worker can run keep their places, and keys left empty leave the order.
    /// A lane whose job type has no results yet may have at most `probes` tasks out.
    private mutating func nextKey(of p: Int, eligible: [Bool], probes: Int, isLive: (UInt64, UInt32) -> Bool) -> (Int, Int)? {
        var aside: [KeyTurn] = []
        defer { for turn in aside { products[p].keyTurns.insert(turn) } }
        while let turn = products[p].keyTurns.popMin() {
            let k = Int(turn.key)
            guard products[p].keys[k].stamp == turn.stamp, products[p].keys[k].inTurn else { continue }
            var best: Int?
            for lane in products[p].keys[k].lanes.indices where eligible[products[p].keys[k].lanes[lane].kind] {
                let window = Int(products[p].keys[k].lanes[lane].window)
                if windows[window].count == 0 && inFlight[window] >= probes { continue }
                while let top = products[p].keys[k].lanes[lane].heap.min, !isLive(top.task, top.ticket) {
                    drop(p, key: k, lane: lane)
                }
                guard let top = products[p].keys[k].lanes[lane].heap.min else { continue }
                if best == nil || top < products[p].keys[k].lanes[best!].heap.min! { best = lane }
            }
            if let best {
                products[p].keyClock = max(products[p].keyClock, turn.pass)
                return (k, best)
            }
            if products[p].keys[k].queued == 0 {
                products[p].keys[k].lanes = []
                products[p].keys[k].inTurn = false
            } else {
                aside.append(turn)
            }
        }
        return nil
    }

    /// Removes the head of a lane.
    private mutating func drop(_ p: Int, key k: Int, lane: Int) {
        guard let entry = products[p].keys[k].lanes[lane].heap.popMin() else { return }
        products[p].keys[k].queued -= 1
        products[p].queued -= 1
        products[p].ranks[Int(min(entry.rank, RunPriority.last))] -= 1
        count -= 1
        let requirement = kinds[products[p].keys[k].lanes[lane].kind].requirement
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
        } else if isFair && policy.cap > 0 && products[p].running >= Int(policy.cap) {
            products[p].state = .capped
        } else if isFair && policy.rate > 0 && products[p].tokens < 1 {
            throttle(i, now: now)
        } else {
            push(i)
        }
    }

    mutating func activate(_ i: Int32) {
        products[Int(i)].state = .ready
        products[Int(i)].pass = max(products[Int(i)].pass, clock)
        push(i)
    }

    /// Puts product `i` in the turn order at its pass and tier; an entry it had there becomes stale.
    mutating func push(_ i: Int32) {
        stamps += 1
        let tier = tier(of: Int(i))
        products[Int(i)].stamp = stamps
        products[Int(i)].turnTier = tier
        turns.insert(Turn(tier: tier, pass: products[Int(i)].pass, stamp: stamps, product: i))
    }

    /// Puts key `k` in its product's key order at its pass and the rank of its most urgent head.
    private mutating func pushKey(_ k: Int32, of p: Int) {
        stamps += 1
        var rank = RunPriority.last
        for lane in products[p].keys[Int(k)].lanes { if let top = lane.heap.min { rank = min(rank, top.rank) } }
        products[p].keys[Int(k)].stamp = stamps
        products[p].keys[Int(k)].turnRank = rank
        products[p].keys[Int(k)].inTurn = true
        products[p].keyTurns.insert(KeyTurn(rank: rank, pass: products[p].keys[Int(k)].pass, stamp: stamps, key: k))
    }

    /// A product's tier in the turn order: 0 while it has urgent work queued; under priority over
    /// fairness, its most urgent run priority queued; otherwise the default, 3.
    func tier(of p: Int) -> UInt8 {
        if products[p].ranks[Int(RunPriority.urgent)] > 0 { return RunPriority.urgent }
        guard products[p].policy.priorityOverFairness == 1 else { return RunPriority.normal }
        for rank in RunPriority.first...RunPriority.last where products[p].ranks[Int(rank)] > 0 { return rank }
        return RunPriority.normal
    }

    func weight(of policy: ProductPolicy) -> Double { Double(max(1, policy.weight)) }

    // MARK: - Names

    /// The product a task is queued under: its own, or the one queue of FIFO mode.
    func lane(_ product: String) -> String { isFair ? product : "" }

    mutating func slot(of product: String) -> Int32 {
        if let i = index[product] { return i }
        let i = Int32(products.count)
        products.append(Product(name: product, policy: ProductPolicy(product: product)))
        index[product] = i
        return i
    }

    mutating func keySlot(_ key: String, in p: Int) -> Int32 {
        if let k = products[p].keyIndex[key] { return k }
        let k = Int32(products[p].keys.count)
        products[p].keys.append(KeyQueue(name: key, weight: Double(products[p].policy.weight(ofKey: key))))
        products[p].keyIndex[key] = k
        return k
    }

    private mutating func kindID(_ kind: Kind) -> Int {
        if let id = kindIndex[kind] { return id }
        kinds.append(kind)
        kindIndex[kind] = kinds.count - 1
        return kinds.count - 1
    }
}

extension ProductPolicy {
    /// The policy in words, for the audit log and CONTROL-RESULT: `weight 3, cap 20, rate 36000/h, burst 50`.
    public var summary: String {
        var words = "weight \(weight), cap \(cap == 0 ? "none" : String(cap)), rate \(rate == 0 ? "none" : "\(rate)/h"), "
            + "burst \(burst == 0 ? "default" : String(burst))"
        if priorityOverFairness == 1 { words += ", priority over fairness" }
        if !keyWeights.isEmpty { words += ", key weights " + keyWeights.map { "\($0.key)=\($0.weight)" }.joined(separator: " ") }
        return words
    }
}
