import Glibc
import Core
import Wire
import ZeroMQ

/// The one event loop every Baton service runs, after beanstalkd's `prottick`/`socknext`: poll with the
/// core's next deadline, read what is waiting (within a turn's budget), end the turn (the service's core
/// decides and its store commits), and only then send what the turn produced. Nothing reaches the wire
/// before the state it reports is committed.
///
/// What every service gets here, once:
/// - a turn's reading shared among its sockets, a message from each in turn, and bounded by a budget in
///   which a heavy message (a SUBMIT of a thousand jobs) weighs more than one;
/// - its sockets made and bound as ``SocketPlan`` says, before it is ready;
/// - frames decoded, and those that do not decode dropped, counted and logged (at most once a minute);
/// - on a ROUTER, a frame of another protocol version answered DISCONNECT 505 naming both versions, the
///   peer forgotten, and the frame counted (`docs/protocol.md`, "Malformed and unknown messages");
/// - a message that does not belong on its socket counted as unexpected;
/// - with keys, on every socket it binds, only what a trusted key may send there taken, and a publisher's
///   subscriptions applied only for keys that may read it (``Gatekeeper``); what else arrives is refused,
///   counted and logged (at most once a second);
/// - a ROUTER peer that cannot be reached told to the service at once, not after its heartbeats run out;
/// - the loop's statistics (turns, messages per turn, commits) at debug level every 10 seconds.
///
/// The loop owns its sockets: one thread, one owner. A doorbell wakes it to stop, or when the service
/// has work of its own (a worker's attempts ending).
struct ServiceLoop<S: Service> {
    var service: S
    let context: Context
    let clock: any WallClock
    let log: Log
    let control: ServiceControl
    let counters: ServiceCounters
    /// The keys and the gatekeeper of a cluster with keys; nil for a keyless one.
    var security: LoopSecurity? = nil

    /// Runs the service until it is asked to stop and may.
    mutating func run(started: [(String, String)] = []) throws {
        let plans = service.sockets
        let security = self.security
        var sockets = try plans.map { try $0.open(context, security: security) }
        let topics = plans.map { Array($0.topic.utf8) }
        // The ZAP domain of each socket the gatekeeper guards.
        let domains = plans.map { plan in plan.guarded(security) ? security?.domain(of: plan) : nil }
        // Each guarded socket's handshakes that fail before the ZAP handler is asked (a peer without CURVE,
        // or with another server key), which only a monitor sees: counted and logged as refusals.
        var monitors: [Int: Socket] = [:]
        func watch(_ index: Int) throws {
            monitors.removeValue(forKey: index)?.close()
            guard domains[index] != nil else { return }
            let endpoint = "inproc://baton-handshakes-\(plans[index].name)-\(UInt64.random(in: 1...UInt64.max))"
            try sockets[index].monitor(endpoint, kinds: [.handshakeFailedProtocol, .handshakeFailedNoDetail])
            let monitor = try Socket(context, type: .pair)
            try monitor.connect(endpoint)
            monitors[index] = monitor
        }
        for index in plans.indices { try watch(index) }
        func makePoller() -> (Poller, [(socket: Int, item: Int)], doorbell: Int, monitored: [(socket: Int, item: Int)]) {
            var poller = Poller()
            var items: [(Int, Int)] = []
            for (index, plan) in plans.enumerated() where plan.read(guarded: domains[index] != nil) {
                items.append((index, poller.add(sockets[index])))
            }
            let doorbell = poller.add(fileDescriptor: control.doorbell.fileDescriptor)
            let monitored = monitors.sorted { $0.key < $1.key }.map { ($0.key, poller.add($0.value)) }
            return (poller, items, doorbell, monitored)
        }
        var (poller, readable, doorbell, monitored) = makePoller()
        var malformed = MalformedCounter(counters)
        // Keys removed so far: a publisher's subscriptions outlive the keys that made them, so its
        // connections are dropped when one is (its subscribers connect again, and the handler decides);
        // the service ends what it holds for the removed keys (a shard's workers).
        var revocations = security?.gate.ring.revocations ?? 0
        var dropSubscribers: [Int: String] = [:]
        var statistics = LoopStatistics(now: clock.now())
        var meter = LoopMeter()
        counters.attach(control.doorbell)
        defer { counters.detach() }
        log.info("started", fields: started)
        control.ready()

        /// Carries out actions; a ROUTER peer that cannot be reached is told to the service, which may
        /// answer with more actions.
        func carry(_ actions: [LoopAction], now: Timestamp) throws {
            var pending = actions
            while !pending.isEmpty {
                var lost: [(Peer, Int)] = []
                for action in pending {
                    switch action {
                    case .send(let message, let index, let peer):
                        meter.sent(message.id.rawValue)
                        if !send([message.encoded()], on: index, to: peer) { lost.append((peer!, index)) }
                    case .frame(let frame, let index, let peer):
                        if let id = Message.header(of: frame)?.id { meter.sent(id) }
                        if !send([frame], on: index, to: peer) { lost.append((peer!, index)) }
                    case .reopen(let index):
                        log.info("reconnecting", ["socket": plans[index].name, "to": plans[index].connect.joined(separator: ",")])
                        sockets[index].close()
                        sockets[index] = try plans[index].open(context, security: security)
                        try watch(index)
                        (poller, readable, doorbell, monitored) = makePoller()
                    }
                }
                pending = []
                for (peer, index) in lost { pending += try service.peerLost(peer, on: index, now: now) }
            }
        }

        /// Sends frames on a socket: after the envelope on a ROUTER (false if the peer is gone or not
        /// reading), after the topic on a PUB. A PUSH or DEALER that would block drops the message: what
        /// they carry is sent again until acknowledged.
        func send(_ frames: [[UInt8]], on index: Int, to peer: Peer?) -> Bool {
            let socket = sockets[index]
            switch plans[index].role {
            case .router:
                guard let peer else { return true }
                return (try? socket.send([peer.id] + frames, dontWait: true)) == true
            case .publisher:
                _ = try? socket.send([topics[index]] + frames, dontWait: true)
            case .dealer, .push, .pull, .subscriber:
                _ = try? socket.send(frames, dontWait: true)
            }
            return true
        }

        /// Closes a guarded publisher and binds it again, which ends every subscription it had.
        func rebind(_ index: Int, because why: String) throws {
            log.warning("dropping every subscriber: \(why)", ["socket": plans[index].name])
            sockets[index].close()
            // The old socket's listener closes on libzmq's own thread: its address is free a moment later.
            var tries = 0
            while true {
                do {
                    sockets[index] = try plans[index].open(context, security: security)
                    break
                } catch {
                    tries += 1
                    if tries >= 200 { throw error }
                    usleep(10_000)
                }
            }
            try watch(index)
            (poller, readable, doorbell, monitored) = makePoller()
        }

        while true {
            if control.isStopping && service.mayStop(now: clock.now()) { break }
            if let ring = security?.gate.ring, ring.revocations != revocations {
                revocations = ring.revocations
                for index in plans.indices where plans[index].role == .publisher && domains[index] != nil {
                    dropSubscribers[index] = "a key was removed"
                }
                let now = clock.now()
                try carry(try service.keysRemoved(trusted: { ring.identity(ofKey: $0) != nil }, now: now), now: now)
            }
            for (index, why) in dropSubscribers.sorted(by: { $0.key < $1.key }) { try rebind(index, because: why) }
            dropSubscribers = [:]
            let timeout = service.hasWork ? 0 : Self.timeout(until: service.nextDeadline(), now: clock.now())
            _ = try poller.poll(timeoutMilliseconds: timeout)
            let busy = statistics.mark()
            // Read only when rung: a read that finds the pipe empty is a system call a turn for nothing.
            if poller.ready(doorbell).contains(.readable) { control.doorbell.drain() }
            // One instant for the whole turn: what it commits together happened together.
            let now = clock.now()
            for (index, item) in monitored where poller.ready(item).contains(.readable) {
                while let frames = try monitors[index]?.receive(dontWait: true) {
                    guard SocketEvent(frames) != nil, let domain = domains[index] else { continue }
                    security?.gate.handshakeFailed(domain: domain, now: now)
                }
            }
            var budget = service.turnBudget
            var read = 0
            /// Takes one message read from socket `index`; false to read no more from it this turn.
            func take(_ frames: [[UInt8]], userID: String?, on index: Int) throws -> Bool {
                let plan = plans[index]
                // Who sent it, on a guarded socket: nothing is taken from a connection or key that may not send here.
                var sender: KeyIdentity?
                // A publisher's subscriber that went away: libzmq tells of its end, with no sender to check.
                if plan.role == .publisher, userID == nil, frames.count == 1, frames[0].first == 0 { return true }
                if let domain = domains[index], let gate = security?.gate {
                    guard let identity = gate.sender(userID: userID, domain: domain, now: now) else {
                        counters.countRefused()
                        return true
                    }
                    sender = identity
                    if plan.role == .publisher {
                        // Anything but a subscription would make libzmq (4.3.4) credit the next ones to the
                        // wrong subscriber: the publisher drops every connection instead.
                        guard try Self.subscription(frames, on: sockets[index]) else {
                            counters.countRefused()
                            dropSubscribers[index] = "a message that is not a subscription"
                            return false
                        }
                        return true
                    }
                }
                guard frames.count == plan.role.framesRead else {
                    malformed.record("\(frames.count) frames instead of \(plan.role.framesRead)", from: plan.name, now: now, log: log)
                    return true
                }
                let peer = plan.role == .router ? Peer(frames[0]) : nil
                let message: Message
                do {
                    message = try Message.decode(frames[frames.count - 1])
                } catch .unsupportedVersion(let version) {
                    let reason = "protocol version \(version) is not supported; this \(service.kind) speaks \(Message.version)"
                    malformed.record(reason, from: plan.name, now: now, log: log)
                    if let peer {
                        _ = send([Message.disconnect(Disconnect(status: .versionNotSupported, reason: reason)).encoded()], on: index, to: peer)
                        try carry(try service.peerLost(peer, on: index, now: now), now: now)
                    }
                    return true
                } catch {
                    malformed.record(error.description, from: plan.name, now: now, log: log)
                    return true
                }
                if let sender, let domain = domains[index], let gate = security?.gate, !gate.takes(message.id, from: sender, domain: domain, now: now) {
                    counters.countRefused()
                    return true
                }
                meter.received(message.id)
                budget -= service.weight(of: message) - 1
                if try !service.received(message, on: index, from: peer, sender: sender, now: now) {
                    malformed.record("unexpected \(message.id.name)", from: plan.name, now: now, log: log)
                }
                return true
            }
            // One message from each socket in turn, so that a flood on one (a shard's submissions) cannot
            // hold up another (its workers' results and heartbeats) for the whole turn.
            var waiting = readable.filter { poller.ready($0.1).contains(.readable) }.map(\.0)
            while budget > 0, !waiting.isEmpty {
                waiting = try waiting.filter { index in
                    guard budget > 0, let (frames, userID) = try sockets[index].receiveWithUserID(dontWait: true) else { return false }
                    budget -= 1
                    read += 1
                    return try take(frames, userID: userID, on: index)
                }
            }
            let ending = statistics.mark()
            let turn = try service.endTurn(now: now)
            if turn.committed {
                statistics.commit(since: ending)
                meter.committed(microseconds: statistics.mark() - ending)
            }
            statistics.turn(messages: read, busySince: busy)
            try carry(turn.actions, now: now)
            try service.afterTurn(now: now)
            meter.turn(busyMicroseconds: statistics.mark() - busy)
            statistics.report(now: now, log: log)
            let requests = counters.takeMetricRequests()
            if !requests.isEmpty {
                var metrics = Metrics()
                meter.write(into: &metrics, counters: counters)
                if let security {
                    let guarded = domains.compactMap { $0 }
                    metrics.counter(
                        "baton_refused_connections_total",
                        "Connections refused at the CURVE handshake: by the ZAP handler, a key not trusted or a role that may not connect there (reason key); before it, a peer without CURVE or with another server key (reason handshake).",
                        security.gate.deniedConnections(in: guarded), .init("reason", "key"))
                    metrics.counter("baton_refused_connections_total", "", security.gate.failedHandshakes(in: guarded), .init("reason", "handshake"))
                }
                // A figure that cannot be read (the store's size) leaves the others; it never stops the service.
                do {
                    try service.metrics(into: &metrics, now: now)
                } catch {
                    log.warning("cannot read every figure for /metrics", ["error": "\(error)"])
                }
                for deliver in requests { deliver(metrics) }
            }
        }
        try carry(service.stopping(now: clock.now()), now: clock.now())
        for socket in sockets { socket.close() }
        for monitor in monitors.values { monitor.close() }
        log.info("stopped", ["malformed": String(malformed.count)])
    }

    /// Applies a subscription (or its end) read from a guarded publisher, whose subscriber may read it;
    /// false for a message that is neither.
    private static func subscription(_ frames: [[UInt8]], on socket: Socket) throws -> Bool {
        guard frames.count == 1, let kind = frames[0].first, kind <= 1 else { return false }
        let topic = Array(frames[0].dropFirst())
        if kind == 1 { try socket.subscribe(topic) } else { try socket.unsubscribe(topic) }
        return true
    }

    /// The milliseconds to poll for, to reach `deadline` but never longer than a second.
    static func timeout(until deadline: Timestamp, now: Timestamp) -> Int {
        Int(max(0, min(deadline.since(now), 1000)))
    }
}
