public import Core
public import Store
import Wire
public import ZeroMQ

/// Where a shard listens and keeps its data.
public struct ShardSettings: Sendable {
    /// The core's settings (ID, heartbeat terms, limits).
    public var configuration: ShardConfiguration
    /// The store's path, and how hard it syncs.
    public var store: String
    public var synchronous: Database.Synchronous
    /// Endpoints to bind: submissions (PULL), workers and catch-up (ROUTER), events (PUB).
    public var submit: [String]
    public var work: [String]
    public var events: [String]
    /// A test seam for write failures (beanstalkd's `falloc` swap): given each writing statement, a
    /// non-nil SQLite result code makes it fail as if SQLite had returned it (13 is SQLITE_FULL).
    public var storeFault: (@Sendable (String) -> Int32?)?

    public init(configuration: ShardConfiguration, store: String, synchronous: Database.Synchronous = .normal, submit: [String], work: [String], events: [String]) {
        self.configuration = configuration
        self.store = store
        self.synchronous = synchronous
        self.submit = submit
        self.work = work
        self.events = events
    }
}

/// The shard broker's event loop: poll, decode, feed the core, commit the turn, then send what it produced.
///
/// The loop owns its three sockets and its store. A turn drains what is waiting (up to a budget), so
/// one transaction covers many messages. If a commit fails (a full disk, a read-only folder) the
/// service stops: it never sends what it could not store.
public enum ShardService {
    /// The most messages read in one turn before committing.
    static let turnBudget = 2000

    /// Runs the shard until `control` says stop.
    public static func run(_ settings: ShardSettings, context: Context, clock: any WallClock = SystemClock(), log: Log, control: ServiceControl, counters: ServiceCounters = ServiceCounters()) throws {
        let store = try ServiceStore.open("shard-\(settings.configuration.shard)", settings.store) {
            try ShardStore(path: settings.store, synchronous: settings.synchronous)
        }
        store.database.faultInjector = settings.storeFault
        let (epoch, snapshot) = try store.open()
        var core = ShardCore(configuration: settings.configuration, epoch: epoch, restoring: snapshot, now: clock.now())
        let submit = try Sockets.bound(context, .pull, settings.submit)
        let work = try Sockets.router(context, binding: settings.work)
        let events = try Sockets.bound(context, .pub, settings.events, sendHighWaterMark: 100_000)
        let topic = Array("job.\(settings.configuration.publisher)".utf8)
        var poller = Poller()
        let submitIndex = poller.add(submit)
        let workIndex = poller.add(work)
        _ = poller.add(fileDescriptor: control.doorbell.fileDescriptor)
        var malformed = MalformedCounter(counters)
        log.info("started", ["epoch": String(epoch), "jobs": String(snapshot.jobs.count), "tasks": String(snapshot.tasks.count), "work": settings.work.joined(separator: ",")])
        control.ready()
        var lastTrim = clock.now()
        var statistics = LoopStatistics(now: clock.now())

        while !control.isStopping {
            _ = try poller.poll(timeoutMilliseconds: Sockets.timeout(until: core.nextDeadline(), now: clock.now()))
            let busy = statistics.mark()
            control.doorbell.drain()
            // One instant for the whole turn: what the turn commits together happened together, so a
            // task queued and handed out in the same turn has waited 0, whatever the turn took to read.
            let now = clock.now()
            var budget = turnBudget
            if poller.ready(submitIndex).contains(.readable) {
                while budget > 0, let frames = try submit.receive(dontWait: true) {
                    budget -= 1
                    guard let message = malformed.decode(frames, count: 1, from: "submit", now: now, log: log) else { continue }
                    guard case .submit(let jobs) = message else {
                        malformed.record("\(message.id.name) where only SUBMIT belongs", from: "submit", now: now, log: log)
                        continue
                    }
                    let unknown = jobs.jobs.map(\.key).filter { !core.knows($0) }
                    let lookup = try store.lookup(for: jobs.jobs, unknown: unknown, now: now)
                    core.submitted(jobs.jobs, lookup: lookup, now: now)
                }
            }
            if poller.ready(workIndex).contains(.readable) {
                while budget > 0, let frames = try work.receive(dontWait: true) {
                    budget -= 1
                    guard frames.count == 2 else {
                        malformed.record("\(frames.count) frames instead of 2", from: "work", now: now, log: log)
                        continue
                    }
                    let peer = Peer(frames[0])
                    let message: Message
                    do {
                        message = try Message.decode(frames[1])
                    } catch .unsupportedVersion(let version) {
                        let reason = "protocol version \(version) is not supported; this shard speaks \(Message.version)"
                        send(work, peer, .disconnect(Disconnect(status: .versionNotSupported, reason: reason)))
                        malformed.record(reason, from: "work", now: now, log: log)
                        continue
                    } catch {
                        malformed.record(error.description, from: "work", now: now, log: log)
                        continue
                    }
                    switch message {
                    case .fetch(let fetch): try answer(fetch, to: peer, on: work, store: store, epoch: epoch)
                    case .control(let control): core.controlReceived(control, from: peer, now: now)
                    default: core.received(message, from: peer, now: now)
                    }
                }
            }
            core.tick(now: now)
            var turn = core.finishTurn(now: now)
            statistics.turn(messages: turnBudget - budget, busySince: busy)
            logStarving(turn.starving, log: log, counters: counters)
            while true {
                let committing = statistics.mark()
                let frame = try ServiceStore.commit(settings.store) { try store.commit(turn, now: now) }
                if turn.needsCommit { statistics.commit(since: committing) }
                if let frame { try events.send([topic, frame], dontWait: true) }
                if let beacon = turn.beacon { try events.send([topic, Message.beacon(beacon).encoded()], dontWait: true) }
                var lost: [Peer] = []
                for (peer, message) in turn.messages where !send(work, peer, message) { lost.append(peer) }
                guard !lost.isEmpty else { break }
                // A worker that cannot be reached loses its leases now, not after its heartbeats run out.
                for peer in lost { core.peerLost(peer, now: now) }
                turn = core.finishTurn(now: now)
            }
            if now.since(lastTrim) >= 60_000 {
                try store.log.trim(now: now)
                lastTrim = now
            }
            statistics.report(now: now, log: log)
        }
        log.info("stopped", ["malformed": String(malformed.count)])
    }

    /// Logs the starving episodes a turn found, a few lines at most, and counts them.
    static func logStarving(_ reports: [StarvationReport], log: Log, counters: ServiceCounters) {
        guard !reports.isEmpty else { return }
        counters.countStarving(reports.count)
        for report in reports.prefix(5) {
            log.warning(
                "a product is starving: served first", ["product": report.product, "waited_ms": String(report.waited), "expected_ms": String(report.expected)])
        }
        if reports.count > 5 { log.warning("more products are starving", ["more": String(reports.count - 5)]) }
    }

    /// Sends one message to a ROUTER peer; false if the peer is gone or not reading.
    @discardableResult
    static func send(_ socket: Socket, _ peer: Peer, _ message: Message) -> Bool {
        do {
            return try socket.send([peer.id, message.encoded()], dontWait: true)
        } catch {
            return false
        }
    }

    /// Answers FETCH from the event log: the messages after `after`, then FETCHED.
    static func answer(_ fetch: Fetch, to peer: Peer, on socket: Socket, store: ShardStore, epoch: UInt32) throws {
        try EventLogReplay.answer(fetch, to: peer, on: socket, log: store.log, epoch: epoch)
    }
}

/// Answers FETCH for any publisher with an event log.
enum EventLogReplay {
    static func answer(_ fetch: Fetch, to peer: Peer, on socket: Socket, log: EventLog, epoch: UInt32) throws {
        let newest = try log.newest()
        let oldest = try log.oldest()
        if oldest > 0 && fetch.after + 1 < oldest {
            ShardService.send(socket, peer, .fetched(Fetched(status: .gone, epoch: epoch, sequence: newest, oldest: oldest)))
            return
        }
        let limit = Int(min(max(fetch.limit, 1), 1000))
        let frames = try log.frames(after: fetch.after, limit: limit)
        for frame in frames {
            guard (try? socket.send([peer.id, frame], dontWait: true)) == true else { return }
        }
        let last = fetch.after + UInt64(frames.count)
        let status: Status = last < newest ? .partial : .ok
        ShardService.send(socket, peer, .fetched(Fetched(status: status, epoch: epoch, sequence: newest, oldest: oldest)))
    }
}
