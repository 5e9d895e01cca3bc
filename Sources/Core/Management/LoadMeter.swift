/// The load each product puts on its shard, as management measures it: how many of its jobs ended
/// (succeeded or failed) in each 20-second bucket of the last 10 minutes. New products go to the shard
/// whose products ended the fewest jobs a second, and `baton rebalance` plans moves from the same
/// figures. Memory only: after a restart the window fills again.
public struct LoadMeter: Sendable {
    public static let bucket: Int64 = 20_000
    public static let buckets = 30

    /// Each product's buckets, by their index in time (`time / bucket`), in a ring.
    private var rings: [String: [(index: Int64, jobs: UInt32)]] = [:]
    /// When measuring began: a window shorter than 10 minutes counts from there.
    private let since: Int64

    public init(since: Timestamp) { self.since = since.milliseconds }

    /// `jobs` of `product` ended at `now`.
    public mutating func ended(_ jobs: Int, of product: String, now: Timestamp) {
        guard jobs > 0 else { return }
        let index = now.milliseconds / Self.bucket
        var ring = rings[product] ?? Array(repeating: (-1, 0), count: Self.buckets)
        let slot = Int(index % Int64(Self.buckets))
        if ring[slot].index != index { ring[slot] = (index, 0) }
        ring[slot].jobs = ring[slot].jobs &+ UInt32(clamping: jobs)
        rings[product] = ring
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
