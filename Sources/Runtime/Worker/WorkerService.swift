public import Core
import Foundation
internal import Glibc
import Synchronization
import Wire
public import ZeroMQ

/// What a worker runs and where it connects.
public struct WorkerSettings: Sendable {
    public var configuration: WorkerConfiguration
    /// Each shard's `work` endpoint, one link each.
    public var shards: [String]
    /// Where attempts' output goes: `<logs>/<run>/<job>.<attempt>.log`, with each command attempt's
    /// scratch folder (its result file and inputs) beside its log while it runs. A command batch has one
    /// log and one scratch folder for all its tasks (``WorkerService/batchLogPath(_:set:root:)``).
    public var logs: String
    /// The handlers this worker offers.
    public var handlers: Handlers
    /// Extra environment for commands, over the worker's own.
    public var environment: [String: String]
    /// How long a stopping worker waits for its running attempts to end and their results to be
    /// confirmed before it kills what is left, in milliseconds.
    public var drain = Defaults.drain

    public init(name: String, slots: Int, shards: [String], logs: String, handlers: Handlers = .builtIn, environment: [String: String] = [:]) {
        var configuration = WorkerConfiguration(name: name, slots: slots, shards: shards.count)
        configuration.handlers = handlers.names
        configuration.sets = handlers.setLimits
        self.configuration = configuration
        self.shards = shards
        self.logs = logs
        self.handlers = handlers
        self.environment = environment
    }
}

/// A worker as ``ServiceLoop`` runs it: a DEALER per shard, around a ``WorkerCore``, with attempts
/// running in child processes or on handler threads, whose ends come back through a queue and the
/// loop's doorbell, or inline on the loop's thread, whose ends are taken in the turn that ran them.
public struct WorkerService: Service {
    /// How an attempt ended, as a process or a handler reported it.
    struct Ending: Sendable {
        var id: WorkerCore.AttemptID
        var outcome: Outcome
        var exitCode: Int32
        var error: String
        var data: [UInt8]
        /// Whether a failure by exit status or signal gets the log's last line added to its error; a
        /// batch's endings come with their errors complete.
        var explainsExit = true
        /// For an inline attempt, which ends within the turn that took its task: the milliseconds it ran,
        /// which the turn's one instant would not show.
        var ranMilliseconds: Int64 = 0
    }

    /// Endings reported by reaper and handler threads, taken by the loop.
    final class Endings: Sendable {
        private let queue = Mutex<[Ending]>([])
        func append(_ ending: Ending) { queue.withLock { $0.append(ending) } }
        /// Swaps what was reported for `spare`, an empty array: the two buffers go back and forth and keep
        /// their room, rather than a new one grown at every turn.
        func take(swapping spare: inout [Ending]) { queue.withLock { swap(&$0, &spare) } }
        var isEmpty: Bool { queue.withLock { $0.isEmpty } }
    }

    /// An attempt in progress.
    struct RunningAttempt {
        var spec: TaskSpec
        /// Where a command's output goes; a handler's goes to its output file.
        var commandLog = ""
        var pid: pid_t?
        var cancelled: CancellationFlag?
        var output: OutputFile?

        init(spec: TaskSpec, log: String, pid: pid_t? = nil) {
            self.spec = spec
            commandLog = log
            self.pid = pid
        }

        init(spec: TaskSpec, cancelled: CancellationFlag, output: OutputFile) {
            self.spec = spec
            self.cancelled = cancelled
            self.output = output
        }

        /// Where its output goes, worked out for a handler's attempt only when asked: most write nothing.
        var log: String { output?.path ?? commandLog }
    }

    let settings: WorkerSettings
    var core: WorkerCore
    let log: Log
    let doorbell: Doorbell
    let endings = Endings()
    /// The endings the loop took last, emptied after: ``Endings``' other buffer.
    private var endingsTaken: [Ending] = []
    let threads: HandlerThreads
    var attempts: [WorkerCore.AttemptID: RunningAttempt] = [:]
    var folders: LogFolders
    let host = hostName()
    let environment: [String: String]
    /// Whether the first turn, which registers with every shard, is still to come.
    var starting = true
    /// Once asked to stop: until when running attempts may finish.
    var drainDeadline: Timestamp?

    var name: String { "worker" }
    var turnBudget: Int { 10_000 }
    var sockets: [SocketPlan] { settings.shards.enumerated().map { .dealer("shard \($0.offset + 1)", to: $0.element) } }
    var hasWork: Bool { starting || core.hasEffects }

    public static func run(
        _ settings: WorkerSettings, context: Context, clock: any WallClock = SystemClock(), log: Log, control: ServiceControl,
        counters: ServiceCounters = ServiceCounters(), security: LoopSecurity? = nil
    ) throws {
        let session = UInt64.random(in: 1...UInt64.max)
        var settings = settings
        // Logs are told as `host:path`: a path relative to where the process started would mean nothing elsewhere.
        if !settings.logs.hasPrefix("/") { settings.logs = FileManager.default.currentDirectoryPath + "/" + settings.logs }
        try FileManager.default.createDirectory(atPath: settings.logs, withIntermediateDirectories: true)
        var core = WorkerCore(configuration: settings.configuration, session: session, now: clock.now())
        core.start(now: clock.now())
        let threads = HandlerThreads()
        defer { threads.stop() }
        let service = WorkerService(
            settings: settings, core: core, log: log, doorbell: control.doorbell, threads: threads, folders: LogFolders(root: settings.logs),
            environment: ProcessInfo.processInfo.environment.merging(settings.environment) { _, new in new })
        var loop = ServiceLoop(service: service, context: context, clock: clock, log: log, control: control, counters: counters, security: security)
        try loop.run(started: [
            ("session", String(session)), ("slots", String(settings.configuration.slots)), ("shards", settings.shards.joined(separator: ",")),
        ])
    }

    func metrics(into metrics: inout Metrics, now: Timestamp) throws {
        metrics.gauge("baton_worker_slots", "Slots the worker offers.", settings.configuration.slots)
        metrics.gauge("baton_worker_attempts_running", "Attempts running on the worker.", core.running.count)
        metrics.gauge("baton_worker_results_unreceipted", "Results sent and not yet confirmed by their shard's RECEIPT.", core.unreceipted.count)
        let registered = core.links.filter { $0.state == .registered }.count
        metrics.gauge("baton_worker_shards", "The worker's shards, by whether it is registered with them.", registered, .init("state", "registered"))
        metrics.gauge("baton_worker_shards", "", core.links.count - registered, .init("state", "unregistered"))
    }

    func nextDeadline() -> Timestamp { drainDeadline.map { min($0, core.nextDeadline()) } ?? core.nextDeadline() }

    mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
        core.received(message, on: socket, now: now)
        return true
    }

    mutating func endTurn(now: Timestamp) throws -> TurnEnd {
        starting = false
        endings.take(swapping: &endingsTaken)
        takeEndings(now: now)
        core.tick(now: now)
        var actions: [LoopAction] = []
        // The attempts start first, then inline ones' ends are taken: their results, and the slots they
        // freed, go in this turn's one RESULTS and one PULL a shard, not a turn of their own.
        carryOut(core.takeEffects(), into: &actions)
        if !endingsTaken.isEmpty { takeEndings(now: now) }
        carryOut(core.finishTurn(now: now), into: &actions)
        return TurnEnd(committed: false, actions: actions)
    }

    /// Carries out the core's effects: messages become actions, attempts start. The ends of inline
    /// attempts are added to `endingsTaken`.
    private mutating func carryOut(_ effects: consuming [WorkerEffect], into actions: inout [LoopAction]) {
        // Each effect moved out in turn, not copied: a start holds its task's spec, and a copy retained,
        // then released, every string of it (the effects' copies were 3.7% of a loaded worker's samples).
        effects.reverse()
        while let effect = effects.popLast() {
            switch consume effect {
            case .send(let link, let message):
                actions.append(.send(message, socket: link))
            case .reconnect(let link):
                actions.append(.reopen(socket: link))
            case .start(let id, let spec):
                attempts[id] = Self.start(
                    id, spec, settings: settings, environment: environment, resultLimit: core.resultLimit(of: id.link),
                    endings: endings, inlineEnded: &endingsTaken, doorbell: doorbell, threads: threads, folders: &folders)
            case .startSet(let link, let set, let specs):
                let started =
                    specs.first?.kind == .command
                    ? Self.startBatch(
                        link: link, set: set, specs, settings: settings, environment: environment,
                        resultLimit: core.resultLimit(of: link), endings: endings, doorbell: doorbell, folders: &folders)
                    : Self.startSet(link: link, specs, settings: settings, endings: endings, doorbell: doorbell, threads: threads)
                for (id, attempt) in started { attempts[id] = attempt }
            case .signal(let id, let signal):
                if let pid = attempts[id]?.pid { CommandRunner.signal(pid, signal == .terminate ? SIGTERM : SIGKILL) }
            case .abandon(let id):
                if let attempt = attempts.removeValue(forKey: id) {
                    attempt.cancelled?.set()
                    attempt.output?.close()
                }
            case .refused(let link, let reason):
                log.error("the shard refused this worker", ["shard": settings.shards[link], "reason": reason])
            case .turnedAway(let link, let status, let reason):
                log.warning(
                    "the shard turned this worker away; trying again later",
                    ["shard": settings.shards[link], "worker": settings.configuration.name, "status": String(status), "reason": reason])
            case .forbidden(let link, let reason):
                log.warning(
                    "the shard refused this worker (its name is another key's there, or its key was removed); trying again later",
                    ["shard": settings.shards[link], "worker": settings.configuration.name, "reason": reason])
            }
        }
    }

    /// Hands the attempts that ended (``endingsTaken``) to the core, with the tail of their output and
    /// where it went.
    private mutating func takeEndings(now: Timestamp) {
        // The tasks of a command batch share one log: it is read once.
        var tails: [String: (kept: Bool, output: String)] = [:]
        defer { endingsTaken.removeAll(keepingCapacity: true) }
        for ending in endingsTaken {
            guard let attempt = attempts.removeValue(forKey: ending.id) else { continue }  // Abandoned.
            attempt.output?.close()
            let (kept, output): (Bool, String)
            if let file = attempt.output, !file.exists {
                // A handler that wrote nothing has no log file: nothing to read, and nowhere to point.
                (kept, output) = (false, "")
            } else if let tail = tails[attempt.log] {
                (kept, output) = tail
            } else {
                kept = attempt.output != nil || FileManager.default.fileExists(atPath: attempt.log)
                output = kept ? CommandRunner.tail(of: attempt.log) : ""
                tails[attempt.log] = (kept, output)
            }
            var error = ending.error
            // A command that failed by its exit status or a signal tells why in its last line.
            if ending.explainsExit, ending.outcome == .failed, ending.exitCode != 0, let last = Self.lastLine(of: output) {
                error += ": " + last.prefix(200)
            }
            core.attemptEnded(
                ending.id, outcome: ending.outcome, exitCode: ending.exitCode, output: output,
                log: kept ? "\(host):\(attempt.log)" : "", error: error, data: ending.data,
                now: now.adding(milliseconds: ending.ranMilliseconds))
        }
    }

    /// A stopping worker asks for nothing more and lets what runs finish, within the drain time.
    mutating func mayStop(now: Timestamp) -> Bool {
        if drainDeadline == nil {
            drainDeadline = now.adding(milliseconds: settings.drain)
            core.drain(now: now)
            if settings.drain > 0 && !core.isIdle { log.info("draining", ["running": String(core.running.count)]) }
        }
        return core.isIdle || now >= drainDeadline!
    }

    /// Stopping: running commands are killed (SIGKILL), and each shard is told with DISCONNECT 503,
    /// on which it takes this worker's leases back at once; the tasks run again elsewhere.
    mutating func stopping(now: Timestamp) -> [LoopAction] {
        for attempt in attempts.values {
            if let pid = attempt.pid { CommandRunner.signal(pid, SIGKILL) }
            attempt.cancelled?.set()
        }
        log.info("stopping", ["abandoned": String(attempts.count)])
        let goodbye = Message.disconnect(Disconnect(status: .unavailable, reason: "worker stopping"))
        return settings.shards.indices.map { .send(goodbye, socket: $0) }
    }

    /// Starts one attempt: a command in a child process with a reaper thread, or a handler on a thread of
    /// the pool (an inline one at once, on this thread).
    /// `resultLimit` is the largest result the task's shard accepts, in octets.
    static func start(
        _ id: WorkerCore.AttemptID, _ spec: TaskSpec, settings: WorkerSettings, environment: [String: String],
        resultLimit: Int, endings: Endings, inlineEnded: inout [Ending], doorbell: Doorbell, threads: HandlerThreads,
        folders: inout LogFolders
    ) -> RunningAttempt {
        let report: @Sendable (Ending) -> Void = { ending in
            endings.append(ending)
            doorbell.ring()
        }
        switch spec.kind {
        case .command:
            let path = logPath(spec, root: settings.logs)
            do {
                try folders.ensure(run: spec.run)
            } catch {
                report(Ending(id: id, outcome: .failed, exitCode: 0, error: "cannot create the log folder: \(error)", data: []))
                return RunningAttempt(spec: spec, log: path)
            }
            let folder = AttemptFolder(log: path)
            let pid: pid_t
            do {
                try folder.prepare(inputs: spec.inputs)
                var variables = environment.merging(variables(of: spec, worker: settings.configuration.name, folder: folder)) { _, new in new }
                // Set only for a task with inputs, or for a batch, even if the worker itself was started with them.
                if spec.inputs.isEmpty { variables["BATON_INPUTS"] = nil }
                for name in batchVariables { variables[name] = nil }
                pid = try CommandRunner.spawn(command: spec.action, environment: variables, output: path)
            } catch {
                folder.remove()
                report(Ending(id: id, outcome: .failed, exitCode: 0, error: "\(error)", data: []))
                return RunningAttempt(spec: spec, log: path)
            }
            Thread.detachNewThread {
                report(ending(id, status: CommandRunner.wait(pid), folder: folder, resultLimit: resultLimit))
            }
            return RunningAttempt(spec: spec, log: path, pid: pid)
        case .handler:
            guard let (handler, inline) = settings.handlers.entry(spec.action) else {
                report(Ending(id: id, outcome: .rejected, exitCode: 0, error: "no handler \"\(spec.action)\"", data: []))
                return RunningAttempt(spec: spec, log: logPath(spec, root: settings.logs))
            }
            let root = settings.logs
            let output = OutputFile { logPath(spec, root: root) }
            let cancelled = CancellationFlag()
            let context = TaskContext(task: spec, output: output, cancelled: cancelled, handed: Handlers.microseconds())
            let attempt: @Sendable () -> Ending = {
                do {
                    let data = try handler(context)
                    return Ending(id: id, outcome: .succeeded, exitCode: 0, error: "", data: data)
                } catch {
                    output.append("error: \(error)\n")
                    return Ending(id: id, outcome: .failed, exitCode: 0, error: "\(error)", data: [])
                }
            }
            if inline {
                // Here, now: its end is taken in this turn (``endTurn(now:)``), with the time it ran (on the
                // monotonic clock: the wall clock may step back meanwhile).
                let clock = MicrosecondClock()
                let began = clock.now()
                var ending = attempt()
                ending.ranMilliseconds = (clock.now() - began) / 1000
                inlineEnded.append(ending)
            } else {
                threads.run { report(attempt()) }
            }
            return RunningAttempt(spec: spec, cancelled: cancelled, output: output)
        }
    }

    /// Starts the tasks of a claimed set: one call of their set handler, on one thread, with a context
    /// per task; each task ends with its own result.
    static func startSet(
        link: Int, _ specs: [TaskSpec], settings: WorkerSettings, endings: Endings, doorbell: Doorbell, threads: HandlerThreads
    ) -> [(WorkerCore.AttemptID, RunningAttempt)] {
        let ids = specs.map { WorkerCore.AttemptID(link: link, ref: $0.ref) }
        let report: @Sendable ([Ending]) -> Void = { ended in
            for ending in ended { endings.append(ending) }
            doorbell.ring()
        }
        let name = specs[0].action
        guard let handler = settings.handlers.setHandler(name) else {
            report(ids.map { Ending(id: $0, outcome: .rejected, exitCode: 0, error: "no set handler \"\(name)\"", data: []) })
            return []
        }
        let handed = Handlers.microseconds()
        let root = settings.logs
        let attempts = specs.map { spec in
            RunningAttempt(spec: spec, cancelled: CancellationFlag(), output: OutputFile { logPath(spec, root: root) })
        }
        let contexts = attempts.map { TaskContext(task: $0.spec, output: $0.output!, cancelled: $0.cancelled!, handed: handed) }
        threads.run {
            let results = handler(contexts)
            var ended: [Ending] = []
            for (index, id) in ids.enumerated() {
                guard index < results.count else {
                    let error = "the set handler returned \(results.count) results for \(ids.count) tasks"
                    ended.append(Ending(id: id, outcome: .failed, exitCode: 0, error: error, data: []))
                    continue
                }
                switch results[index] {
                case .success(let data):
                    ended.append(Ending(id: id, outcome: .succeeded, exitCode: 0, error: "", data: data))
                case .failure(let error):
                    contexts[index].log("error: \(error)")
                    ended.append(Ending(id: id, outcome: .failed, exitCode: 0, error: "\(error)", data: []))
                }
            }
            report(ended)
        }
        return Array(zip(ids, attempts))
    }

    /// How a command attempt ended, given its exit status (minus the signal that ended it): after status 0,
    /// with the result it wrote, or failed if that result cannot be read or is over `resultLimit` octets.
    /// The attempt's folder is removed either way.
    static func ending(_ id: WorkerCore.AttemptID, status: Int32, folder: AttemptFolder, resultLimit: Int) -> Ending {
        defer { folder.remove() }
        guard status == 0 else {
            let error = status > 0 ? "exit status \(status)" : "killed by signal \(-status)"
            return Ending(id: id, outcome: .failed, exitCode: status, error: error, data: [])
        }
        do {
            let data = try folder.readResult(limit: resultLimit)
            return Ending(id: id, outcome: .succeeded, exitCode: 0, error: "", data: data)
        } catch {
            return Ending(id: id, outcome: .failed, exitCode: 0, error: "\(error)", data: [])
        }
    }

    /// The runs' log folders this worker has made, so that each is made once.
    struct LogFolders {
        let root: String
        private var made: Set<UInt64> = []
        private var order: [UInt64] = []

        init(root: String) { self.root = root }

        mutating func ensure(run: UInt64) throws {
            guard !made.contains(run) else { return }
            try FileManager.default.createDirectory(atPath: "\(root)/\(run)", withIntermediateDirectories: true)
            made.insert(run)
            order.append(run)
            if order.count > 10_000 { made.remove(order.removeFirst()) }
        }
    }

    /// `<root>/<run>/<job>.<attempt>.log`, with `.<step>-<partition>` before the attempt for jobs of
    /// several steps or partitions, and `.rerun-<generation>` for a job rerun, whose attempts count from 1
    /// again and must not overwrite its earlier ones. A command attempt's scratch folder is beside it, `.d` for `.log`.
    static func logPath(_ spec: TaskSpec, root: String) -> String {
        // Appended piece by piece: interpolation cost more than a no-op handler's run.
        var path = root
        path.reserveCapacity(root.utf8.count + spec.job.utf8.count + 64)
        path += "/"
        path += String(spec.run)
        path += "/"
        path += spec.job
        if spec.steps > 1 || spec.partitions > 1 {
            path += "."
            path += String(spec.step)
            path += "-"
            path += String(spec.partition)
        }
        if spec.generation > 0 {
            path += ".rerun-"
            path += String(spec.generation)
        }
        path += "."
        path += String(spec.attempt)
        path += ".log"
        return path
    }

    /// The environment a command gets on top of the worker's: `docs/flows.md`, "What a command sees".
    static func variables(of spec: TaskSpec, worker: String, folder: AttemptFolder) -> [String: String] {
        var variables = sharedVariables(of: spec, worker: worker)
        variables.merge([
            "BATON_ATTEMPT": String(spec.attempt), "BATON_TASK": String(spec.task),
            "BATON_PARTITION": String(spec.partition), "BATON_PARTITION_KEY": spec.partitionKey,
        ]) { _, new in new }
        variables.merge(folder.variables(hasInputs: !spec.inputs.isEmpty)) { _, new in new }
        return variables
    }

    /// The variables of "What a command sees" that are the same for every task of a command batch: all
    /// but the task, attempt, partition, key, result and inputs.
    static func sharedVariables(of spec: TaskSpec, worker: String) -> [String: String] {
        var variables = [
            "BATON_WORKER": worker,
            "BATON_RUN": String(spec.run), "BATON_PRODUCT": spec.product, "BATON_FLOW": spec.flow, "BATON_JOB": spec.job,
            "BATON_ENTRY_MOMENT": String(spec.moment),
            "BATON_STEP": String(spec.step), "BATON_STEPS": String(spec.steps), "BATON_STEP_NAME": spec.stepName,
            "BATON_PARTITIONS": String(spec.partitions),
        ]
        for (name, value) in spec.params { variables["BATON_PARAM_\(name)"] = value }
        return variables
    }

    /// The last line of a command's output that is not blank, if any.
    static func lastLine(of output: String) -> Substring? {
        output.split(separator: "\n").last { !$0.allSatisfy(\.isWhitespace) }
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
