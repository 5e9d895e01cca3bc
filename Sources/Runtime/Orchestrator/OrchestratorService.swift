public import Core
public import Store
import Wire
public import ZeroMQ

/// The endpoints of one shard, as its clients reach them.
public struct ShardAddress: Sendable, Equatable {
    public var shard: UInt32
    public var submit: String
    public var work: String
    public var events: String

    public init(shard: UInt32, submit: String, work: String, events: String) {
        self.shard = shard
        self.submit = submit
        self.work = work
        self.events = events
    }
}

/// Where an orchestrator listens, where its shards are, and where it keeps its data.
public struct OrchestratorSettings: Sendable {
    public var configuration: OrchestratorConfiguration
    public var store: String
    public var synchronous: Database.Synchronous
    /// Endpoints to bind: operations and catch-up (ROUTER), run events (PUB).
    public var ops: [String]
    public var events: [String]
    /// The shards to submit to and subscribe to.
    public var shards: [ShardAddress]

    public init(store: String, synchronous: Database.Synchronous = .normal, ops: [String], events: [String], shards: [ShardAddress]) {
        self.configuration = OrchestratorConfiguration(shards: shards.map(\.shard))
        self.store = store
        self.synchronous = synchronous
        self.ops = ops
        self.events = events
        self.shards = shards
    }
}

/// The orchestrator's event loop.
///
/// It owns a ROUTER for management, a PUB for run events, one SUB for every shard's events, and for
/// each shard a PUSH for submissions and a DEALER for catch-up. Each turn commits once, then submits,
/// publishes and answers.
public enum OrchestratorService {
    static let turnBudget = 2000
    /// Jobs per SUBMIT message.
    static let submitBatch = 1000

    public static func run(_ settings: OrchestratorSettings, context: Context, clock: any WallClock = SystemClock(), log: Log, control: ServiceControl, counters: ServiceCounters = ServiceCounters()) throws {
        let store = try ServiceStore.open("the orchestrator", settings.store) {
            try OrchestratorStore(path: settings.store, synchronous: settings.synchronous)
        }
        let (epoch, snapshot) = try store.open(shards: settings.configuration.shards)
        var core = OrchestratorCore(configuration: settings.configuration, epoch: epoch, restoring: snapshot, now: clock.now())
        let ops = try Sockets.router(context, binding: settings.ops)
        let events = try Sockets.bound(context, .pub, settings.events, sendHighWaterMark: 100_000)
        let updates = try Sockets.subscriber(context, to: settings.shards.map(\.events), topic: "job.")
        var pushes: [UInt32: Socket] = [:]
        var dealers: [UInt32: Socket] = [:]
        var poller = Poller()
        let opsIndex = poller.add(ops)
        let updatesIndex = poller.add(updates)
        var dealerIndex: [(UInt32, Int)] = []
        for shard in settings.shards {
            pushes[shard.shard] = try Sockets.connected(context, .push, to: shard.submit, immediate: true)
            let dealer = try Sockets.connected(context, .dealer, to: shard.work)
            dealers[shard.shard] = dealer
            dealerIndex.append((shard.shard, poller.add(dealer)))
        }
        _ = poller.add(fileDescriptor: control.doorbell.fileDescriptor)
        let topic = Array("flow.\(settings.configuration.publisher)".utf8)
        let shardOf = Dictionary(uniqueKeysWithValues: settings.shards.map { ("shard-\($0.shard)", $0.shard) })
        var malformed = MalformedCounter(counters)
        log.info("started", ["epoch": String(epoch), "runs": String(snapshot.runs.count), "shards": String(settings.shards.count)])
        control.ready()
        var lastTrim = clock.now()
        var statistics = LoopStatistics(now: clock.now())

        while !control.isStopping {
            _ = try poller.poll(timeoutMilliseconds: Sockets.timeout(until: core.nextDeadline(), now: clock.now()))
            let busy = statistics.mark()
            control.doorbell.drain()
            let now = clock.now()
            var budget = turnBudget
            if poller.ready(opsIndex).contains(.readable) {
                while budget > 0, let frames = try ops.receive(dontWait: true) {
                    budget -= 1
                    guard let message = malformed.decode(frames, count: 2, from: "ops", now: now, log: log) else { continue }
                    let peer = Peer(frames[0])
                    switch message {
                    case .operationRequest(let request):
                        // An action on a run that has left memory takes it back from the store first.
                        if request.action != .start && request.run != 0 && !core.holds(run: request.run),
                            let run = try store.run(request.run)
                        {
                            core.adopt(run)
                        }
                        core.operationReceived(request, from: peer, now: now)
                    case .runQuery(let query):
                        let detail = try core.detail(of: query.run, request: query.request) ?? storedDetail(query, store: store)
                        ShardService.send(ops, peer, .runDetail(detail))
                    case .fetch(let fetch):
                        try EventLogReplay.answer(fetch, to: peer, on: ops, log: store.log, epoch: epoch)
                    default:
                        malformed.record("unexpected \(message.id.name)", from: "ops", now: now, log: log)
                    }
                }
            }
            if poller.ready(updatesIndex).contains(.readable) {
                while budget > 0, let frames = try updates.receive(dontWait: true) {
                    budget -= 1
                    guard let message = malformed.decode(frames, count: 2, from: "shard events", now: now, log: log) else { continue }
                    deliver(message, to: &core, shardOf: shardOf, now: now, malformed: &malformed, log: log)
                }
            }
            for (shard, index) in dealerIndex where poller.ready(index).contains(.readable) {
                while budget > 0, let frames = try dealers[shard]!.receive(dontWait: true) {
                    budget -= 1
                    guard let message = malformed.decode(frames, count: 1, from: "shard-\(shard)", now: now, log: log) else { continue }
                    switch message {
                    case .fetched(let fetched): core.fetchedReceived(fetched, from: shard, now: now)
                    case .controlResult(let result): core.controlResultReceived(result, now: now)
                    default: deliver(message, to: &core, shardOf: shardOf, now: now, malformed: &malformed, log: log)
                    }
                }
            }
            core.tick(now: now)
            let turn = core.finishTurn(now: now)
            statistics.turn(messages: turnBudget - budget, busySince: busy)
            if turn.needsCommit {
                let committing = statistics.mark()
                if let frame = try ServiceStore.commit(settings.store, { try store.commit(turn, now: now) }) {
                    try events.send([topic, frame], dontWait: true)
                }
                statistics.commit(since: committing)
            }
            if let beacon = turn.beacon { try events.send([topic, Message.beacon(beacon).encoded()], dontWait: true) }
            for (shard, jobs) in turn.submits {
                var start = 0
                while start < jobs.count {
                    let batch = Array(jobs[start..<min(start + submitBatch, jobs.count)])
                    // A PUSH that would block (shard away) loses nothing: unaccepted jobs are sent again.
                    _ = try pushes[shard]?.send(Message.submit(Submit(jobs: batch)).encoded(), dontWait: true)
                    start += submitBatch
                }
            }
            for (shard, fetch) in turn.fetches {
                log.debug("fetching missed events", ["shard": String(shard), "after": String(fetch.after)])
                _ = try dealers[shard]?.send(Message.fetch(fetch).encoded(), dontWait: true)
            }
            for (shard, control) in turn.controlSends { _ = try dealers[shard]?.send(Message.control(control).encoded(), dontWait: true) }
            for (peer, message) in turn.replies { ShardService.send(ops, peer, message) }
            if now.since(lastTrim) >= 60_000 {
                try store.log.trim(now: now)
                lastTrim = now
            }
            statistics.report(now: now, log: log)
        }
        log.info("stopped", ["malformed": String(malformed.count)])
    }

    private static func deliver(
        _ message: Message, to core: inout OrchestratorCore, shardOf: [String: UInt32], now: Timestamp,
        malformed: inout MalformedCounter, log: Log
    ) {
        switch message {
        case .jobUpdates(let updates):
            guard let shard = shardOf[updates.publisher] else {
                malformed.record("updates from unknown publisher \(updates.publisher)", from: "shard events", now: now, log: log)
                return
            }
            core.updatesReceived(updates, from: shard, now: now)
        case .beacon(let beacon):
            guard let shard = shardOf[beacon.publisher] else { return }
            core.beaconReceived(beacon, from: shard, now: now)
        default:
            malformed.record("unexpected \(message.id.name)", from: "shard", now: now, log: log)
        }
    }

    /// The detail of a run no longer in memory, from the store; 404 if the orchestrator never had it.
    static func storedDetail(_ query: RunQuery, store: OrchestratorStore) throws -> RunDetail {
        guard let run = try store.run(query.run) else {
            let unknown = RunStatus(run: query.run, product: "", flow: "", state: .failed, jobs: 0, started: 0, time: 0)
            return RunDetail(request: query.request, status: .notFound, run: unknown, jobs: [])
        }
        return RunDetail(request: query.request, status: .ok, run: run.status(now: run.lastChange), jobs: run.jobStatuses)
    }
}
