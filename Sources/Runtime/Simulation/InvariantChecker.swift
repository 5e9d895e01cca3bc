import Core
import Foundation
import Store
import Wire

/// The invariants the simulator checks, as messages are sent and turns committed, and at the end:
///
/// - a task succeeds at most once (a shard's turns, and its store at the end);
/// - a job is submitted only once each of its predecessors has succeeded in the generation last
///   submitted (published by its shard after the commit), or was marked succeeded by the operator;
/// - no task is handed to a worker after its success was committed;
/// - every run ends once faults stop, and every schedule instant fires (``Workload/finalCheck()``).
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
    private var marked: Set<JobKey> = []
    private var confirmedMarks: Set<JobKey> = []
    private var plantedOnce = false

    init(planted: Simulation.PlantedFault?) { self.planted = planted }

    /// A shard committed a turn: its tasks that succeeded must not have before.
    func committed(_ turn: ShardTurn, shard: UInt32, simulation: Simulation) {
        // The planted defect: a shard's turn reported twice, as a core that succeeded its tasks again would.
        let reports = planted == .succeedTwice && !plantedOnce && !turn.succeeded.isEmpty ? 2 : 1
        if reports == 2 { plantedOnce = true }
        for _ in 0..<reports {
            for task in turn.succeeded.sorted() {
                simulation.counts.tasksSucceeded += 1
                if !succeeded[shard, default: []].insert(task).inserted { simulation.violated("task \(task) of shard-\(shard) succeeded twice") }
            }
        }
    }

    /// A process took a message.
    func received(_ message: Message, by process: SimulatedProcess, simulation: Simulation) {
        guard process.kind == .orchestrator, case .operationRequest(let request) = message, request.action == .markSucceeded else { return }
        let key = JobKey(run: request.run, job: request.job)
        marking[request.request] = key
        marked.insert(key)
    }

    /// A process sent a message (after its turn's commit).
    func sent(_ message: Message, by process: SimulatedProcess, now: Int64, simulation: Simulation) {
        switch (process.kind, message) {
        case (.shard, .jobUpdates(let updates)):
            for status in updates.updates where status.state == .succeeded {
                let key = JobKey(run: status.run, job: status.job)
                succeededGeneration[key] = max(succeededGeneration[key] ?? 0, status.generation)
            }
        case (.shard(let shard), .tasks(let tasks)):
            for spec in tasks.tasks {
                if succeeded[shard]?.contains(spec.task) == true {
                    simulation.violated(
                        "shard-\(shard) handed out task \(spec.task) (run \(spec.run), job \(spec.job), partition \(spec.partition)) after its success")
                }
                handedOut[shard, default: [:]][spec.task] = spec
            }
        case (.orchestrator, .operationResult(let result)):
            guard let key = marking.removeValue(forKey: result.request) else { return }
            if result.status.isSuccess {
                confirmedMarks.insert(key)
            } else if !confirmedMarks.contains(key) {
                marked.remove(key)
            }
        case (.orchestrator, .submit(let submit)):
            for job in submit.jobs where released.insert(Released(job: JobKey(run: job.run, job: job.job), generation: job.generation)).inserted {
                for predecessor in flows["\(job.product)/\(job.flow)"]?[job.job] ?? [] {
                    let key = JobKey(run: job.run, job: predecessor)
                    let done = succeededGeneration[key].map { $0 >= (submitted[key] ?? 0) } ?? false
                    if !done && !marked.contains(key) {
                        simulation.violated("job \(job.job) of run \(job.run) was submitted before its predecessor \(predecessor) succeeded")
                    }
                }
                let key = JobKey(run: job.run, job: job.job)
                if job.generation > submitted[key] ?? 0 {
                    // A new generation must succeed again, whatever the operator marked before.
                    marked.remove(key)
                    confirmedMarks.remove(key)
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

    /// At the end: no task's success was counted twice in any shard's store.
    func finalCheck(processes: [SimulatedProcess]) -> String? {
        for process in processes {
            guard case .shard(let shard) = process.kind, let service = process.service as? ShardService else { continue }
            do {
                let statement = try service.store.database.prepare("SELECT id, successes FROM tasks WHERE successes > 1 LIMIT 1")
                defer { statement.reset() }
                if try statement.step() {
                    return "task \(statement.int64(0)) of shard-\(shard) counts \(statement.int64(1)) successes in the store"
                }
            } catch {
                return "shard-\(shard)'s store could not be read: \(error)"
            }
        }
        return nil
    }
}
