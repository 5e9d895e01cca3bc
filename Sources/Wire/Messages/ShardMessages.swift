// The submission protocol: the orchestrator's PUSH to a shard's PULL (SUBMIT), and its DEALER
// to the shard's ROUTER (CONTROL).
//
//     submit  = *C:SUBMIT                    ; acknowledged on the shard's event stream
//     control = *( C:CONTROL S:CONTROL-RESULT )

/// Jobs for the shard to queue. The shard commits them, then reports them queued on its event stream.
public struct Submit: WireValue {
    /// The jobs: at most ``Limits/submitJobs``, whose largest steps have at most ``Limits/submitPartitions``
    /// partitions in all.
    public var jobs: [JobSpec]

    public init(jobs: [JobSpec]) { self.jobs = jobs }

    public static let minimumSize = 4

    public func encode(to writer: inout FrameWriter) { writer.values(jobs) }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        let count = try reader.elementCount("jobs", minimumSize: JobSpec.minimumSize, limit: Limits.submitJobs)
        var jobs: [JobSpec] = []
        jobs.reserveCapacity(count)
        // The tasks the jobs would make the shard hold: bounded as each job is read, so that no SUBMIT,
        // however small, can ask for more than one step of a flow may.
        var partitions = 0
        for _ in 0..<count {
            let job = try JobSpec(from: &reader)
            partitions += job.peakTasks
            if partitions > Limits.submitPartitions {
                throw .oversized(field: "jobs.partitions", length: partitions, limit: Limits.submitPartitions)
            }
            jobs.append(job)
        }
        self.jobs = jobs
    }
}

/// Changes queued and running work of a run; idempotent by `request`.
public struct Control: WireValue {
    /// The request's ID; a repeated ID is answered again and applied once.
    public var request: UInt64
    /// What to do.
    public var action: ControlAction
    /// The run.
    public var run: UInt64
    /// The job, for `cancel-job` and `report-job`; empty otherwise.
    public var job: String
    /// For cancellations: how long a running attempt may take to stop before it is killed, in milliseconds.
    public var grace: UInt32
    /// For `set-policy`: the product's new policy; a policy with an empty product otherwise.
    public var policy: ProductPolicy
    /// For `set-priority`: the run's new priority (``RunPriority``).
    public var priority: UInt8
    /// For `hand-over`: the highest generation of the run's jobs handed over; for `cancel-job`: the highest
    /// generation of the job to cancel (a later one is left alone); for `report-job`: the generation whose
    /// status to publish; 0 otherwise.
    public var generation: UInt32
    /// For `hand-over` asked again of a run handed over with tasks running: the first of their ends to
    /// tell (those before it were relayed); 0 otherwise.
    public var from: UInt32

    public init(
        request: UInt64, action: ControlAction, run: UInt64, job: String = "", grace: UInt32 = 0,
        policy: ProductPolicy = ProductPolicy(product: ""), priority: UInt8 = RunPriority.normal, generation: UInt32 = 0,
        from: UInt32 = 0
    ) {
        self.request = request
        self.action = action
        self.run = run
        self.job = job
        self.grace = grace
        self.policy = policy
        self.priority = priority
        self.generation = generation
        self.from = from
    }

    public static let minimumSize = 8 + 1 + 8 + 1 + 4 + ProductPolicy.minimumSize + 1 + 4 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number1(action.rawValue)
        writer.number8(run)
        writer.string(job)
        writer.number4(grace)
        policy.encode(to: &writer)
        writer.number1(priority)
        writer.number4(generation)
        writer.number4(from)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        action = try reader.enumeration("action", ControlAction.init(rawValue:))
        run = try reader.number8("run")
        job = try reader.string("job")
        grace = try reader.number4("grace")
        policy = try ProductPolicy(from: &reader)
        priority = try reader.number1("priority")
        if priority > RunPriority.last { throw .invalidValue(field: "priority", value: UInt64(priority)) }
        generation = try reader.number4("generation")
        from = try reader.number4("from")
    }
}

/// The answer to CONTROL, sent once the change is committed.
public struct ControlResult: WireValue {
    /// The request answered.
    public var request: UInt64
    /// 200, or why not.
    public var status: Status
    /// What was changed, or what was wrong, in words.
    public var detail: String

    public init(request: UInt64, status: Status, detail: String = "") {
        self.request = request
        self.status = status
        self.detail = detail
    }

    public static let minimumSize = 8 + 2 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number2(status.rawValue)
        writer.longstr(detail)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        status = Status(rawValue: try reader.number2("status"))
        detail = try reader.longstr("detail")
    }
}
