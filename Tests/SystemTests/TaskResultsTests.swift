import Core
import Foundation
import Runtime
import Synchronization
import Testing
import Wire
import ZeroMQ

/// Results and inputs at the worker: a real worker loop running real commands and handlers, with the
/// test playing its shard over a ROUTER socket.
@Suite struct TaskResultsTests {
    // MARK: - Commands

    @Test func aCommandsResultFileBecomesTheResultsData() throws {
        try withWorker { shard, logs in
            let result = try shard.run(command("printf hello > \"$BATON_RESULT\""))
            #expect(result.outcome == .succeeded)
            #expect(result.data == Array("hello".utf8))
            #expect(FileManager.default.fileExists(atPath: "\(logs)/7/load.1.log"), "the log stays")
            #expect(!FileManager.default.fileExists(atPath: "\(logs)/7/load.1.d"), "the scratch folder is removed")
        }
    }

    @Test func aCommandWithoutResultFileOrInputsSucceedsWithNoData() throws {
        // The worker's own BATON_INPUTS (as if it ran inside a command) does not reach a task without inputs.
        try withWorker(environment: ["BATON_INPUTS": "/stale"]) { shard, _ in
            let result = try shard.run(command("printf '%s' \"${BATON_INPUTS-unset}\""))
            #expect(result.outcome == .succeeded)
            #expect(result.data == [])
            #expect(result.output == "unset")
        }
    }

    @Test func aResultFileOverTheShardsLimitFailsTheAttempt() throws {
        try withWorker(resultLimit: 1000) { shard, logs in
            let over = try shard.run(command("head -c 2000 /dev/zero > \"$BATON_RESULT\"", task: 1))
            #expect(over.outcome == .failed)
            #expect(over.error == "its result file is 2000 octets, over the shard's limit of 1000")
            #expect(over.data == [])
            #expect(!FileManager.default.fileExists(atPath: "\(logs)/7/load.1.d"))

            let atLimit = try shard.run(command("head -c 1000 /dev/zero > \"$BATON_RESULT\"", task: 2))
            #expect(atLimit.outcome == .succeeded)
            #expect(atLimit.data == [UInt8](repeating: 0, count: 1000))
        }
    }

    @Test func inputsAreFilesInTheInputsFolderWithAnIndex() throws {
        try withWorker { shard, logs in
            let copy = "\(logs)/copy"
            var spec = command(
                "cp -R \"$BATON_INPUTS\" \"$BATON_PARAM_copy\" && printf '%s' \"$BATON_INPUTS\" > \"$BATON_RESULT\"")
            spec.job = "report"
            spec.params = ["copy": copy]
            spec.inputs = Self.inputs
            let result = try shard.run(spec)
            #expect(result.outcome == .succeeded, "\(result.error)")
            #expect(String(decoding: result.data, as: UTF8.self) == "\(logs)/7/report.1.d/inputs")
            #expect(try contents("\(copy)/extract.2.3") == Array("north's rows".utf8))
            #expect(try contents("\(copy)/extract.2.0") == [0, 255, 1])
            #expect(try contents("\(copy)/check.0.0") == [])
            let index = String(decoding: try contents("\(copy)/index"), as: UTF8.self)
            #expect(
                index
                    == "extract\t2\t3\tnorth\textract.2.3\nextract\t2\t0\ta\\tb\\\\c\textract.2.0\ncheck\t0\t0\t\tcheck.0.0\n"
            )
            #expect(!FileManager.default.fileExists(atPath: "\(logs)/7/report.1.d"), "the scratch folder is removed")
        }
    }

    // MARK: - Handlers

    @Test func aHandlerSeesItsPartitionAndInputs() throws {
        var handlers = Handlers()
        handlers.register("facts") { context in
            let first = context.input(job: "extract", partition: 3) ?? Array("missing".utf8)
            let keyed = context.input(job: "extract", partitionKey: "a\tb\\c") ?? Array("missing".utf8)
            let absent = context.input(job: "extract", partition: 9) == nil ? "absent" : "present"
            let facts = [
                "\(context.step)/\(context.steps) \(context.stepName)",
                "\(context.partition)/\(context.partitions) \(context.partitionKey)",
                "\(context.inputs.count) \(String(decoding: first, as: UTF8.self)) \(keyed) \(absent)",
            ]
            return Array(facts.joined(separator: "; ").utf8)
        }
        try withWorker(handlers: handlers) { shard, _ in
            var spec = handler("facts")
            spec.step = 1
            spec.steps = 3
            spec.stepName = "sum"
            spec.partition = 2
            spec.partitions = 4
            spec.partitionKey = "south"
            spec.inputs = Self.inputs
            let result = try shard.run(spec)
            #expect(result.outcome == .succeeded, "\(result.error)")
            #expect(
                String(decoding: result.data, as: UTF8.self) == "1/3 sum; 2/4 south; 3 north's rows [0, 255, 1] absent")
        }
    }

    @Test(arguments: [false, true])
    func aHandlerResultOverTheShardsLimitFailsAtTheWorker(inline: Bool) throws {
        var handlers = Handlers()
        handlers.register("big", inline: inline) { _ in [UInt8](repeating: 7, count: 2000) }
        try withWorker(resultLimit: 1000, handlers: handlers) { shard, _ in
            let result = try shard.run(handler("big"))
            #expect(result.outcome == .failed)
            #expect(result.error == "its result is 2000 octets, over the shard's limit of 1000")
            #expect(result.data == [])
        }
    }

    @Test(arguments: [false, true])
    func aHandlerThatThrowsFailsItsAttemptWithItsError(inline: Bool) throws {
        var handlers = Handlers()
        handlers.register("broken", inline: inline) { _ in throw HandlerFailure("the ledger is closed") }
        try withWorker(handlers: handlers) { shard, _ in
            let result = try shard.run(handler("broken"))
            #expect(result.outcome == .failed && result.error == "the ledger is closed" && result.data == [])
        }
    }

    /// An inline attempt ends within the turn that took its task; its duration is the time it ran all the same.
    @Test func anInlineAttemptsDurationIsTheTimeItRan() throws {
        var handlers = Handlers()
        handlers.register("slow", inline: true) { _ in
            // The handler's own work, 30 ms of computing, which the duration must show.
            var clock = timespec()
            func microseconds() -> Int {
                clock_gettime(CLOCK_MONOTONIC, &clock)
                return clock.tv_sec * 1_000_000 + clock.tv_nsec / 1000
            }
            let start = microseconds()
            while microseconds() - start < 30_000 {}
            return []
        }
        try withWorker(handlers: handlers) { shard, _ in
            let result = try shard.run(handler("slow"))
            #expect(result.outcome == .succeeded && result.duration >= 30, "\(result.duration) ms")
        }
    }

    /// An inline handler runs on the worker's own thread, in the turn that took its task; another on a thread
    /// of the pool.
    @Test func anInlineHandlerRunsOnTheWorkersThreadAndAnotherOnAThreadOfThePool() throws {
        var handlers = Handlers()
        let thread: Handler = { _ in Array(String(UInt(pthread_self())).utf8) }
        handlers.register("inline", inline: true, thread)
        handlers.register("pooled", thread)
        let loop = Mutex<String>("")
        try withWorker(handlers: handlers, onLoopThread: { loop.withLock { $0 = String(UInt(pthread_self())) } }) { shard, _ in
            let inline = try shard.run(handler("inline"))
            #expect(inline.outcome == .succeeded && String(decoding: inline.data, as: UTF8.self) == loop.withLock { $0 })
            var spec = handler("pooled")
            spec.task = 2
            let pooled = try shard.run(spec)
            #expect(pooled.outcome == .succeeded && !pooled.data.isEmpty && String(decoding: pooled.data, as: UTF8.self) != loop.withLock { $0 })
        }
    }

    // MARK: - The worker's core

    @Test func theWorkerKeepsEachShardsResultLimitFromWelcome() {
        let now = Timestamp(milliseconds: 1_000)
        var core = WorkerCore(configuration: WorkerConfiguration(name: "w", slots: 2, shards: 2), session: 1, now: now)
        #expect(core.resultLimit(of: 0) == 1 << 20, "1 MiB until the shard says otherwise")
        core.received(
            .welcome(Welcome(shard: 1, epoch: 1, heartbeat: 1000, liveness: 3, resultLimit: 500)), on: 0, now: now)
        #expect(core.resultLimit(of: 0) == 500)
        #expect(core.resultLimit(of: 1) == 1 << 20)
    }

    // MARK: - Support

    /// Inputs of a report job: two partitions of extract's last step (one keyed with a tab and a
    /// backslash), and check's empty result.
    static let inputs = [
        TaskInput(job: "extract", step: 2, partition: 3, partitionKey: "north", data: Array("north's rows".utf8)),
        TaskInput(job: "extract", step: 2, partition: 0, partitionKey: "a\tb\\c", data: [0, 255, 1]),
        TaskInput(job: "check", step: 0, partition: 0, data: []),
    ]

    func command(_ line: String, task: UInt64 = 1) -> TaskSpec {
        TaskSpec(
            task: task, attempt: 1, run: 7, job: "load", product: "payments", flow: "eod", stepName: "load",
            kind: .command, action: line, type: "eod.load", moment: 1)
    }

    func handler(_ name: String) -> TaskSpec {
        TaskSpec(
            task: 1, attempt: 1, run: 7, job: "load", product: "payments", flow: "eod", stepName: "load",
            kind: .handler, action: name, type: name, moment: 1)
    }

    func contents(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ServiceError("no file \(path)") }
        return Array(data)
    }

    /// Runs `body` with a worker (logs in a temporary folder, `environment` for its commands) registered
    /// with a stand-in shard that announced `resultLimit`; `onLoopThread` is called on the worker's thread
    /// before it starts.
    func withWorker(
        resultLimit: UInt32 = 1 << 20, handlers: Handlers = .builtIn, environment: [String: String] = [:],
        onLoopThread: @escaping @Sendable () -> Void = {}, _ body: (StandInShard, String) throws -> Void
    ) throws {
        try withTemporaryFolder { folder in
            let context = try Context()
            let shard = try StandInShard(context)
            defer { shard.close() }
            let settings = WorkerSettings(
                name: "test/results/1", slots: 1, shards: [shard.endpoint], logs: "\(folder)/logs", handlers: handlers,
                environment: environment)
            let worker = try ServiceThread(name: "worker") { control in
                onLoopThread()
                try WorkerService.run(
                    settings, context: context, log: Log(service: "worker", level: .error), control: control)
            }
            try worker.start()
            defer { worker.stop() }
            try shard.welcome(resultLimit: resultLimit)
            try body(shard, "\(folder)/logs")
        }
    }
}

/// The test's side of a worker's link: a ROUTER that registers one worker and hands it tasks, one at a
/// time. Every receive gives up after a guard time, only so that a broken worker fails the test.
final class StandInShard {
    let router: Socket
    let endpoint: String
    private var worker: [UInt8] = []

    init(_ context: Context) throws {
        router = try Socket(context, type: .router)
        try router.setReceiveTimeout(milliseconds: 10_000)
        endpoint = "inproc://task-results-\(UUID().uuidString)"
        try router.bind(endpoint)
    }

    /// Takes the worker's READY and answers WELCOME with `resultLimit`.
    func welcome(resultLimit: UInt32) throws {
        guard case .ready = try receive() else { throw ServiceError("the worker's first message is not READY") }
        try send(.welcome(Welcome(shard: 1, epoch: 1, heartbeat: 1000, liveness: 3, resultLimit: resultLimit)))
    }

    /// Hands the worker `spec` and returns its result, confirmed with RECEIPT.
    func run(_ spec: TaskSpec) throws -> TaskResult {
        try send(.tasks(Tasks(tasks: [spec])))
        while true {
            if case .results(let results) = try receive(),
                let result = results.results.first(where: { $0.ref == spec.ref })
            {
                try send(.receipt(Receipt(tasks: [result.ref])))
                return result
            }
        }
    }

    /// The worker's next message; heartbeats are answered on the way.
    private func receive() throws -> Message {
        while true {
            guard let frames = try router.receive() else { throw ServiceError("the worker sent nothing in 10 s") }
            guard frames.count == 2 else { throw ServiceError("the worker sent \(frames.count - 1) frames, not 1") }
            worker = frames[0]
            let message = try Message.decode(frames[1])
            if case .heartbeat = message {
                try send(.heartbeat)
                continue
            }
            return message
        }
    }

    private func send(_ message: Message) throws {
        _ = try router.send([worker, message.encoded()])
    }

    func close() { router.close() }
}
