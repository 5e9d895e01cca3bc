/// The shard's sliding window of recent hand-outs (US9268605's tracking of in-flight and recent jobs):
/// when each task was leased, of which product, and how long it had waited. It answers each product's
/// recent waits (p50, p99) and its rate of hand-outs, from which ``ShardCore`` estimates when queued
/// tasks will start.
///
/// Bounded: the last ``span`` milliseconds, and at most ``capacity`` hand-outs (at a higher rate the
/// window is shorter).
struct WaitWindow: Sendable {
    static let span: Int64 = 300_000
    static let capacity = 50_000

    private var times: [Int64] = []
    private var products: [Int32] = []
    private var waits: [Int64] = []
    /// The oldest entry still held.
    private var start = 0

    mutating func leased(at time: Int64, product: Int32, waited: Int64) {
        times.append(time)
        products.append(product)
        waits.append(waited)
        if times.count - start > Self.capacity { start += 1 }
        // Drops what has left the window, in bulk, so that a hand-out costs a constant time on average.
        if start > 4096, start * 2 > times.count {
            times.removeFirst(start)
            products.removeFirst(start)
            waits.removeFirst(start)
            start = 0
        }
    }

    /// The index of the first entry at or after `time`.
    private func first(since time: Int64) -> Int {
        var low = start
        var high = times.count
        while low < high {
            let middle = (low + high) / 2
            if times[middle] < time { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Every product's waits in the window up to `now`, each sorted: one pass for all products.
    func waitsByProduct(now: Int64) -> [Int32: [Int64]] {
        var found: [Int32: [Int64]] = [:]
        for index in first(since: now - Self.span)..<times.count { found[products[index], default: []].append(waits[index]) }
        return found.mapValues { $0.sorted() }
    }

    /// Hand-outs per millisecond over the last `milliseconds` up to `now`, of every product together and of
    /// each: one pass for all products. Each is counted from its first hand-out in that time (at least a
    /// second before now), not over the whole of it: work that began 10 s ago after a quiet minute goes
    /// at the pace of those 10 s (found by an operator: estimates 3 to 65 times too long after a lull).
    func rates(over milliseconds: Int64 = 60_000, now: Int64) -> (shard: Double, byProduct: [Int32: Double]) {
        let from = first(since: now - milliseconds)
        guard from < times.count else { return (0, [:]) }
        var counts: [Int32: (count: Int, first: Int64)] = [:]
        for index in from..<times.count { counts[products[index], default: (0, times[index])].count += 1 }
        func covered(since first: Int64) -> Double { Double(min(milliseconds, max(1000, now - first))) }
        return (Double(times.count - from) / covered(since: times[from]), counts.mapValues { Double($0.count) / covered(since: $0.first) })
    }
}

extension Array where Element == Int64 {
    /// The value at `fraction` of a sorted array (nearest rank); nil if empty.
    func percentile(_ fraction: Double) -> Int64? {
        guard !isEmpty else { return nil }
        let rank = Int((Double(count) * fraction).rounded(.up))
        return self[Swift.max(0, Swift.min(count - 1, rank - 1))]
    }
}
