internal import CZeroMQ

/// What happens to a socket's connections, as `zmq_socket_monitor` reports it: for tests that wait for a
/// handshake to fail instead of waiting a while to see nothing arrive, and for logs.
public struct SocketEvent: Sendable, Equatable {
    /// Which kind of event (`ZMQ_EVENT_*`).
    public var kind: Kind
    /// The event's value: a descriptor, an errno, or the handshake failure's reason.
    public var value: UInt32
    /// The endpoint it concerns.
    public var endpoint: String

    public struct Kind: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let accepted = Kind(rawValue: UInt16(ZMQ_EVENT_ACCEPTED))
        public static let disconnected = Kind(rawValue: UInt16(ZMQ_EVENT_DISCONNECTED))
        /// The security handshake failed for a reason libzmq does not detail (a peer speaking no CURVE).
        public static let handshakeFailedNoDetail = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
        public static let handshakeSucceeded = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
        /// The peer broke the security protocol (a wrong mechanism, a bad command).
        public static let handshakeFailedProtocol = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
        /// The ZAP handler refused the peer.
        public static let handshakeFailedAuthentication = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
        /// Every kind of handshake failure.
        public static let handshakeFailed: Kind = [.handshakeFailedNoDetail, .handshakeFailedProtocol, .handshakeFailedAuthentication]
        public static let all = Kind(rawValue: UInt16(ZMQ_EVENT_ALL))
    }

    /// The event of a monitor socket's message: a 6-octet frame (kind, value), then the endpoint.
    public init?(_ frames: [[UInt8]]) {
        guard frames.count == 2, frames[0].count == 6 else { return nil }
        // libzmq writes both numbers in the host's order.
        kind = Kind(rawValue: frames[0].withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) })
        value = frames[0].withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self) }
        endpoint = String(decoding: frames[1], as: UTF8.self)
    }
}

extension Socket {
    /// Publishes this socket's events of `kinds` on `endpoint` (an `inproc://` one), for a PAIR socket that
    /// connects to it to read as ``SocketEvent``s.
    public func monitor(_ endpoint: String, kinds: SocketEvent.Kind = .all) throws {
        let handle = try openHandle("socket_monitor \(endpoint)")
        guard zmq_socket_monitor(handle, endpoint, Int32(kinds.rawValue)) == 0 else {
            throw ZMQError.last("socket_monitor \(endpoint)")
        }
    }
}
