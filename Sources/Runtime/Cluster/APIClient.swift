public import Core
public import Wire
public import ZeroMQ

/// A client of the management API: one DEALER, one request at a time, JSON in and out.
///
/// Used by the CLI, the timer and the tools; like any socket it belongs to the thread that made it.
public final class APIClient {
    /// The endpoint it talks to.
    public let endpoint: String
    private let context: Context
    private let curve: (pair: KeyPair, serverKey: String)?
    private var socket: Socket
    /// The socket's handshake failures, so that a key management refuses, or a connection without keys
    /// to a cluster with them, is said to be refused, not taken for a management that does not answer.
    private var handshakes: Socket
    /// Whether management refused the connection's handshake: libzmq does not try a connection refused
    /// so again, and the next call connects afresh (the key may have been trusted since).
    private var refused = false
    /// Handshakes that failed without a reason since the last that succeeded.
    private var failuresInARow = 0

    /// Management would not speak with this client: its handshake refused the client's key (or a
    /// connection without one), or it sent DISCONNECT. Not a silence: asking again the same way is no use.
    public struct Refused: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// A reply: its status and its JSON body.
    public struct Reply: Sendable {
        public var status: Status
        public var body: JSON

        /// The error message a refused request carries, with its problems, one per line.
        public var errorText: String {
            var lines = [body["error"]?.string ?? "refused with status \(status)"]
            for problem in body["problems"]?.array ?? [] { if let text = problem.string { lines.append("  " + text) } }
            return lines.joined(separator: "\n")
        }
    }

    /// Connects to management at `endpoint`, in `context` (a new one if nil; inproc needs the cluster's),
    /// with `curve` (this client's key pair and management's public key) in a cluster with keys.
    public init(endpoint: String, context: Context? = nil, curve: (pair: KeyPair, serverKey: String)? = nil) throws {
        self.endpoint = endpoint
        self.curve = curve
        let context = try context ?? Context()
        self.context = context
        (socket, handshakes) = try Self.connect(to: endpoint, in: context, curve: curve)
    }

    private static func connect(
        to endpoint: String, in context: Context, curve: (pair: KeyPair, serverKey: String)?
    ) throws -> (Socket, handshakes: Socket) {
        let socket = try Socket(context, type: .dealer)
        try socket.setMaxMessageSize(Int64(Limits.frame))
        if let curve {
            try socket.setCurveServerKey(curve.serverKey)
            try socket.setCurvePublicKey(curve.pair.identity.publicKey)
            try socket.setCurveSecretKey(curve.pair.secretKey)
        }
        let monitor = "inproc://api-client-handshakes-\(UInt64.random(in: 1...UInt64.max))"
        try socket.monitor(monitor, kinds: [.handshakeFailed, .handshakeSucceeded])
        let handshakes = try Socket(context, type: .pair)
        try handshakes.connect(monitor)
        try socket.connect(endpoint)
        return (socket, handshakes)
    }

    /// Why management's handshake refused this client, if it did since the last look. libzmq reports a
    /// key refused (AUTH) and a mechanism that does not match (PROTOCOL: keys on one side only) once, and
    /// does not try again; a handshake that fails without a reason (NO_DETAIL) it tries again, and such a
    /// failure may be a connection lost mid-handshake, so only several in a row, with keys, count: with a
    /// server key that is not management's, every handshake ends so.
    private func refusedHandshake() throws -> Refused? {
        var refusal: Refused?
        while let frames = try handshakes.receive(dontWait: true) {
            guard let event = SocketEvent(frames) else { continue }
            switch event.kind {
            case .handshakeSucceeded:
                failuresInARow = 0
            case .handshakeFailedAuthentication:
                refused = true
                refusal = Refused(
                    "management at \(endpoint) refused this client's key at the handshake: it does not trust it here "
                        + "(a key unknown to it or removed, or a service's key; a person or tool needs a viewer, operator or admin key: --identity FILE)")
            case .handshakeFailedProtocol:
                refused = true
                refusal = Refused(
                    curve == nil
                        ? "management at \(endpoint) refused a connection without keys: the cluster has keys "
                            + "(give the key to speak with: --identity FILE, or --config FILE for a one-machine cluster's admin key)"
                        : "management at \(endpoint) speaks without keys, and this client with them: give it the cluster file or "
                            + "endpoint of a cluster without keys, or leave out the key")
            default:
                failuresInARow += 1
                if curve != nil, failuresInARow >= 3 {
                    refusal = Refused(
                        "the encrypted handshake with management at \(endpoint) failed \(failuresInARow) times in a row: is the "
                            + "management.key in the cluster's key folder the one management serves with?")
                }
            }
        }
        return refusal
    }

    /// Calls `method` with `body`; throws ``Refused`` if management will not speak with this client (or
    /// would never read a request this large), ``ServiceError`` if no reply comes within `timeout`
    /// milliseconds.
    public func call(_ method: String, _ body: JSON = .object([]), timeout: Int = 10_000) throws -> Reply {
        let request = UInt64.random(in: 1...UInt64.max)
        let text = body.rendered()
        // Management would never read it (the frame's limit): say so here, naming the limit.
        guard text.utf8.count <= Limits.chunk else {
            throw Refused("the \(method) request is \(text.utf8.count) octets, more than the \(Limits.chunk) (16 MiB) an API request may carry")
        }
        // A refusal since the last call (a client kept, as the timer's) counts as well.
        _ = try refusedHandshake()
        if refused {
            // The new connection first: should it fail, the old is kept, and the next call tries again.
            let (fresh, freshHandshakes) = try Self.connect(to: endpoint, in: context, curve: curve)
            socket.close()
            handshakes.close()
            (socket, handshakes) = (fresh, freshHandshakes)
            refused = false
            failuresInARow = 0
        }
        let message = Message.apiRequest(APIRequest(request: request, method: method, body: text)).encoded()
        let clock = SystemClock()
        let deadline = clock.now().adding(milliseconds: Int64(timeout))
        // Never a blocking send: a connection whose handshake failed leaves the socket no pipe to queue on,
        // and a blocking send would wait for ever (found hung in a test: a keyless client refused before
        // its first call). It waits for room, or for the handshake's refusal, within the call's time.
        var sending = Poller()
        _ = sending.add(socket, events: .writable)
        _ = sending.add(handshakes)
        while try !socket.send(message, dontWait: true) {
            if let refusal = try refusedHandshake() { throw refusal }
            guard clock.now() < deadline else {
                throw ServiceError("cannot send to management at \(endpoint) within \(timeout / 1000) s (is it running? `baton dev`, or `baton up --config FILE` for a cluster, starts it)")
            }
            _ = try sending.poll(timeoutMilliseconds: Int(max(1, deadline.since(clock.now()))))
        }
        var poller = Poller()
        _ = poller.add(socket)
        _ = poller.add(handshakes)
        while clock.now() < deadline {
            _ = try poller.poll(timeoutMilliseconds: Int(max(1, deadline.since(clock.now()))))
            if let refusal = try refusedHandshake() { throw refusal }
            while let frames = try socket.receive(dontWait: true) {
                guard frames.count == 1, case .apiReply(let reply)? = try? Message.decode(frames[0]), reply.request == request else {
                    if frames.count == 1, case .disconnect(let disconnect)? = try? Message.decode(frames[0]) {
                        throw Refused("management refused the connection: \(disconnect.reason)")
                    }
                    continue
                }
                let json = (try? JSONParser.parse(reply.body)) ?? .object([("error", .string(reply.body))])
                return Reply(status: reply.status, body: json)
            }
        }
        throw ServiceError("no answer from management at \(endpoint) within \(timeout / 1000) s (is it running? `baton dev`, or `baton up --config FILE` for a cluster, starts it)")
    }
}
