import Core
import Foundation
internal import Glibc
import Wire

/// Command batches: a claimed set of tasks of one command job, run by one process (`docs/flows.md`,
/// "Command batches").
extension WorkerService {
    /// The variables of "What a command sees" that name one task, unset for a batch even when the worker
    /// itself was started with them.
    static let perTaskVariables = ["BATON_TASK", "BATON_ATTEMPT", "BATON_PARTITION", "BATON_PARTITION_KEY", "BATON_RESULT", "BATON_INPUTS"]

    /// The variables that describe a batch, unset for a single attempt even when the worker itself was
    /// started with them.
    static let batchVariables = ["BATON_BATCH", "BATON_BATCH_STATUS", "BATON_BATCH_SIZE"]

    /// Starts a command batch: one child process, with a reaper thread that reports every task's end at
    /// once. All the tasks are of one run, job and step (the core refuses others), so the first gives the
    /// command line and the shared environment. `resultLimit` is the largest result the batch's shard
    /// accepts, in octets. Returns an attempt per task, all with the batch's log and process.
    static func startBatch(
        link: Int, set: UInt64, _ specs: [TaskSpec], settings: WorkerSettings, environment: [String: String],
        resultLimit: Int, endings: Endings, doorbell: Doorbell, folders: inout LogFolders
    ) -> [(WorkerCore.AttemptID, RunningAttempt)] {
        let ids = specs.map { WorkerCore.AttemptID(link: link, ref: $0.ref) }
        let report: @Sendable ([Ending]) -> Void = { ended in
            for ending in ended { endings.append(ending) }
            doorbell.ring()
        }
        let first = specs[0]
        let path = batchLogPath(specs, set: set, root: settings.logs)
        let attempts = { (pid: pid_t?) in specs.map { RunningAttempt(spec: $0, log: path, pid: pid) } }
        let failAll = { (error: String) in
            report(ids.map { Ending(id: $0, outcome: .failed, exitCode: 0, error: error, data: [], explainsExit: false) })
        }
        do {
            try folders.ensure(run: first.run)
        } catch {
            failAll("cannot create the log folder: \(error)")
            return Array(zip(ids, attempts(nil)))
        }
        let folder = BatchFolder(log: path)
        let pid: pid_t
        do {
            try folder.prepare(specs)
            var variables = environment.merging(sharedVariables(of: first, worker: settings.configuration.name)) { _, new in new }
            variables.merge(folder.variables(count: specs.count)) { _, new in new }
            for name in perTaskVariables { variables[name] = nil }
            pid = try CommandRunner.spawn(command: first.action, environment: variables, output: path)
        } catch {
            folder.remove()
            failAll("\(error)")
            return Array(zip(ids, attempts(nil)))
        }
        Thread.detachNewThread {
            let status = CommandRunner.wait(pid)
            report(batchEndings(ids, specs, status: status, folder: folder, log: path, resultLimit: resultLimit))
        }
        return Array(zip(ids, attempts(pid)))
    }

    /// How each task of a batch ended, once its process ended with `status` (its exit status, or minus
    /// the signal that ended it), from the status file: `ok` succeeds with the task's result file (failing
    /// if it is over `resultLimit` octets or cannot be read), `failed` fails with the reason given, and a
    /// task not reported fails with why the process did not report it. Every task's exit code is the
    /// process's. Lines of the status file ignored are counted in the log. The folder is removed.
    static func batchEndings(
        _ ids: [WorkerCore.AttemptID], _ specs: [TaskSpec], status: Int32, folder: BatchFolder, log: String, resultLimit: Int
    ) -> [Ending] {
        defer { folder.remove() }
        var unreported = "the batch command did not report on this task"
        if status != 0 {
            // As for a single attempt: the exit status or signal, and the last line the command printed.
            unreported = status > 0 ? "exit status \(status)" : "killed by signal \(-status)"
            if let last = lastLine(of: CommandRunner.tail(of: log)) { unreported += ": " + last.prefix(200) }
        }
        let failed = { (id: WorkerCore.AttemptID, error: String) in
            Ending(id: id, outcome: .failed, exitCode: status, error: error, data: [], explainsExit: false)
        }
        let reports: BatchFolder.Status
        do {
            reports = try folder.readStatus(tasks: Set(specs.map(\.task)))
        } catch {
            return ids.map { failed($0, "\(error)") }
        }
        let ignored = reports.malformed + reports.strangers
        if ignored > 0 {
            appendLine(
                "baton: ignored \(ignored) line\(ignored == 1 ? "" : "s") of the batch status file: \(reports.malformed) "
                    + "not of the form task<TAB>ok or task<TAB>failed<TAB>why, \(reports.strangers) naming a task not in the batch",
                to: log)
        }
        return zip(ids, specs).map { id, spec in
            switch reports.reports[spec.task] {
            case .ok:
                do {
                    let data = try folder.folder(of: spec).readResult(limit: resultLimit)
                    return Ending(id: id, outcome: .succeeded, exitCode: status, error: "", data: data, explainsExit: false)
                } catch {
                    return failed(id, "\(error)")
                }
            case .failed(let why):
                return failed(id, why)
            case nil:
                return failed(id, unreported)
            }
        }
    }

    /// `<root>/<run>/<job>.batch-<first>-<last>.set-<set>.log`, with `.<step>` after the job for jobs of
    /// several steps, where first and last are the lowest and highest partitions of the batch and set is
    /// the set's ID from its shard. Its last part before `.log` is never a number, so it cannot be a
    /// single attempt's log. The batch's scratch folder is beside it, `.d` for `.log`.
    static func batchLogPath(_ specs: [TaskSpec], set: UInt64, root: String) -> String {
        let partitions = specs.map(\.partition)
        let first = specs[0]
        let step = (first.steps > 1 ? ".\(first.step)" : "") + (first.generation > 0 ? ".rerun-\(first.generation)" : "")
        return "\(root)/\(first.run)/\(first.job)\(step).batch-\(partitions.min()!)-\(partitions.max()!).set-\(set).log"
    }

    /// Appends a line to a log file, creating it if it is missing.
    static func appendLine(_ line: String, to path: String) {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let bytes = Array((line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return }
            written += count
        }
    }
}
