internal import CZeroMQ
internal import Glibc

/// A libzmq socket that sends and receives whole multipart messages as arrays of byte frames.
///
/// Ownership and threads: a socket belongs to one thread. libzmq sockets are not thread-safe, and a mutex around
/// one is not enough (libzmq #3200), so `Socket` is deliberately not `Sendable`: create, use and close it on its
/// owning thread (a hand-over at thread start is the only safe move). The socket holds a strong reference to its
/// `Context`, so the context cannot be terminated while the socket is open. `close()` releases the libzmq socket
/// at once; `deinit` closes it if the owner did not. Sockets start with LINGER 0 (the context turns `ZMQ_BLOCKY`
/// off), so closing discards unsent messages instead of waiting for a peer.
///
/// Results: a would-block (EAGAIN, or a receive timeout) is a value, `false` from `send` and `nil` from
/// `receive`; EINTR is retried inside every call (a retried call starts its send or receive timeout again);
/// anything else throws a `ZMQError` that keeps the errno.
public final class Socket {
    // Released after deinit has closed the socket, so zmq_ctx_term cannot run while this socket is open.
    private let context: Context

    /// The libzmq socket, or nil once closed.
    private(set) var handle: UnsafeMutableRawPointer?

    // Heap-allocated because a zmq_msg_t must never be copied or moved: messages of up to 33 bytes live inside
    // the struct (VSM), so a copy would leave zmq_msg_data pointing into the old storage.
    private let incoming: UnsafeMutablePointer<zmq_msg_t>
    private let outgoing: UnsafeMutablePointer<zmq_msg_t>

    /// Creates a socket of `type` in `context`; throws ETERM once the context has been shut down.
    public init(_ context: Context, type: SocketType) throws {
        guard let handle = zmq_socket(context.handle, type.cValue) else {
            throw ZMQError.last("socket \(type)")
        }
        self.context = context
        self.handle = handle
        incoming = .allocate(capacity: 1)
        zmq_msg_init(incoming)
        // Initialised per frame by zmq_msg_init_size; between sends it is empty or closed.
        outgoing = .allocate(capacity: 1)
    }

    deinit {
        close()
        zmq_msg_close(incoming)
        incoming.deallocate()
        outgoing.deallocate()
    }

    /// Closes the socket (`zmq_close`); unsent messages are dropped after LINGER. Calling it again does nothing.
    public func close() {
        guard let handle else { return }
        // Fails only with ENOTSOCK, which an open handle never is.
        _ = zmq_close(handle)
        self.handle = nil
    }

    /// Accepts connections on `endpoint`, e.g. `"tcp://127.0.0.1:*"` for an OS-chosen port (see `lastEndpoint`).
    public func bind(_ endpoint: String) throws {
        try endpointCall("bind", endpoint, zmq_bind)
    }

    /// Connects to `endpoint`; libzmq connects (and reconnects) in the background.
    public func connect(_ endpoint: String) throws {
        try endpointCall("connect", endpoint, zmq_connect)
    }

    /// Stops accepting on `endpoint`, which must be spelled as `lastEndpoint` reported it for wildcard binds.
    public func unbind(_ endpoint: String) throws {
        try endpointCall("unbind", endpoint, zmq_unbind)
    }

    /// Drops the connection to `endpoint`.
    public func disconnect(_ endpoint: String) throws {
        try endpointCall("disconnect", endpoint, zmq_disconnect)
    }

    /// The endpoint of the last bind or connect (`ZMQ_LAST_ENDPOINT`), with the port the OS chose for `*`.
    public var lastEndpoint: String {
        get throws {
            let handle = try openHandle("getsockopt LAST_ENDPOINT")
            // Endpoints are short; libzmq fails with EINVAL rather than truncate if this were too small.
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else {
                throw ZMQError.last("getsockopt LAST_ENDPOINT")
            }
            let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// What the socket can do right now without blocking (`ZMQ_EVENTS`).
    ///
    /// Reading it also makes libzmq process pending commands, which is what re-arms an edge-triggered `ZMQ_FD`.
    public var events: PollEvents {
        get throws {
            let handle = try openHandle("getsockopt EVENTS")
            var value: Int32 = 0
            var size = MemoryLayout<Int32>.size
            guard zmq_getsockopt(handle, ZMQ_EVENTS, &value, &size) == 0 else {
                throw ZMQError.last("getsockopt EVENTS")
            }
            return PollEvents(rawValue: Int16(truncatingIfNeeded: value))
        }
    }

    /// Sends one multipart message made of `frames` (empty frames allowed; the message must have at least one).
    ///
    /// Returns false when the first frame would block (EAGAIN with `dontWait`, or the send timeout expired): then
    /// nothing was sent. Once the first frame is accepted the rest are too, as libzmq counts whole messages
    /// against the high-water mark; should a later frame still fail, the error names the frame, the message is
    /// incomplete and the socket should be closed.
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        let handle = try openHandle("send")
        guard !frames.isEmpty else { throw ZMQError(code: EINVAL, operation: "send (message without frames)") }
        let last = frames.count - 1
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = index < last ? ZMQ_SNDMORE : 0
            if dontWait {
                flags |= ZMQ_DONTWAIT
            }
            let code = try sendFrame(frame, flags: flags, handle: handle)
            if code == 0 {
                continue
            }
            if index == 0 {
                if code == EAGAIN { return false }
                throw ZMQError(code: code, operation: "send")
            }
            throw ZMQError(code: code, operation: "send frame \(index + 1) of \(frames.count) (message incomplete)")
        }
        return true
    }

    /// Sends a single-frame message; returns false when it would block (see `send(_:dontWait:)` for frames).
    @discardableResult
    public func send(_ frame: [UInt8], dontWait: Bool = false) throws -> Bool {
        let handle = try openHandle("send")
        let code = try sendFrame(frame, flags: dontWait ? ZMQ_DONTWAIT : 0, handle: handle)
        if code == 0 { return true }
        if code == EAGAIN { return false }
        throw ZMQError(code: code, operation: "send")
    }

    /// Receives one whole multipart message; returns nil when none is ready (`dontWait`) or the receive timeout
    /// expired.
    public func receive(dontWait: Bool = false) throws -> [[UInt8]]? {
        try receiveWithUserID(dontWait: dontWait)?.frames
    }

    /// Receives one whole multipart message with the User-Id a ZAP handler gave its sender's connection
    /// (`zmq_msg_gets`), nil when no handler authenticated it: a connection that is not CURVE, or one libzmq let
    /// through without asking (it does so, in 4.3.4, when no handler is bound).
    public func receiveWithUserID(dontWait: Bool = false) throws -> (frames: [[UInt8]], userID: String?)? {
        let handle = try openHandle("receive")
        // Multipart messages arrive atomically, so only the first frame can find the queue empty.
        let flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
        var frames: [[UInt8]] = []
        repeat {
            let (result, code) = retryingInterrupts { zmq_msg_recv(incoming, handle, flags) }
            if result == -1 {
                if code == EAGAIN && frames.isEmpty { return nil }
                throw ZMQError(code: code, operation: frames.isEmpty ? "receive" : "receive frame \(frames.count + 1)")
            }
            frames.append(copyFrame(incoming))
        } while zmq_msg_more(incoming) == 1
        // Every frame carries its connection's metadata; read it from the last.
        let userID = zmq_msg_gets(incoming, "User-Id").map { String(cString: $0) }
        // Release the last frame's buffer now instead of holding it until the next receive.
        zmq_msg_close(incoming)
        zmq_msg_init(incoming)
        return (frames, userID)
    }

    /// The open libzmq socket, or ENOTSOCK (what libzmq itself reports) when `close()` was called.
    func openHandle(_ operation: @autoclosure () -> String) throws -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(code: ENOTSOCK, operation: operation()) }
        return handle
    }

    private func endpointCall(
        _ verb: String, _ endpoint: String, _ call: (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32
    ) throws {
        let handle = try openHandle("\(verb) \(endpoint)")
        guard call(handle, endpoint) == 0 else { throw ZMQError.last("\(verb) \(endpoint)") }
    }

    /// Sends one frame; returns 0 or the errno of the failed send (the frame was then closed here).
    private func sendFrame(_ frame: [UInt8], flags: Int32, handle: UnsafeMutableRawPointer) throws -> Int32 {
        try frame.withUnsafeBytes { bytes in
            guard zmq_msg_init_size(outgoing, bytes.count) == 0 else { throw ZMQError.last("send (msg_init_size)") }
            if let source = bytes.baseAddress, bytes.count > 0 {
                zmq_msg_data(outgoing).copyMemory(from: source, byteCount: bytes.count)
            }
            let (result, code) = retryingInterrupts { zmq_msg_send(outgoing, handle, flags) }
            if result == -1 {
                // A failed send leaves the message with the caller.
                zmq_msg_close(outgoing)
                return code
            }
            return 0
        }
    }

    private func copyFrame(_ message: UnsafeMutablePointer<zmq_msg_t>) -> [UInt8] {
        let size = zmq_msg_size(message)
        guard size > 0, let data = zmq_msg_data(message) else { return [] }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(start: data, count: size))
            count = size
        }
    }
}

@available(*, unavailable)
extension Socket: Sendable {}
