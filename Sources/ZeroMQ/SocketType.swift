internal import CZeroMQ

/// The messaging pattern of a socket (the stable, non-draft libzmq types Baton uses).
public enum SocketType: Sendable {
    /// Sends round-robin to connected PULL peers; blocks (or EAGAIN) at the high-water mark.
    case push
    /// Receives fair-queued from PUSH peers.
    case pull
    /// Asynchronous request side: round-robin out, fair-queued in.
    case dealer
    /// Routes by the routing-id frame it prepends on receive and strips on send.
    case router
    /// Publishes to subscribers by first-frame prefix; drops at the high-water mark.
    case pub
    /// Subscribes to prefixes of a PUB's first frames.
    case sub
    /// A PUB that hands its subscribers' subscriptions to its owner, who may apply them or not
    /// (``Socket/setXPubManual(_:)``).
    case xpub
    /// Answers requests one at a time, each on the connection it came from (a ZAP handler's).
    case rep
    /// Exclusive one-to-one link, e.g. an inproc control pipe between two threads.
    case pair

    var cValue: Int32 {
        switch self {
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .xpub: ZMQ_XPUB
        case .rep: ZMQ_REP
        case .pair: ZMQ_PAIR
        }
    }
}
