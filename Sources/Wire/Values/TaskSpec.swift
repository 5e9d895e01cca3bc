/// One task handed to a worker: what to run and everything the run may read.
public struct TaskSpec: WireValue {
    /// The task's ID, assigned by the shard.
    public var task: UInt64
    /// The attempt number, from 1; a result must carry it back.
    public var attempt: UInt16
    /// The run the task belongs to.
    public var run: UInt64
    /// The job's name in its flow.
    public var job: String
    /// The job's generation: 0 for the first submission, one more for each rerun.
    public var generation: UInt32
    /// The product (tenant) that owns the flow.
    public var product: String
    /// The flow's name.
    public var flow: String
    /// The step's index, from 0.
    public var step: UInt16
    /// The number of steps in the job, at most ``Limits/steps``.
    public var steps: UInt16
    /// The step's name (the job's name for a job without declared steps).
    public var stepName: String
    /// The partition's index, from 0.
    public var partition: UInt32
    /// The number of partitions in the step, at most ``Limits/partitions``.
    public var partitions: UInt32
    /// The partition's key (at most ``Limits/partitionKey`` octets), or empty when partitions are only counted.
    public var partitionKey: String
    /// Whether `action` is a command or a handler name.
    public var kind: ActionKind
    /// The command line, or the handler's name.
    public var action: String
    /// The job type, used for cost accounting and bulk claims.
    public var type: String
    /// The run's parameters merged with the job's.
    public var params: [String: String]
    /// The attempt's timeout in milliseconds; 0 means none.
    public var timeout: UInt32
    /// The run's job entry moment: the change identifier every task of the run works against.
    public var moment: UInt64
    /// The results the task receives: from the previous step of its job, or, in the first step, from
    /// the upstream jobs the job names. At most 16 MiB of results in all.
    public var inputs: [TaskInput]

    public init(
        task: UInt64, attempt: UInt16, run: UInt64, job: String, generation: UInt32 = 0, product: String,
        flow: String, step: UInt16 = 0, steps: UInt16 = 1, stepName: String, partition: UInt32 = 0,
        partitions: UInt32 = 1, partitionKey: String = "", kind: ActionKind, action: String, type: String,
        params: [String: String] = [:], timeout: UInt32 = 0, moment: UInt64, inputs: [TaskInput] = []
    ) {
        self.task = task
        self.attempt = attempt
        self.run = run
        self.job = job
        self.generation = generation
        self.product = product
        self.flow = flow
        self.step = step
        self.steps = steps
        self.stepName = stepName
        self.partition = partition
        self.partitions = partitions
        self.partitionKey = partitionKey
        self.kind = kind
        self.action = action
        self.type = type
        self.params = params
        self.timeout = timeout
        self.moment = moment
        self.inputs = inputs
    }

    public static let minimumSize = 8 + 2 + 8 + 1 + 4 + 1 + 1 + 2 + 2 + 1 + 4 + 4 + 4 + 1 + 4 + 1 + 4 + 4 + 8 + 4

    /// The octets the task takes in a frame: what a shard counts to keep a TASKS message within the frame limit.
    public var encodedSize: Int {
        let names = job.utf8.count + product.utf8.count + flow.utf8.count + stepName.utf8.count + type.utf8.count
        let texts = partitionKey.utf8.count + action.utf8.count + EncodedSize.hash(params) - 4
        return Self.minimumSize + names + texts + inputs.reduce(0) { $0 + $1.encodedSize }
    }

    public func encode(to writer: inout FrameWriter) {
        writer.number8(task)
        writer.number2(attempt)
        writer.number8(run)
        writer.string(job)
        writer.number4(generation)
        writer.string(product)
        writer.string(flow)
        writer.number2(step)
        writer.number2(steps)
        writer.string(stepName)
        writer.number4(partition)
        writer.number4(partitions)
        writer.longstr(partitionKey)
        writer.number1(kind.rawValue)
        writer.longstr(action)
        writer.string(type)
        writer.hash(params)
        writer.number4(timeout)
        writer.number8(moment)
        writer.values(inputs)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        task = try reader.number8("task")
        attempt = try reader.number2("attempt")
        run = try reader.number8("run")
        job = try reader.string("job")
        generation = try reader.number4("generation")
        product = try reader.string("product")
        flow = try reader.string("flow")
        step = try reader.number2("step")
        steps = try reader.number2("steps")
        stepName = try reader.string("step-name")
        if steps > Limits.steps { throw .oversized(field: "steps", length: Int(steps), limit: Limits.steps) }
        partition = try reader.number4("partition")
        partitions = try reader.number4("partitions")
        if partitions > Limits.partitions { throw .oversized(field: "partitions", length: Int(partitions), limit: Limits.partitions) }
        partitionKey = try reader.longstr("partition-key", limit: Limits.partitionKey)
        kind = try reader.enumeration("kind", ActionKind.init(rawValue:))
        action = try reader.longstr("action", limit: Limits.action)
        type = try reader.string("type")
        params = try reader.parameters("params")
        timeout = try reader.number4("timeout")
        moment = try reader.number8("moment")
        // The inputs' results are bounded together, as each is read.
        let count = try reader.elementCount("inputs", minimumSize: TaskInput.minimumSize)
        var inputs: [TaskInput] = []
        inputs.reserveCapacity(count)
        var size = 0
        for _ in 0..<count {
            let input = try TaskInput(from: &reader)
            size += input.data.count
            if size > Self.inputLimit { throw .oversized(field: "inputs", length: size, limit: Self.inputLimit) }
            inputs.append(input)
        }
        self.inputs = inputs
    }

    /// The most octets of results a task may receive: 16 MiB.
    public static let inputLimit = Limits.chunk
}
