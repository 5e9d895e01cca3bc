/// How one attempt of a task ended, reported by the worker that ran it.
public struct TaskResult: WireValue {
    /// The task's ID.
    public var task: UInt64
    /// The attempt that ran; a result for any other attempt than the current one changes nothing.
    public var attempt: UInt16
    /// How the attempt ended.
    public var outcome: Outcome
    /// The command's exit status; minus the signal number when a signal ended it; 0 for handlers.
    public var exitCode: Int32
    /// When the attempt started, in milliseconds since the Unix epoch, by the worker's clock.
    public var started: UInt64
    /// How long the attempt ran, in milliseconds.
    public var duration: UInt32
    /// The last octets of the attempt's standard output and error (at most ``Limits/output``, 4 KiB).
    public var output: String
    /// Where the whole output went, as `host:path`; empty when nothing was kept.
    public var log: String
    /// Why the attempt failed, in words; empty on success.
    public var error: String
    /// The result the attempt committed (a checkpoint read by later steps and jobs); may be empty.
    public var data: [UInt8]

    public init(
        task: UInt64, attempt: UInt16, outcome: Outcome, exitCode: Int32 = 0, started: UInt64, duration: UInt32,
        output: String = "", log: String = "", error: String = "", data: [UInt8] = []
    ) {
        self.task = task
        self.attempt = attempt
        self.outcome = outcome
        self.exitCode = exitCode
        self.started = started
        self.duration = duration
        self.output = output
        self.log = log
        self.error = error
        self.data = data
    }

    public static let minimumSize = 8 + 2 + 1 + 4 + 8 + 4 + 4 + 4 + 4 + 4

    /// The octets the result takes in a frame: what a worker counts to keep a RESULTS message within the frame limit.
    public var encodedSize: Int { Self.minimumSize + output.utf8.count + log.utf8.count + error.utf8.count + data.count }

    public func encode(to writer: inout FrameWriter) {
        writer.number8(task)
        writer.number2(attempt)
        writer.number1(outcome.rawValue)
        writer.signed4(exitCode)
        writer.number8(started)
        writer.number4(duration)
        writer.longstr(output)
        writer.longstr(log)
        writer.longstr(error)
        writer.chunk(data)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        task = try reader.number8("task")
        attempt = try reader.number2("attempt")
        outcome = try reader.enumeration("outcome", Outcome.init(rawValue:))
        exitCode = try reader.signed4("exit-code")
        started = try reader.number8("started")
        duration = try reader.number4("duration")
        output = try reader.longstr("output", limit: Limits.output)
        log = try reader.longstr("log")
        error = try reader.longstr("error")
        data = try reader.chunk("data")
    }
}
