import Wire

/// A product found starving: served before the turn order, and reported.
public struct StarvationReport: Equatable, Sendable {
    public var product: String
    /// How long it had waited to be served, and what its share made it expect, in milliseconds.
    public var waited: Int64
    public var expected: Int64
}

extension FairQueue {
    /// Every `checkInterval`, marks starving the products in turn that have waited to be served more than
    /// `starvation` times their own expected wait, and at least `starvationFloor` milliseconds, or more than
    /// `starvationCeiling` milliseconds whatever their share says, the longest waiting first. A product waits from when it was last served, or from when its work arrived: a
    /// product served at its share is never starving, however long its backlog, so a flood cannot raise
    /// the bar for the others.
    ///
    /// A product's expected wait between two of its tasks is 1 / (r × f): r is the rate at which the shard
    /// handed tasks out recently (the sliding window of the last `handoutWindow` hand-outs), and f the
    /// product's fraction of those hand-outs at its share, its weight over the cost of its tasks against
    /// the same of every product in turn. Weights, costs, caps on others or tags that go wrong cannot
    /// leave a product waiting for ever: the guard serves it first, once, and counts the episode.
    mutating func findStarving(now: Timestamp) {
        lastCheck = now
        guard let rate = handouts.rate(now: now.milliseconds), rate > 0 else { return }
        let typical = max(1, allCosts.mean)
        var total = 0.0
        for product in products where product.state == .ready {
            total += weight(of: product.policy) / (product.lastCost ?? typical)
        }
        guard total > 0 else { return }
        var found: [StarvationReport] = []
        var marked: [(wait: Int64, product: Int32)] = []
        for p in products.indices where products[p].state == .ready && !products[p].starving {
            let fraction = weight(of: products[p].policy) / (products[p].lastCost ?? typical) / total
            let expected = 1 / (rate * fraction)
            let bound = min(max(Double(tuning.starvationFloor), Double(tuning.starvation) * expected), Double(tuning.starvationCeiling))
            let waited = now.milliseconds - products[p].waitingSince
            guard Double(waited) > bound, passedOver(Int32(p)) else { continue }
            marked.append((waited, Int32(p)))
            found.append(StarvationReport(product: products[p].name, waited: waited, expected: Int64(min(expected, 1e15).rounded(.up))))
        }
        guard !marked.isEmpty else { return }
        for (_, i) in marked.sorted(by: { $0.wait > $1.wait }) {
            products[Int(i)].starving = true
            starving.append(i)
        }
        starvationEpisodes += found.count
        starvationReports += found
    }

    /// Whether another product was served since product `i` began to wait: one waiting only for slots its
    /// own tasks hold, or that no one's tasks free, is kept waiting by no one (found by an explorer: a product
    /// alone on its shard was reported starving behind its own long tasks, after a burst of short ones had
    /// set its expected wait at milliseconds).
    func passedOver(_ i: Int32) -> Bool {
        let other = lastServed.product != i ? lastServed : lastServedOther
        return other.product >= 0 && other.time > products[Int(i)].waitingSince
    }

    /// Whether a product is being served first because it was starving.
    public func isStarving(_ product: String) -> Bool { index[product].map { products[Int($0)].starving } ?? false }

    /// The starving episodes found since the last call, to log.
    public mutating func takeStarvationReports() -> [StarvationReport] {
        defer { starvationReports = [] }
        return starvationReports
    }
}
