import Foundation
internal import Glibc
import Wire

/// A command attempt's scratch folder, next to its log: `<logs>/<run>/<job>[.<step>-<partition>][.rerun-<generation>].<attempt>.d`.
///
/// It holds:
/// - `result`, which the command may write (`BATON_RESULT`). The worker does not create it: no file is
///   an empty result.
/// - for a task with inputs, `inputs/` (`BATON_INPUTS`): one file per input, named
///   `<job>.<step>.<partition>` and holding that input's data, and `index`, one line per input in the
///   order the shard gave them: `job<TAB>step<TAB>partition<TAB>key<TAB>file`. In a key, a backslash,
///   tab, newline and carriage return are written `\\`, `\t`, `\n` and `\r`.
///
/// The worker removes the folder once the attempt has ended and its result is read; the log stays. Each
/// task of a command batch has a folder of this layout inside the batch's (``BatchFolder``).
struct AttemptFolder: Sendable {
    /// The folder's absolute path: a command may change its working directory.
    let path: String

    /// The folder of the attempt whose log is at `log` (a path ending in `.log`).
    init(log: String) {
        path = Self.scratchPath(log: log)
    }

    /// The folder at `path`, an absolute path: a task's folder inside a command batch's (``BatchFolder``).
    init(path: String) {
        self.path = path
    }

    /// The absolute path of the scratch folder beside the log at `log`: `.d` for `.log`.
    static func scratchPath(log: String) -> String {
        let base = log.hasSuffix(".log") ? String(log.dropLast(4)) : log
        let absolute = base.hasPrefix("/") ? base : FileManager.default.currentDirectoryPath + "/" + base
        return absolute + ".d"
    }

    /// Where the command may write its result.
    var result: String { path + "/result" }
    /// Where the task's inputs are, when it has some.
    var inputs: String { path + "/inputs" }

    /// The variables the command gets: `BATON_RESULT`, and `BATON_INPUTS` when the task has inputs.
    func variables(hasInputs: Bool) -> [String: String] {
        hasInputs ? ["BATON_RESULT": result, "BATON_INPUTS": inputs] : ["BATON_RESULT": result]
    }

    /// Creates the folder afresh (removing what an earlier worker left under that name), with the
    /// task's inputs in it if it has any.
    ///
    /// This runs on the worker's loop before the command starts, so writing inputs holds the loop for
    /// as long as they take: at most 16 MiB in all (``TaskSpec/inputLimit``).
    func prepare(inputs: [TaskInput]) throws(ServiceError) {
        if mkdir(path, 0o755) != 0 {
            guard errno == EEXIST else { throw Self.failure("cannot create the scratch folder \(path)") }
            remove()
            guard mkdir(path, 0o755) == 0 else { throw Self.failure("cannot create the scratch folder \(path)") }
        }
        guard !inputs.isEmpty else { return }
        guard mkdir(self.inputs, 0o755) == 0 else {
            throw Self.failure("cannot create the inputs folder \(self.inputs)")
        }
        var index = ""
        for input in inputs {
            let name = try Self.fileName(of: input)
            try Self.write(input.data, to: "\(self.inputs)/\(name)")
            index += "\(input.job)\t\(input.step)\t\(input.partition)\t\(Self.escaped(input.partitionKey))\t\(name)\n"
        }
        try Self.write(Array(index.utf8), to: "\(self.inputs)/index")
    }

    /// The result the command wrote, read after it exited with status 0: the file's contents, or nothing
    /// if it wrote no file. Reads at most `limit` + 1 octets, so a huge file costs no memory; a file over
    /// `limit` fails the attempt rather than being cut short.
    func readResult(limit: Int) throws(ServiceError) -> [UInt8] {
        try Self.readFile(result, limit: limit, file: "its result file", limitName: "the shard's limit") ?? []
    }

    /// The contents of the regular file at `path`, or nil if there is none. Reads at most `limit` + 1
    /// octets, so a huge file costs no memory; a file over `limit` is an error rather than being cut
    /// short. `file` names the file in errors ("its result file"), and `limitName` the limit ("the
    /// shard's limit").
    static func readFile(_ path: String, limit: Int, file: String, limitName: String) throws(ServiceError) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw failure("cannot open \(file) \(path)")
        }
        defer { close(descriptor) }
        let overLimit = { (size: Int) in ServiceError("\(file) is \(size) octets, over \(limitName) of \(limit)") }
        let size = try size(of: descriptor, path: path, file: file)
        guard size <= limit else { throw overLimit(size) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size + 1)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count <= limit {
            let wanted = min(chunk.count, limit + 1 - bytes.count)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read \(file) \(path)")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        // The file grew after it was measured: something the command left running still writes it.
        if bytes.count > limit {
            throw overLimit(max(bytes.count, (try? Self.size(of: descriptor, path: path, file: file)) ?? 0))
        }
        return bytes
    }

    /// Removes the folder and everything in it; a folder already gone is fine.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    // MARK: - Helpers

    /// `<job>.<step>.<partition>`: unambiguous read from the right, since step and partition are numbers.
    private static func fileName(of input: TaskInput) throws(ServiceError) -> String {
        guard !input.job.isEmpty, !input.job.hasPrefix("."), !input.job.contains("/"), !input.job.contains("\0") else {
            throw ServiceError("an input's job name \"\(input.job)\" cannot name a file")
        }
        return "\(input.job).\(input.step).\(input.partition)"
    }

    /// The key as it appears in the index: tabs and line ends, which separate fields and lines, escaped.
    static func escaped(_ key: String) -> String {
        var text = ""
        for character in key.unicodeScalars {
            switch character {
            case "\\": text += "\\\\"
            case "\t": text += "\\t"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            default: text.unicodeScalars.append(character)
            }
        }
        return text
    }

    /// Writes a new file (one that exists already is an error: two inputs would share a name).
    static func write(_ bytes: [UInt8], to path: String) throws(ServiceError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot create \(path)") }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress.map { $0 + written }, buffer.count - written)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write \(path)")
            }
            written += count
        }
    }

    /// The size of an open regular file, in octets.
    private static func size(of descriptor: Int32, path: String, file: String) throws(ServiceError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("cannot read \(file) \(path)") }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw ServiceError("\(file) \(path) is not a regular file")
        }
        return Int(status.st_size)
    }

    /// `what`, with the reason `errno` gives.
    static func failure(_ what: String) -> ServiceError {
        ServiceError("\(what): \(String(cString: strerror(errno)))")
    }
}
