import Core
import Store
import Wire

/// The simulated cluster: its processes, their endpoints and stores, and the workers' attempts.
extension Simulation {
    static let api = "sim://management/api"
    static let ops = "sim://orchestrator/ops"
    static let runEvents = "sim://orchestrator/events"

    static func shardAddress(_ shard: UInt32) -> ShardAddress {
        ShardAddress(shard: shard, submit: "sim://shard-\(shard)/submit", work: "sim://shard-\(shard)/work", events: "sim://shard-\(shard)/events")
    }

    /// Makes every process, each with how it starts from its store.
    func build() {
        let folder = options.folder
        let shardIDs = (1...UInt32(options.shards)).map { $0 }
        let log = Log(service: "simulation", level: .quiet)
        processes.append(
            SimulatedProcess(.management, name: "management") { process, now in
                var settings = ManagementSettings(
                    shards: shardIDs, store: "\(folder)/management.db", synchronous: .normal, api: [Self.api], orchestratorOps: Self.ops,
                    orchestratorEvents: Self.runEvents)
                settings.configuration.zones = SystemZones.shared.lookup
                let service = try ManagementService.open(settings, now: now)
                service.store.database.faultInjector = process.disk.injector
                return service
            })
        processes.append(
            SimulatedProcess(.orchestrator, name: "orchestrator") { process, now in
                var settings = OrchestratorSettings(
                    store: "\(folder)/orchestrator.db", synchronous: .normal, ops: [Self.ops], events: [Self.runEvents],
                    shards: shardIDs.map(Self.shardAddress))
                // A few jobs sent again a turn, so that a restart's releases go out through many turns, with
                // statuses and operators' requests between; and a few run statuses a message, so that a turn's
                // RUN-UPDATES are often several.
                settings.configuration.resendsPerTurn = 3
                settings.configuration.statusBudget = 400
                let (service, _) = try OrchestratorService.open(settings, now: now, log: log)
                service.store.database.faultInjector = process.disk.injector
                return service
            })
        for shard in shardIDs {
            let address = Self.shardAddress(shard)
            processes.append(
                SimulatedProcess(.shard(shard), name: "shard-\(shard)") { [unowned self] process, now in
                    var configuration = ShardConfiguration(shard: shard)
                    // A few job statuses a message, so that a turn's JOB-UPDATES are often several.
                    configuration.statusBudget = 600
                    var settings = ShardSettings(
                        configuration: configuration, store: "\(folder)/shard-\(shard).db", synchronous: .normal,
                        submit: [address.submit], work: [address.work], events: [address.events])
                    // A few jobs a turn, so that a restarted shard serves, and holds back what names jobs,
                    // through many turns of putting its queue back.
                    settings.restoreBatch = 5
                    // And little room for what it holds back, so that submissions and hand-overs are let go
                    // and must come again.
                    settings.heldBackLimit = 20
                    settings.storeFault = process.disk.injector
                    var (service, _) = try ShardService.open(settings, now: now, log: log, counters: ServiceCounters())
                    checker.restored(service.core, shard: shard, simulation: self)
                    service.committed = { [unowned self] turn in checker.committed(turn, shard: shard, simulation: self) }
                    return service
                })
        }
        for index in 1...options.workers {
            processes.append(
                SimulatedProcess(.worker(index), name: "worker-\(index)") { [unowned self] process, now in
                    var configuration = WorkerConfiguration(name: "worker-\(index)", slots: 4, shards: shardIDs.count)
                    configuration.handlers = ["sim"]
                    configuration.commands = false
                    var core = WorkerCore(configuration: configuration, session: random.next() | 1, now: now)
                    core.start(now: now)
                    return SimulatedWorker(name: process.name, shards: shardIDs.map { Self.shardAddress($0).work }, core: core, attempts: process.attempts)
                })
        }
        for index in 1...options.timers {
            processes.append(
                SimulatedProcess(.timer(index), name: "timer-\(index)") { [unowned self] _, _ in
                    let settings = TimerSettings(api: Self.api, name: "timer-\(index)")
                    return TimerService(settings: settings, core: TimerCore(settings: settings.configuration, firstRequest: random.next() >> 2), log: log)
                })
        }
        processes.append(
            SimulatedProcess(.client, name: "operator") { [unowned self] _, _ in
                SimulatedOperator(api: Self.api) { [unowned self] in workload }
            })
        sockets = Array(repeating: [], count: processes.count)
    }

    var operatorIndex: Int { processes.count - 1 }

    /// Ends in virtual time the attempts a worker's turn started or stopped: each runs for a while drawn
    /// from the seed, and fails now and then; a stopped one ends at once, as a killed process would.
    func runAttempts(of index: Int) {
        let process = processes[index]
        let attempts = process.attempts
        let incarnation = process.incarnation
        for id in attempts.stopped where attempts.running.contains(id) {
            queue.at(queue.now + pick(1...50)) { [self] in
                guard processes[index].up, processes[index].incarnation == incarnation, attempts.running.contains(id) else { return }
                attempts.ended.append((id, .failed, -9))
                turn(index, after: 0)
            }
        }
        attempts.stopped = []
        for (id, spec) in attempts.started {
            let outcome: Outcome = chance(0.08) ? .failed : .succeeded
            let duration = pick(Workload.durations(of: spec))
            queue.at(queue.now + duration) { [self] in
                guard processes[index].up, processes[index].incarnation == incarnation, attempts.running.contains(id) else { return }
                attempts.ended.append((id, outcome, outcome == .succeeded ? 0 : 1))
                turn(index, after: 0)
            }
        }
        attempts.started = []
    }
}
