import Core
import Foundation
import Store
import Wire

/// The invariants the simulator checks, as messages are sent and turns committed, and at the end:
///
/// - a task succeeds at most once (a shard's turns, and its store at the end);
/// - a job is submitted only once each of its predecessors has succeeded in the generation last
///   submitted (published by its shard after the commit, or told in a hand-over's answer), or was marked
///   succeeded by the operator; and a job released once is released again, as a new generation, only
///   after an operator reran the run, a job of it, or marked one succeeded;
/// - no task is handed to a worker after its success was committed;
/// - an attempt is handed to one worker, and a task's attempts only increase (one live lease a task);
/// - no task takes a result from a worker that does not hold its lease (forged ones, at the end);
/// - each run's entry moment is fixed when it starts, and later runs' are later;
/// - the orchestrator gives one answer to an operation request, however often it is asked again;
/// - every run ends once faults stop, management's view of each run agrees with the orchestrator's, and
///   every schedule instant fires (``Workload/finalCheck()``);
/// - a product's runs started after its move was answered go to the shard it moved to;
/// - a shard leases no task of a run after handing the run over (its tasks leased then finish there, on
///   the attempt they had), and no partition of a job is leased on two shards at once;
/// - backlogged products share their shard by weight, within the documented bound (``FairnessCheck``).
final class InvariantChecker {
    struct JobKey: Hashable {
        var run: UInt64
        var job: String
    }

    let planted: Simulation.PlantedFault?
    /// Each flow's jobs with their predecessors, by `product/flow`.
    var flows: [String: [String: [String]]] = [:]
    /// Tasks whose success a shard committed, by shard, with the spec each was last handed out with.
    private var succeeded: [UInt32: Set<UInt64>] = [:]
    private var handedOut: [UInt32: [UInt64: TaskSpec]] = [:]
    /// The newest generation of each job the orchestrator submitted, and the newest its shard published
    /// as succeeded.
    private var submitted: [JobKey: UInt32] = [:]
    /// Each generation of each job released so far: a SUBMIT of one again is a resend, checked the first time.
    private var released: Set<Released> = []

    private struct Released: Hashable {
        var job: JobKey
        var generation: UInt32
    }
    private var succeededGeneration: [JobKey: UInt32] = [:]
    /// Jobs marked succeeded: as the orchestrator takes the request (it may release successors in that
    /// very turn), and for good once it answers 2xx; a refusal takes a mark back.
    private var marking: [UInt64: JobKey] = [:]
    /// Each mark with the number of the request that made it, among the operation requests the
    /// orchestrator took; and the number of each run's latest rerun. A mark made after a rerun in the
    /// same turn marks the generation that rerun submits.
    private var marked: [JobKey: Int] = [:]
    private var taken = 0
    private var reruns: [UInt64: Int] = [:]
    /// The number of the latest request that may give a run's jobs new generations (a rerun, a rerun of a
    /// job, a mark), among those the orchestrator took; and that number when each job was last released.
    private var renewals: [UInt64: Int] = [:]
    private var releasedAt: [JobKey: Int] = [:]
    private var confirmedMarks: Set<JobKey> = []
    private var plantedOnce = false
    /// Whether a store lost commits to a power loss (under `durability normal`), which makes no promise
    /// of effectively once: from then on a task may succeed again, and an ID or key given out may be
    /// given out again. Those checks stop; the rest go on.
    private(set) var relaxed = false
    /// How many tasks the last shard turn committed succeeded, and whether any shard committed one yet:
    /// for a planted defect.
    private(set) var lastCommitSucceeded = 0
    var succeededAny: Bool { succeeded.values.contains { !$0.isEmpty } }
    /// Each task's latest attempt handed out, by shard, with the worker it went to.
    private var leases: [ShardTask: (spec: TaskSpec, worker: String)] = [:]
    /// Each run's entry moment as management started it, and the newest run started.
    private var moments: [UInt64: UInt64] = [:]
    private var newestStart: (run: UInt64, moment: UInt64) = (0, 0)
    /// The orchestrator's answer to each operation request.
    private var answers: [UInt64: OperationResult] = [:]
    let fairness = FairnessCheck(partitions: Workload.backlogPartitions)
    /// Moves: each product's shard as of the last move management answered the operator (committed
    /// before that answer), the shard before it and the newest run management had then; and the moves
    /// management sent since, which may have been applied before their answer reaches the operator.
    private var bound: [String: (shard: UInt32, before: UInt32, lastRun: UInt64)] = [:]
    private var movesSent: [String: [(request: UInt64, shard: UInt32)]] = [:]
    /// The shard of each product's newest run started.
    private var startedOn: [String: UInt32] = [:]
    /// Hand-overs: by shard and run, the tasks of the run leased there now (with their generations), and
    /// the generation up to which the shard gave the run up; the tasks leased when it did, with their
    /// attempts, which finish there. Nothing of a run is leased anew after it was given up: its jobs would
    /// run on two shards.
    private var leasedRuns: [ShardRun: [UInt64: UInt32]] = [:]
    private var leasedTasks: [ShardTask: ShardRun] = [:]
    private var handedOver: [ShardRun: UInt32] = [:]
    private var finishing: [ShardTask: UInt16] = [:]
    private var leasedAttempts: [ShardTask: UInt16] = [:]
    /// Each partition leased now, by job (whatever its generation), step and partition, with the shard and
    /// task that hold it; and the partition each leased task is.
    private var partitionLeases: [Partition: ShardTask] = [:]
    private var leasedPartitions: [ShardTask: Partition] = [:]

    struct Partition: Hashable {
        var run: UInt64
        var job: String
        var step: UInt16
        var partition: UInt32
    }

    struct ShardRun: Hashable {
        var shard: UInt32
        var run: UInt64
    }

    struct ShardTask: Hashable, Comparable {
        var shard: UInt32
        var task: UInt64

        static func < (a: Self, b: Self) -> Bool { (a.shard, a.task) < (b.shard, b.task) }
    }

    init(planted: Simulation.PlantedFault?) { self.planted = planted }

    func powerLost() { relaxed = true }

    /// A shard committed a turn: its tasks that succeeded must not have before, and none took a forged
    /// result. A task no longer leased is no longer one to forge a result for.
    func committed(_ turn: ShardTurn, shard: UInt32, simulation: Simulation) {
        lastCommitSucceeded = turn.succeeded.count
        fairness.committed(turn, shard: shard, now: simulation.queue.now)
        // A task that succeeded is no longer leased, though a hand-over in the same turn may leave it no row.
        for task in turn.succeeded {
            if let key = leasedTasks.removeValue(forKey: ShardTask(shard: shard, task: task)) { leasedRuns[key]?[task] = nil }
        }
        for task in turn.succeeded { unleasePartition(ShardTask(shard: shard, task: task)) }
        // Leases the turn logged are leases as much as those written in rows.
        for task in turn.tasks + turn.leases {
            let key = ShardRun(shard: shard, run: task.job.run)
            let held = ShardTask(shard: shard, task: task.id)
            guard task.lease != nil, task.state == .running else {
                leasedRuns[key]?[task.id] = nil
                leasedTasks[held] = nil
                leasedAttempts[held] = nil
                finishing[held] = nil
                unleasePartition(held)
                continue
            }
            leasedRuns[key, default: [:]][task.id] = task.job.generation
            leasedTasks[held] = key
            leasedAttempts[held] = task.attempt
            // A shard that lost its hand-over's commit to a power loss takes the run back as its own: a task
            // may then run on both shards, which that durability does not promise against.
            if let given = handedOver[key], task.job.generation <= given, finishing[held].map({ task.attempt > $0 }) ?? true, !relaxed {
                simulation.violated("shard-\(shard) leased task \(task.id) of \(task.job) after handing run \(task.job.run) over up to generation \(given)")
            }
            let partition = Partition(run: task.job.run, job: task.job.job, step: task.step, partition: task.partition)
            if let other = partitionLeases[partition], other.shard != shard, !relaxed {
                simulation.violated(
                    "partition \(task.partition) of step \(task.step) of \(task.job) was leased on shard-\(shard) (task \(task.id)) while shard-\(other.shard) held it (task \(other.task))")
            }
            unleasePartition(held)
            partitionLeases[partition] = held
            leasedPartitions[held] = partition
        }
        // Tasks given up with their run: none may be running. A lease that ended in the same turn (its
        // worker came back without it) has no later row, since the task is gone: it ends here.
        for task in turn.handedOverTasks {
            if task.state == .running || task.lease != nil {
                simulation.violated("shard-\(shard) handed over task \(task.id) of \(task.job) while it was \(task.state) with a lease")
            }
            let key = ShardRun(shard: shard, run: task.job.run)
            leasedRuns[key]?[task.id] = nil
            leasedTasks[ShardTask(shard: shard, task: task.id)] = nil
            unleasePartition(ShardTask(shard: shard, task: task.id))
        }
        // Tasks leased when their run was given up finish here, on the attempt they had.
        for (run, given) in turn.tombstones.sorted(by: { $0.key < $1.key }) {
            let key = ShardRun(shard: shard, run: run)
            simulation.counts.handedOver += 1
            for (task, generation) in leasedRuns[key] ?? [:] where generation <= given.generation {
                let held = ShardTask(shard: shard, task: task)
                finishing[held] = leasedAttempts[held] ?? 0
                simulation.counts.finishing += 1
            }
            handedOver[key] = max(handedOver[key] ?? 0, given.generation)
        }
        for task in turn.tasks + turn.leases {
            if task.output == Simulation.forged {
                simulation.violated("task \(task.id) of shard-\(shard) took a forged result from a worker that did not hold its lease")
            }
            if task.lease == nil { leases[ShardTask(shard: shard, task: task.id)] = nil }
        }
        // The planted defect: a shard's turn reported twice, as a core that succeeded its tasks again would.
        let reports = planted == .succeedTwice && !plantedOnce && !turn.succeeded.isEmpty ? 2 : 1
        if reports == 2 { plantedOnce = true }
        for _ in 0..<reports {
            for task in turn.succeeded.sorted() {
                simulation.counts.tasksSucceeded += 1
                leases[ShardTask(shard: shard, task: task)] = nil
                if !succeeded[shard, default: []].insert(task).inserted && !relaxed { simulation.violated("task \(task) of shard-\(shard) succeeded twice") }
            }
        }
    }

    /// A shard started again from its store: every task it holds that a committed turn left leased is
    /// leased still, on that attempt or a later one. A lease lost at a restart (one the lease log held, say)
    /// would be handed out again on the same attempt, and to the same worker this checker would not see it.
    func restored(_ core: ShardCore, shard: UInt32, simulation: Simulation) {
        guard !relaxed else { return }
        for (held, attempt) in leasedAttempts where held.shard == shard {
            guard let task = core.tasks[held.task] else { continue }  // Ended, or gone with its run.
            if task.attempt < attempt || (task.attempt == attempt && (task.state != .running || task.lease == nil)) {
                simulation.violated(
                    "shard-\(shard) restarted with task \(held.task) \(task.state) on attempt \(task.attempt), leased on attempt \(attempt) before")
            }
        }
    }

    /// A task's lease ended (or it is leased anew): its partition is no longer held by it.
    private func unleasePartition(_ task: ShardTask) {
        guard let partition = leasedPartitions.removeValue(forKey: task), partitionLeases[partition] == task else { return }
        partitionLeases[partition] = nil
    }

    /// Management answered the operator's move of `product` to `shard`, having committed it when its
    /// newest run was `lastRun`: a run after that one starts on `shard`.
    func moved(_ product: String, to shard: UInt32, lastRun: UInt64) {
        guard let sent = movesSent[product], let index = sent.lastIndex(where: { $0.shard == shard }) else { return }
        bound[product] = (shard, startedOn[product] ?? 0, lastRun)
        movesSent[product] = Array(sent[(index + 1)...])
    }

    /// The shard `product` was on before its last move answered, for run `run` started after it: for a
    /// planted defect.
    func shardBeforeMove(of product: String, run: UInt64) -> UInt32? {
        guard let bound = bound[product], run > bound.lastRun, bound.before != 0, bound.before != bound.shard else { return nil }
        return bound.before
    }

    /// A process took a message.
    func received(_ message: Message, by process: SimulatedProcess, simulation: Simulation) {
        guard process.kind == .orchestrator, case .operationRequest(let request) = message else { return }
        taken += 1
        if request.action == .rerunFailed || request.action == .rerunJob { reruns[request.run] = taken }
        if [.rerunFailed, .rerunJob, .markSucceeded].contains(request.action) { renewals[request.run] = taken }
        guard request.action == .markSucceeded else { return }
        let key = JobKey(run: request.run, job: request.job)
        marking[request.request] = key
        marked[key] = taken
    }

    /// A process sent a message (after its turn's commit), to `destination` when the simulator knows it.
    func sent(_ message: Message, by process: SimulatedProcess, to destination: SimulatedProcess?, simulation: Simulation) {
        switch (process.kind, message) {
        case (.management, .operationRequest(let request)) where request.action == .move:
            if !(movesSent[request.product] ?? []).contains(where: { $0.request == request.request }) {
                movesSent[request.product, default: []].append((request.request, request.shard))
            }
        case (.management, .operationRequest(let request)) where request.action == .start && !relaxed:
            if let bound = bound[request.product], request.run > bound.lastRun, request.shard != bound.shard,
                !(movesSent[request.product] ?? []).contains(where: { $0.shard == request.shard })
            {
                simulation.violated(
                    "management started run \(request.run) of \(request.product) on shard \(request.shard), after answering its move to shard \(bound.shard)")
            }
            if moments[request.run] == nil { startedOn[request.product] = request.shard }
            if let moment = moments[request.run] {
                if moment != request.moment {
                    simulation.violated("run \(request.run)'s entry moment changed from \(moment) to \(request.moment)")
                }
            } else {
                if request.run > newestStart.run && request.moment <= newestStart.moment {
                    simulation.violated(
                        "run \(request.run) has entry moment \(request.moment), not after run \(newestStart.run)'s \(newestStart.moment)")
                }
                moments[request.run] = request.moment
                if request.run > newestStart.run { newestStart = (request.run, request.moment) }
            }

        case (.shard, .jobUpdates(let updates)):
            for status in updates.updates where status.state == .succeeded {
                let key = JobKey(run: status.run, job: status.job)
                succeededGeneration[key] = max(succeededGeneration[key] ?? 0, status.generation)
            }
        case (.shard, .handedOver(let handed)):
            // A hand-over's answer tells the orchestrator, from the store, which jobs of the run ended there.
            for status in handed.ended where status.state == .succeeded {
                let key = JobKey(run: status.run, job: status.job)
                succeededGeneration[key] = max(succeededGeneration[key] ?? 0, status.generation)
            }
        case (.shard(let shard), .tasks(let tasks)):
            for spec in tasks.tasks {
                handedOut[shard, default: [:]][spec.task] = spec
                let key = ShardTask(shard: shard, task: spec.task)
                if let given = handedOver[ShardRun(shard: shard, run: spec.run)], spec.generation <= given,
                    finishing[key].map({ spec.attempt > $0 }) ?? true, !relaxed
                {
                    simulation.violated("shard-\(shard) handed out task \(spec.task) of \(spec.job) after handing run \(spec.run) over up to generation \(given)")
                }
                if succeeded[shard]?.contains(spec.task) == true && !relaxed {
                    simulation.violated(
                        "shard-\(shard) handed out task \(spec.task) (run \(spec.run), job \(spec.job), partition \(spec.partition)) after its success")
                }
                let worker = destination?.name ?? "?"
                if let lease = leases[key], !relaxed {
                    if spec.attempt < lease.spec.attempt {
                        simulation.violated("shard-\(shard) handed out attempt \(spec.attempt) of task \(spec.task) after attempt \(lease.spec.attempt)")
                    } else if spec.attempt == lease.spec.attempt && worker != lease.worker {
                        simulation.violated(
                            "shard-\(shard) handed out attempt \(spec.attempt) of task \(spec.task) to \(lease.worker) and to \(worker)")
                    }
                }
                if spec.attempt >= leases[key]?.spec.attempt ?? 0 { leases[key] = (spec, worker) }
            }
        case (.orchestrator, .operationResult(let result)):
            if let first = answers.updateValue(result, forKey: result.request), first != result, !relaxed {
                simulation.violated(
                    "the orchestrator answered operation request \(result.request) with \(first.status.rawValue) \"\(first.detail)\", "
                        + "then with \(result.status.rawValue) \"\(result.detail)\"")
            }
            guard let key = marking.removeValue(forKey: result.request) else { return }
            if result.status.isSuccess {
                confirmedMarks.insert(key)
            } else if !confirmedMarks.contains(key) {
                marked[key] = nil
            }
        case (.orchestrator, .takeOver(let takeOver)):
            // A job a take-over carries was released before, on its old shard: its new generation is a
            // continuation, not a release, and a SUBMIT of it sent again later is too.
            for job in takeOver.jobs {
                released.insert(Released(job: JobKey(run: job.run, job: job.job), generation: job.generation))
                let key = JobKey(run: job.run, job: job.job)
                submitted[key] = max(submitted[key] ?? 0, job.generation)
            }
        case (.orchestrator, .submit(let submit)):
            for job in submit.jobs where released.insert(Released(job: JobKey(run: job.run, job: job.job), generation: job.generation)).inserted && !relaxed {
                for predecessor in flows["\(job.product)/\(job.flow)"]?[job.job] ?? [] {
                    let key = JobKey(run: job.run, job: predecessor)
                    let done = succeededGeneration[key].map { $0 >= (submitted[key] ?? 0) } ?? false
                    if !done && marked[key] == nil {
                        simulation.violated("job \(job.job) of run \(job.run) was submitted before its predecessor \(predecessor) succeeded")
                    }
                }
                let key = JobKey(run: job.run, job: job.job)
                if let previous = submitted[key], job.generation > previous, renewals[job.run] ?? 0 <= releasedAt[key] ?? 0 {
                    simulation.violated(
                        "job \(job.job) of run \(job.run) was released again, as generation \(job.generation), with no rerun or mark since generation \(previous)")
                }
                releasedAt[key] = taken
                if job.generation > submitted[key] ?? 0 {
                    // A new generation must succeed again, whatever the operator marked before the rerun
                    // that made it.
                    if let mark = marked[key], mark < reruns[job.run] ?? Int.max {
                        marked[key] = nil
                        confirmedMarks.remove(key)
                    }
                }
                submitted[key] = max(submitted[key] ?? 0, job.generation)
            }
        default:
            break
        }
    }

    /// A task that one shard committed as succeeded, as it was handed out: for a planted defect.
    func succeededTask(on shard: UInt32) -> TaskSpec? {
        guard let task = succeeded[shard]?.min() else { return nil }
        return handedOut[shard]?[task]
    }

    /// A task `shard` handed out, of a run it has since handed over: for a planted defect.
    func handedOverTask(on shard: UInt32) -> TaskSpec? {
        guard let specs = handedOut[shard] else { return nil }
        let given = specs.keys.sorted().compactMap { specs[$0] }.filter { spec in
            handedOver[ShardRun(shard: shard, run: spec.run)].map { spec.generation <= $0 } ?? false
        }
        // One that did not succeed, if there is one: its success would say something else is wrong.
        return given.first { succeeded[shard]?.contains($0.task) != true } ?? given.first
    }

    /// A task of `shard` whose latest attempt another worker than `worker` holds: for a planted defect.
    func lease(on shard: UInt32, heldByOtherThan worker: String) -> (spec: TaskSpec, worker: String)? {
        leases.keys.sorted().lazy.filter { $0.shard == shard }.compactMap { self.leases[$0] }.first { $0.worker != worker }
    }

    /// Whether management has started a run yet, and whether the orchestrator has answered `request`: for
    /// planted defects.
    var startedAny: Bool { newestStart.run > 0 }
    func answered(_ request: UInt64) -> Bool { answers[request] != nil }

    /// A task handed out and not yet succeeded, with the worker holding its latest attempt, drawn with
    /// `random`: for a forged result.
    func leased(_ random: inout SplitMix64) -> (shard: UInt32, spec: TaskSpec, worker: String)? {
        guard !leases.isEmpty else { return nil }
        let keys = leases.keys.sorted()
        let key = keys[Int(random.next() % UInt64(keys.count))]
        return leases[key].map { (key.shard, $0.spec, $0.worker) }
    }

    /// At the end: every store is whole, no task's success was counted twice in any shard's store, and
    /// none took a forged result.
    func finalCheck(processes: [SimulatedProcess]) -> String? {
        for process in processes {
            guard let database = process.database else { continue }
            do {
                let check = try database.prepare("PRAGMA quick_check")
                defer { check.reset() }
                if try check.step(), check.text(0) != "ok" { return "\(process.name)'s store is damaged: \(check.text(0))" }
            } catch {
                return "\(process.name)'s store could not be checked: \(error)"
            }
        }
        for process in processes {
            guard case .shard(let shard) = process.kind, let service = process.service as? ShardService else { continue }
            do {
                let statement = try service.store.database.prepare("SELECT id, successes FROM tasks WHERE successes > 1 LIMIT 1")
                defer { statement.reset() }
                if try statement.step() && !relaxed {
                    return "task \(statement.int64(0)) of shard-\(shard) counts \(statement.int64(1)) successes in the store"
                }
                // A task is stored once: in a row of its own or in its job's, never both, and no ID is given twice.
                let twice = try service.store.database.prepare("SELECT id FROM tasks GROUP BY id HAVING COUNT(*) > 1 LIMIT 1")
                defer { twice.reset() }
                if try twice.step() {
                    return "task \(twice.int64(0)) of shard-\(shard) is stored twice"
                }
                let forged = try service.store.database.prepare("SELECT id FROM tasks WHERE output = '\(Simulation.forged)' LIMIT 1")
                defer { forged.reset() }
                if try forged.step() {
                    return "task \(forged.int64(0)) of shard-\(shard) took a forged result from a worker that did not hold its lease"
                }
            } catch {
                return "shard-\(shard)'s store could not be read: \(error)"
            }
        }
        return nil
    }
}
