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
/// work the asking worker cannot run, that is held back (headroom, its types not yet measured), or whose
/// tier counts work the worker cannot be given. Once per selection that needs it, the probe limit or the
/// max-min level walks the products; so do the starvation check (every `checkInterval`) and the weight a
/// DEMAND asks for (at most once per worker and heartbeat). A worker limited to some products takes turns
/// among those alone, at no cost for the others; in FIFO mode it passes over the other products' tasks
/// ahead of its own, one visit each, and so does what it is told of (`FairQueue+Products.swift`). A
/// task's correction when it ends moves its product's pass at once and its place in turn when it next
/// comes up. Removal is lazy: a task that stops being pending stays queued until it reaches the head of
/// its queue, where the selection drops it. Each time a task is queued it comes with a new ticket, and
/// only the entry with its task's current ticket is live: a task queued again while an older entry of it
/// waits (a run resumed, a retry due) leaves that entry stale, so one selection can never return the same
/// task twice.
public struct FairQueue: Sendable {
    /// A queued task: 24 octets.
    struct Entry: Comparable, Sendable {
        /// Its run's priority: 0 urgent, then 1 (first) to 5.
        var runPriority: UInt8
        /// Its job's priority in its flow: higher first.
        var priority: Int16
        /// Which queueing of its task this entry is: only the task's current one is live.
        var ticket: UInt32
        var order: UInt64
        var task: UInt64

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            if lhs.runPriority != rhs.runPriority { return lhs.runPriority < rhs.runPriority }
            if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
            return lhs.order < rhs.order
        }
    }

    /// An entry set aside during a selection, for a worker that may not run its product (FIFO mode), with
    /// where it goes back.
    struct Parked: Sendable {
        var product: Int32
        var key: Int32
        var kind: Int
        var window: Int32
        var entry: Entry
    }

    /// Tasks of one fairness key of one product that need the same of a worker and are of one job type.
    struct Lane: Sendable {
        var kind: Int
        /// The cost window of its product and job type.
        var window: Int32
        var heap = LaneEntries()
    }

    /// What the requirement, job type and batch size of a lane are; lanes of all products share these.
    struct Kind: Hashable, Sendable {
        var requirement: Requirement
        var type: String
        /// For command batches: the most tasks in one batch; 0 for none.
        var batchSize: Int
    }

    /// The tasks of one fairness key of a product, and the key's place among the product's keys.
    struct KeyQueue: Sendable {
        var name: String
        var weight: Double
        var lanes = Lanes()
        /// Entries queued, lazily removed ones included, and tasks running.
        var queued = 0
        var running = 0
        var pass = 0.0
        /// The stamp of its valid entry in the product's key order, and the run priority it went in with.
        var stamp: UInt64 = 0
        var turnPriority: UInt8 = 0
        var inTurn = false
        /// Whether the slot holds a key; a key with nothing queued or running gives its slot back.
        var inUse = true
    }

    /// A fairness key's place among its product's keys: the most urgent head first, then the lowest pass.
    struct KeyTurn: Comparable, Sendable {
        var runPriority: UInt8
        var pass: Double
        var stamp: UInt64
        var key: Int32
        static func < (lhs: KeyTurn, rhs: KeyTurn) -> Bool {
            (lhs.runPriority, lhs.pass, lhs.stamp) < (rhs.runPriority, rhs.pass, rhs.stamp)
        }
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
        var keysByName: [String: Int32] = [:]
        /// Slots of `keys` given back, to reuse.
        var freeKeys: [Int32] = []
        var keyTurns = MinHeap<KeyTurn>()
        /// The pass of the key served last: a key coming back from idle starts there.
        var keyClock = 0.0
        /// Entries queued, lazily removed ones included, all keys together and by run priority.
        var queued = 0
        var priorities = [Int](repeating: 0, count: Int(RunPriority.last) + 1)
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
        public var batchSize: Int
        /// The run priority (``RunPriority``) and the job's own priority.
        public var runPriority: UInt8
        public var priority: Int16

        public init(
            product: String, key: String = "", requirement: Requirement, type: String, batchSize: Int = 0,
            runPriority: UInt8 = RunPriority.normal, priority: Int16 = 0
        ) {
            self.product = product
            self.key = key
            self.requirement = requirement
            self.type = type
            self.batchSize = batchSize
            self.runPriority = runPriority
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
        /// The share of a slot it holds: 1, or 1/n in a set of n.
        var slot = 1.0
        /// For a task of a type with no result when it went out: its number among them (from 1), so that
        /// the first result can charge those still out at the cost it shows; 0 otherwise.
        var probe: UInt32 = 0
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
        public var headroom = Defaults.headroom
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
    var kindIndex: [Kind: Int] = [:]
    /// Slots of kinds and cost windows forgotten, to be given again, highest first: the lowest is given
    /// first (``forgetIdleTypes()``).
    var freeKinds: [Int] = []
    var freeWindows: [Int32] = []
    /// Kinds and cost windows held when they are next swept for idle ones.
    var sweepAt = FairQueue.minimumSweep
    /// The requirements of the kinds, each once (a shard sees few), and each kind's among them: what a
    /// worker can run is decided per requirement, not per kind, of which there is one per job type.
    var requirements: [Requirement] = []
    var requirementIndex: [Requirement: Int32] = [:]
    var requirementOfKind: [Int32] = []
    var turns = MinHeap<Turn>()
    var throttled = MinHeap<Due>()
    var stamps: UInt64 = 0
    /// The virtual time: the pass of the last product served (by a selection for a worker limited to some
    /// products, no further than the first product in turn).
    var clock = 0.0
    /// Recent run times by product and job type, and of all of them together.
    var windows: [SlidingWindow] = []
    var windowIndex: [CostKey: Int32] = [:]
    /// Each window's product and type (product -1 for a slot free), and the count of windows made when
    /// it was last used: made, or a result of it measured.
    var windowKeys: [CostKey] = []
    var windowLastUsed: [Int] = []
    /// Windows made since the shard started, slots given again included.
    var windowsMade = 0
    /// Slots held by each cost window's tasks out, and what its first tasks were charged (``Probe``).
    var inFlight: [Double] = []
    var probes: [Probe] = []
    var allCosts: SlidingWindow
    /// When the recent tasks were handed out, for the rate at which slots come free.
    var handouts: TimeWindow
    /// The last hand-out (when, and to which product), and the last to any other product than that one:
    /// whether a product waiting since a moment was passed over for another (``findStarving(now:)``).
    var lastServed: (time: Int64, product: Int32) = (0, -1)
    var lastServedOther: (time: Int64, product: Int32) = (0, -1)
    var starving: [Int32] = []
    var lastCheck = Timestamp.zero
    /// Starving episodes since the shard started, and those not yet taken by ``takeStarvationReports()``.
    public internal(set) var starvationEpisodes = 0
    var starvationReports: [StarvationReport] = []
    /// Queued entries by requirement (``requirements``' index), lazily removed ones included.
    var queuedByRequirement: [Int] = []
    /// Entries held, lazily removed ones included.
    public internal(set) var count = 0
    /// Entries in the turn order, stale ones included: at most about twice the products.
    public var turnEntries: Int { turns.count }
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
    /// Entries set aside during the current selection (``Standing/barred``); empty between selections.
    var parked: [Parked] = []
    /// FIFO mode: queueings so far, the count when each product last had tasks queued, and the workers
    /// limited to some products whose last selection found nothing, with the count then
    /// (``isBarren(_:for:)``).
    var queueings: UInt64 = 0
    var lastQueued: [String: UInt64] = [:]
    var barren: [Barren: UInt64] = [:]

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
        let i = productIndex(policy.product)
        let p = Int(i)
        if products[p].active { activeWeight += weight(of: policy) - weight(of: products[p].policy) }
        products[p].policy = policy
        products[p].tokens = min(products[p].tokens, burst(of: policy))
        for k in products[p].keys.indices { products[p].keys[k].weight = Double(policy.weight(ofKey: products[p].keys[k].name)) }
        // A product held back by the old terms goes back in turn; the selection holds it back again if
        // the new ones say so. One in turn goes in again at the tier the new terms give it.
        switch products[p].state {
        case .capped, .throttled: activate(i, now: now)
        case .ready: push(i)
        case .idle: break
        }
    }

    /// How many fairness keys' places a product holds, in use or free to reuse.
    public func keySlots(of product: String) -> Int { index[queueOwner(product)].map { products[Int($0)].keys.count } ?? 0 }

    /// How many of a product's tasks are running.
    public func running(_ product: String) -> Int { index[queueOwner(product)].map { products[Int($0)].running } ?? 0 }

    // MARK: - Queueing

    /// Queues tasks of one kind of work, given as (task, order, ticket): the ticket is the task's count of
    /// queueings, so that an older entry of it is known to be stale.
    public mutating func enqueue(_ tasks: [(task: UInt64, order: UInt64, ticket: UInt32)], as work: Work, now: Timestamp) {
        guard !tasks.isEmpty else { return }
        forgetIdleTypesIfDue()
        let i = productIndex(queueOwner(work.product))
        let p = Int(i)
        let k = Int(keyIndex(isFair ? work.key : "", in: p))
        let kind = kindID(Kind(requirement: work.requirement, type: work.type, batchSize: work.batchSize > 1 ? work.batchSize : 0))
        let at: Int
        if let lane = products[p].keys[k].lanes.lane(of: kind) {
            at = lane
        } else {
            let window = window(product: Int32(p), type: work.type)
            at = products[p].keys[k].lanes.lane(of: kind, window: window)
        }
        let runPriority = min(work.runPriority, RunPriority.last)
        for (task, order, ticket) in tasks {
            products[p].keys[k].lanes.insert(
                Entry(runPriority: runPriority, priority: work.priority, ticket: ticket, order: order, task: task), into: at)
        }
        products[p].keys[k].queued += tasks.count
        products[p].queued += tasks.count
        products[p].priorities[Int(runPriority)] += tasks.count
        noteBusy(p)
        if !isFair { noteQueued(work.product) }
        queuedByRequirement[Int(requirementOfKind[kind])] += tasks.count
        count += tasks.count
        if !products[p].keys[k].inTurn {
            products[p].keys[k].pass = max(products[p].keys[k].pass, products[p].keyClock)
            pushKey(Int32(k), of: p)
        } else if runPriority < products[p].keys[k].turnPriority {
            pushKey(Int32(k), of: p)
        }
        switch products[p].state {
        case .idle:
            activate(i, now: now)
        case .ready where tier(of: p) < products[p].turnTier:
            push(i)
        default:
            break
        }
    }

    /// Roughly how many queued tasks a worker with `capabilities` could run (entries removed lazily count).
    public func work(for capabilities: Capabilities) -> Int {
        var total = 0
        for (requirement, count) in queuedByRequirement.enumerated() where count > 0 && capabilities.satisfy(requirements[requirement]) {
            total += count
        }
        return total
    }

    /// The share of a worker's time this shard asks for, against the other shards it serves: the sum of
    /// the weights of the products that could take a task now (in turn, not at their cap or out of
    /// tokens) with tasks queued that a worker with `capabilities` could run; 0 when there are none, and
    /// then the shard has nothing to ask the worker for.
    public func demandWeight(for capabilities: Capabilities) -> UInt32 {
        let eligible = eligibility(for: capabilities)
        var total: UInt64 = 0
        for product in products where product.queued > 0 && product.state == .ready {
            let runnable = product.keys.contains { key in key.inUse && key.lanes.contains { eligible[$0.kind] && !$0.heap.isEmpty } }
            if runnable { total += UInt64(weight(of: product.policy)) }
        }
        return UInt32(min(total, UInt64(UInt32.max)))
    }

    func weight(of policy: ProductPolicy) -> Double { Double(max(1, policy.weight)) }

    // MARK: - Names

    /// The product a task is queued under: its own, or the one queue of FIFO mode.
    func queueOwner(_ product: String) -> String { isFair ? product : "" }

    /// The index of a product in `products`, made on first use.
    mutating func productIndex(_ product: String) -> Int32 {
        if let i = index[product] { return i }
        let i = Int32(products.count)
        products.append(Product(name: product, policy: ProductPolicy(product: product)))
        index[product] = i
        return i
    }

    /// The index of a fairness key among its product's, made on first use in a slot given back if any.
    mutating func keyIndex(_ key: String, in p: Int) -> Int32 {
        if let k = products[p].keysByName[key] { return k }
        let queue = KeyQueue(name: key, weight: Double(products[p].policy.weight(ofKey: key)))
        let k: Int32
        if let free = products[p].freeKeys.popLast() {
            k = free
            products[p].keys[Int(k)] = queue
        } else {
            k = Int32(products[p].keys.count)
            products[p].keys.append(queue)
            // Its second key: the first, kept out of the key order while alone, goes in.
            if k == 1, products[p].keys[0].inUse, products[p].keys[0].inTurn {
                let first = products[p].keys[0]
                products[p].keyTurns.insert(KeyTurn(runPriority: first.turnPriority, pass: first.pass, stamp: first.stamp, key: 0))
            }
        }
        products[p].keysByName[key] = k
        return k
    }

    /// Gives back the slot of a key with nothing queued or running: a product may have a key per
    /// customer, and most come and go. What the key had is lost, as a key coming back from idle would
    /// start at the product's current key pass anyway.
    mutating func reclaimKey(_ k: Int, of p: Int) {
        guard products[p].keys[k].inUse, products[p].keys[k].queued == 0, products[p].keys[k].running == 0 else { return }
        products[p].keysByName[products[p].keys[k].name] = nil
        products[p].keys[k] = KeyQueue(name: "", weight: 1, inTurn: false, inUse: false)
        products[p].freeKeys.append(Int32(k))
    }

    /// Which kinds a worker with `capabilities` can run.
    func eligibility(for capabilities: Capabilities) -> Eligibility {
        Eligibility(requirementOfKind: requirementOfKind, satisfied: requirements.map { capabilities.satisfy($0) })
    }

    /// Which kinds of work one worker can run, decided once per requirement.
    struct Eligibility {
        let requirementOfKind: [Int32]
        let satisfied: [Bool]
        subscript(kind: Int) -> Bool { satisfied[Int(requirementOfKind[kind])] }
    }

    private mutating func kindID(_ kind: Kind) -> Int {
        if let id = kindIndex[kind] { return id }
        if requirementIndex[kind.requirement] == nil {
            requirementIndex[kind.requirement] = Int32(requirements.count)
            requirements.append(kind.requirement)
            queuedByRequirement.append(0)
        }
        let requirement = requirementIndex[kind.requirement]!
        let id: Int
        if let free = freeKinds.popLast() {
            id = free
            kinds[id] = kind
            requirementOfKind[id] = requirement
        } else {
            id = kinds.count
            kinds.append(kind)
            requirementOfKind.append(requirement)
        }
        kindIndex[kind] = id
        return id
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
