/// A flow run's status at one moment: what RUN-UPDATES publishes and RUN-DETAIL starts with.
public struct RunStatus: WireValue {
    /// The run.
    public var run: UInt64
    /// The product.
    public var product: String
    /// The flow.
    public var flow: String
    /// The run's state.
    public var state: RunState
    /// The number of jobs in the run.
    public var jobs: UInt32
    /// Jobs that succeeded.
    public var succeeded: UInt32
    /// Jobs that failed (including those cancelled or skipped).
    public var failed: UInt32
    /// Jobs submitted, queued, running or retrying.
    public var active: UInt32
    /// When the run started, in milliseconds since the Unix epoch.
    public var started: UInt64
    /// When the run reached a final state; 0 while it is not final.
    public var finished: UInt64
    /// When this status was committed.
    public var time: UInt64
    /// Why the run is in its state, in words (the first failure, who stopped it); may be empty.
    public var detail: String
    /// The shard that holds the run's work: its product's when it started, another after a move hands it over.
    public var shard: UInt32
    /// The shard a move handed the run over from while tasks of it still finish there; 0 when none does.
    public var finishing: UInt32

    public init(
        run: UInt64, product: String, flow: String, state: RunState, jobs: UInt32, succeeded: UInt32 = 0,
        failed: UInt32 = 0, active: UInt32 = 0, started: UInt64, finished: UInt64 = 0, time: UInt64,
        detail: String = "", shard: UInt32 = 0, finishing: UInt32 = 0
    ) {
        self.run = run
        self.product = product
        self.flow = flow
        self.state = state
        self.jobs = jobs
        self.succeeded = succeeded
        self.failed = failed
        self.active = active
        self.started = started
        self.finished = finished
        self.time = time
        self.detail = detail
        self.shard = shard
        self.finishing = finishing
    }

    public static let minimumSize = 8 + 1 + 1 + 1 + 16 + 8 + 8 + 8 + 4 + 4 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(run)
        writer.string(product)
        writer.string(flow)
        writer.number1(state.rawValue)
        writer.number4(jobs)
        writer.number4(succeeded)
        writer.number4(failed)
        writer.number4(active)
        writer.number8(started)
        writer.number8(finished)
        writer.number8(time)
        writer.longstr(detail)
        writer.number4(shard)
        writer.number4(finishing)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        run = try reader.number8("run")
        product = try reader.string("product")
        flow = try reader.string("flow")
        state = try reader.enumeration("state", RunState.init(rawValue:))
        jobs = try reader.number4("jobs")
        succeeded = try reader.number4("succeeded")
        failed = try reader.number4("failed")
        active = try reader.number4("active")
        started = try reader.number8("started")
        finished = try reader.number8("finished")
        time = try reader.number8("time")
        detail = try reader.longstr("detail")
        shard = try reader.number4("shard")
        finishing = try reader.number4("finishing")
    }
}
