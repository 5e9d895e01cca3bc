extension FairQueue {
    /// The lanes of one fairness key, with the head of each lane in one heap, so that the key's best task
    /// a worker can run is found in O(log lanes), not by reading every lane.
    ///
    /// A key has a lane per kind of work (requirement, job type, batch size), and a job's type is its
    /// own unless its flow names one (`FLOW/JOB`): a run of 5,000 different jobs queues 5,000 lanes under
    /// its product's key. Reading them all for each task handed out made a shard spend most of its time
    /// there. The heads heap holds, for every lane with entries, its head; a head stays in the heap after
    /// its lane's head changed, and is dropped when it comes up (it is stale once it is no longer its
    /// lane's head).
    struct Lanes: RandomAccessCollection, Sendable {
        /// A lane's head as the heads heap holds it: ordered as entries are, and naming its lane by kind.
        struct Head: Comparable, Sendable {
            var entry: Entry
            var kind: Int
            static func < (lhs: Head, rhs: Head) -> Bool { lhs.entry < rhs.entry }
        }

        private var lanes: [Lane] = []
        /// Each lane's place in `lanes`, by kind (kinds are the queue's own numbers, given in sequence).
        private var byKind = IntegerPlaces<Int>()
        private var heads = MinHeap<Head>()

        var startIndex: Int { 0 }
        var endIndex: Int { lanes.count }
        subscript(lane: Int) -> Lane { lanes[lane] }

        /// The lane of `kind`, made (with `window`) if the key has none.
        mutating func lane(of kind: Int, window: Int32) -> Int {
            if let lane = byKind[kind] { return Int(lane) }
            lanes.append(Lane(kind: kind, window: window))
            byKind[kind] = Int32(lanes.count - 1)
            return lanes.count - 1
        }

        /// The lane of `kind`, if the key has one.
        func lane(of kind: Int) -> Int? { byKind[kind].map(Int.init) }

        /// Queues an entry in a lane.
        mutating func insert(_ entry: Entry, into lane: Int) {
            lanes[lane].heap.insert(entry)
            if lanes[lane].heap.min == entry { heads.insert(Head(entry: entry, kind: lanes[lane].kind)) }
        }

        /// Takes a lane's head out.
        mutating func popMin(of lane: Int) -> Entry? {
            guard let entry = lanes[lane].heap.popMin() else { return nil }
            if let next = lanes[lane].heap.min { heads.insert(Head(entry: next, kind: lanes[lane].kind)) }
            return entry
        }

        /// Removes a lane left empty; the others may move.
        mutating func removeIfEmpty(_ lane: Int) {
            guard lanes[lane].heap.isEmpty else { return }
            byKind[lanes[lane].kind] = nil
            if lane != lanes.count - 1 {
                lanes.swapAt(lane, lanes.count - 1)
                byKind[lanes[lane].kind] = Int32(lane)
            }
            lanes.removeLast()
        }

        /// Removes every lane.
        mutating func removeAll() { self = Lanes() }

        /// The next head, best first, that is still its lane's head, taken out of the heads heap (put it
        /// back with ``restore(_:)`` unless the lane's head is taken out meanwhile); nil when none is left.
        mutating func popHead() -> (head: Head, lane: Int)? {
            while let head = heads.popMin() {
                if let lane = byKind[head.kind].map(Int.init), lanes[lane].heap.min == head.entry { return (head, lane) }
            }
            return nil
        }

        /// Puts back heads taken out with ``popHead()``.
        mutating func restore(_ taken: [Head]) {
            for head in taken { heads.insert(head) }
        }

        /// The best head of all lanes (so the most urgent run priority queued), dropping stale heads on the
        /// way; read in place, not taken out and put back.
        mutating func best() -> Entry? {
            while let head = heads.min {
                if let lane = byKind[head.kind].map(Int.init), lanes[lane].heap.min == head.entry { return head.entry }
                _ = heads.popMin()
            }
            return nil
        }
    }

    /// A lane's entries, best first: a heap, except that a lane's only entry is kept in place, without the
    /// heap's array. A job's type is its own unless its flow names one, so most lanes hold one entry,
    /// and each such lane cost an allocation and its release for every task queued.
    struct LaneEntries: Sendable {
        /// The lane's entry while it has no other; the heap is then empty.
        private var only: Entry?
        private var heap = MinHeap<Entry>()

        var isEmpty: Bool { only == nil && heap.isEmpty }
        var count: Int { only == nil ? heap.count : 1 }
        /// The best entry, if any.
        var min: Entry? { only ?? heap.min }
        /// The entries, in no particular order.
        var unordered: [Entry] { only.map { [$0] } ?? heap.unordered }

        mutating func insert(_ entry: Entry) {
            if isEmpty {
                only = entry
                return
            }
            if let first = only {
                heap.insert(first)
                only = nil
            }
            heap.insert(entry)
        }

        /// Removes and returns the best entry.
        mutating func popMin() -> Entry? {
            guard let first = only else { return heap.popMin() }
            only = nil
            return first
        }
    }
}
