import Core
import Wire

/// A socket of a simulated process, as the network sees it.
final class SimulatedSocket {
    let plan: SocketPlan
    /// A connecting socket's pipe to each endpoint it connects to.
    var links: [Link]
    /// A binding socket's connections, by the peer its ROUTER knows each by.
    var accepted: [Peer: SimulatedConnection] = [:]

    struct Link {
        let endpoint: String
        var connection: SimulatedConnection?
        /// What was sent while not connected: libzmq queues it in the pipe (up to the high-water mark)
        /// and delivers it once connected.
        var pending: [[UInt8]] = []
        var retrying = false
    }

    init(_ plan: SocketPlan) {
        self.plan = plan
        links = plan.connect.map { Link(endpoint: $0) }
    }
}

/// One connection between a connecting socket and a binding one: two pipes, each in order.
final class SimulatedConnection {
    let client: SocketAddress
    let server: SocketAddress
    /// The client as the server's ROUTER knows it: a new one for every connection.
    let peer: Peer
    /// A subscriber's subscription.
    let subscription: String?
    var alive = true
    /// When the last message on each pipe arrives: a later one never arrives before it.
    var lastToServer: Int64 = 0
    var lastToClient: Int64 = 0
    /// Messages on each pipe that its receiver has not taken yet: in flight, or waiting for its turn.
    var queuedToServer = 0
    var queuedToClient = 0

    init(client: SocketAddress, server: SocketAddress, peer: Peer, subscription: String?) {
        self.client = client
        self.server = server
        self.peer = peer
        self.subscription = subscription
    }
}

/// A socket of a process: the process's place in the simulation, and the socket's in its plans.
struct SocketAddress: Hashable {
    var process: Int
    var socket: Int
}

/// The network as ZeroMQ behaves over TCP, as `docs/protocol.md` relies on it (and no better):
///
/// - each pipe delivers in order, after a delay of its own; pipes are not ordered among themselves;
/// - a DEALER or PUSH queues what it sends while it is not connected (up to 10,000 messages, then
///   drops: the loop's sends never block) and delivers it once connected, unless it is `immediate`
///   (the orchestrator's submissions), which drops what it sends while not connected;
/// - a connection that breaks (a crash, a partition) loses what was in flight on it; the connecting side
///   connects again, after 100 ms to a second, as a new peer;
/// - a ROUTER's send to a peer it does not know fails, and the service is told;
/// - a PUB sends to the subscribers connected now, and may drop for any of them (a slow subscriber);
/// - a partition between two processes breaks their connections and refuses new ones until it heals.
extension Simulation {
    static let pendingLimit = 10_000
    /// The most messages a connected pipe holds that its receiver has not taken (libzmq's send and receive
    /// high-water marks, 1,000 each): beyond, a send that does not wait fails, and the message is dropped.
    static let highWaterMark = 2_000

    /// Makes a process's sockets, binds its endpoints, and starts connecting its connecting sockets.
    func openSockets(of process: Int, plans: [SocketPlan]) {
        sockets[process] = plans.map(SimulatedSocket.init)
        for (index, plan) in plans.enumerated() {
            for endpoint in plan.bind { bound[endpoint] = SocketAddress(process: process, socket: index) }
        }
        for (index, socket) in sockets[process].enumerated() {
            for link in socket.links.indices { connect(SocketAddress(process: process, socket: index), link: link) }
        }
        // Whoever was waiting to connect to this process's endpoints tries again now.
        for (other, list) in sockets.enumerated() where other != process && processes[other].up {
            for (index, socket) in list.enumerated() {
                for link in socket.links.indices where socket.links[link].connection == nil {
                    if let target = bound[socket.links[link].endpoint], target.process == process {
                        connect(SocketAddress(process: other, socket: index), link: link)
                    }
                }
            }
        }
    }

    /// Breaks every connection of a process and forgets its sockets and endpoints: a crash, or a stop.
    func closeSockets(of process: Int) {
        for socket in sockets[process] {
            for link in socket.links { if let connection = link.connection { breakConnection(connection) } }
            for connection in socket.accepted.values.sorted(by: { $0.peer.id.lexicographicallyPrecedes($1.peer.id) }) {
                breakConnection(connection)
            }
        }
        sockets[process] = []
        bound = bound.filter { $0.value.process != process }
    }

    /// Connects link `link` of a connecting socket, or retries later if its endpoint is down or cut off.
    func connect(_ address: SocketAddress, link: Int) {
        guard processes[address.process].up else { return }
        let socket = sockets[address.process][address.socket]
        guard socket.links[link].connection == nil else { return }
        let endpoint = socket.links[link].endpoint
        guard let target = bound[endpoint], processes[target.process].up, !isPartitioned(address.process, target.process) else {
            retryConnect(address, link: link)
            return
        }
        nextPeer += 1
        let peer = Peer(Array("peer-\(nextPeer)".utf8))
        let connection = SimulatedConnection(
            client: address, server: target, peer: peer, subscription: socket.plan.role == .subscriber ? socket.plan.topic : nil)
        socket.links[link].connection = connection
        sockets[target.process][target.socket].accepted[peer] = connection
        let pending = socket.links[link].pending
        socket.links[link].pending = []
        for frame in pending { _ = transmit(frame, on: connection, toServer: true) }
    }

    private func retryConnect(_ address: SocketAddress, link: Int) {
        let socket = sockets[address.process][address.socket]
        guard !socket.links[link].retrying else { return }
        socket.links[link].retrying = true
        let incarnation = processes[address.process].incarnation
        queue.at(queue.now + Int64(random.next() % 900) + 100) { [self] in
            guard processes[address.process].up, processes[address.process].incarnation == incarnation else { return }
            let socket = sockets[address.process][address.socket]
            socket.links[link].retrying = false
            connect(address, link: link)
        }
    }

    /// Ends a connection: what is in flight on it is lost, and its client connects again.
    func breakConnection(_ connection: SimulatedConnection) {
        guard connection.alive else { return }
        connection.alive = false
        if processes[connection.server.process].up, connection.server.socket < sockets[connection.server.process].count {
            sockets[connection.server.process][connection.server.socket].accepted[connection.peer] = nil
        }
        let client = connection.client
        guard processes[client.process].up, client.socket < sockets[client.process].count else { return }
        let socket = sockets[client.process][client.socket]
        for link in socket.links.indices where socket.links[link].connection === connection {
            socket.links[link].connection = nil
            retryConnect(client, link: link)
        }
    }

    /// Cuts the connections between two processes, and keeps them from connecting until `until`.
    func partition(_ a: Int, _ b: Int, until: Int64) {
        partitions[Pair(a, b)] = until
        for process in [a, b] {
            for socket in sockets[process] {
                for link in socket.links {
                    if let connection = link.connection, Pair(connection.client.process, connection.server.process) == Pair(a, b) {
                        breakConnection(connection)
                    }
                }
            }
        }
    }

    func isPartitioned(_ a: Int, _ b: Int) -> Bool {
        guard let until = partitions[Pair(a, b)] else { return false }
        return until > queue.now
    }

    /// Closes a socket and opens it anew (a worker that gave its shard up, to register again).
    func reopen(_ address: SocketAddress) {
        let socket = sockets[address.process][address.socket]
        for link in socket.links { if let connection = link.connection { breakConnection(connection) } }
        sockets[address.process][address.socket] = SimulatedSocket(socket.plan)
        for link in socket.links.indices { connect(address, link: link) }
    }

    /// Sends a message as the loop would: false only for a ROUTER's send to a peer it does not know.
    func send(_ frame: [UInt8], from address: SocketAddress, to peer: Peer?) -> Bool {
        let socket = sockets[address.process][address.socket]
        switch socket.plan.role {
        case .router:
            guard let peer else { return true }
            guard let connection = socket.accepted[peer], connection.alive else { return false }
            // A peer whose pipe is full fails the send, as one that went away (ZMQ_ROUTER_MANDATORY).
            return transmit(frame, on: connection, toServer: false)
        case .publisher:
            let topic = socket.plan.topic
            for connection in socket.accepted.values.sorted(by: { $0.peer.id.lexicographicallyPrecedes($1.peer.id) })
            where topic.hasPrefix(connection.subscription ?? "") {
                // A slow subscriber: PUB drops rather than waits.
                if faults.active && chance(faults.publisherDrop) {
                    counts.dropped += 1
                    continue
                }
                _ = transmit(frame, on: connection, toServer: false)
            }
        case .dealer, .push:
            for link in socket.links.indices {
                if let connection = socket.links[link].connection, connection.alive {
                    _ = transmit(frame, on: connection, toServer: true)
                } else if socket.plan.immediate {
                    // With ZMQ_IMMEDIATE nothing is queued for a peer that is not connected.
                    counts.dropped += 1
                } else if socket.links[link].pending.count < Self.pendingLimit {
                    socket.links[link].pending.append(frame)
                } else {
                    counts.dropped += 1
                }
            }
        case .pull, .subscriber:
            break
        }
        return true
    }

    /// The process a ROUTER's send to `peer` goes to, or a DEALER's or PUSH's when it has one endpoint.
    func destination(_ address: SocketAddress, _ peer: Peer?) -> Int? {
        let socket = sockets[address.process][address.socket]
        if let peer { return socket.accepted[peer]?.client.process }
        guard socket.links.count == 1 else { return nil }
        return bound[socket.links[0].endpoint]?.process
    }

    /// Puts a frame on a connection's pipe: it arrives after a delay, never before what was sent on the
    /// same pipe before it, unless the connection breaks first. False, and dropped, if the pipe is full.
    private func transmit(_ frame: [UInt8], on connection: SimulatedConnection, toServer: Bool) -> Bool {
        guard (toServer ? connection.queuedToServer : connection.queuedToClient) < Self.highWaterMark else {
            counts.dropped += 1
            return false
        }
        if toServer { connection.queuedToServer += 1 } else { connection.queuedToClient += 1 }
        var delay = Int64(random.next() % 3) + 1
        if faults.active && chance(faults.slowMessage) { delay += Int64(random.next() % 500) }
        let last = toServer ? connection.lastToServer : connection.lastToClient
        let arrival = max(queue.now + delay, last)
        if toServer { connection.lastToServer = arrival } else { connection.lastToClient = arrival }
        let target = toServer ? connection.server : connection.client
        let peer = toServer ? connection.peer : nil
        queue.at(arrival) { [self] in
            guard connection.alive else {
                counts.lost += 1
                return
            }
            arrived(frame, at: target, from: peer, on: connection, toServer: toServer)
        }
        return true
    }

    /// A pair of processes, in either order.
    struct Pair: Hashable {
        let low: Int, high: Int
        init(_ a: Int, _ b: Int) { (low, high) = (min(a, b), max(a, b)) }
    }
}
