import Synchronization

/// What a service counts that tests and operators may ask about, readable from any thread.
public final class ServiceCounters: Sendable {
    private let malformedCount = Atomic<Int>(0)
    private let starvingCount = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)

    public init() {}

    /// Frames dropped because they were malformed, of another version, or unexpected.
    public var malformed: Int { malformedCount.load(ordering: .relaxed) }

    /// A shard's starving episodes: products found waiting far past their own expected wait.
    public var starving: Int { starvingCount.load(ordering: .relaxed) }

    /// Messages and subscriptions refused because of who sent them: a connection no ZAP handler
    /// approved, a key no longer trusted, or a kind of message its role may not send there.
    public var refused: Int { refusedCount.load(ordering: .relaxed) }

    func countMalformed() { malformedCount.add(1, ordering: .relaxed) }

    func countRefused(_ messages: Int = 1) { refusedCount.add(messages, ordering: .relaxed) }

    func countStarving(_ episodes: Int) { starvingCount.add(episodes, ordering: .relaxed) }
}
