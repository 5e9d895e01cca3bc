import Foundation
internal import Glibc
import Wire

/// A command batch's scratch folder, next to its log: `<logs>/<run>/<job>[.<step>].batch-<first>-<last>.set-<set>.d`
/// (`docs/flows.md`, "Command batches").
///
/// It holds:
/// - `batch` (`BATON_BATCH`): one line per task, in the order the shard gave them,
///   `task<TAB>attempt<TAB>partition<TAB>key<TAB>result<TAB>inputs`, the key escaped as in an inputs
///   `index`.
/// - one folder per task, named by its partition: that task's `result` (which the worker does not
///   create) and, for a task with inputs, its `inputs/` folder, laid out as a single attempt's
///   (``AttemptFolder``).
/// - `status` (`BATON_BATCH_STATUS`), which the command writes and the worker does not create: one
///   line per task, `task<TAB>ok` or `task<TAB>failed<TAB>why`, a later line overriding an earlier one.
///
/// The worker removes the folder once the batch has ended and its results are read; the log stays.
struct BatchFolder: Sendable {
    /// The folder's absolute path: a command may change its working directory.
    let path: String

    /// The folder of the batch whose log is at `log` (a path ending in `.log`).
    init(log: String) {
        path = AttemptFolder.scratchPath(log: log)
    }

    /// The task list.
    var list: String { path + "/batch" }
    /// Where the command reports each task's outcome.
    var status: String { path + "/status" }

    /// The folder of one task of the batch.
    func folder(of spec: TaskSpec) -> AttemptFolder {
        AttemptFolder(path: "\(path)/\(spec.partition)")
    }

    /// The variables the command gets for the batch, on top of those shared by all its tasks.
    func variables(count: Int) -> [String: String] {
        ["BATON_BATCH": list, "BATON_BATCH_STATUS": status, "BATON_BATCH_SIZE": String(count)]
    }

    /// Creates the folder afresh (removing what an earlier worker left under that name), with a folder per
    /// task holding its inputs, and the task list.
    ///
    /// This runs on the worker's loop before the command starts, so writing inputs holds the loop for as
    /// long as they take: at most 16 MiB per task (``TaskSpec/inputLimit``), within one TASKS message.
    func prepare(_ specs: [TaskSpec]) throws(ServiceError) {
        try AttemptFolder(path: path).prepare(inputs: [])
        var list = ""
        for spec in specs {
            let folder = folder(of: spec)
            try folder.prepare(inputs: spec.inputs)
            let inputs = spec.inputs.isEmpty ? "" : folder.inputs
            list += "\(spec.task)\t\(spec.attempt)\t\(spec.partition)\t\(AttemptFolder.escaped(spec.partitionKey))\t\(folder.result)\t\(inputs)\n"
        }
        try AttemptFolder.write(Array(list.utf8), to: self.list)
    }

    /// Removes the folder and everything in it; a folder already gone is fine.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    // MARK: - The status file

    /// What the command said of one task.
    enum Report: Equatable, Sendable {
        case ok
        case failed(String)
    }

    /// The status file, read: the last report of each task, and the lines ignored.
    struct Status: Equatable, Sendable {
        /// The last report of each task of the batch that has one, by task ID.
        var reports: [UInt64: Report] = [:]
        /// Lines that are neither `task<TAB>ok` nor `task<TAB>failed[<TAB>why]`.
        var malformed = 0
        /// Well-formed lines naming a task that is not in the batch.
        var strangers = 0
    }

    /// The largest status file the worker reads, in octets: 16 KiB for each of 1,000 tasks.
    static let statusLimit = 16 << 20

    /// The longest reason the worker keeps from a `failed` line, in octets; a longer one is cut.
    static let reasonLimit = 1024

    /// Reads the status file the command wrote, or none if it wrote none. A file over ``statusLimit``
    /// octets, or one that cannot be read, is an error.
    func readStatus(tasks: Set<UInt64>) throws(ServiceError) -> Status {
        let file = "the batch status file"
        guard let bytes = try AttemptFolder.readFile(status, limit: Self.statusLimit, file: file, limitName: "the worker's limit") else {
            return Status()
        }
        return Self.parse(bytes, tasks: tasks)
    }

    /// Parses a status file's text against the batch's task IDs. Empty lines are skipped; a carriage
    /// return before a line's end is dropped.
    static func parse(_ bytes: [UInt8], tasks: Set<UInt64>) -> Status {
        var status = Status()
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            var line = raw[...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.isEmpty { continue }
            let fields = line.split(separator: UInt8(ascii: "\t"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count >= 2, let task = Self.number(fields[0]) else {
                status.malformed += 1
                continue
            }
            let report: Report
            switch (String(decoding: fields[1], as: UTF8.self), fields.count) {
            case ("ok", 2):
                report = .ok
            case ("failed", _):
                let why = fields.count == 3 ? Self.reason(fields[2]) : ""
                report = .failed(why.isEmpty ? "the batch command reported this task failed" : why)
            default:
                status.malformed += 1
                continue
            }
            guard tasks.contains(task) else {
                status.strangers += 1
                continue
            }
            status.reports[task] = report
        }
        return status
    }

    /// A task ID: decimal digits only.
    private static func number(_ field: ArraySlice<UInt8>) -> UInt64? {
        guard !field.isEmpty, field.count <= 20, field.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return nil
        }
        return UInt64(String(decoding: field, as: UTF8.self))
    }

    /// A reason as text (invalid UTF-8 repaired), trimmed, at most ``reasonLimit`` octets.
    private static func reason(_ field: ArraySlice<UInt8>) -> String {
        var text = String(decoding: field.prefix(reasonLimit), as: UTF8.self).trimmingCharacters(in: .whitespaces)
        // Repairing a character cut in two can lengthen the text by a few octets.
        while text.utf8.count > reasonLimit { text.removeLast() }
        return text
    }
}
