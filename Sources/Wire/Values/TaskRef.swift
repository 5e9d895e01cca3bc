/// One attempt of one task: the pair that fences late and repeated results.
public struct TaskRef: WireValue, Hashable {
    /// The task's ID, assigned by its shard.
    public var task: UInt64
    /// The attempt number, from 1.
    public var attempt: UInt16

    public init(task: UInt64, attempt: UInt16) {
        self.task = task
        self.attempt = attempt
    }

    public static let minimumSize = 10

    public func encode(to writer: inout FrameWriter) {
        writer.number8(task)
        writer.number2(attempt)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        task = try reader.number8("task")
        attempt = try reader.number2("attempt")
    }
}

extension TaskSpec {
    /// The attempt this task is.
    public var ref: TaskRef { TaskRef(task: task, attempt: attempt) }
}

extension TaskResult {
    /// The attempt this result reports.
    public var ref: TaskRef { TaskRef(task: task, attempt: attempt) }
}
