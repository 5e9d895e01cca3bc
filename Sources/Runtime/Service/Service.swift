import Core
import Wire

/// A service as ``ServiceLoop`` runs it: a declaration of its sockets, and its core and store behind a
/// few calls. The loop does the rest, the same way for every service: it opens the sockets, polls with
/// the core's next deadline, reads and decodes within a turn's budget, answers frames of another
/// protocol version and counts malformed ones, ends the turn (the service commits it), then carries out
/// what the turn asked, in order.
protocol Service {
    /// The service's name in logs: `shard-1`, `orchestrator`, `management`, `timer`, `worker`.
    var name: String { get }
    /// What it is, for a peer of another protocol version: `this shard speaks 1`.
    var kind: String { get }
    /// Its sockets, in the order the loop opens them (and numbers them from 0).
    var sockets: [SocketPlan] { get }
    /// How much one turn reads before it ends: messages, each weighed by ``weight(of:)``.
    var turnBudget: Int { get }

    /// What a message costs of a turn's budget: 1, unless it carries many messages' work (a shard's
    /// SUBMIT of a thousand jobs), so that a flood of heavy messages cannot make one turn last seconds,
    /// during which the service would answer no one.
    func weight(of message: Message) -> Int

    /// The next time something is due without a message.
    func nextDeadline() -> Timestamp

    /// Takes a decoded message from socket `socket`, with the sending peer on a ROUTER and, in a cluster
    /// with keys, its sender's key (which may send it there); false if the message does not belong there
    /// (the loop counts it as unexpected).
    mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool

    /// Ends the turn: lets the core act on time, takes its turn, commits it, and returns what to do
    /// after the commit, in order.
    mutating func endTurn(now: Timestamp) throws -> TurnEnd

    /// A message to `peer` on a ROUTER could not be delivered (it went away, or stopped reading): the
    /// core treats it as gone. Returns what to do about it, as ``endTurn(now:)`` does.
    mutating func peerLost(_ peer: Peer, on socket: Int, now: Timestamp) throws -> [LoopAction]

    /// Keys were removed from the cluster's ring: the service ends what it holds for peers whose key
    /// `trusted` no longer knows (a shard's workers registered under it), so that a revoked key is sent
    /// nothing more. Returns what to do, as ``endTurn(now:)`` does.
    mutating func keysRemoved(trusted: (String) -> Bool, now: Timestamp) throws -> [LoopAction]

    /// Work the service has of its own to do at once (results read after a commit, attempts that
    /// ended): the loop does not wait for a message before the next turn.
    var hasWork: Bool { get }

    /// Whether the loop may end, once asked to stop (a worker first lets its attempts finish).
    mutating func mayStop(now: Timestamp) -> Bool

    /// Says goodbye on its sockets before they close; what to send, in order.
    mutating func stopping(now: Timestamp) -> [LoopAction]

    /// Called after every turn: trims logs, reports statistics.
    mutating func afterTurn(now: Timestamp) throws

    /// Adds the service's own figures to those the loop counts for every service, when `/metrics` asks
    /// (`docs/metrics.md`); between turns, on the loop's thread.
    func metrics(into metrics: inout Metrics, now: Timestamp) throws
}

extension Service {
    var kind: String { name }
    var hasWork: Bool { false }
    func weight(of message: Message) -> Int { 1 }
    mutating func mayStop(now: Timestamp) -> Bool { true }
    mutating func stopping(now: Timestamp) -> [LoopAction] { [] }
    mutating func afterTurn(now: Timestamp) throws {}
    func metrics(into metrics: inout Metrics, now: Timestamp) throws {}
    mutating func peerLost(_ peer: Peer, on socket: Int, now: Timestamp) throws -> [LoopAction] { [] }
    mutating func keysRemoved(trusted: (String) -> Bool, now: Timestamp) throws -> [LoopAction] { [] }
}

/// How a turn ended: whether it committed rows, and what to do now that it has.
struct TurnEnd {
    var committed: Bool
    var actions: [LoopAction]
}

/// What the loop does for a service after its turn's commit.
enum LoopAction {
    /// Sends a message on a socket: to `peer` on a ROUTER; with the socket's topic on a PUB.
    case send(Message, socket: Int, peer: Peer? = nil)
    /// Sends frames as they are (an event already logged and encoded, a frame of the event log).
    case frame([UInt8], socket: Int, peer: Peer? = nil)
    /// Closes a socket and opens it again with the same plan (a worker whose shard went silent).
    case reopen(socket: Int)
}

extension Array where Element == Delivery {
    /// The deliveries as sends, on the socket each destination maps to; those with no socket are dropped.
    func actions(_ socket: (Destination) -> Int?) -> [LoopAction] {
        compactMap { delivery in
            guard let index = socket(delivery.destination) else { return nil }
            if case .peer(let peer) = delivery.destination { return .send(delivery.message, socket: index, peer: peer) }
            return .send(delivery.message, socket: index)
        }
    }
}
