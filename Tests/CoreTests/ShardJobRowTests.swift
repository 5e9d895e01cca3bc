import Core
import Testing
import Wire

/// Which tasks a shard keeps in their jobs' rows, and the bound on task IDs the store keeps for them.
@Suite struct ShardJobRowTests {
    let worker = Peer([1])

    /// A job of one step of one partition keeps its task in its own row, unless its spec is large (each
    /// write of the task rewrites the row, spec and all); a job of more tasks does not.
    @Test func onlyAOneTaskJobsTaskIsKeptInItsJobsRow() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 8), from: worker)
        let split = StepSpec(name: "split", kind: .command, action: "true", partitions: 2)
        let steps = [StepSpec(name: "a", kind: .command, action: "true"), StepSpec(name: "b", kind: .command, action: "true")]
        var large = ShardHarness.job("large")
        large.params["payload"] = String(repeating: "x", count: ShardJob.taskInRowSpecLimit)
        let turn = shard.submit([
            ShardHarness.job("one"), ShardHarness.job("split", steps: [split]), ShardHarness.job("steps", steps: steps), large,
        ])
        let leased = Dictionary(grouping: turn.tasks + turn.leases, by: \.job.job).mapValues { $0.map(\.inJobRow) }
        #expect(leased == ["one": [true], "split": [false, false], "steps": [false], "large": [false]])
    }

    /// The turn that gives task IDs past the bound kept moves it on by a block; turns within it write none.
    @Test func taskIDsStayBelowTheBoundTheStoreKeeps() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 8), from: worker)
        let first = shard.submit([ShardHarness.job("a"), ShardHarness.job("b")])
        let bound = first.nextIDs?.task ?? 0
        let given = first.tasks + first.leases
        #expect(given.count == 2 && given.allSatisfy { $0.id < bound })
        #expect(bound >= given.map(\.id).max()! + ShardCore.taskIDBlock)
        let second = shard.submit([ShardHarness.job("c")])
        #expect(second.nextIDs == nil && (second.tasks + second.leases).allSatisfy { $0.id < bound })
    }
}
