import Core
import Testing

@Suite struct FlowGraphTests {
    // extract → check, load → report; audit independent
    let graph = FlowGraph(
        names: ["extract", "check", "load", "report", "audit"],
        after: [[], ["extract"], ["extract"], ["check", "load"], []])

    @Test func topologicalOrderPutsEveryJobAfterItsPredecessorsAndKeepsFileOrderOnTies() {
        #expect(graph.order == [0, 1, 2, 3, 4])
        let reversed = FlowGraph(names: ["d", "c", "b", "a"], after: [["c", "b"], ["a"], ["a"], []])
        #expect(reversed.order == [3, 1, 2, 0])
        for (position, job) in reversed.order.enumerated() {
            for predecessor in reversed.predecessors[job] {
                #expect(reversed.order.firstIndex(of: predecessor)! < position)
            }
        }
    }

    @Test func rootsAndSuccessorsFollowTheDependencies() {
        #expect(graph.roots == [0, 4])
        #expect(graph.successors[0] == [1, 2])
        #expect(graph.predecessors[3] == [1, 2])
        #expect(graph.downstream(of: 0) == [1, 2, 3])
        #expect(graph.downstream(of: 3) == [])
    }

    @Test func longChainsNeitherOverflowNorSlowDown() {
        let count = 50_000
        let names = (0..<count).map { "j\($0)" }
        let chain = FlowGraph(names: names, after: [[]] + (1..<count).map { ["j\($0 - 1)"] })
        #expect(chain.order == Array(0..<count))
        let looped = FlowGraph.cycles(names: names, after: [["j\(count - 1)"]] + (1..<count).map { ["j\($0 - 1)"] })
        #expect(looped.count == 1)
        #expect(looped[0].count == count)
    }
}

@Suite struct DependenciesTests {
    let graph = FlowGraph(
        names: ["extract", "check", "load", "report", "audit"],
        after: [[], ["extract"], ["extract"], ["check", "load"], []])

    @Test func startReleasesTheRootsOnce() {
        var dependencies = Dependencies(graph: graph)
        #expect(dependencies.start() == [0, 4])
        #expect(dependencies.start() == [])
    }

    @Test func aJobIsReleasedWhenItsLastPredecessorSucceeds() {
        var dependencies = Dependencies(graph: graph)
        _ = dependencies.start()
        #expect(dependencies.jobSucceeded(0) == [1, 2])
        #expect(dependencies.jobSucceeded(1) == [])
        #expect(dependencies.jobSucceeded(2) == [3])
        #expect(dependencies.outstanding == [3, 4])
    }

    @Test func successorsAreReleasedExactlyOnceWhateverTheRepeats() {
        var dependencies = Dependencies(graph: graph)
        var released = dependencies.start()
        // Every success reported three times, in a scrambled order.
        for job in [0, 0, 4, 1, 0, 2, 1, 2, 4, 3, 3, 2] { released += dependencies.jobSucceeded(job) }
        #expect(released.sorted() == [0, 1, 2, 3, 4])
    }

    @Test func resetRunsJobsAgainAndHoldsTheirSuccessors() {
        var dependencies = Dependencies(graph: graph)
        _ = dependencies.start()
        for job in [0, 1, 2, 3, 4] { _ = dependencies.jobSucceeded(job) }
        // Rerun "check" and what follows it.
        #expect(dependencies.reset([1, 3]) == [1])
        #expect(dependencies.jobSucceeded(1) == [3])
        #expect(dependencies.jobSucceeded(3) == [])
        #expect(dependencies.outstanding == [])
    }
}
