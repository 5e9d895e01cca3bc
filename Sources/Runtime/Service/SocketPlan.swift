import Core
import Wire
import ZeroMQ

/// One socket of a service, as its declaration describes it. ``open(_:)`` makes it, the one place where
/// Baton sets socket options, after `docs/protocol.md` and the pitfalls of ZeroMQ 4.3:
///
/// - every socket refuses frames over the protocol's limit (`ZMQ_MAXMSGSIZE`);
/// - a ROUTER routes mandatorily (a send to a gone peer fails rather than vanishing; sends never block),
///   and holds up to 100,000 messages each way;
/// - a PULL or SUB holds up to 100,000 messages; a PUB up to `sendHighWaterMark` (it drops beyond, so
///   PUB is never the source of truth);
/// - a connecting DEALER or PUSH reconnects with a backoff from 100 ms to 5 s and holds up to 10,000
///   messages; with `immediate`, it queues nothing while its peer is not connected.
///
/// With ``LoopSecurity`` (a cluster with keys), every socket is CURVE: one that binds is a CURVE server
/// with the service's secret key, in a ZAP domain of its own (`shard-1/work`) that the ``Gatekeeper``
/// knows who may connect to, and a publisher is an XPUB whose subscriptions the loop applies itself; one
/// that connects is a CURVE client that knows the public key of each server it connects to.
struct SocketPlan {
    enum Role: Sendable {
        case router, pull, publisher, dealer, push, subscriber

        /// The frames of one message as it is read: the ROUTER's envelope or the PUB/SUB topic, then the message.
        var framesRead: Int { self == .router || self == .subscriber ? 2 : 1 }
    }

    /// Its name in logs: `work`, `submit`, `events`, `api`, `ops`, `shard-1 submit`.
    var name: String
    var role: Role
    var bind: [String] = []
    var connect: [String] = []
    /// A PUB's topic (the first frame of everything it publishes); a SUB's subscription.
    var topic = ""
    /// For DEALER and PUSH: queue nothing for a peer that is not connected.
    var immediate = false
    var sendHighWaterMark: Int32?
    /// The largest message it takes, if less than a frame's limit: a peer can queue no more than this
    /// many octets a message (and the receive high-water mark messages).
    var maximumMessage: Int?
    /// Whether the loop reads it: a PUSH never; a PUB only when it is guarded, for its subscriptions.
    func read(guarded: Bool) -> Bool { role == .publisher ? guarded : role != .push }

    /// Whether it is a socket the gatekeeper guards: one that binds, in a cluster with keys.
    func guarded(_ security: LoopSecurity?) -> Bool { security != nil && !bind.isEmpty }
    /// Told the endpoints as bound, with the ports the system chose for `tcp://...:*`.
    var bound: (@Sendable ([String]) -> Void)?

    static func router(_ name: String, binding endpoints: [String], bound: (@Sendable ([String]) -> Void)? = nil) -> SocketPlan {
        SocketPlan(name: name, role: .router, bind: endpoints, bound: bound)
    }

    static func pull(_ name: String, binding endpoints: [String]) -> SocketPlan {
        SocketPlan(name: name, role: .pull, bind: endpoints)
    }

    static func publisher(_ name: String, binding endpoints: [String], topic: String) -> SocketPlan {
        SocketPlan(name: name, role: .publisher, bind: endpoints, topic: topic, sendHighWaterMark: 100_000)
    }

    static func dealer(_ name: String, to endpoint: String) -> SocketPlan {
        SocketPlan(name: name, role: .dealer, connect: [endpoint])
    }

    static func push(_ name: String, to endpoint: String) -> SocketPlan {
        SocketPlan(name: name, role: .push, connect: [endpoint], immediate: true)
    }

    static func subscriber(_ name: String, to endpoints: [String], topic: String) -> SocketPlan {
        SocketPlan(name: name, role: .subscriber, connect: endpoints, topic: topic)
    }

    /// Makes the socket, binds and connects it.
    func open(_ context: Context, security: LoopSecurity? = nil) throws -> Socket {
        let guarded = guarded(security)
        let typed: SocketType = switch role {
        case .router: .router
        case .pull: .pull
        case .publisher: guarded ? .xpub : .pub
        case .dealer: .dealer
        case .push: .push
        case .subscriber: .sub
        }
        let socket = try Socket(context, type: typed)
        if let security { try secure(socket, security) }
        try socket.setMaxMessageSize(Int64((maximumMessage ?? Limits.frame) + 1024))
        switch role {
        case .router:
            try socket.setRouterMandatory(true)
            try socket.setReceiveHighWaterMark(100_000)
            try socket.setSendHighWaterMark(100_000)
        case .pull:
            try socket.setReceiveHighWaterMark(100_000)
        case .publisher:
            break
        case .dealer, .push:
            try socket.setImmediate(immediate)
            try socket.setReconnectInterval(milliseconds: 100, maximum: 5000)
            try socket.setSendHighWaterMark(10_000)
        case .subscriber:
            try socket.setReceiveHighWaterMark(100_000)
            try socket.setReconnectInterval(milliseconds: 100, maximum: 5000)
            try socket.subscribe(topic)
        }
        if let sendHighWaterMark { try socket.setSendHighWaterMark(sendHighWaterMark) }
        var endpoints: [String] = []
        for endpoint in bind {
            do {
                try socket.bind(endpoint)
            } catch let error as ZMQError {
                throw ServiceError("cannot bind \(name) on \(endpoint): \(error.message)")
            }
            endpoints.append(endpoint.hasPrefix("tcp://") ? try socket.lastEndpoint : endpoint)
        }
        bound?(endpoints)
        for endpoint in connect {
            if let security {
                guard let serverKey = security.keys.serverKeys[endpoint] else {
                    throw ServiceError("\(name): no public key is known for the server at \(endpoint)")
                }
                // Applies to the connects that follow: one socket may connect to several servers.
                try socket.setCurveServerKey(serverKey)
            }
            try socket.connect(endpoint)
        }
        return socket
    }

    /// Makes the socket CURVE, before any bind or connect: a server with its ZAP domain and who may connect,
    /// or a client with the service's key pair.
    private func secure(_ socket: Socket, _ security: LoopSecurity) throws {
        if let inproc = (bind + connect).first(where: { !$0.hasPrefix("tcp://") && !$0.hasPrefix("ipc://") }) {
            throw ServiceError("\(name): \(inproc) cannot be secured with CURVE; a cluster with keys uses tcp:// or ipc:// endpoints")
        }
        if !bind.isEmpty {
            guard let admission = security.keys.admissions[name] else {
                throw ServiceError("\(name): no one is named who may connect to it")
            }
            security.gate.register(domain: security.domain(of: self), admission)
            try socket.setCurveServer(true)
            try socket.setCurveSecretKey(security.keys.pair.secretKey)
            try socket.setZAPDomain(security.domain(of: self))
            if role == .publisher { try socket.setXPubManual(true) }
        } else {
            try socket.setCurvePublicKey(security.keys.pair.identity.publicKey)
            try socket.setCurveSecretKey(security.keys.pair.secretKey)
        }
        // A handshake that does not finish in 5 s is given up (the default is 30 s).
        try socket.setHandshakeInterval(milliseconds: 5000)
    }
}

/// The security of one service's loop: its keys, and the gatekeeper of its process.
public struct LoopSecurity: Sendable {
    /// The service's name, which prefixes its sockets' ZAP domains.
    let service: String
    let keys: ServiceKeys
    let gate: Gatekeeper

    public init(service: String, keys: ServiceKeys, gate: Gatekeeper) {
        self.service = service
        self.keys = keys
        self.gate = gate
    }

    /// The ZAP domain of a socket it binds: `shard-1/work`.
    func domain(of plan: SocketPlan) -> String { "\(service)/\(plan.name)" }
}
