import Wire

extension FairQueue {
    func burst(of policy: ProductPolicy) -> Double {
        policy.burst > 0 ? Double(policy.burst) : max(1, Double(policy.rate) / 3600)
    }

    /// Adds the tokens earned since the last refill, up to the burst.
    mutating func refill(_ p: Int, now: Timestamp) {
        let policy = products[p].policy
        if products[p].refilled == .zero {
            products[p].tokens = burst(of: policy)
        } else {
            let earned = Double(now.since(products[p].refilled)) * Double(policy.rate) / 3_600_000
            products[p].tokens = min(burst(of: policy), products[p].tokens + earned)
        }
        products[p].refilled = now
    }

    /// Takes product `i` out of the turn order until its next token is due.
    mutating func throttle(_ i: Int32, now: Timestamp) {
        let p = Int(i)
        products[p].state = .throttled
        let perMillisecond = Double(products[p].policy.rate) / 3_600_000
        let wait = Int64((1 - products[p].tokens) / perMillisecond) + 1
        stamps += 1
        products[p].stamp = stamps
        throttled.insert(Due(time: now.milliseconds + max(1, wait), stamp: stamps, product: i))
    }

    /// Puts back in turn the throttled products whose token is due.
    mutating func releaseThrottled(now: Timestamp) {
        while let due = throttled.min, due.time <= now.milliseconds {
            _ = throttled.popMin()
            let p = Int(due.product)
            guard products[p].stamp == due.stamp, products[p].state == .throttled else { continue }
            activate(due.product, now: now)
        }
    }

    /// The earliest time a throttled product gets a token back, if any is throttled.
    public var nextRelease: Timestamp? {
        throttled.min.map { Timestamp(milliseconds: $0.time) }
    }
}
