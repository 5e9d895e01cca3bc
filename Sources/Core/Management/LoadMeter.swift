/// The load each product puts on its shard, as management measures it: how many of its jobs ended
/// (succeeded or failed) in each 20-second bucket of the last 10 minutes. New products go to the shard
/// whose products ended the fewest jobs a second, and `baton rebalance` plans moves from the same
/// figures. Each bucket that changes is stored with the turn (``takeChanges()``), so a restart of
/// management goes on from the window as it was, not from nothing.
public struct LoadMeter: Sendable {
    /// One product's jobs ended in one bucket, as the store keeps it.
    public struct Bucket: Equatable, Sendable {
        public var product: String
        /// The bucket's index in time: its start over ``LoadMeter/bucket``.
        public var index: Int64
        public var jobs: UInt32

        public init(product: String, index: Int64, jobs: UInt32) {
            self.product = product
            self.index = index
            self.jobs = jobs
        }
    }

    public static let bucket: Int64 = 20_000
    public static let buckets = 30

    /// Each product's buckets, by their index in time (`time / bucket`), in a ring.
    private var rings: [String: [(index: Int64, jobs: UInt32)]] = [:]
    /// When measuring began: a window shorter than 10 minutes counts from there.
    private let since: Int64
    /// Products whose current bucket changed since the last ``takeChanges()``.
    private var changed: Set<String> = []

    public init(since: Timestamp) { self.since = since.milliseconds }

    /// A meter going on from the buckets a store kept: those still in the window at `now` count, and the
    /// window reaches back to the oldest of them.
    public init(restoring buckets: [Bucket], now: Timestamp) {
        let current = now.milliseconds / Self.bucket
        let kept = buckets.filter { $0.index > current - Int64(Self.buckets) && $0.index <= current }
        since = min(now.milliseconds, (kept.map(\.index).min() ?? current + 1) * Self.bucket)
        for bucket in kept {
            var ring = rings[bucket.product] ?? Array(repeating: (-1, 0), count: Self.buckets)
            ring[Int(bucket.index % Int64(Self.buckets))] = (bucket.index, bucket.jobs)
            rings[bucket.product] = ring
        }
    }

    /// The buckets changed since the last call, to store.
    public mutating func takeChanges() -> [Bucket] {
        defer { changed = [] }
        return changed.sorted().compactMap { product in
            guard let ring = rings[product], let latest = ring.max(by: { $0.index < $1.index }), latest.index >= 0 else { return nil }
            return Bucket(product: product, index: latest.index, jobs: latest.jobs)
        }
    }

    /// `jobs` of `product` ended at `now`.
    public mutating func ended(_ jobs: Int, of product: String, now: Timestamp) {
        guard jobs > 0 else { return }
        let index = now.milliseconds / Self.bucket
        var ring = rings[product] ?? Array(repeating: (-1, 0), count: Self.buckets)
        let slot = Int(index % Int64(Self.buckets))
        if ring[slot].index != index { ring[slot] = (index, 0) }
        ring[slot].jobs = ring[slot].jobs &+ UInt32(clamping: jobs)
        rings[product] = ring
        changed.insert(product)
    }

    /// Jobs a second `product` ended over the window up to `now`.
    public func rate(of product: String, now: Timestamp) -> Double {
        guard let ring = rings[product] else { return 0 }
        let current = now.milliseconds / Self.bucket
        let jobs = ring.reduce(0) { $0 + ($1.index > current - Int64(Self.buckets) && $1.index <= current ? Int($1.jobs) : 0) }
        let window = min(Self.bucket * Int64(Self.buckets), max(1_000, now.milliseconds - since))
        return Double(jobs) * 1000 / Double(window)
    }
}
