import Testing
import ZeroMQ

/// The transports every round-trip scenario runs over: in-process, and real TCP on an OS-chosen loopback port.
enum Transport: String, CaseIterable, Sendable, CustomStringConvertible {
    case inproc
    case tcp

    var description: String { rawValue }

    /// A bind endpoint; tcp binds 127.0.0.1 only, on a port the OS picks.
    func bindEndpoint(_ name: String) -> String {
        switch self {
        case .inproc: "inproc://\(name)"
        case .tcp: "tcp://127.0.0.1:*"
        }
    }
}

/// How long a blocking call may wait before a test fails: a failure guard, never a way to wait for something.
let guardMilliseconds: Int32 = 2000

/// Creates a socket whose blocking send and receive give up after `guardMilliseconds`.
func makeSocket(_ context: Context, _ type: SocketType) throws -> Socket {
    let socket = try Socket(context, type: type)
    try socket.setReceiveTimeout(milliseconds: guardMilliseconds)
    try socket.setSendTimeout(milliseconds: guardMilliseconds)
    return socket
}

/// Binds `bound` over `transport`, connects `connecting` to the endpoint it got and returns that endpoint.
@discardableResult
func link(_ bound: Socket, _ connecting: Socket, over transport: Transport, name: String = "link") throws -> String {
    try bound.bind(transport.bindEndpoint(name))
    let endpoint = try bound.lastEndpoint
    try connecting.connect(endpoint)
    return endpoint
}

/// `count` bytes in a pattern that shows misplaced or truncated copies.
func pattern(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed }
}

/// A message that stresses framing: empty frames at both ends, frames either side of libzmq's 33-byte inline
/// (VSM) limit, and a 1 MiB frame.
let awkwardMessage: [[UInt8]] = [
    [],
    pattern(1),
    pattern(33, seed: 1),
    pattern(34, seed: 2),
    pattern(1 << 20, seed: 3),
    [0],
    [],
]

/// A tcp endpoint on 127.0.0.1 that nothing listens on: bound once to let the OS pick the port, then released.
func unusedLoopbackEndpoint() throws -> String {
    let context = try Context()
    let probe = try Socket(context, type: .pull)
    try probe.bind("tcp://127.0.0.1:*")
    return try probe.lastEndpoint
}

func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

/// Publishes `probe` until `subscriber` has one queued, which proves its subscriptions reached the publisher.
///
/// Subscriptions travel upstream asynchronously and PUB/SUB has no acknowledgement, so the probe is the signal;
/// each poll is a bounded wait for that probe, and 200 of them are the failure guard.
func awaitSubscription(publisher: Socket, subscriber: Socket, probe: [[UInt8]]) throws {
    var poller = Poller()
    _ = poller.add(subscriber)
    for _ in 0..<200 {
        try publisher.send(probe)
        if try poller.poll(timeoutMilliseconds: 10) > 0 { return }
    }
    Issue.record("the subscription never reached the publisher")
}

/// The next message on `subscriber` that is not `probe`, or nil when the receive guard expires.
func receive(_ subscriber: Socket, skipping probe: [[UInt8]]) throws -> [[UInt8]]? {
    while let message = try subscriber.receive() {
        if message != probe { return message }
    }
    return nil
}
