import Core
import Wire
import ZeroMQ

/// How Baton sets up its sockets, after the pitfalls of `ZEROMQ.md` and the rules of `docs/protocol.md`.
enum Sockets {
    /// Every socket refuses frames over the protocol's limit (plus room for the envelope).
    static let maximumMessage = Int64(Limits.frame + 1024)

    /// A ROUTER bound to `endpoints`: mandatory routing, so that a send to a gone peer fails instead of vanishing.
    static func router(_ context: Context, binding endpoints: [String]) throws -> Socket {
        let socket = try Socket(context, type: .router)
        try socket.setRouterMandatory(true)
        try socket.setMaxMessageSize(maximumMessage)
        try socket.setReceiveHighWaterMark(100_000)
        for endpoint in endpoints { try bind(socket, endpoint) }
        return socket
    }

    /// A socket bound to `endpoints`.
    static func bound(_ context: Context, _ type: SocketType, _ endpoints: [String], sendHighWaterMark: Int32? = nil) throws -> Socket {
        let socket = try Socket(context, type: type)
        try socket.setMaxMessageSize(maximumMessage)
        if let sendHighWaterMark { try socket.setSendHighWaterMark(sendHighWaterMark) }
        if type == .pull { try socket.setReceiveHighWaterMark(100_000) }
        for endpoint in endpoints { try bind(socket, endpoint) }
        return socket
    }

    /// A DEALER or PUSH connected to one peer, reconnecting with a backoff up to 5 seconds.
    ///
    /// With `immediate`, nothing is queued while the peer is not connected: a send would block (and
    /// with `dontWait` is refused), which suits the submission PUSH, whose every job is resent until
    /// acknowledged. Without it, messages wait for the connection: READY from a worker that just opened
    /// its socket must not be lost, and such sockets are recreated on reconnection, so no stale backlog
    /// builds up behind a dead peer.
    static func connected(_ context: Context, _ type: SocketType, to endpoint: String, immediate: Bool = false) throws -> Socket {
        let socket = try Socket(context, type: type)
        try socket.setMaxMessageSize(maximumMessage)
        try socket.setImmediate(immediate)
        try socket.setReconnectInterval(milliseconds: 100, maximum: 5000)
        try socket.setSendHighWaterMark(10_000)
        try socket.connect(endpoint)
        return socket
    }

    /// A SUB connected to `endpoints`, subscribed to `topic`.
    static func subscriber(_ context: Context, to endpoints: [String], topic: String) throws -> Socket {
        let socket = try Socket(context, type: .sub)
        try socket.setMaxMessageSize(maximumMessage)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.setReconnectInterval(milliseconds: 100, maximum: 5000)
        try socket.subscribe(topic)
        for endpoint in endpoints { try socket.connect(endpoint) }
        return socket
    }

    private static func bind(_ socket: Socket, _ endpoint: String) throws {
        do {
            try socket.bind(endpoint)
        } catch let error as ZMQError {
            throw ServiceError("cannot bind \(endpoint): \(error.message)")
        }
    }

    /// The milliseconds to poll for, to reach `deadline` but never longer than a second.
    static func timeout(until deadline: Timestamp, now: Timestamp) -> Int {
        Int(max(0, min(deadline.since(now), 1000)))
    }
}

/// Counts frames dropped as malformed, and says so in the log at most once a minute.
struct MalformedCounter {
    let counters: ServiceCounters
    private(set) var count = 0
    private var lastLogged = Timestamp.zero
    private var sinceLogged = 0

    init(_ counters: ServiceCounters) { self.counters = counters }

    /// The message in the last of `frames`, which must number `count`; nil, counted and logged with the
    /// reason, if they are not that.
    mutating func decode(_ frames: [[UInt8]], count: Int, from origin: String, now: Timestamp, log: Log) -> Message? {
        guard frames.count == count else {
            record("\(frames.count) frames instead of \(count)", from: origin, now: now, log: log)
            return nil
        }
        do {
            return try Message.decode(frames[count - 1])
        } catch {
            record(error.description, from: origin, now: now, log: log)
            return nil
        }
    }

    mutating func record(_ reason: String, from origin: String, now: Timestamp, log: Log) {
        count += 1
        sinceLogged += 1
        counters.countMalformed()
        if now.since(lastLogged) >= 60_000 {
            log.warning("dropped a malformed message", ["from": origin, "why": reason, "dropped": String(sinceLogged), "total": String(count)])
            lastLogged = now
            sinceLogged = 0
        }
    }
}
