import Wire

/// The worker's links to its shards: registration (READY, WELCOME), heartbeats, reconnection of a link
/// whose shard went silent, and the credit each shard is given.
extension WorkerCore {
    /// A worker's connection to one shard.
    public struct Link: Equatable, Sendable {
        public enum State: Equatable, Sendable {
            /// READY sent (at the time given), WELCOME not received.
            case registering(since: Timestamp)
            /// WELCOME received.
            case registered
            /// The shard refused this worker for good (another protocol version).
            case refused(reason: String)
        }
        public var state: State
        /// The heartbeat interval, from WELCOME (until then, the worker's own).
        public var heartbeat: Int64
        public var liveness: Int64
        public var lastHeard: Timestamp
        public var lastSent: Timestamp
        /// Credit given to this shard and not yet used.
        public var credit: Int
        /// When a READY not answered by WELCOME is given up on and the socket reopened (never sooner than
        /// `liveness` intervals after the READY), and the wait after that: it doubles at each reconnection
        /// and starts again from one interval at each WELCOME
        /// (``WorkerConfiguration/reconnectBackoff(heartbeat:)``).
        public var backoff: ResendSchedule
        /// The shard's epoch, from WELCOME.
        public var epoch: UInt32
        /// Tasks the shard said it has for this worker (DEMAND), less those received since.
        public var demand: UInt32 = 0
        /// The share of the worker's time the shard asked for with its DEMAND: the weight of its products
        /// with work waiting.
        public var demandWeight: UInt32 = 1
        /// The link's place in sharing the worker's slots between demanding shards: each credit given moves it
        /// on by what a credit of this shard costs (``slotTimes``' mean) over its demand weight.
        public var pass = 0.0
        /// How long this shard's recent credits kept a slot, in milliseconds: a task's run, or a set's.
        public var slotTimes = SlidingWindow(capacity: 64)
        /// Whether a RECALL to this shard awaits its RECALLED.
        public var recalling = false
        /// The largest result the shard accepts, in octets: WELCOME's `result-limit`, or
        /// ``WorkerCore/defaultResultLimit`` until the first WELCOME.
        public var resultLimit = WorkerCore.defaultResultLimit

        /// When a link waiting for WELCOME since `since` reopens its socket.
        func reconnectDue(since: Timestamp) -> Timestamp {
            max(backoff.due, since.adding(milliseconds: heartbeat * liveness))
        }
    }

    /// The result limit assumed for a shard that has not said its own: 1 MiB, the shards' default.
    public static let defaultResultLimit: UInt32 = 1 << 20

    /// The largest result the shard of `link` accepts, in octets.
    public func resultLimit(of link: Int) -> Int {
        links.indices.contains(link) ? Int(links[link].resultLimit) : Int(Self.defaultResultLimit)
    }

    // MARK: - Registration

    /// Registers with every shard, splitting the slots between them: the first thing a worker does.
    public mutating func start(now: Timestamp) {
        let count = links.count
        for index in links.indices {
            register(index, opening: configuration.slots / count + (index < configuration.slots % count ? 1 : 0), now: now)
        }
    }

    /// Registers a link again (a new socket, or after DISCONNECT 401). While another link is registered it
    /// opens with no credit: its shard may be gone for a while, and slots promised to it could not be
    /// recalled. Credit reaches it after WELCOME, where there is demand.
    private mutating func register(_ index: Int, now: Timestamp) {
        links[index].credit = 0
        let othersRegistered = links.indices.contains { $0 != index && links[$0].state == .registered }
        register(index, opening: othersRegistered ? 0 : available, now: now)
    }

    private mutating func register(_ index: Int, opening share: Int, now: Timestamp) {
        // A new conversation: a RECALL or DEMAND of the old one means nothing any more. A draining worker
        // registers still, with no credit, to claim what it holds and deliver its results.
        let share = draining ? 0 : share
        links[index].recalling = false
        links[index].demand = 0
        links[index].credit = share
        links[index].state = .registering(since: now)
        links[index].lastHeard = now
        let held = (running.keys.filter { $0.link == index } + unreceipted.keys.filter { $0.link == index }).map(\.ref)
        send(
            index,
            .ready(
                Ready(
                    worker: configuration.name, session: session, slots: UInt32(share), heartbeat: configuration.heartbeat,
                    commands: configuration.commands ? 1 : 0, tags: configuration.tags, handlers: configuration.handlers,
                    held: held.sorted { ($0.task, $0.attempt) < ($1.task, $1.attempt) },
                    sets: configuration.sets.sorted { $0.key < $1.key }.map { SetOffer(handler: $0.key, limit: UInt32($0.value)) },
                    batches: configuration.commands ? 1 : 0)),
            now: now)
    }

    func isRefused(_ index: Int) -> Bool {
        if case .refused = links[index].state { return true }
        return false
    }

    mutating func send(_ index: Int, _ message: Message, now: Timestamp) {
        effects.append(.send(link: index, message))
        links[index].lastSent = now
    }

    /// Reopens a link whose shard went silent, then registers again; the next reconnection waits longer.
    private mutating func reconnect(_ index: Int, now: Timestamp) {
        links[index].credit = 0
        links[index].backoff.resent(at: now, policy: configuration.reconnectBackoff(heartbeat: links[index].heartbeat))
        effects.append(.reconnect(link: index))
        register(index, now: now)
    }

    // MARK: - Messages from shards

    /// WELCOME: the link is registered, on the shard's heartbeat, and its reconnections start again from
    /// one interval.
    mutating func welcomed(_ welcome: Welcome, on index: Int, now: Timestamp) {
        let heartbeat = Int64(welcome.heartbeat)
        links[index].state = .registered
        links[index].heartbeat = heartbeat
        links[index].liveness = Int64(max(welcome.liveness, 1))
        links[index].backoff = ResendSchedule(sentAt: now, policy: configuration.reconnectBackoff(heartbeat: heartbeat))
        links[index].epoch = welcome.epoch
        links[index].resultLimit = welcome.resultLimit
        // A READY sent before the worker began to drain gave credit the shard holds now: taken back.
        if draining && links[index].credit > 0 && !links[index].recalling {
            links[index].recalling = true
            send(index, .recall(Recall(credit: UInt32(links[index].credit))), now: now)
        }
    }

    mutating func demanded(_ demand: Demand, on index: Int) {
        if links[index].demand == 0 && demand.pending > 0 {
            // A shard asking again earns nothing for the time it did not ask.
            links[index].pass = max(links[index].pass, creditClock)
        }
        links[index].demand = demand.pending
        links[index].demandWeight = max(1, demand.weight)
    }

    mutating func recalled(_ recalled: Recalled, on index: Int, now: Timestamp) {
        links[index].credit = max(0, links[index].credit - Int(recalled.credit))
        links[index].recalling = false
        // Credit given back was credit the shard had no work for: any DEMAND before it is over. With
        // none given back, the shard had used it all, and a DEMAND it sent before still stands.
        if recalled.credit > 0 { links[index].demand = 0 }
        // A RECALL in flight when the drain began covered only the credit given before it: the rest too.
        if draining && links[index].credit > 0 {
            links[index].recalling = true
            send(index, .recall(Recall(credit: UInt32(links[index].credit))), now: now)
        }
    }

    /// DISCONNECT: 401 registers again on the same socket; 403 stops the link's attempts and waits, as for
    /// a READY not answered, then reopens the socket; 505 refuses the worker for good; any other waits
    /// likewise, its attempts going on, then reopens the socket.
    mutating func disconnected(_ disconnect: Disconnect, on index: Int, now: Timestamp) {
        if disconnect.status == .unknownPeer {
            // While a READY waits for its WELCOME, a 401 answers a message sent before that READY (each
            // message queued while the shard restarted gets one): the READY already registers again.
            if case .registering = links[index].state { return }
            register(index, now: now)
        } else if disconnect.status == .forbidden {
            // The worker's name is bound to another key there, or its key was removed: a READY now would
            // be refused again. The shard took back every lease of this connection, so its attempts stop
            // (their results would be refused), and its slots go back to the others until the backoff is
            // over (``tickLinks(now:)``).
            links[index].credit = 0
            links[index].demand = 0
            links[index].recalling = false
            links[index].state = .registering(since: now)
            // Once the link no longer counts as registered: the ends of its attempts wait for the next WELCOME.
            for id in running.keys.filter({ $0.link == index }).sorted(by: { ($0.ref.task, $0.ref.attempt) < ($1.ref.task, $1.ref.attempt) }) {
                stop(id, outcome: .cancelled, reason: "the shard refused this worker: \(disconnect.reason)", grace: configuration.killGrace, now: now)
            }
            effects.append(.forbidden(link: index, reason: disconnect.reason))
        } else if disconnect.status == .versionNotSupported {
            links[index].state = .refused(reason: disconnect.reason)
            links[index].credit = 0
            effects.append(.refused(link: index, reason: disconnect.reason))
        } else {
            // Any other status: the socket is reopened after the reconnection backoff (``tickLinks(now:)``),
            // not at once, so that a shard answering every READY so cannot keep the worker in a loop.
            links[index].credit = 0
            links[index].demand = 0
            links[index].recalling = false
            links[index].state = .registering(since: now)
            effects.append(.turnedAway(link: index, status: disconnect.status.rawValue, reason: disconnect.reason))
        }
    }

    // MARK: - Time

    /// Heartbeats, and reconnects links whose shard is silent.
    mutating func tickLinks(now: Timestamp) {
        for index in links.indices where !isRefused(index) {
            let link = links[index]
            let silentFor = now.since(link.lastHeard)
            switch link.state {
            case .registered where silentFor >= link.heartbeat * link.liveness:
                reconnect(index, now: now)
            case .registering(let since) where now >= link.reconnectDue(since: since):
                reconnect(index, now: now)
            case .registered where now.since(link.lastSent) >= link.heartbeat:
                send(index, .heartbeat, now: now)
            default:
                break
            }
        }
    }

    /// The next time ``tickLinks(now:)`` has something to do.
    func linksDeadline() -> Timestamp {
        var next = Timestamp(milliseconds: .max)
        for link in links {
            switch link.state {
            case .registered:
                next = min(next, link.lastSent.adding(milliseconds: link.heartbeat))
                next = min(next, link.lastHeard.adding(milliseconds: link.heartbeat * link.liveness))
            case .registering(let since):
                next = min(next, link.reconnectDue(since: since))
            case .refused:
                break
            }
        }
        return next
    }

    // MARK: - Credit

    /// Gives free slots to shards as credit: to those that sent DEMAND first, in proportion to the weight
    /// each asked for and to what its credits cost in slot time (stride scheduling, so that equal products
    /// get equal worker time whichever shard they are bound to); with none demanding, to every shard in
    /// turn. With no slot free, a demanding shard out of credit gets credit recalled from a shard that
    /// holds some and has not said it has work: a shard with credit and work would already have used it.
    mutating func giveCredit(now: Timestamp) {
        let registered = links.indices.filter { links[$0].state == .registered }
        guard !registered.isEmpty else { return }
        let demanding = registered.filter { links[$0].demand > 0 }
        var free = available
        while free > 0 {
            let index: Int
            if let first = demanding.min(by: { (links[$0].pass, $0) < (links[$1].pass, $1) }) {
                index = first
                creditClock = max(creditClock, links[index].pass)
                links[index].pass += slotTime(of: index) / Double(links[index].demandWeight)
            } else {
                index = registered[linkTurn % registered.count]
                linkTurn += 1
            }
            links[index].credit += 1
            creditGiven[index, default: 0] += 1
            free -= 1
        }
        for (index, credit) in creditGiven.sorted(by: { $0.key < $1.key }) {
            send(index, .pull(Pull(credit: credit)), now: now)
        }
        guard demanding.contains(where: { links[$0].credit == 0 }) else { return }
        // Only from shards that have not said they have work: those use the credit they hold.
        for index in registered where links[index].credit > 0 && links[index].demand == 0 && !links[index].recalling {
            links[index].recalling = true
            send(index, .recall(Recall(credit: UInt32(links[index].credit))), now: now)
        }
    }

    /// What one credit given to the shard of `link` is expected to keep a slot for: its recent mean, else
    /// that of every shard, else 1 ms.
    private func slotTime(of link: Int) -> Double {
        if links[link].slotTimes.count > 0 { return max(1, links[link].slotTimes.mean) }
        let known = links.filter { $0.slotTimes.count > 0 }
        guard !known.isEmpty else { return 1 }
        return max(1, known.reduce(0) { $0 + $1.slotTimes.mean } / Double(known.count))
    }
}
