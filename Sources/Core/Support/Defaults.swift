/// The defaults of settings that more than one place needs — the cores, the cluster file and
/// `baton dev` — each written once, here.
public enum Defaults {
    /// How often workers and shards beat when quiet, in milliseconds.
    public static let heartbeat: UInt32 = 1000
    /// Heartbeat intervals without a word after which a peer is taken for dead.
    public static let liveness: UInt8 = 3
    /// Free worker slots a shard holds back for products under their fair share.
    public static let headroom = 0
    /// Tasks a worker runs at once.
    public static let slots = 4
    /// How long a stopping worker lets its running attempts finish, in milliseconds.
    public static let drain: Int64 = 30_000
    /// How late a firing may be and still count as on time, in milliseconds.
    public static let timerGrace: Int64 = 60_000
    /// How long what has finished (runs and their firings) is kept, and the audit log, in milliseconds.
    public static let retention: Int64 = 30 * 86_400_000
    public static let auditRetention: Int64 = 400 * 86_400_000
    /// How long a publisher's event log keeps every message (beyond its last 100,000), in milliseconds.
    public static let eventRetention: Int64 = 24 * 3_600_000
    /// The most a publisher's event log keeps, in octets: beyond it the oldest messages go first,
    /// whatever their age or count.
    public static let eventLogSize: Int64 = 4 << 30
}
