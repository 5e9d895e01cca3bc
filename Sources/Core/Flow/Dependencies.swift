/// Which jobs of one run may start: a job is released exactly once, when its last predecessor has
/// succeeded, however many times a success is reported.
public struct Dependencies: Equatable, Sendable {
    /// The flow's graph.
    public let graph: FlowGraph
    /// For each job, how many predecessors have not succeeded.
    public private(set) var unmet: [Int]
    /// For each job, whether it has succeeded.
    public private(set) var succeeded: [Bool]
    /// For each job, whether it has been released to run.
    public private(set) var released: [Bool]

    public init(graph: FlowGraph) {
        self.graph = graph
        unmet = graph.predecessors.map(\.count)
        succeeded = Array(repeating: false, count: graph.count)
        released = Array(repeating: false, count: graph.count)
    }

    /// Dependencies resumed from a store: `succeeded` jobs have succeeded and `released` ones were released
    /// (submitted, running or final). Jobs that became ready but were not released are left for ``start()``.
    public init(graph: FlowGraph, succeeded: Set<Int>, released: Set<Int>) {
        self.init(graph: graph)
        for job in succeeded {
            self.succeeded[job] = true
            for successor in graph.successors[job] { unmet[successor] -= 1 }
        }
        for job in released.union(succeeded) { self.released[job] = true }
    }

    /// Releases every job that waits for nothing and has not been released; on a second call, nothing.
    /// On new dependencies these are the roots.
    public mutating func start() -> [Int] {
        releaseReady((0..<graph.count).filter { unmet[$0] == 0 })
    }

    /// Records that `job` succeeded and returns its successors released by it, in file order.
    /// A repeated report releases nothing.
    public mutating func jobSucceeded(_ job: Int) -> [Int] {
        guard !succeeded[job] else { return [] }
        succeeded[job] = true
        var ready: [Int] = []
        for successor in graph.successors[job] {
            unmet[successor] -= 1
            if unmet[successor] == 0 { ready.append(successor) }
        }
        return releaseReady(ready)
    }

    /// Records that an operator marked `job` succeeded without running it: it counts as released and
    /// succeeded, and its successors it releases are returned.
    public mutating func markSucceeded(_ job: Int) -> [Int] {
        released[job] = true
        return jobSucceeded(job)
    }

    /// Forgets the success and release of `jobs`, so that they run again when their predecessors allow:
    /// returns those of them that may run at once. Their successors wait for them again.
    public mutating func reset(_ jobs: Set<Int>) -> [Int] {
        for job in jobs where succeeded[job] {
            succeeded[job] = false
            for successor in graph.successors[job] { unmet[successor] += 1 }
        }
        for job in jobs { released[job] = false }
        return releaseReady(jobs.sorted().filter { unmet[$0] == 0 })
    }

    /// Jobs released that have not succeeded.
    public var outstanding: [Int] { (0..<graph.count).filter { released[$0] && !succeeded[$0] } }

    private mutating func releaseReady(_ candidates: [Int]) -> [Int] {
        var result: [Int] = []
        for job in candidates.sorted() where !released[job] && unmet[job] == 0 {
            released[job] = true
            result.append(job)
        }
        return result
    }
}
