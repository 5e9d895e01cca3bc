internal import CZeroMQ
internal import Glibc

/// A failed libzmq call: the errno it reported and the operation that failed.
///
/// EAGAIN never arrives here (a would-block is a `false` or `nil` result) and EINTR is retried inside the
/// wrapper, so a thrown `ZMQError` always means the operation did not happen.
public struct ZMQError: Error, Equatable, CustomStringConvertible {
    /// The errno reported by `zmq_errno()`; libzmq's own codes (ETERM, EFSM, ...) sit above `ZMQ_HAUSNUMERO`.
    public let code: Int32

    /// What was attempted, e.g. `"bind tcp://127.0.0.1:5555"`, `"send"` or `"poll"`.
    public let operation: String

    /// Creates an error for `code` raised by `operation`.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The text `zmq_strerror` gives for `code`.
    public var message: String {
        String(cString: zmq_strerror(code))
    }

    /// True when the context was shut down or terminated (ETERM): close the socket and stop.
    public var isTerminated: Bool {
        code == ETERM
    }

    /// True when a ROUTER with `ZMQ_ROUTER_MANDATORY` was asked to route to an unknown peer (EHOSTUNREACH).
    public var isHostUnreachable: Bool {
        code == EHOSTUNREACH
    }

    /// The operation, the message and the errno, e.g. `"bind tcp://x: Invalid argument (errno 22)"`.
    public var description: String {
        "\(operation): \(message) (errno \(code))"
    }

    /// The error for the call that just failed; read `zmq_errno()` before anything else can overwrite it.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        let code = zmq_errno()
        return ZMQError(code: code, operation: operation())
    }
}

/// Runs a libzmq call that returns -1 on failure, retrying while the failure is EINTR.
///
/// Returns the call's result and, when it is -1, the errno read straight after the failing call.
func retryingInterrupts(_ call: () -> Int32) -> (result: Int32, code: Int32) {
    while true {
        let result = call()
        guard result == -1 else { return (result, 0) }
        let code = zmq_errno()
        if code != EINTR { return (result, code) }
    }
}
