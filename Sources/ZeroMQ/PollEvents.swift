internal import CZeroMQ

/// Readiness flags of a socket or file descriptor, as used by `Poller` and `Socket.events`.
public struct PollEvents: OptionSet, Sendable {
    /// The `ZMQ_POLL*` bits.
    public let rawValue: Int16

    /// Creates a set from `ZMQ_POLL*` bits.
    public init(rawValue: Int16) {
        self.rawValue = rawValue
    }

    /// At least one whole message can be received (`ZMQ_POLLIN`), or the descriptor is readable.
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))

    /// At least one message can be sent without blocking (`ZMQ_POLLOUT`), or the descriptor is writable.
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))

    /// An error condition on a file descriptor (`ZMQ_POLLERR`); never set for zmq sockets.
    public static let error = PollEvents(rawValue: Int16(ZMQ_POLLERR))
}
