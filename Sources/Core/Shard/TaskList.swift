/// The IDs of a job's current tasks, by partition: most jobs have one step of one partition, whose
/// task's ID is held inline instead of in an array of its own (48 octets of heap a job).
public struct TaskList: RandomAccessCollection, Equatable, Sendable, ExpressibleByArrayLiteral {
    private enum Storage: Sendable {
        case one(UInt64)
        case many([UInt64])
    }

    private var storage = Storage.many([])

    /// No tasks.
    public init() {}

    /// These tasks, in order.
    public init(_ ids: [UInt64]) {
        storage = ids.count == 1 ? .one(ids[0]) : .many(ids)
    }

    /// These tasks, in order.
    public init(arrayLiteral ids: UInt64...) { self.init(ids) }

    /// The first position: 0.
    public var startIndex: Int { 0 }
    /// The position after the last: the count.
    public var endIndex: Int {
        switch storage {
        case .one: 1
        case .many(let ids): ids.count
        }
    }

    /// The task of the partition at `position`.
    public subscript(position: Int) -> UInt64 {
        switch storage {
        case .one(let id):
            precondition(position == 0, "task list index \(position) out of range")
            return id
        case .many(let ids):
            return ids[position]
        }
    }

    /// Whether the one task is held inline.
    var isInline: Bool {
        if case .one = storage { true } else { false }
    }

    /// Adds the next partition's task.
    public mutating func append(_ id: UInt64) {
        switch storage {
        case .one(let first):
            storage = .many([first, id])
        case .many(var ids):
            if ids.isEmpty && ids.capacity < 2 {
                storage = .one(id)
                return
            }
            // Moved out before it grows, so that the array is not copied.
            storage = .many([])
            ids.append(id)
            storage = .many(ids)
        }
    }

    /// Makes room for `capacity` tasks: none for one, which is held inline.
    public mutating func reserveCapacity(_ capacity: Int) {
        guard capacity > 1, case .many(var ids) = storage else { return }
        storage = .many([])
        ids.reserveCapacity(capacity)
        storage = .many(ids)
    }

    /// The same tasks in the same order, however each list holds them.
    public static func == (lhs: TaskList, rhs: TaskList) -> Bool { lhs.elementsEqual(rhs) }
}
