import Core
import Store
import Synchronization
import Wire

/// One process of the simulated cluster: the service it runs, over its store, and what the simulator
/// keeps of it across crashes (its place, its clock's skew, how often it started).
final class SimulatedProcess {
    enum Kind: Equatable {
        case management, orchestrator, shard(UInt32), worker(Int), timer(Int), client
    }

    let kind: Kind
    let name: String
    /// Makes the service anew from its store, as its process would start.
    let make: (SimulatedProcess, Timestamp) throws -> any Service
    var service: (any Service)?
    var up = false
    var incarnation = 0
    /// How far this process's clock was stepped from virtual time, in milliseconds, forward or back.
    var skew: Int64 = 0
    /// How fast its clock runs against virtual time, in millionths: +100 gains 0.1 ms a second.
    var drift: Int64 = 0
    /// What arrived and waits for the next turn, with the pipe it came on.
    var inbox: [(socket: Int, peer: Peer?, frame: [UInt8], pipe: (connection: SimulatedConnection, toServer: Bool)?)] = []
    var turnDue = false
    var wakeAt: Int64?
    /// Until when, in virtual time, the process is stalled and takes no turn.
    var busyUntil: Int64 = 0
    /// How many turns it took in the current virtual second.
    var turnsSecond: (second: Int64, turns: Int) = (0, 0)
    /// Whether its disk fails, full or broken: every write fails, until it restarts.
    var diskFailing: Bool { disk.failure.load(ordering: .relaxed) != 0 }
    let disk = Disk()
    /// A worker's attempts, run in virtual time.
    let attempts = SimulatedAttempts()

    /// What the store's fault injector reads, from any thread: the SQLite error every write gets while
    /// the disk fails (0 while it works).
    final class Disk: Sendable {
        static let full: Int32 = 13  // SQLITE_FULL
        static let broken: Int32 = 10  // SQLITE_IOERR
        let failure = Atomic<Int32>(0)

        var injector: @Sendable (String) -> Int32? {
            { [self] _ in
                let code = failure.load(ordering: .relaxed)
                return code == 0 ? nil : code
            }
        }
    }

    init(_ kind: Kind, name: String, make: @escaping (SimulatedProcess, Timestamp) throws -> any Service) {
        self.kind = kind
        self.name = name
        self.make = make
    }

    var hasStore: Bool {
        switch kind {
        case .management, .orchestrator, .shard: true
        default: false
        }
    }

    func open(now: Timestamp) throws {
        service = try make(self, now)
    }

    /// The service's store, for a process that has one and is up.
    var database: Database? {
        if let shard = service as? ShardService { return shard.store.database }
        if let orchestrator = service as? OrchestratorService { return orchestrator.store.database }
        if let management = service as? ManagementService { return management.store.database }
        return nil
    }

    /// Lets go of the service and closes its store as a crash leaves it: what was committed stays.
    func close() {
        database?.close()
        service = nil
        attempts.reset()
    }
}

/// The attempts a simulated worker started, for the simulator to end in virtual time.
final class SimulatedAttempts {
    var started: [(WorkerCore.AttemptID, TaskSpec)] = []
    var ended: [(WorkerCore.AttemptID, Outcome, Int32)] = []
    var stopped: [WorkerCore.AttemptID] = []
    var abandoned: Set<WorkerCore.AttemptID> = []
    var running: Set<WorkerCore.AttemptID> = []

    func reset() {
        started = []
        ended = []
        stopped = []
        abandoned = []
        running = []
    }
}

/// A worker whose attempts take virtual time: the worker's real core, with the simulator for a runtime.
struct SimulatedWorker: Service {
    let name: String
    let shards: [String]
    var core: WorkerCore
    let attempts: SimulatedAttempts
    var starting = true

    var turnBudget: Int { 10_000 }
    var sockets: [SocketPlan] { shards.enumerated().map { .dealer("shard \($0.offset + 1)", to: $0.element) } }
    var hasWork: Bool { starting }

    func nextDeadline() -> Timestamp { core.nextDeadline() }

    mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
        core.received(message, on: socket, now: now)
        return true
    }

    mutating func endTurn(now: Timestamp) throws -> TurnEnd {
        starting = false
        for (id, outcome, exitCode) in attempts.ended {
            // One abandoned, or begun before a crash, is nobody's now.
            guard attempts.running.remove(id) != nil else { continue }
            core.attemptEnded(
                id, outcome: outcome, exitCode: exitCode, output: "", log: "", error: outcome == .succeeded ? "" : "simulated failure",
                data: outcome == .succeeded ? Array("ok".utf8) : [], now: now)
        }
        attempts.ended = []
        core.tick(now: now)
        var actions: [LoopAction] = []
        for effect in core.finishTurn(now: now) {
            switch effect {
            case .send(let link, let message): actions.append(.send(message, socket: link))
            case .reconnect(let link): actions.append(.reopen(socket: link))
            case .start(let id, let spec): start(id, spec)
            case .startSet(let link, _, let specs):
                for spec in specs { start(WorkerCore.AttemptID(link: link, ref: spec.ref), spec) }
            case .signal(let id, _): attempts.stopped.append(id)
            case .abandon(let id):
                attempts.running.remove(id)
                attempts.abandoned.insert(id)
            case .refused, .forbidden, .turnedAway: break
            }
        }
        return TurnEnd(committed: false, actions: actions)
    }

    private func start(_ id: WorkerCore.AttemptID, _ spec: TaskSpec) {
        attempts.running.insert(id)
        attempts.started.append((id, spec))
    }
}

/// The operator: one DEALER to management's API, with what the workload asks sent at its turns.
struct SimulatedOperator: Service {
    let api: String
    let workload: () -> Workload

    var name: String { "operator" }
    var turnBudget: Int { 1000 }
    var sockets: [SocketPlan] { [.dealer("management", to: api)] }

    func nextDeadline() -> Timestamp { Timestamp(milliseconds: Int64.max / 4) }

    mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
        guard case .apiReply(let reply) = message else { return false }
        workload().replied(reply)
        return true
    }

    mutating func endTurn(now: Timestamp) throws -> TurnEnd {
        let requests = workload().takeOutbox()
        return TurnEnd(committed: false, actions: requests.map { .send(.apiRequest($0), socket: 0) })
    }
}
