/// One result a task receives: a partition's result from the previous step of its job, or from the
/// last step of an upstream job the job names in `inputs`.
public struct TaskInput: WireValue {
    /// The job that produced it.
    public var job: String
    /// The step of that job, from 0.
    public var step: UInt16
    /// The partition, from 0.
    public var partition: UInt32
    /// The partition's key; empty when partitions are only counted.
    public var partitionKey: String
    /// The result, as the partition's last successful attempt committed it.
    public var data: [UInt8]

    public init(job: String, step: UInt16, partition: UInt32, partitionKey: String = "", data: [UInt8]) {
        self.job = job
        self.step = step
        self.partition = partition
        self.partitionKey = partitionKey
        self.data = data
    }

    public static let minimumSize = 1 + 2 + 4 + 4 + 4

    /// The octets the input takes in a frame.
    public var encodedSize: Int { Self.minimumSize + job.utf8.count + partitionKey.utf8.count + data.count }

    public func encode(to writer: inout FrameWriter) {
        writer.string(job)
        writer.number2(step)
        writer.number4(partition)
        writer.longstr(partitionKey)
        writer.chunk(data)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        job = try reader.string("job")
        step = try reader.number2("step")
        partition = try reader.number4("partition")
        partitionKey = try reader.longstr("partition-key", limit: Limits.partitionKey)
        data = try reader.chunk("data")
    }
}

extension [TaskInput] {
    /// The octets of results the inputs carry.
    public var size: Int { reduce(0) { $0 + $1.data.count } }
}
