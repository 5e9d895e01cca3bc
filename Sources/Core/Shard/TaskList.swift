/// The IDs of a job's current tasks, by partition: most jobs have one step of one partition, whose
/// task's ID is held inline instead of in an array of its own (48 octets of heap a job).
public struct TaskList: RandomAccessCollection, Equatable, Sendable, ExpressibleByArrayLiteral {
    private enum Storage: Equatable, Sendable {
        case one(UInt64)
        case many([UInt64])
    }

    private var storage = Storage.many([])

    public init() {}

    public init(_ ids: [UInt64]) {
        storage = ids.count == 1 ? .one(ids[0]) : .many(ids)
    }

    public init(arrayLiteral ids: UInt64...) { self.init(ids) }

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case .one: 1
        case .many(let ids): ids.count
        }
    }

    public subscript(position: Int) -> UInt64 {
        switch storage {
        case .one(let id):
            precondition(position == 0, "task list index \(position) out of range")
            return id
        case .many(let ids):
            return ids[position]
        }
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
}
