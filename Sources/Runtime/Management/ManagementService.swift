public import Core
public import Store
import Wire
public import ZeroMQ

/// Where management listens, where the orchestrator is, and where management keeps its data.
public struct ManagementSettings: Sendable {
    public var configuration: ManagementConfiguration
    public var store: String
    public var synchronous: Database.Synchronous
    /// Endpoints to bind for the API (ROUTER).
    public var api: [String]
    /// The orchestrator's `ops` and `events` endpoints.
    public var orchestratorOps: String
    public var orchestratorEvents: String

    public init(
        shards: [UInt32], store: String, synchronous: Database.Synchronous = .normal, api: [String], orchestratorOps: String,
        orchestratorEvents: String
    ) {
        self.configuration = ManagementConfiguration(shards: shards)
        self.store = store
        self.synchronous = synchronous
        self.api = api
        self.orchestratorOps = orchestratorOps
        self.orchestratorEvents = orchestratorEvents
    }
}

/// Management's event loop: the API ROUTER, a DEALER to the orchestrator, and a SUB to its events.
public enum ManagementService {
    static let turnBudget = 1000

    /// Runs management; `bound` receives the API endpoints as bound (with the ports the OS chose).
    public static func run(
        _ settings: ManagementSettings, context: Context, clock: any WallClock = SystemClock(), log: Log,
        control: ServiceControl, counters: ServiceCounters = ServiceCounters(), bound: @Sendable ([String]) -> Void = { _ in }
    ) throws {
        let store = try ServiceStore.open("management", settings.store) {
            try ManagementStore(path: settings.store, synchronous: settings.synchronous)
        }
        var core = ManagementCore(configuration: settings.configuration, restoring: try store.open(), now: clock.now())
        var endpoints: [String] = []
        let api = try Socket(context, type: .router)
        try api.setRouterMandatory(true)
        try api.setMaxMessageSize(Sockets.maximumMessage)
        for endpoint in settings.api {
            do {
                try api.bind(endpoint)
            } catch let error as ZMQError {
                throw ServiceError("cannot bind the management API on \(endpoint): \(error.message)")
            }
            endpoints.append(endpoint.hasPrefix("tcp://") ? try api.lastEndpoint : endpoint)
        }
        bound(endpoints)
        let orchestrator = try Sockets.connected(context, .dealer, to: settings.orchestratorOps)
        let runEvents = try Sockets.subscriber(context, to: [settings.orchestratorEvents], topic: "flow.")
        var poller = Poller()
        let apiIndex = poller.add(api)
        let orchestratorIndex = poller.add(orchestrator)
        let eventsIndex = poller.add(runEvents)
        _ = poller.add(fileDescriptor: control.doorbell.fileDescriptor)
        var malformed = MalformedCounter(counters)
        log.info("started", ["api": endpoints.joined(separator: ","), "flows": String(core.flows.count), "runs": String(core.runs.count)])
        control.ready()
        var statistics = LoopStatistics(now: clock.now())

        while !control.isStopping {
            _ = try poller.poll(timeoutMilliseconds: Sockets.timeout(until: core.nextDeadline(), now: clock.now()))
            let busy = statistics.mark()
            control.doorbell.drain()
            let now = clock.now()
            var budget = turnBudget
            if poller.ready(apiIndex).contains(.readable) {
                while budget > 0, let frames = try api.receive(dontWait: true) {
                    budget -= 1
                    let peer = Peer(frames[0])
                    guard frames.count == 2 else {
                        malformed.record("\(frames.count) frames instead of 2", from: "api", now: now, log: log)
                        continue
                    }
                    switch Result(catching: { () throws(DecodingError) in try Message.decode(frames[1]) }) {
                    case .success(.apiRequest(let request)):
                        core.apiRequest(request, from: peer, now: now)
                    case .success(let other):
                        malformed.record("unexpected \(other.id.name)", from: "api", now: now, log: log)
                    case .failure(.unsupportedVersion(let version)):
                        let reason = "protocol version \(version) is not supported; management speaks \(Message.version)"
                        ShardService.send(api, peer, .disconnect(Disconnect(status: .versionNotSupported, reason: reason)))
                    case .failure(let error):
                        malformed.record(error.description, from: "api", now: now, log: log)
                    }
                }
            }
            for (index, socket, first) in [(orchestratorIndex, orchestrator, 0), (eventsIndex, runEvents, 1)]
            where poller.ready(index).contains(.readable) {
                while budget > 0, let frames = try socket.receive(dontWait: true) {
                    budget -= 1
                    guard let message = malformed.decode(frames, count: first + 1, from: "orchestrator", now: now, log: log) else { continue }
                    core.orchestratorMessage(message, now: now)
                }
            }
            core.tick(now: now)
            let turn = core.finishTurn()
            statistics.turn(messages: turnBudget - budget, busySince: busy)
            if turn.needsCommit {
                let committing = statistics.mark()
                try ServiceStore.commit(settings.store) { try store.commit(turn) }
                statistics.commit(since: committing)
            }
            for message in turn.toOrchestrator { _ = try orchestrator.send(message.encoded(), dontWait: true) }
            for (peer, message) in turn.replies { ShardService.send(api, peer, message) }
            for query in turn.histories {
                let entries = try store.history(run: query.run, product: query.product, limit: query.limit)
                let body = JSON.object([("actions", .array(entries.map(\.json)))])
                ShardService.send(api, query.peer, .apiReply(APIReply(request: query.request, status: .ok, body: body.rendered())))
            }
            statistics.report(now: now, log: log)
        }
        log.info("stopped", ["malformed": String(malformed.count)])
    }
}
