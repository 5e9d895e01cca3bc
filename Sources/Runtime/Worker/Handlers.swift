public import Wire
import Foundation
import Synchronization

/// What a handler knows about the attempt it runs.
public struct TaskContext: Sendable {
    /// The task as the shard handed it out: run, job, attempt, step, partition, parameters, entry moment.
    public let task: TaskSpec
    let output: OutputFile
    let cancelled: CancellationFlag

    /// The run's ID.
    public var run: UInt64 { task.run }
    /// The job's name.
    public var job: String { task.job }
    /// The attempt number, from 1.
    public var attempt: UInt16 { task.attempt }
    /// The run's parameters, with the job's over them.
    public var params: [String: String] { task.params }
    /// The run's job entry moment: the view of data every task of the run works against.
    public var moment: UInt64 { task.moment }
    /// The step's index, from 0.
    public var step: UInt16 { task.step }
    /// The number of steps in the job.
    public var steps: UInt16 { task.steps }
    /// The step's name (the job's name for a job without declared steps).
    public var stepName: String { task.stepName }
    /// The partition's index, from 0.
    public var partition: UInt32 { task.partition }
    /// The number of partitions in the step (1 for a step without partitions).
    public var partitions: UInt32 { task.partitions }
    /// The partition's key; empty when the step's partitions are only counted.
    public var partitionKey: String { task.partitionKey }
    @available(*, deprecated, renamed: "partitionKey")
    public var key: String { partitionKey }
    /// The results the task receives, in the order the shard gave them: the previous step's partitions
    /// of this job (for a step after the first), or, in the first step, the last step's partitions of
    /// the upstream jobs this job names in its `inputs`. Empty when there are none.
    public var inputs: [TaskInput] { task.inputs }

    /// The result partition `partition` of `job` committed, if the task received it. Within one task a
    /// job's results come from one step only, so the job and partition name one input.
    public func input(job: String, partition: UInt32 = 0) -> [UInt8]? {
        task.inputs.first { $0.job == job && $0.partition == partition }?.data
    }

    /// The result the partition of `job` keyed `partitionKey` committed, if the task received it.
    public func input(job: String, partitionKey: String) -> [UInt8]? {
        task.inputs.first { $0.job == job && $0.partitionKey == partitionKey }?.data
    }

    @available(*, deprecated, renamed: "input(job:partitionKey:)")
    public func input(job: String, key: String) -> [UInt8]? { input(job: job, partitionKey: key) }
    /// When the worker took the task from its shard, in microseconds since the Unix epoch.
    public let handed: UInt64

    /// Whether the attempt was stopped (cancelled, or past its timeout): a long handler should check
    /// this and return, since a thread cannot be killed.
    public var isCancelled: Bool { cancelled.isSet }

    /// Writes a line to the attempt's output, which the worker keeps in the attempt's log file.
    public func log(_ line: String) { output.append(line + "\n") }
}

/// A Swift function a worker runs for jobs that name it with `"handler"`. It returns the attempt's
/// result (empty is fine) or throws to fail the attempt. A result over the shard's result limit fails
/// the attempt at the worker, and is not sent.
public typealias Handler = @Sendable (TaskContext) throws -> [UInt8]

/// A Swift function a worker runs for a claimed set of tasks of jobs that name it: one result per
/// context, in order.
public typealias SetHandler = @Sendable ([TaskContext]) -> [Result<[UInt8], any Error>]

/// The handlers a worker offers, by name. Build it before starting the worker:
///
/// ```swift
/// var handlers = Handlers()
/// handlers.register("load-ledger") { context in
///     context.log("loading \(context.params["region"] ?? "all") for moment \(context.moment)")
///     return Array("42 entries".utf8)
/// }
/// ```
public struct Handlers: Sendable {
    /// Each in a struct of its own: a function stored as a dictionary's value directly is kept in the
    /// dictionary's generic form, and each one read out was wrapped in a thunk, an allocation per task.
    private struct Entry {
        let handler: Handler
        let inline: Bool
    }
    private var table: [String: Entry] = [:]
    private(set) var setTable: [String: (limit: Int, handler: SetHandler)] = [:]

    public init() {}

    /// Registers `handler` under `name`, replacing any handler of that name.
    ///
    /// Each attempt runs on a thread of the worker's pool. With `inline`, it runs on the worker's own
    /// thread instead, in the turn that took its task, and its result goes in that turn: no hand-over to
    /// another thread, which costs more than a handler that only computes for a few microseconds. Inline
    /// attempts run one after another, whatever the worker's slots. Only for such a handler: one that
    /// waits, sleeps or blocks holds up every other task, heartbeat and result of the worker while it
    /// runs, never sees `isCancelled`, and is not stopped at its timeout. The built-in `noop` and `stamp`
    /// are inline.
    public mutating func register(_ name: String, inline: Bool = false, _ handler: @escaping Handler) {
        precondition(!name.isEmpty && name.utf8.count <= 64, "a handler's name has 1 to 64 characters")
        setTable[name] = nil
        table[name] = Entry(handler: handler, inline: inline)
    }

    /// Registers `handler` under `name` to take the tasks of jobs that name it as sets: the shard claims
    /// up to `limit` (2 to 1,000) tasks of one product, fairness key and job type together, leases them to this worker as one, and
    /// the handler runs them in one call, which takes one slot. It returns one result per task, in the
    /// order of the contexts; a task's `.failure` fails that task alone.
    ///
    /// ```swift
    /// handlers.registerSet("post-payments", limit: 100) { contexts in
    ///     let posted = ledger.post(contexts.map { $0.params["payment"] ?? "" })
    ///     return posted.map { $0 ? .success([]) : .failure(HandlerFailure("rejected by the ledger")) }
    /// }
    /// ```
    public mutating func registerSet(_ name: String, limit: Int, _ handler: @escaping SetHandler) {
        precondition(!name.isEmpty && name.utf8.count <= 64, "a handler's name has 1 to 64 characters")
        precondition((2...Limits.setSize).contains(limit), "a set holds 2 to \(Limits.setSize) tasks")
        table[name] = nil
        setTable[name] = (limit, handler)
    }

    /// The registered names, sorted.
    public var names: [String] { Set(table.keys).union(setTable.keys).sorted() }

    /// The handlers that take sets, with the most tasks in one set.
    public var setLimits: [String: Int] { setTable.mapValues(\.limit) }

    /// The handler registered under `name`, and whether it runs on the worker's own thread.
    func entry(_ name: String) -> (handler: Handler, inline: Bool)? {
        if let entry = table[name] { return (entry.handler, entry.inline) }
        // A task of a set handler handed out on its own (by a shard that claimed it before this worker
        // offered sets) is a set of one.
        guard let (_, handler) = setTable[name] else { return nil }
        return ({ context in try handler([context]).first!.get() }, false)
    }

    /// The set handler registered under `name`.
    func setHandler(_ name: String) -> SetHandler? { setTable[name]?.handler }

    /// Handlers every worker has: `noop` (does nothing), `stamp` (returns when it was handed over and ran, for
    /// benchmarks), `sleep` (waits `ms` milliseconds, checking for cancellation; with `first`, only the
    /// partitions below it wait, the others return at once), `fail` (always throws),
    /// and `load-ledger` (the demo's).
    public static var builtIn: Handlers {
        var handlers = Handlers()
        handlers.register("noop", inline: true) { _ in [] }
        handlers.register("stamp", inline: true) { context in
            // Two big-endian 64-bit microsecond instants: when the worker took the task, and when the
            // handler ran (the handler does nothing else, so this is also when it ended).
            let ran = Self.microseconds()
            return (0..<16).map { UInt8(truncatingIfNeeded: ($0 < 8 ? context.handed : ran) >> (56 - 8 * ($0 % 8))) }
        }
        handlers.register("sleep") { context in
            let total = Int(context.params["ms"] ?? "100") ?? 100
            if let first = context.params["first"].flatMap(UInt32.init), context.partition >= first { return [] }
            var slept = 0
            while slept < total && !context.isCancelled {
                usleep(UInt32(min(10, total - slept)) * 1000)
                slept += 10
            }
            return []
        }
        handlers.register("fail") { context in
            throw HandlerFailure(context.params["message"] ?? "failed on purpose")
        }
        handlers.register("load-ledger") { context in
            let region = context.params["region"] ?? "all"
            context.log("loading the \(region) ledger as of entry moment \(context.moment)")
            usleep(200_000)
            context.log("loaded 1,024 entries")
            return Array("1024".utf8)
        }
        return handlers
    }
}

extension Handlers {
    /// The wall clock in microseconds since the Unix epoch.
    public static func microseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1000
    }
}

/// A handler's failure with a message of its choosing.
public struct HandlerFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Set when an attempt is stopped; read by its handler.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// An attempt's log file, written by a handler's thread and read by the worker when the attempt ends.
///
/// The file is created at the first line written: most handlers write nothing, and creating a file per
/// attempt would cost more than the attempt.
final class OutputFile: Sendable {
    private let place: @Sendable () -> String
    private let file = Mutex<(handle: FileHandle?, written: Bool, closed: Bool, path: String?)>((nil, false, false, nil))

    /// A file whose path is worked out only when it is first needed: at the first line written, or when
    /// the worker reads what was written.
    init(place: @escaping @Sendable () -> String) { self.place = place }

    var path: String { file.withLock { file in Self.path(of: &file, place) } }

    private static func path(of file: inout (handle: FileHandle?, written: Bool, closed: Bool, path: String?), _ place: () -> String) -> String {
        if let path = file.path { return path }
        let path = place()
        file.path = path
        return path
    }

    /// Whether anything was written.
    var exists: Bool { file.withLock { $0.written } }

    func append(_ text: String) {
        file.withLock { file in
            guard !file.closed else { return }
            if !file.written {
                let path = Self.path(of: &file, place)
                let folder = (path as NSString).deletingLastPathComponent
                try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                file.handle = FileHandle(forWritingAtPath: path)
                file.written = true
            }
            file.handle?.write(Data(text.utf8))
        }
    }

    func close() {
        file.withLock { file in
            try? file.handle?.close()
            file.handle = nil
            file.closed = true
        }
    }
}
