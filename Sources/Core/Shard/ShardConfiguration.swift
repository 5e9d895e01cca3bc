import Wire

/// A shard's settings: its identity and the terms it gives workers.
public struct ShardConfiguration: Sendable {
    /// The shard's ID; it publishes as `shard-<id>`.
    public var shard: UInt32
    /// The heartbeat interval used when a worker asks for none, and the bounds of what it may ask.
    public var heartbeat = Defaults.heartbeat
    public var heartbeatRange: ClosedRange<UInt32> = 100...60_000
    /// Silent intervals after which a worker is dead.
    public var liveness = Defaults.liveness
    /// The largest result a task may commit, in octets.
    public var resultLimit: UInt32 = 1 << 20
    /// Losses after which a task fails instead of being queued again.
    public var maximumLosses: UInt16 = 10
    /// How long a publisher may be idle before it sends BEACON, in milliseconds.
    public var beaconInterval: Int64 = 1000
    /// The most octets of statuses in one JOB-UPDATES (``JobUpdates/statusBudget``); a turn that changed
    /// more sends several.
    public var statusBudget = JobUpdates.statusBudget
    /// How the shard chooses among products with work waiting.
    public var fairness: Fairness = .fair
    /// The sliding windows of fair selection: recent run times per product and job type, and the times
    /// of recent hand-outs (for the rate at which slots come free).
    public var costWindow = 64
    public var handoutWindow = 1024
    /// A product is starving when it has waited to be served more than `starvation` times its own
    /// expected wait, from its share and the recent rate of hand-outs, and at least `starvationFloor`
    /// milliseconds; and, whatever its share, once it has waited `starvationCeiling` milliseconds.
    public var starvation: Int64 = 10
    public var starvationFloor: Int64 = 1000
    public var starvationCeiling: Int64 = 60_000
    /// Free slots held back for products under their fair share: a product running at or over its
    /// share takes a slot only while more than `headroom` are free, so that a product coming back
    /// after a pause finds one at once (0: none). A product counts as active, and so has a share,
    /// while it has work queued or running and for `headroomWindow` milliseconds after.
    public var headroom = Defaults.headroom
    public var headroomWindow: Int64 = 10_000
    /// The seed of the jitter generator.
    public var seed: UInt64 = 0x5EED

    public init(shard: UInt32) { self.shard = shard }

    /// The name this shard publishes under.
    public var publisher: String { StreamNames.shard(shard) }
}

/// How a shard chooses among products with work waiting.
public enum Fairness: String, Sendable, CaseIterable {
    /// Weighted fair share of worker time, each task charged its job type's recent run time, with
    /// per-product caps and rate limits, and starving products served first.
    case fair
    /// One queue for all products, by priority and then arrival: no shares, caps or rate limits. The
    /// baseline fair selection is measured against.
    case fifo
}
