/// A worker's settings.
public struct WorkerConfiguration: Sendable {
    /// The worker's logical name, stable across restarts (`host/pool/n`).
    public var name: String
    /// How many attempts it runs at once.
    public var slots: Int
    /// The heartbeat interval it asks for, in milliseconds.
    public var heartbeat = Defaults.heartbeat
    /// Its capability tags.
    public var tags: [String] = []
    /// The handlers registered in it.
    public var handlers: [String] = []
    /// Whether it runs commands.
    public var commands = true
    /// The handlers that take tasks as sets, with the most tasks in one set (at least 2).
    public var sets: [String: Int] = [:]
    /// How many shards it connects to.
    public var shards: Int
    /// The time between SIGTERM and SIGKILL for an attempt past its timeout, in milliseconds.
    public var killGrace: Int64 = 5000
    /// The longest wait between reconnections to a shard that does not answer, in milliseconds
    /// (``reconnectBackoff(heartbeat:)``).
    public var maximumBackoff: Int64 = 8000

    public init(name: String, slots: Int, shards: Int) {
        precondition(slots > 0 && shards > 0, "a worker needs slots and shards")
        self.name = name
        self.slots = slots
        self.shards = shards
    }

    /// How a link whose heartbeat interval is `heartbeat` waits between reconnections while its shard does
    /// not answer: from one interval, doubling, up to ``maximumBackoff``.
    public func reconnectBackoff(heartbeat: Int64) -> ResendPolicy {
        ResendPolicy(initial: max(1, heartbeat), maximum: maximumBackoff)
    }
}
