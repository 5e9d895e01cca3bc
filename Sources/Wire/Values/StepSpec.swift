/// One step of a submitted job: what each of its partitions runs.
public struct StepSpec: WireValue {
    /// The step's name, unique within the job.
    public var name: String
    /// Whether `action` is a command or a handler name.
    public var kind: ActionKind
    /// The command line, or the handler's name.
    public var action: String
    /// The number of partitions, 1 to ``Limits/partitions``.
    public var partitions: UInt32
    /// The partitions' keys: empty, or exactly `partitions` of them, each at most ``Limits/partitionKey`` octets.
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

    /// The octets the step takes in a frame.
    public var encodedSize: Int {
        Self.minimumSize + name.utf8.count + action.utf8.count + partitionKeys.reduce(0) { $0 + 4 + $1.utf8.count }
    }

    /// What a shard would refuse the step for, over a limit its decoder checks; nil when it is within them.
    public var limitProblem: DecodingError? {
        if action.utf8.count > Limits.action { return .oversized(field: "action", length: action.utf8.count, limit: Limits.action) }
        if partitions > Limits.partitions { return .oversized(field: "partitions", length: Int(partitions), limit: Limits.partitions) }
        if let key = partitionKeys.first(where: { $0.utf8.count > Limits.partitionKey }) {
            return .oversized(field: "partition-keys", length: key.utf8.count, limit: Limits.partitionKey)
        }
        return nil
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        name = try reader.string("name")
        kind = try reader.enumeration("kind", ActionKind.init(rawValue:))
        action = try reader.longstr("action", limit: Limits.action)
        // The count of partitions is the tasks a shard will hold for the step: checked before anything
        // else is read, and the keys' count against it before any key is.
        partitions = try reader.number4("partitions")
        if partitions == 0 { throw .invalidValue(field: "partitions", value: 0) }
        if partitions > Limits.partitions {
            throw .oversized(field: "partitions", length: Int(partitions), limit: Limits.partitions)
        }
        partitionKeys = try reader.strings("partition-keys", limit: Int(partitions), length: Limits.partitionKey)
        if !partitionKeys.isEmpty && partitionKeys.count != Int(partitions) {
            throw .invalidValue(field: "partition-keys", value: UInt64(partitionKeys.count))
        }
    }
}
