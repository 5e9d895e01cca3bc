public import Wire

/// The workers registered with a shard: who they are, what credit they gave, which tasks they hold,
/// which were told of work (DEMAND), and when each must be heard from.
///
/// A worker registers with READY and is known by its connection (`Peer`) until it disconnects, goes
/// silent for `liveness` heartbeat intervals, or registers again. A new registration replaces the same
/// connection's and any earlier connection of the same worker (by name), whose leases become candidates:
/// the shard keeps those READY's `held` names and takes back the others.
///
/// A worker's name is bound to the key it registered with (``WorkerCredentials``): while a registration
/// or restored leases hold the name under one key, a READY naming it with another is to be refused
/// (``conflict(naming:key:on:)``), and replaces no one. Keyless workers all have the key nil.
///
/// After a restart, the leases restored from the store belong to no connection: they are orphans, kept
/// for their worker to claim by registering again, under the same name and key, within ``restartGrace(heartbeat:)``,
/// and taken back after it.
///
/// The registry decides nothing about tasks: it tells the shard which leases to keep or take back, whom
/// to send HEARTBEAT, and whom to tell that a DEMAND is over.
public struct WorkerRegistry: Sendable {
    /// A registered worker, as its current connection knows it.
    public struct Worker: Sendable {
        /// The connection it registered on.
        public var peer: Peer
        /// Its logical name, from READY: the same across connections and restarts of the process.
        public var name: String
        /// Drawn when the worker process starts: a new one means the process restarted.
        public var session: UInt64
        /// Who the connection is, and what its key may run; nil for a keyless connection.
        public var credentials: WorkerCredentials?
        /// What it can run, from READY.
        public var capabilities: Capabilities
        /// The most tasks in one set, by handler, for the handlers it takes sets for.
        public var sets: [String: Int]
        /// Tasks it may still be given.
        public var credit: Int
        /// The heartbeat interval agreed in WELCOME, in milliseconds.
        public var heartbeat: Int64
        /// When a message last came from it, and when one last went to it.
        public var lastHeard: Timestamp
        public var lastSent: Timestamp
        /// The tasks leased to it.
        public var leases: Set<UInt64> = []
        /// When it may next be told, out of credit, that there is work (DEMAND).
        public var nextDemand: Timestamp = .zero
        /// When a look for work to tell it of, which found none, is next worth waking for: a heartbeat
        /// on. It does not delay a DEMAND for work that arrives meanwhile (that arrival is a turn).
        public var recheck: Timestamp = .zero

        /// The key it registered with; nil for a keyless worker.
        public var key: String? { credentials?.key }
        /// The products whose tasks it may run; nil for any.
        public var products: Set<String>? { credentials?.products }

        /// Takes back the narrowest offer that could have run a task of `requirement`: command batches
        /// for a batched command, else commands; a handler's claimed sets while it offers them, else the
        /// handler. A worker that rejects again loses the wider offer.
        mutating func cannotRun(_ requirement: Requirement) {
            if requirement.kind == .command {
                if requirement.batched && capabilities.batches {
                    capabilities.batches = false
                } else {
                    capabilities.commands = false
                    capabilities.batches = false
                }
            } else if sets[requirement.handler] != nil {
                sets[requirement.handler] = nil
            } else {
                capabilities.handlers.remove(requirement.handler)
            }
        }
    }

    /// What holds a worker name under a key, keeping a READY that names it with another key out.
    public enum NameBinding: Equatable, Sendable {
        /// The worker registered under the name on another connection, with this key (nil: keyless).
        case registered(key: String?, peer: Peer)
        /// Leases restored after a restart, waiting for the name's worker with this key (nil: keyless).
        case restored(key: String?)

        /// The key the name is bound to.
        public var key: String? {
            switch self {
            case .registered(let key, _), .restored(let key): key
            }
        }
    }

    /// What time passing did to the workers (``tick(now:)``).
    public struct Expiry: Sendable {
        /// Workers silent for `liveness` intervals, in registration order: forgotten, their leases to take back.
        public var silent: [Worker] = []
        /// Workers sent nothing for an interval, in registration order: to send HEARTBEAT.
        public var heartbeats: [Peer] = []
        /// Orphaned leases whose grace ran out, with their worker's name, each worker's sorted: to take back.
        public var orphans: [(worker: String, tasks: [UInt64])] = []
    }

    /// When the registry next has something to do, and whether any worker has credit (``deadlines()``).
    public struct Deadlines: Sendable {
        /// The first heartbeat due, worker silent too long, or orphan grace ending.
        public var liveness: Timestamp?
        /// The first time a worker out of credit may be told of work again.
        public var demand: Timestamp?
        /// Whether any worker has credit left.
        public var anyCredit = false
    }

    /// The workers in the order one dispatch round serves them (``nextRound()``).
    public struct Round: Sequence, IteratorProtocol, Sendable {
        let order: [Peer]
        let start: Int
        var offset = 0

        /// The next worker of the round.
        public mutating func next() -> Peer? {
            guard offset < order.count else { return nil }
            defer { offset += 1 }
            return order[(start + offset) % order.count]
        }
    }

    /// The heartbeat interval given to a worker that asks for none, and the bounds of what it may ask.
    let heartbeat: UInt32
    let heartbeatRange: ClosedRange<UInt32>
    /// Silent intervals after which a worker is dead.
    let liveness: Int64

    private var workers: [Peer: Worker] = [:]
    /// Registration order, for handing out work in turn.
    private var order: [Peer] = []
    /// Where the next dispatch round starts in `order`.
    private var turn = 0
    /// Workers told of pending work (DEMAND) that have not been told it is over. A worker that goes
    /// away stays until the next withdrawal, which drops it without a word.
    private var demanded: Set<Peer> = []
    /// Restored leases of workers that have not registered since the shard started, by worker name and key.
    private var orphans: [String: [String?: Set<UInt64>]] = [:]
    /// When the orphans are taken back.
    private var orphansExpire: Timestamp = .zero
    /// One more each time a worker registers or goes: what the registered workers can run together is
    /// worked out again only when it changes.
    public private(set) var membership: UInt64 = 0

    /// No worker registered, on the shard's terms.
    public init(configuration: ShardConfiguration) {
        heartbeat = configuration.heartbeat
        heartbeatRange = configuration.heartbeatRange
        liveness = Int64(configuration.liveness)
    }

    /// How long a lease restored after a restart waits for its worker: twice the time in which a silent
    /// worker is declared dead, at the shard's own heartbeat interval, or at the worker's if it was
    /// granted a longer one (it may be silent that long before it notices the restart).
    public func restartGrace(heartbeat granted: Int64 = 0) -> Int64 { 2 * liveness * max(Int64(heartbeat), granted) }

    /// The number of registered workers.
    public var count: Int { workers.count }

    /// The registered worker on `peer`, if any.
    public subscript(peer: Peer) -> Worker? { workers[peer] }

    /// Every registered worker's credit together.
    public var credit: Int { workers.values.reduce(0) { $0 + $1.credit } }

    /// Every registered worker, in registration order.
    public var registered: [Worker] { order.compactMap { workers[$0] } }

    /// Leases restored after a restart whose workers have not registered again yet.
    public var orphanCount: Int { orphans.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } } }

    /// Tasks leased to registered workers.
    public var leaseCount: Int { workers.values.reduce(0) { $0 + $1.leases.count } }

    // MARK: - Registration

    /// Keeps a lease restored from the store for its worker, which has ``restartGrace(heartbeat:)`` from `now` to
    /// register again, with the same key, and claim it.
    public mutating func restored(_ task: UInt64, heldBy worker: String, key: String? = nil, heartbeat: Int64 = 0, now: Timestamp) {
        orphans[worker, default: [:]][key, default: []].insert(task)
        orphansExpire = max(orphansExpire, now.adding(milliseconds: restartGrace(heartbeat: heartbeat)))
    }

    /// What binds `name` to a key other than `key`, if anything: a registration on a connection other
    /// than `peer`, or leases restored for it. A READY naming it with `key` is then refused.
    public func conflict(naming name: String, key: String?, on peer: Peer) -> NameBinding? {
        for (other, worker) in workers where other != peer && worker.name == name && worker.key != key {
            return .registered(key: worker.key, peer: other)
        }
        if let restored = orphans[name], let holder = restored.keys.first(where: { $0 != key }) { return .restored(key: holder) }
        return nil
    }

    /// The session of another process registered as `name` with the same key on another connection and
    /// heard within two of its heartbeat intervals (a live worker sends something every one), if any: a
    /// READY of another session under that name is then refused (DISCONNECT 409) until that one stops, or
    /// falls silent. Two live processes under one name would take each other's leases, each READY taking
    /// back the other's attempts to run them again, at once, while they still ran. One silent for two
    /// intervals has likely died (killed, and started again at once): the new READY replaces it, and its
    /// leases are taken back, as ever.
    public func otherProcess(naming name: String, key: String?, session: UInt64, on peer: Peer, now: Timestamp) -> UInt64? {
        for (other, worker) in workers
        where other != peer && worker.name == name && worker.key == key && worker.session != session && now.since(worker.lastHeard) <= 2 * worker.heartbeat {
            return worker.session
        }
        return nil
    }

    /// Registers the worker of a READY on `peer`, in place of this connection's earlier registration and
    /// of any earlier connection of the same worker. Returns the new registration, and the leases it may
    /// claim: those of the registrations it replaces, and the worker's orphans restored under its key.
    /// The caller keeps those READY's `held` names (``leased(_:to:)``) and takes back the rest, and has
    /// refused the READY instead if the name is bound to another key (``conflict(naming:key:on:)``).
    public mutating func register(
        _ ready: Ready, peer: Peer, credentials: WorkerCredentials? = nil, now: Timestamp
    ) -> (worker: Worker, candidates: Set<UInt64>) {
        var candidates: Set<UInt64> = []
        if let index = orphans.index(forKey: ready.worker) {
            candidates = orphans.values[index].removeValue(forKey: credentials?.key) ?? []
            if orphans.values[index].isEmpty { orphans.remove(at: index) }
        }
        for (other, worker) in workers where other == peer || worker.name == ready.worker {
            candidates.formUnion(worker.leases)
            workers[other] = nil
            order.removeAll { $0 == other }
        }
        let interval =
            ready.heartbeat == 0 ? heartbeat : min(max(ready.heartbeat, heartbeatRange.lowerBound), heartbeatRange.upperBound)
        let worker = Worker(
            peer: peer, name: ready.worker, session: ready.session, credentials: credentials,
            capabilities: Capabilities(
                commands: ready.commands == 1, handlers: Set(ready.handlers),
                tags: credentials?.tags.map { Set(ready.tags).intersection($0) } ?? Set(ready.tags),
                batches: ready.batches == 1),
            sets: Dictionary(ready.sets.map { ($0.handler, Int($0.limit)) }, uniquingKeysWith: { first, _ in first }),
            credit: min(Int(ready.slots), Limits.credit), heartbeat: Int64(interval), lastHeard: now, lastSent: now)
        workers[peer] = worker
        order.append(peer)
        membership &+= 1
        return (worker, candidates)
    }

    /// Forgets the leases restored after a restart for workers of keys `trusted` no longer knows, which no
    /// READY can claim now; returns them by worker name, to be taken back.
    public mutating func dropOrphans(untrusted trusted: (String) -> Bool) -> [(worker: String, tasks: [UInt64])] {
        var dropped: [(worker: String, tasks: [UInt64])] = []
        for name in orphans.keys.sorted() {
            for key in orphans[name]!.keys.compactMap({ $0 }).sorted() where !trusted(key) {
                dropped.append((name, orphans[name]!.removeValue(forKey: key)!.sorted()))
            }
            if orphans[name]!.isEmpty { orphans[name] = nil }
        }
        return dropped
    }

    /// The worker on `peer` rejected a task of `requirement`: it cannot run that kind, so it is offered no
    /// such task again while registered (see ``Worker/cannotRun(_:)``); a READY starts afresh.
    public mutating func cannotRun(_ requirement: Requirement, on peer: Peer) {
        workers[peer]?.cannotRun(requirement)
    }

    /// Forgets the worker on `peer` (it disconnected, or could not be reached), returning it: its leases
    /// are to be taken back.
    public mutating func remove(_ peer: Peer) -> Worker? {
        guard let worker = workers.removeValue(forKey: peer) else { return nil }
        order.removeAll { $0 == peer }
        membership &+= 1
        return worker
    }

    // MARK: - Traffic

    /// Notes a message from `peer`; false if it is not registered.
    public mutating func heard(from peer: Peer, now: Timestamp) -> Bool {
        change(peer) { $0.lastHeard = now } != nil
    }

    /// Notes a message to `peer`.
    public mutating func sent(to peer: Peer, now: Timestamp) {
        change(peer) { $0.lastSent = now }
    }

    /// PULL: the worker gives credit, up to a million in all. Should it run out with work still waiting,
    /// it may be told so (DEMAND) at once: it has answered.
    public mutating func pulled(_ credit: UInt32, from peer: Peer) {
        change(peer) {
            $0.credit = min($0.credit + Int(credit), Limits.credit)
            $0.nextDemand = .zero
        }
    }

    /// RECALL: gives back up to `credit` of the worker's unused credit, and returns how much. As after
    /// PULL, the worker may be told at once of work waiting.
    public mutating func recalled(_ credit: UInt32, from peer: Peer) -> Int {
        change(peer) { worker in
            let released = min(worker.credit, Int(credit))
            worker.credit -= released
            worker.nextDemand = .zero
            return released
        } ?? 0
    }

    // MARK: - Leases

    /// Notes a task leased to the worker on `peer`, or a lease it claimed again on registering.
    public mutating func leased(_ task: UInt64, to peer: Peer) {
        change(peer) { _ = $0.leases.insert(task) }
    }

    /// Spends credit of the worker on `peer` on what was sent to it.
    public mutating func spend(_ credit: Int, of peer: Peer) {
        change(peer) { $0.credit -= credit }
    }

    /// Forgets a lease that ended (a result came, it was taken back, or its task left the shard's memory),
    /// whether its worker is registered or it is an orphan.
    public mutating func released(_ task: UInt64, from lease: Lease) {
        if let peer = lease.peer {
            change(peer) { _ = $0.leases.remove(task) }
        } else if let index = orphans.index(forKey: lease.worker), let held = orphans.values[index].index(forKey: lease.key) {
            orphans.values[index].values[held].remove(task)
            if orphans.values[index].values[held].isEmpty { orphans.values[index].remove(at: held) }
            if orphans.values[index].isEmpty { orphans.remove(at: index) }
        }
    }

    // MARK: - Dispatch rounds and demand

    /// Starts a dispatch round: every worker in registration order, from one further than the last round.
    public mutating func nextRound() -> Round {
        guard !order.isEmpty else { return Round(order: [], start: 0) }
        let start = turn % order.count
        turn = start + 1
        return Round(order: order, start: start)
    }

    /// The worker on `peer`, if it may be told of work now: it was not told within its heartbeat interval,
    /// or has given or recalled credit since.
    public func mayDemand(from peer: Peer, now: Timestamp) -> Worker? {
        guard let worker = workers[peer], now >= worker.nextDemand else { return nil }
        return worker
    }

    /// Notes a DEMAND sent: the next waits a heartbeat interval, unless the worker gives credit first.
    public mutating func demandSent(to peer: Peer, now: Timestamp) {
        guard change(peer, { $0.nextDemand = now.adding(milliseconds: $0.heartbeat) }) != nil else { return }
        demanded.insert(peer)
    }

    /// Notes a look for work to tell the worker on `peer` of that found none: the shard need not wake for
    /// it again before a heartbeat interval, or something else, has passed.
    public mutating func demandFoundNothing(for peer: Peer, now: Timestamp) {
        change(peer) { $0.recheck = now.adding(milliseconds: $0.heartbeat) }
    }

    /// Ends the demand of each worker told of work that `isOver` says can run none of what is left, and
    /// returns them: they are to be told so (DEMAND with `pending` 0), and stop favouring this shard.
    public mutating func withdrawDemands(where isOver: (Worker) -> Bool) -> [Peer] {
        guard !demanded.isEmpty else { return [] }
        var withdrawn: [Peer] = []
        for peer in demanded {
            guard let worker = workers[peer] else {
                demanded.remove(peer)
                continue
            }
            if isOver(worker) {
                demanded.remove(peer)
                withdrawn.append(peer)
            }
        }
        return withdrawn
    }

    // MARK: - Time

    /// Forgets the workers silent for `liveness` intervals, names those due a HEARTBEAT, and ends the
    /// orphans whose grace ran out.
    public mutating func tick(now: Timestamp) -> Expiry {
        var expiry = Expiry()
        for peer in order {
            guard let worker = workers[peer] else { continue }
            if now.since(worker.lastHeard) >= worker.heartbeat * liveness {
                if let silent = remove(peer) { expiry.silent.append(silent) }
            } else if now.since(worker.lastSent) >= worker.heartbeat {
                expiry.heartbeats.append(peer)
            }
        }
        if !orphans.isEmpty && orphansExpire <= now {
            expiry.orphans = orphans.map { name, byKey in (name, byKey.values.reduce(into: Set<UInt64>()) { $0.formUnion($1) }.sorted()) }
            orphans = [:]
        }
        return expiry
    }

    /// When ``tick(now:)`` next has something to do, when a worker out of credit may next be told of
    /// work, and whether any worker has credit: one look at every worker.
    public func deadlines() -> Deadlines {
        var deadlines = Deadlines()
        func earliest(_ time: Timestamp, _ current: Timestamp?) -> Timestamp { current.map { min($0, time) } ?? time }
        for worker in workers.values {
            if worker.credit == 0 { deadlines.demand = earliest(max(worker.nextDemand, worker.recheck), deadlines.demand) }
            if worker.credit > 0 { deadlines.anyCredit = true }
            let silent = worker.lastHeard.adding(milliseconds: worker.heartbeat * liveness)
            deadlines.liveness = earliest(worker.lastSent.adding(milliseconds: worker.heartbeat), deadlines.liveness)
            deadlines.liveness = earliest(silent, deadlines.liveness)
        }
        if !orphans.isEmpty { deadlines.liveness = earliest(orphansExpire, deadlines.liveness) }
        return deadlines
    }

    /// Changes the worker on `peer` in place, if it is registered.
    @discardableResult
    private mutating func change<Result>(_ peer: Peer, _ body: (inout Worker) -> Result) -> Result? {
        guard let index = workers.index(forKey: peer) else { return nil }
        return body(&workers.values[index])
    }
}
