public import Wire

/// Where a service sends a message. Every core answers through this one shape: a turn's deliveries, in
/// order, which its service's loop sends after the turn's commit.
public enum Destination: Hashable, Sendable {
    /// A peer of the service's bound ROUTER (a worker, a client, management, the orchestrator), which
    /// spoke first.
    case peer(Peer)
    /// The service's own event stream (PUB): JOB-UPDATES and RUN-UPDATES are logged with the commit and
    /// published from the store's frame; this carries the BEACON of an idle publisher.
    case stream
    /// A shard's `submit` PULL (the orchestrator's SUBMIT).
    case submissions(shard: UInt32)
    /// A shard's `work` ROUTER (the orchestrator's CONTROL and FETCH).
    case shard(UInt32)
    /// The orchestrator's `ops` ROUTER (management's OPERATION-REQUEST, RUN-QUERY and FETCH).
    case orchestrator
    /// Management's `api` ROUTER (the timer's API-REQUEST).
    case management
    /// The shard of one of a worker's links.
    case link(Int)
}

/// One message a turn sends, and where.
public struct Delivery: Equatable, Sendable {
    public var destination: Destination
    public var message: Message

    public init(_ message: Message, to destination: Destination) {
        self.destination = destination
        self.message = message
    }
}

/// What one turn of a service's core produced: rows to commit, and then, in order, the messages to send.
public protocol ServiceTurn: Sendable {
    /// Whether the turn has rows to commit.
    var needsCommit: Bool { get }
    /// The messages to send once the rows are committed, in the order to send them.
    var deliveries: [Delivery] { get }
}
