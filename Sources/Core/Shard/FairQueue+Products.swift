/// Work and demand for a worker limited to some products (``WorkerCredentials/products``): what it is
/// told of (DEMAND) counts only their tasks. Fair mode keeps each product's tasks apart, and counts
/// theirs alone; FIFO mode, whose one queue holds every product's tasks, asks `isAllowed` of each entry
/// the worker could run, so its cost grows with the queue: it is paid at most once per worker and
/// heartbeat for a DEMAND, and ``hasWork(for:products:isAllowed:)`` stops at the first such entry.
///
/// FIFO mode's selection for such a worker likewise reads past the other products' tasks ahead of its
/// own. When it finds nothing, it is not read again for a worker limited to the same products, with the
/// same capabilities, until one of those products has tasks queued: an idle pool of its own products
/// costs nothing while the others' work waits.
extension FairQueue {
    /// Workers limited to some products, with some capabilities: a FIFO selection for them found nothing.
    struct Barren: Hashable, Sendable {
        var products: Set<String>
        var capabilities: Capabilities
    }

    /// FIFO mode: notes that tasks of `product` were queued, which a worker limited to it may now find.
    mutating func noteQueued(_ product: String) {
        queueings += 1
        lastQueued[product] = queueings
    }

    /// FIFO mode: whether the last selection for a worker limited to `products`, with `capabilities`,
    /// found nothing, and none of those products has had tasks queued since. Nothing else makes a task
    /// the worker may run pending: a run resumed queues its tasks again.
    func isBarren(_ products: Set<String>, for capabilities: Capabilities) -> Bool {
        guard let since = barren[Barren(products: products, capabilities: capabilities)] else { return false }
        return !products.contains { (lastQueued[$0] ?? 0) > since }
    }

    /// FIFO mode: notes what a selection for a worker limited to `products` found. The workers found
    /// nothing for are kept by their products and capabilities, a few hundred at most.
    mutating func noteSelection(for products: Set<String>, _ capabilities: Capabilities, found: Bool) {
        let key = Barren(products: products, capabilities: capabilities)
        if found {
            barren[key] = nil
            return
        }
        if barren.count >= 256 { barren.removeAll(keepingCapacity: true) }
        barren[key] = queueings
    }

    /// Roughly how many queued tasks a worker with `capabilities`, that may run only tasks of `products`
    /// (any, if nil), could run (entries removed lazily count). `isAllowed` tells whether a task is of one
    /// of those products.
    public func work(
        for capabilities: Capabilities, products allowed: Set<String>?, isAllowed: (_ task: UInt64) -> Bool
    ) -> Int {
        guard let allowed else { return work(for: capabilities) }
        return count(for: capabilities, products: allowed, upTo: .max, isAllowed: isAllowed)
    }

    /// Whether a worker with `capabilities`, that may run only tasks of `products` (any, if nil), could run
    /// any queued task: ``work(for:products:isAllowed:)`` above 0, found without counting them all.
    public func hasWork(
        for capabilities: Capabilities, products allowed: Set<String>?, isAllowed: (_ task: UInt64) -> Bool
    ) -> Bool {
        guard let allowed else { return work(for: capabilities) > 0 }
        return count(for: capabilities, products: allowed, upTo: 1, isAllowed: isAllowed) > 0
    }

    /// The share of a worker's time this shard asks for (``demandWeight(for:)``), for a worker that may
    /// run only tasks of `products` (any, if nil): of those products alone. `isAllowed` tells whether a
    /// task is of one of them.
    public func demandWeight(
        for capabilities: Capabilities, products allowed: Set<String>?, isAllowed: (_ task: UInt64) -> Bool
    ) -> UInt32 {
        guard let allowed else { return demandWeight(for: capabilities) }
        let eligible = eligibility(for: capabilities)
        var total: UInt64 = 0
        if isFair {
            for name in allowed {
                guard let i = index[name] else { continue }
                let product = products[Int(i)]
                guard product.queued > 0, product.state == .ready else { continue }
                let runnable = product.keys.contains { key in
                    key.inUse && key.lanes.contains { eligible[$0.kind] && !$0.heap.isEmpty }
                }
                if runnable { total += UInt64(weight(of: product.policy)) }
            }
        } else {
            for product in products where product.queued > 0 && product.state == .ready {
                let runnable = product.keys.contains { key in
                    key.inUse
                        && key.lanes.contains { lane in eligible[lane.kind] && lane.heap.unordered.contains { isAllowed($0.task) } }
                }
                if runnable { total += UInt64(weight(of: product.policy)) }
            }
        }
        return UInt32(min(total, UInt64(UInt32.max)))
    }

    /// The queued tasks of `allowed` a worker with `capabilities` could run, counted up to `limit`.
    private func count(
        for capabilities: Capabilities, products allowed: Set<String>, upTo limit: Int, isAllowed: (UInt64) -> Bool
    ) -> Int {
        let eligible = eligibility(for: capabilities)
        var total = 0
        if isFair {
            for name in allowed {
                guard let i = index[name] else { continue }
                for key in products[Int(i)].keys where key.inUse {
                    for lane in key.lanes where eligible[lane.kind] {
                        total += lane.heap.count
                        if total >= limit { return total }
                    }
                }
            }
        } else {
            for product in products {
                for key in product.keys where key.inUse {
                    for lane in key.lanes where eligible[lane.kind] {
                        for entry in lane.heap.unordered where isAllowed(entry.task) {
                            total += 1
                            if total >= limit { return total }
                        }
                    }
                }
            }
        }
        return total
    }
}
