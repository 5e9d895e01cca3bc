/// One step of a submitted job: what each of its partitions runs.
public struct StepSpec: WireValue {
    /// The step's name, unique within the job.
    public var name: String
    /// Whether `action` is a command or a handler name.
    public var kind: ActionKind
    /// The command line, or the handler's name.
    public var action: String
    /// The number of partitions, at least 1.
    public var partitions: UInt32
    /// The partitions' keys: empty, or exactly `partitions` of them.
    public var partitionKeys: [String]

    public init(name: String, kind: ActionKind, action: String, partitions: UInt32 = 1, partitionKeys: [String] = []) {
        self.name = name
        self.kind = kind
        self.action = action
        self.partitions = partitions
        self.partitionKeys = partitionKeys
    }

    /// The key of `partition`, or empty when partitions are only counted.
    public func partitionKey(of partition: UInt32) -> String {
        partitionKeys.isEmpty ? "" : partitionKeys[Int(partition)]
    }

    public static let minimumSize = 1 + 1 + 4 + 4 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.string(name)
        writer.number1(kind.rawValue)
        writer.longstr(action)
        writer.number4(partitions)
        writer.strings(partitionKeys)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        name = try reader.string("name")
        kind = try reader.enumeration("kind", ActionKind.init(rawValue:))
        action = try reader.longstr("action")
        partitions = try reader.number4("partitions")
        partitionKeys = try reader.strings("partition-keys")
        if partitions == 0 { throw .invalidValue(field: "partitions", value: 0) }
        if !partitionKeys.isEmpty && partitionKeys.count != Int(partitions) {
            throw .invalidValue(field: "partition-keys", value: UInt64(partitionKeys.count))
        }
    }
}
