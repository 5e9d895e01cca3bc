import Core
import Foundation
import Store
import Wire

/// The invariants the simulator checks, as messages are sent and turns committed, and at the end:
///
/// - a task succeeds at most once (a shard's turns, and its store at the end);
/// - a job is submitted only once each of its predecessors has succeeded (published by its shard after
///   the commit) or was marked succeeded by the operator;
/// - no task is handed to a worker after its success was committed;
/// - every run started ends once faults stop (``Workload/finalCheck()``).
final class InvariantChecker {
    struct JobKey: Hashable {
        var run: UInt64
        var job: String
    }

    let planted: Simulation.PlantedFault?
    /// Each flow's jobs with their predecessors, by `product/flow`.
    var flows: [String: [String: [String]]] = [:]
    /// Tasks whose success a shard committed, by shard.
    private var succeeded: [UInt32: Set<UInt64>] = [:]
    /// Jobs a shard published as succeeded, and those the operator marked so.
    private var jobsSucceeded: Set<JobKey> = []
    var marked: Set<JobKey> = []
    private var plantedOnce = false

    init(planted: Simulation.PlantedFault?) { self.planted = planted }

    /// A shard committed a turn: its tasks that succeeded must not have before.
    func committed(_ turn: ShardTurn, shard: UInt32, simulation: Simulation) {
        for task in turn.succeeded.sorted() {
            simulation.counts.tasksSucceeded += 1
            var fresh = succeeded[shard, default: []].insert(task).inserted
            if planted == .succeedTwice && !plantedOnce {
                plantedOnce = true
                fresh = false
            }
            if !fresh { simulation.violated("task \(task) of shard-\(shard) succeeded twice") }
        }
    }

    /// A process sent a message (after its turn's commit).
    func sent(_ message: Message, by process: SimulatedProcess, now: Int64, simulation: Simulation) {
        switch (process.kind, message) {
        case (.shard, .jobUpdates(let updates)):
            for status in updates.updates where status.state == .succeeded { jobsSucceeded.insert(JobKey(run: status.run, job: status.job)) }
        case (.shard(let shard), .tasks(let tasks)):
            var handed = tasks.tasks.map { ($0.task, $0.run, $0.job, $0.partition) }
            if planted == .leaseAfterSuccess && !plantedOnce, let done = succeeded[shard]?.min() {
                plantedOnce = true
                handed.append((done, 0, "?", 0))
            }
            for (task, run, job, partition) in handed where succeeded[shard]?.contains(task) == true {
                simulation.violated("shard-\(shard) handed out task \(task) (run \(run), job \(job), partition \(partition)) after its success")
            }
        case (.orchestrator, .submit(let submit)):
            for job in submit.jobs {
                var after = flows["\(job.product)/\(job.flow)"]?[job.job] ?? []
                if planted == .releaseEarly && !plantedOnce && !after.isEmpty {
                    plantedOnce = true
                    after.append("a job that never ran")
                }
                for predecessor in after
                where !jobsSucceeded.contains(JobKey(run: job.run, job: predecessor)) && !marked.contains(JobKey(run: job.run, job: predecessor)) {
                    simulation.violated("job \(job.job) of run \(job.run) was submitted before its predecessor \(predecessor) succeeded")
                }
            }
        default:
            break
        }
    }

    /// A process took a message from the network.
    func received(_ message: Message, by process: SimulatedProcess, simulation: Simulation) {}

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
