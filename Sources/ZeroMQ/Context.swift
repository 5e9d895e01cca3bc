internal import CZeroMQ
internal import Glibc

/// A libzmq context: the I/O threads and the registry every socket is created in.
///
/// A context is thread-safe and may be shared freely. Every socket holds a strong reference to its context, so
/// the context is terminated (`zmq_ctx_term`) only after its last socket has been closed; sockets start with
/// LINGER 0 (`ZMQ_BLOCKY` is off), so termination never waits for unsent messages.
public final class Context: @unchecked Sendable {
    // Immutable after init, and libzmq contexts are thread-safe: that is what makes @unchecked sound.
    let handle: UnsafeMutableRawPointer

    /// Creates a context with `ioThreads` I/O threads and, when given, a `ZMQ_MAX_SOCKETS` limit.
    public init(ioThreads: Int32 = 1, maxSockets: Int32? = nil) throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("ctx_new") }
        func set(_ option: Int32, _ value: Int32, _ name: String) throws {
            guard zmq_ctx_set(handle, option, value) == 0 else {
                let error = ZMQError.last("ctx_set \(name) \(value)")
                _ = retryingInterrupts { zmq_ctx_term(handle) }
                throw error
            }
        }
        try set(ZMQ_BLOCKY, 0, "BLOCKY")
        try set(ZMQ_IO_THREADS, ioThreads, "IO_THREADS")
        if let maxSockets {
            try set(ZMQ_MAX_SOCKETS, maxSockets, "MAX_SOCKETS")
        }
        self.handle = handle
    }

    /// Shuts the context down (`zmq_ctx_shutdown`): blocking calls on its sockets, on any thread, fail with
    /// ETERM and new sockets cannot be created. Each owner must still close its sockets.
    public func shutdown() {
        // Fails only with EFAULT for an invalid context, which `handle` never is.
        _ = zmq_ctx_shutdown(handle)
    }

    deinit {
        // Cannot block: every socket retains its context, so none is left open here.
        _ = retryingInterrupts { zmq_ctx_term(handle) }
    }
}
