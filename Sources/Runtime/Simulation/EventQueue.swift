import Core

/// Virtual time and what is due in it: events in the order of their time, and of their scheduling
/// among events of the same time, so that a run replays exactly.
struct EventQueue {
    private var heap: [(time: Int64, order: UInt64)] = []
    private var actions: [UInt64: () throws -> Void] = [:]
    private var scheduled: UInt64 = 0
    /// The virtual time, in milliseconds since the Unix epoch.
    private(set) var now: Int64

    init(start: Int64) { now = start }

    var isEmpty: Bool { heap.isEmpty }

    /// Schedules `action` at `time` (at once if that has passed).
    mutating func at(_ time: Int64, _ action: @escaping () throws -> Void) {
        scheduled += 1
        actions[scheduled] = action
        heap.append((max(time, now), scheduled))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Takes the next event, moving time to it; nil when none is left before `limit`.
    mutating func next(until limit: Int64) -> (() throws -> Void)? {
        guard let first = heap.first, first.time <= limit else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count && Self.before(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count && Self.before(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        now = first.time
        return actions.removeValue(forKey: first.order)
    }

    private static func before(_ a: (time: Int64, order: UInt64), _ b: (time: Int64, order: UInt64)) -> Bool {
        a.time != b.time ? a.time < b.time : a.order < b.order
    }
}
