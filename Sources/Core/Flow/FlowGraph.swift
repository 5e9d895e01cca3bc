/// The DAG of a validated flow, by job index: who runs after whom, and in what order.
public struct FlowGraph: Equatable, Sendable {
    /// Job names by index, in file order.
    public let names: [String]
    /// Index of each job by name.
    public let index: [String: Int]
    /// For each job, the jobs it runs after.
    public let predecessors: [[Int]]
    /// For each job, the jobs that run after it.
    public let successors: [[Int]]
    /// Every job once, each after all its predecessors; ties keep file order.
    public let order: [Int]

    /// Builds the graph of a validated (therefore acyclic) flow.
    public init(_ definition: FlowDefinition) {
        self.init(names: definition.jobs.map(\.name), after: definition.jobs.map(\.after))
    }

    /// Builds the graph from names and dependencies; they must be unique, known and acyclic.
    public init(names: [String], after: [[String]]) {
        var index: [String: Int] = [:]
        for (offset, name) in names.enumerated() {
            precondition(index.updateValue(offset, forKey: name) == nil, "duplicate job \(name) in a validated flow")
        }
        let predecessors = after.map { $0.map { index[$0]! } }
        var successors = [[Int]](repeating: [], count: names.count)
        for (job, before) in predecessors.enumerated() {
            for predecessor in before { successors[predecessor].append(job) }
        }
        self.names = names
        self.index = index
        self.predecessors = predecessors
        self.successors = successors
        self.order = FlowGraph.topologicalOrder(predecessors: predecessors, successors: successors)
        precondition(order.count == names.count, "cycle in a validated flow")
    }

    /// The number of jobs.
    public var count: Int { names.count }

    /// Jobs with no predecessors: the ones a new run starts with.
    public var roots: [Int] { (0..<count).filter { predecessors[$0].isEmpty } }

    /// Every job that runs after `job`, directly or not (not including `job`).
    public func downstream(of job: Int) -> Set<Int> {
        var seen: Set<Int> = []
        var stack = successors[job]
        while let next = stack.popLast() {
            if seen.insert(next).inserted { stack.append(contentsOf: successors[next]) }
        }
        return seen
    }

    /// Kahn's algorithm, always taking the lowest ready index so that ties keep file order.
    static func topologicalOrder(predecessors: [[Int]], successors: [[Int]]) -> [Int] {
        var remaining = predecessors.map(\.count)
        var ready = MinHeap<Int>()
        for job in remaining.indices where remaining[job] == 0 { ready.insert(job) }
        var order: [Int] = []
        order.reserveCapacity(remaining.count)
        while let job = ready.popMin() {
            order.append(job)
            for successor in successors[job] {
                remaining[successor] -= 1
                if remaining[successor] == 0 { ready.insert(successor) }
            }
        }
        return order
    }

    /// The cycles among `names`, each as the jobs in dependency order starting from the one first in the
    /// file; unknown dependencies are ignored (validation reports them on their own).
    ///
    /// One cycle is reported for each strongly connected component that has one (Tarjan), so a tangle
    /// of many overlapping cycles gives one readable message, not dozens.
    public static func cycles(names: [String], after: [[String]]) -> [[String]] {
        var index: [String: Int] = [:]
        for (offset, name) in names.enumerated() where index[name] == nil { index[name] = offset }
        // Edges point from a job to the jobs it runs after, so a path reads "a needs b needs c".
        let edges = after.map { $0.compactMap { index[$0] } }
        var cycles: [[String]] = []
        for component in stronglyConnectedComponents(edges) {
            let members = Set(component)
            // A job after itself is reported as such by validation, not as a cycle.
            guard component.count > 1 else { continue }
            let start = component.min()!
            cycles.append(path(from: start, within: members, edges: edges).map { names[$0] })
        }
        return cycles.sorted { index[$0[0]]! < index[$1[0]]! }
    }

    /// A simple cycle through `start` inside one strongly connected component, by depth-first search.
    private static func path(from start: Int, within members: Set<Int>, edges: [[Int]]) -> [Int] {
        var stack: [(node: Int, next: Int)] = [(start, 0)]
        var onPath: Set<Int> = [start]
        while var top = stack.popLast() {
            let targets = edges[top.node].filter { members.contains($0) }.sorted()
            if top.next < targets.count {
                let target = targets[top.next]
                top.next += 1
                stack.append(top)
                if target == start { return stack.map(\.node) }
                if onPath.insert(target).inserted { stack.append((target, 0)) }
            } else {
                onPath.remove(top.node)
            }
        }
        preconditionFailure("a strongly connected component of several jobs always holds a cycle")
    }

    /// Tarjan's algorithm, iterative so that a long chain cannot overflow the stack.
    private static func stronglyConnectedComponents(_ edges: [[Int]]) -> [[Int]] {
        let count = edges.count
        var indexOf = [Int](repeating: -1, count: count)
        var lowLink = [Int](repeating: 0, count: count)
        var onStack = [Bool](repeating: false, count: count)
        var stack: [Int] = []
        var nextIndex = 0
        var components: [[Int]] = []
        for root in 0..<count where indexOf[root] == -1 {
            var work: [(node: Int, edge: Int)] = [(root, 0)]
            indexOf[root] = nextIndex
            lowLink[root] = nextIndex
            nextIndex += 1
            stack.append(root)
            onStack[root] = true
            while var frame = work.popLast() {
                if frame.edge < edges[frame.node].count {
                    let target = edges[frame.node][frame.edge]
                    frame.edge += 1
                    work.append(frame)
                    if indexOf[target] == -1 {
                        indexOf[target] = nextIndex
                        lowLink[target] = nextIndex
                        nextIndex += 1
                        stack.append(target)
                        onStack[target] = true
                        work.append((target, 0))
                    } else if onStack[target] {
                        lowLink[frame.node] = min(lowLink[frame.node], indexOf[target])
                    }
                    continue
                }
                if let parent = work.last {
                    lowLink[parent.node] = min(lowLink[parent.node], lowLink[frame.node])
                }
                if lowLink[frame.node] == indexOf[frame.node] {
                    var component: [Int] = []
                    while true {
                        let member = stack.removeLast()
                        onStack[member] = false
                        component.append(member)
                        if member == frame.node { break }
                    }
                    components.append(component)
                }
            }
        }
        return components
    }
}
