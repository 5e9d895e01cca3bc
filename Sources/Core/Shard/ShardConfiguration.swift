/// A shard's settings: its identity and the terms it gives workers.
public struct ShardConfiguration: Sendable {
    /// The shard's ID; it publishes as `shard-<id>`.
    public var shard: UInt32
    /// The heartbeat interval used when a worker asks for none, and the bounds of what it may ask.
    public var heartbeat: UInt32 = 1000
    public var heartbeatRange: ClosedRange<UInt32> = 100...60_000
    /// Silent intervals after which a worker is dead.
    public var liveness: UInt8 = 3
    /// The largest result a task may commit, in octets.
    public var resultLimit: UInt32 = 1 << 20
    /// Losses after which a task fails instead of being queued again.
    public var maximumLosses: UInt16 = 10
    /// How long a publisher may be idle before it sends BEACON, in milliseconds.
    public var beaconInterval: Int64 = 1000
    /// The seed of the jitter generator.
    public var seed: UInt64 = 0x5EED

    public init(shard: UInt32) { self.shard = shard }

    /// The name this shard publishes under.
    public var publisher: String { "shard-\(shard)" }
}
