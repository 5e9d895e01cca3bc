public import Core
import Synchronization

/// What a service counts that tests and operators may ask about, readable from any thread.
public final class ServiceCounters: Sendable {
    private let malformedCount = Atomic<Int>(0)
    private let starvingCount = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)

    /// Who waits for the service's metrics, and how to wake its loop to answer them.
    private let metricRequests = Mutex(MetricRequests())

    struct MetricRequests {
        var waiting: [@Sendable (Metrics) -> Void] = []
        var doorbell: Doorbell?
    }

    public init() {}

    /// Asks the service's loop for its metrics, delivered from the loop's thread after its current turn;
    /// at once, empty, if the service is not running.
    public func collectMetrics(_ deliver: @escaping @Sendable (Metrics) -> Void) {
        let doorbell = metricRequests.withLock { requests -> Doorbell? in
            guard let doorbell = requests.doorbell else { return nil }
            requests.waiting.append(deliver)
            return doorbell
        }
        guard let doorbell else { return deliver(Metrics()) }
        doorbell.ring()
    }

    /// The loop takes requests from now on, waking through `doorbell`.
    func attach(_ doorbell: Doorbell) { metricRequests.withLock { $0.doorbell = doorbell } }

    /// The requests waiting, for the loop to answer.
    func takeMetricRequests() -> [@Sendable (Metrics) -> Void] {
        metricRequests.withLock { requests in
            defer { requests.waiting = [] }
            return requests.waiting
        }
    }

    /// The loop has stopped: those waiting get empty metrics, and later requests too.
    func detach() {
        let waiting = metricRequests.withLock { requests in
            requests.doorbell = nil
            defer { requests.waiting = [] }
            return requests.waiting
        }
        for deliver in waiting { deliver(Metrics()) }
    }

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
