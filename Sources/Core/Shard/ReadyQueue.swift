/// The tasks a shard can hand out now, grouped by product and by what they require of a worker.
///
/// Products take turns: each task handed out comes from the next product, round robin, that has a
/// task the asking worker can run, so a product with a deep backlog cannot hold back the others.
/// Within a product, higher priority first, then older first.
///
/// Removal is lazy: a task that stops being pending (cancelled, say) stays in its heap until it
/// reaches the top, where `select` skips it.
public struct ReadyQueue: Sendable {
    struct Entry: Comparable, Sendable {
        var priority: Int16
        var order: UInt64
        var task: UInt64

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
            return lhs.order < rhs.order
        }
    }

    private var heaps: [String: [Requirement: MinHeap<Entry>]] = [:]
    /// Products with queued entries, in turn order.
    private var products: [String] = []
    private var turn = 0
    /// Entries held, including lazily removed ones.
    public private(set) var count = 0

    public init() {}

    /// Queues tasks of one product, requirement and priority, given as (task, order) pairs.
    public mutating func enqueue(_ tasks: [(task: UInt64, order: UInt64)], product: String, requirement: Requirement, priority: Int16) {
        guard !tasks.isEmpty else { return }
        if heaps[product] == nil {
            heaps[product] = [:]
            products.append(product)
        }
        var heap = heaps[product]!.removeValue(forKey: requirement) ?? MinHeap()
        for (task, order) in tasks { heap.insert(Entry(priority: priority, order: order, task: task)) }
        heaps[product]![requirement] = heap
        count += tasks.count
    }

    /// Takes up to `limit` tasks that a worker with `capabilities` can run, skipping entries for which
    /// `isPending` is false.
    public mutating func select(
        limit: Int, capabilities: Capabilities, isPending: (UInt64) -> Bool
    ) -> [UInt64] {
        var selected: [UInt64] = []
        var idleTurns = 0
        while selected.count < limit && !products.isEmpty && idleTurns < products.count {
            turn %= products.count
            let product = products[turn]
            if let task = popBest(product: product, capabilities: capabilities, isPending: isPending) {
                selected.append(task)
                idleTurns = 0
            } else {
                idleTurns += 1
            }
            if heaps[product]!.isEmpty {
                heaps[product] = nil
                products.remove(at: turn)
            } else {
                turn += 1
            }
        }
        return selected
    }

    /// Roughly how many queued tasks a worker with `capabilities` could run (entries removed lazily count).
    public func work(for capabilities: Capabilities) -> Int {
        var total = 0
        for classes in heaps.values {
            for (requirement, heap) in classes where capabilities.satisfy(requirement) { total += heap.count }
        }
        return total
    }

    /// The best pending task of `product` that the worker can run.
    private mutating func popBest(product: String, capabilities: Capabilities, isPending: (UInt64) -> Bool) -> UInt64? {
        while true {
            var best: (Requirement, Entry)?
            for (requirement, heap) in heaps[product]! where capabilities.satisfy(requirement) {
                if let top = heap.min, best == nil || top < best!.1 { best = (requirement, top) }
            }
            guard let (requirement, entry) = best else { return nil }
            _ = heaps[product]![requirement]!.popMin()
            count -= 1
            if heaps[product]![requirement]!.isEmpty { heaps[product]![requirement] = nil }
            if isPending(entry.task) { return entry.task }
        }
    }
}
