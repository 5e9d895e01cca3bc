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
    private let socket: Socket

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
        self.context = try context ?? Context()
        socket = try Socket(self.context, type: .dealer)
        try socket.setMaxMessageSize(Int64(Limits.frame))
        if let curve {
            try socket.setCurveServerKey(curve.serverKey)
            try socket.setCurvePublicKey(curve.pair.identity.publicKey)
            try socket.setCurveSecretKey(curve.pair.secretKey)
        }
        try socket.connect(endpoint)
    }

    /// Calls `method` with `body`; throws ``ServiceError`` if no reply comes within `timeout` milliseconds.
    public func call(_ method: String, _ body: JSON = .object([]), timeout: Int = 10_000) throws -> Reply {
        let request = UInt64.random(in: 1...UInt64.max)
        let text = body.rendered()
        // Management would never read it (the frame's limit): say so here, naming the limit.
        guard text.utf8.count <= Limits.chunk else {
            throw ServiceError("the \(method) request is \(text.utf8.count) octets, more than the \(Limits.chunk) (16 MiB) an API request may carry")
        }
        let message = Message.apiRequest(APIRequest(request: request, method: method, body: text))
        guard try socket.send(message.encoded(), dontWait: false) else {
            throw ServiceError("cannot send to the management API at \(endpoint)")
        }
        let clock = SystemClock()
        let deadline = clock.now().adding(milliseconds: Int64(timeout))
        var poller = Poller()
        _ = poller.add(socket)
        while clock.now() < deadline {
            _ = try poller.poll(timeoutMilliseconds: Int(max(1, deadline.since(clock.now()))))
            while let frames = try socket.receive(dontWait: true) {
                guard frames.count == 1, case .apiReply(let reply)? = try? Message.decode(frames[0]), reply.request == request else {
                    if frames.count == 1, case .disconnect(let disconnect)? = try? Message.decode(frames[0]) {
                        throw ServiceError("management refused the connection: \(disconnect.reason)")
                    }
                    continue
                }
                let json = (try? JSONParser.parse(reply.body)) ?? .object([("error", .string(reply.body))])
                return Reply(status: reply.status, body: json)
            }
        }
        throw ServiceError("no answer from management at \(endpoint) within \(timeout / 1000) s (is `baton dev` running?)")
    }
}
