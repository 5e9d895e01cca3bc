/// A job's status at one moment: what JOB-UPDATES publishes and RUN-DETAIL lists.
///
/// Updates are snapshots, not deltas (the Clone pattern's key-value model): applying the same
/// update twice, or an older one after a newer one of the same job, is harmless for a receiver
/// that keeps the one with the later `time` for each `(run, job, generation)`.
public struct JobStatus: WireValue {
    /// The run.
    public var run: UInt64
    /// The job's name.
    public var job: String
    /// The job's generation.
    public var generation: UInt32
    /// The job's state.
    public var state: JobState
    /// The highest attempt number handed out for any of the job's tasks.
    public var attempts: UInt16
    /// Tasks waiting for a worker (including those waiting for a retry).
    public var pending: UInt32
    /// Tasks leased to workers.
    public var running: UInt32
    /// Tasks that succeeded.
    public var succeeded: UInt32
    /// Tasks that failed with no retries left.
    public var failed: UInt32
    /// The index of the step in progress (the last step once the job is final).
    public var step: UInt16
    /// The number of steps.
    public var steps: UInt16
    /// When the current step's tasks were queued at the shard, in milliseconds since the Unix epoch:
    /// `started` minus this is the job's wait for a worker.
    public var queued: UInt64
    /// When the first task was handed to a worker, in milliseconds since the Unix epoch; 0 if never.
    public var started: UInt64
    /// When the job reached a final state; 0 while it is not final.
    public var finished: UInt64
    /// When this status was committed.
    public var time: UInt64
    /// Where the last finished task's output went (`host:path`); empty if nowhere.
    public var output: String
    /// The last error, in words; empty if none.
    public var detail: String

    public init(
        run: UInt64, job: String, generation: UInt32 = 0, state: JobState, attempts: UInt16 = 0,
        pending: UInt32 = 0, running: UInt32 = 0, succeeded: UInt32 = 0, failed: UInt32 = 0, step: UInt16 = 0,
        steps: UInt16 = 1, queued: UInt64 = 0, started: UInt64 = 0, finished: UInt64 = 0, time: UInt64, output: String = "",
        detail: String = ""
    ) {
        self.run = run
        self.job = job
        self.generation = generation
        self.state = state
        self.attempts = attempts
        self.pending = pending
        self.running = running
        self.succeeded = succeeded
        self.failed = failed
        self.step = step
        self.steps = steps
        self.queued = queued
        self.started = started
        self.finished = finished
        self.time = time
        self.output = output
        self.detail = detail
    }

    public static let minimumSize = 8 + 1 + 4 + 1 + 2 + 16 + 2 + 2 + 8 + 8 + 8 + 8 + 4 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(run)
        writer.string(job)
        writer.number4(generation)
        writer.number1(state.rawValue)
        writer.number2(attempts)
        writer.number4(pending)
        writer.number4(running)
        writer.number4(succeeded)
        writer.number4(failed)
        writer.number2(step)
        writer.number2(steps)
        writer.number8(queued)
        writer.number8(started)
        writer.number8(finished)
        writer.number8(time)
        writer.longstr(output)
        writer.longstr(detail)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        run = try reader.number8("run")
        job = try reader.string("job")
        generation = try reader.number4("generation")
        state = try reader.enumeration("state", JobState.init(rawValue:))
        attempts = try reader.number2("attempts")
        pending = try reader.number4("pending")
        running = try reader.number4("running")
        succeeded = try reader.number4("succeeded")
        failed = try reader.number4("failed")
        step = try reader.number2("step")
        steps = try reader.number2("steps")
        queued = try reader.number8("queued")
        started = try reader.number8("started")
        finished = try reader.number8("finished")
        time = try reader.number8("time")
        output = try reader.longstr("output")
        detail = try reader.longstr("detail")
    }
}
