/// One job submitted to a shard: its identity, its policy and its steps.
///
/// The identity `(run, job, generation)` is unique in a shard; a shard that already holds the
/// identity ignores the submission and publishes the job's current status again.
public struct JobSpec: WireValue {
    /// The run the job belongs to.
    public var run: UInt64
    /// The job's name in its flow.
    public var job: String
    /// 0 for the first submission, one more for each rerun.
    public var generation: UInt32
    /// The product that owns the flow.
    public var product: String
    /// The flow's name.
    public var flow: String
    /// The run's job entry moment.
    public var moment: UInt64
    /// The job's own priority in its flow: higher runs first among tasks of the same run priority; 0 by default.
    public var priority: Int16
    /// The job type within its product: for cost accounting and bulk claims. The flow's declared
    /// `type`, or `flow/job`.
    public var type: String
    /// Capability tags a worker must all have to run the job.
    public var tags: [String]
    /// Attempts allowed after the first failed one.
    public var retries: UInt16
    /// The first retry's delay in milliseconds; each later one doubles, with jitter.
    public var backoff: UInt32
    /// Each attempt's timeout in milliseconds; 0 means none.
    public var timeout: UInt32
    /// The run's parameters merged with the job's: each value at most ``Limits/parameterValue`` octets,
    /// and at most ``Limits/parameters`` together.
    public var params: [String: String]
    /// 1: keep the tasks that succeeded in earlier generations and run only the rest; 0: run all.
    public var resume: UInt8
    /// Upstream jobs of the run whose results the first step's tasks receive.
    public var inputs: [String]
    /// The job's steps in order, 1 to ``Limits/steps``; a job without declared steps has one.
    public var steps: [StepSpec]
    /// The run's priority: 0 urgent, then 1 (first) to 5 (last); 3 by default. See ``RunPriority``.
    public var runPriority: UInt8
    /// The fairness key its product's tasks are shared among; empty for the product's default key.
    public var fairnessKey: String
    /// For a command job: the most of its tasks one worker receives as one batch, run by one command;
    /// 0 or 1 for none.
    public var batch: UInt32

    public init(
        run: UInt64, job: String, generation: UInt32 = 0, product: String, flow: String, moment: UInt64,
        priority: Int16 = 0, type: String, tags: [String] = [], retries: UInt16 = 0, backoff: UInt32 = 1000,
        timeout: UInt32 = 0, params: [String: String] = [:], resume: UInt8 = 0, inputs: [String] = [], steps: [StepSpec],
        runPriority: UInt8 = RunPriority.normal, fairnessKey: String = "", batch: UInt32 = 0
    ) {
        self.run = run
        self.job = job
        self.generation = generation
        self.product = product
        self.flow = flow
        self.moment = moment
        self.priority = priority
        self.type = type
        self.tags = tags
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.params = params
        self.resume = resume
        self.inputs = inputs
        self.steps = steps
        self.runPriority = runPriority
        self.fairnessKey = fairnessKey
        self.batch = batch
    }

    /// The most tasks in one command batch.
    public static let batchLimit: UInt32 = 1000

    public static let minimumSize = 8 + 1 + 4 + 1 + 1 + 8 + 2 + 1 + 4 + 2 + 4 + 4 + 4 + 1 + 4 + 4 + 1 + 1 + 4

    /// The octets the job takes in a frame: at most ``Limits/jobSpec``.
    public var encodedSize: Int {
        let names = job.utf8.count + product.utf8.count + flow.utf8.count + type.utf8.count + fairnessKey.utf8.count
        let lists = EncodedSize.strings(tags) + EncodedSize.hash(params) + EncodedSize.strings(inputs) - 12
        return Self.minimumSize + names + lists + steps.reduce(0) { $0 + $1.encodedSize }
    }

    /// The partitions of its largest step: the most tasks a shard holds for the job at once, which
    /// ``Limits/submitPartitions`` bounds over the jobs of a SUBMIT.
    public var peakTasks: Int { steps.reduce(0) { max($0, Int($1.partitions)) } }

    /// What a shard would refuse the job for, over a limit its decoder checks (`docs/protocol.md`,
    /// "Limits"), as the decoder would name it; nil when the job is within them all. A sender that makes
    /// jobs from definitions checks each one it makes: a job no shard takes would be dropped with every
    /// other job of its SUBMIT, however often it was sent again.
    public var limitProblem: DecodingError? {
        if steps.count > Limits.steps { return .oversized(field: "steps", length: steps.count, limit: Limits.steps) }
        for step in steps {
            if let problem = step.limitProblem { return problem }
        }
        let long = params.lazy.filter { $0.value.utf8.count > Limits.parameterValue }
        if let (name, value) = long.min(by: { $0.key < $1.key }) {
            return .oversized(field: "params.\(name)", length: value.utf8.count, limit: Limits.parameterValue)
        }
        let parameters = Limits.size(ofParameters: params)
        if parameters > Limits.parameters { return .oversized(field: "params", length: parameters, limit: Limits.parameters) }
        let size = encodedSize
        if size > Limits.jobSpec { return .oversized(field: "job-spec", length: size, limit: Limits.jobSpec) }
        return nil
    }

    public func encode(to writer: inout FrameWriter) {
        writer.number8(run)
        writer.string(job)
        writer.number4(generation)
        writer.string(product)
        writer.string(flow)
        writer.number8(moment)
        writer.signed2(priority)
        writer.string(type)
        writer.strings(tags)
        writer.number2(retries)
        writer.number4(backoff)
        writer.number4(timeout)
        writer.hash(params)
        writer.number1(resume)
        writer.strings(inputs)
        writer.values(steps)
        writer.number1(runPriority)
        writer.string(fairnessKey)
        writer.number4(batch)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        let start = reader.position
        try self.init(legacyFrom: &reader)
        runPriority = try reader.number1("run-priority")
        fairnessKey = try reader.string("fairness-key")
        batch = try reader.number4("batch")
        try validate()
        let size = reader.position - start
        if size > Limits.jobSpec { throw .oversized(field: "job-spec", length: size, limit: Limits.jobSpec) }
    }

    /// Decodes a job spec a shard stored before the run priority, the fairness key and the batch were
    /// part of it: those take their defaults. Only for reading a store back, never from a peer.
    public static func decodeStored(_ bytes: [UInt8]) throws(DecodingError) -> JobSpec {
        if bytes.count > Limits.jobSpec { throw .oversized(field: "job-spec", length: bytes.count, limit: Limits.jobSpec) }
        var reader = FrameReader(bytes)
        var spec = try JobSpec(legacyFrom: &reader)
        if reader.remaining > 0 {
            spec.runPriority = try reader.number1("run-priority")
            spec.fairnessKey = try reader.string("fairness-key")
            spec.batch = try reader.number4("batch")
        }
        try reader.finish()
        try spec.validate()
        return spec
    }

    private init(legacyFrom reader: inout FrameReader) throws(DecodingError) {
        run = try reader.number8("run")
        job = try reader.string("job")
        generation = try reader.number4("generation")
        product = try reader.string("product")
        flow = try reader.string("flow")
        moment = try reader.number8("moment")
        priority = try reader.signed2("priority")
        type = try reader.string("type")
        tags = try reader.strings("tags")
        retries = try reader.number2("retries")
        backoff = try reader.number4("backoff")
        timeout = try reader.number4("timeout")
        params = try reader.parameters("params")
        resume = try reader.number1("resume")
        inputs = try reader.strings("inputs")
        steps = try reader.values("steps", limit: Limits.steps)
        runPriority = RunPriority.normal
        fairnessKey = ""
        batch = 0
    }

    private func validate() throws(DecodingError) {
        if runPriority > RunPriority.last { throw .invalidValue(field: "run-priority", value: UInt64(runPriority)) }
        if batch > Self.batchLimit { throw .invalidValue(field: "batch", value: UInt64(batch)) }
        if resume > 1 { throw .invalidValue(field: "resume", value: UInt64(resume)) }
        if steps.isEmpty { throw .invalidValue(field: "steps", value: 0) }
    }
}
