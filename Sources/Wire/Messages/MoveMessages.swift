// Hand-overs for moves: a shard gives a run up to the orchestrator (HANDED-OVER answers CONTROL
// hand-over on the shard's ROUTER), and the orchestrator gives it to the product's new shard (TAKE-OVER
// on its PUSH, acknowledged on that shard's event stream as SUBMIT is).
//
//     control  = *( C:CONTROL ( S:CONTROL-RESULT / S:HANDED-OVER ) / C:PARTITIONS-ENDED S:CONTROL-RESULT )
//     submit   = *( C:SUBMIT / C:TAKE-OVER )
//
// A run may be handed over with tasks of it running: those partitions stay with their workers on the old
// shard, which takes their results as before and tells each end in its HANDED-OVER answers to the same
// request asked again; the orchestrator relays them to the new shard in PARTITIONS-ENDED.

/// What a shard gave up of one job of a run it handed over: where the job had got to, with every result
/// the rest of it reads.
public struct JobCarry: WireValue {
    /// The job.
    public var job: String
    /// The first step that did not complete.
    public var step: UInt16
    /// Tasks of the steps before it.
    public var completed: UInt32
    /// The step's partitions that succeeded, with their results.
    public var succeeded: [TaskInput]
    /// The results of the step before, which the step's tasks receive.
    public var previous: [TaskInput]
    /// The results of the upstream jobs the first step's tasks receive, each naming its job.
    public var upstream: [TaskInput]
    /// The step's partitions not running that were handed out before: their attempts go on from there (and
    /// a succeeded one's row keeps the attempt that succeeded).
    public var attempts: [PartitionAttempts]
    /// The step's partitions running on the old shard when it handed the run over, with their attempts: they
    /// finish there, and the new shard hands them out only if their end (PARTITIONS-ENDED) says to run them again.
    public var away: [PartitionAttempts]

    public init(
        job: String, step: UInt16 = 0, completed: UInt32 = 0, succeeded: [TaskInput] = [], previous: [TaskInput] = [], upstream: [TaskInput] = [],
        attempts: [PartitionAttempts] = [], away: [PartitionAttempts] = []
    ) {
        self.job = job
        self.step = step
        self.completed = completed
        self.succeeded = succeeded
        self.previous = previous
        self.upstream = upstream
        self.attempts = attempts
        self.away = away
    }

    public static let minimumSize = 1 + 2 + 4 + 4 + 4 + 4 + 4 + 4

    /// The octets it takes in a frame.
    public var encodedSize: Int {
        Self.minimumSize + job.utf8.count + (succeeded + previous + upstream).reduce(0) { $0 + $1.encodedSize } + (attempts.count + away.count) * PartitionAttempts.minimumSize
    }

    public func encode(to writer: inout FrameWriter) {
        writer.string(job)
        writer.number2(step)
        writer.number4(completed)
        writer.values(succeeded)
        writer.values(previous)
        writer.values(upstream)
        writer.values(attempts)
        writer.values(away)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        job = try reader.string("job")
        step = try reader.number2("step")
        completed = try reader.number4("completed")
        succeeded = try reader.values("succeeded")
        previous = try reader.values("previous")
        upstream = try reader.values("upstream")
        attempts = try reader.values("attempts")
        away = try reader.values("away")
    }
}

/// How far one partition's attempts had gone on the shard that handed its run over.
public struct PartitionAttempts: WireValue {
    /// The partition.
    public var partition: UInt32
    /// The last attempt handed out.
    public var attempt: UInt16
    /// Attempts that failed: the retries left are the job's `retries` less these.
    public var failures: UInt16
    /// Attempts whose worker was lost.
    public var losses: UInt16

    public init(partition: UInt32, attempt: UInt16, failures: UInt16 = 0, losses: UInt16 = 0) {
        self.partition = partition
        self.attempt = attempt
        self.failures = failures
        self.losses = losses
    }

    public static let minimumSize = 4 + 2 + 2 + 2

    public func encode(to writer: inout FrameWriter) {
        writer.number4(partition)
        writer.number2(attempt)
        writer.number2(failures)
        writer.number2(losses)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        partition = try reader.number4("partition")
        attempt = try reader.number2("attempt")
        failures = try reader.number2("failures")
        losses = try reader.number2("losses")
    }
}

/// A shard's answer to CONTROL hand-over that gave the run up: what it held of the run, for its new shard.
public struct HandedOver: WireValue {
    /// The request answered.
    public var request: UInt64
    /// 200; a refusal is a CONTROL-RESULT.
    public var status: Status
    /// What was handed over, in words.
    public var detail: String
    /// The run.
    public var run: UInt64
    /// Each job of the run the shard held, as far as it had got.
    public var jobs: [JobCarry]
    /// The results of the last step of each job of the run that succeeded on the shard (the newest
    /// generation of each), which jobs of the run still to come read.
    public var results: [TaskInput]
    /// The last status of each job of the run that ended on the shard (its newest generation there): the
    /// orchestrator applies them before it moves the run, as it would from the event stream, which may
    /// bring them later than this answer.
    public var ended: [JobStatus]
    /// How the partitions that were running when the run was handed over (each job's `away`) have ended
    /// so far, in the order they ended: empty in the first answer, filled in as the request is asked again.
    public var ends: [PartitionEnd]
    /// How many of those partitions still run on the shard.
    public var running: UInt32

    public init(
        request: UInt64, status: Status = .ok, detail: String = "", run: UInt64, jobs: [JobCarry] = [], results: [TaskInput] = [],
        ended: [JobStatus] = [], ends: [PartitionEnd] = [], running: UInt32 = 0
    ) {
        self.request = request
        self.status = status
        self.detail = detail
        self.run = run
        self.jobs = jobs
        self.results = results
        self.ended = ended
        self.ends = ends
        self.running = running
    }

    public static let minimumSize = 8 + 2 + 4 + 8 + 4 + 4 + 4 + 4 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number2(status.rawValue)
        writer.longstr(detail)
        writer.number8(run)
        writer.values(jobs)
        writer.values(results)
        writer.values(ended)
        writer.values(ends)
        writer.number4(running)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        status = Status(rawValue: try reader.number2("status"))
        detail = try reader.longstr("detail")
        run = try reader.number8("run")
        jobs = try reader.values("jobs")
        results = try reader.values("results")
        ended = try reader.values("ended")
        ends = try reader.values("ends")
        running = try reader.number4("running")
    }
}

/// A run handed over to the shard, for it to go on from where its old shard stopped.
public struct TakeOver: WireValue {
    /// The run.
    public var run: UInt64
    /// The run's jobs to queue, at their new generation: at most ``Limits/submitJobs``, with at most
    /// ``Limits/submitPartitions`` partitions in their largest steps.
    public var jobs: [JobSpec]
    /// Where the old shard had got with some of them, by job name; a job without one starts afresh.
    public var carries: [JobCarry]
    /// The results of the run's jobs that succeeded on the old shard, which its jobs still to come read.
    public var results: [TaskInput]

    public init(run: UInt64, jobs: [JobSpec], carries: [JobCarry] = [], results: [TaskInput] = []) {
        self.run = run
        self.jobs = jobs
        self.carries = carries
        self.results = results
    }

    public static let minimumSize = 8 + 4 + 4 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(run)
        writer.values(jobs)
        writer.values(carries)
        writer.values(results)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        run = try reader.number8("run")
        let submitted = try Submit(from: &reader)
        jobs = submitted.jobs
        for job in jobs where job.run != run {
            throw .invalidValue(field: "jobs.run", value: job.run)
        }
        carries = try reader.values("carries")
        results = try reader.values("results")
    }
}

/// How a partition running on a shard when its run was handed over ended there.
public enum PartitionOutcome: UInt8, Sendable, CaseIterable {
    /// Its attempt succeeded, with the result in `data`.
    case succeeded = 1
    /// Its attempt failed or timed out: a failure counted against the job's retries.
    case failed = 2
    /// Its worker was lost or gave it back: run again, without counting a failure.
    case lost = 3
    /// An operator's cancel stopped it.
    case cancelled = 4
}

/// The end of one partition that finished on the shard that handed its run over.
public struct PartitionEnd: WireValue {
    /// The job, its step and the partition.
    public var job: String
    public var step: UInt16
    public var partition: UInt32
    /// The attempt that ended, and the partition's failures and losses with it counted.
    public var attempt: UInt16
    public var failures: UInt16
    public var losses: UInt16
    /// How it ended.
    public var outcome: PartitionOutcome
    /// The attempt's exit status, output tail, where its output went and its error, as the worker told them.
    public var exitCode: Int32
    public var output: String
    public var log: String
    public var error: String
    /// The result a success committed.
    public var data: [UInt8]

    public init(
        job: String, step: UInt16, partition: UInt32, attempt: UInt16, failures: UInt16 = 0, losses: UInt16 = 0, outcome: PartitionOutcome,
        exitCode: Int32 = 0, output: String = "", log: String = "", error: String = "", data: [UInt8] = []
    ) {
        self.job = job
        self.step = step
        self.partition = partition
        self.attempt = attempt
        self.failures = failures
        self.losses = losses
        self.outcome = outcome
        self.exitCode = exitCode
        self.output = output
        self.log = log
        self.error = error
        self.data = data
    }

    public static let minimumSize = 1 + 2 + 4 + 2 + 2 + 2 + 1 + 4 + 4 + 4 + 4 + 4

    /// The octets it takes in a frame.
    public var encodedSize: Int { Self.minimumSize + job.utf8.count + output.utf8.count + log.utf8.count + error.utf8.count + data.count }

    public func encode(to writer: inout FrameWriter) {
        writer.string(job)
        writer.number2(step)
        writer.number4(partition)
        writer.number2(attempt)
        writer.number2(failures)
        writer.number2(losses)
        writer.number1(outcome.rawValue)
        writer.signed4(exitCode)
        writer.longstr(output)
        writer.longstr(log)
        writer.longstr(error)
        writer.chunk(data)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        job = try reader.string("job")
        step = try reader.number2("step")
        partition = try reader.number4("partition")
        attempt = try reader.number2("attempt")
        failures = try reader.number2("failures")
        losses = try reader.number2("losses")
        outcome = try reader.enumeration("outcome", PartitionOutcome.init(rawValue:))
        exitCode = try reader.signed4("exit-code")
        output = try reader.longstr("output", limit: Limits.output)
        log = try reader.longstr("log")
        error = try reader.longstr("error")
        data = try reader.chunk("data")
    }
}

/// Ends of partitions that finished on a run's old shard, relayed by the orchestrator to the shard that
/// took the run over. Answered with CONTROL-RESULT once committed; an end already applied, or of a job
/// the shard no longer holds, changes nothing.
public struct PartitionsEnded: WireValue {
    /// The request, answered by CONTROL-RESULT.
    public var request: UInt64
    /// The run.
    public var run: UInt64
    /// The ends, each of a partition the shard holds as running elsewhere.
    public var ends: [PartitionEnd]
    /// 1 when the old shard has told every end and runs nothing of the run any more: a partition of it
    /// still away here is lost (its end was lost with a store that lost commits), and runs again here.
    public var last: UInt8

    public init(request: UInt64, run: UInt64, ends: [PartitionEnd], last: UInt8 = 0) {
        self.request = request
        self.run = run
        self.ends = ends
        self.last = last
    }

    public static let minimumSize = 8 + 8 + 4 + 1

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number8(run)
        writer.values(ends)
        writer.number1(last)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        run = try reader.number8("run")
        ends = try reader.values("ends")
        last = try reader.enumeration("last") { $0 <= 1 ? $0 : nil }
    }
}
