public import Wire

/// The runs an orchestrator holds in memory: every run not final, and the most recent final ones, which
/// are forgotten oldest first (the store keeps them).
///
/// A run that is not here is an answer, never a crash: ``modify(_:_:)`` returns nil for it.
public struct RunTable: Sendable {
    private var byID: [UInt64: FlowRun] = [:]
    /// Final runs in the order they ended, for forgetting.
    private var finishedOrder: [UInt64] = []

    init() {}

    /// The run `id`, if it is in memory.
    public subscript(id: UInt64) -> FlowRun? { byID[id] }

    /// How many runs are in memory.
    public var count: Int { byID.count }

    /// How many runs in memory are in each state.
    public var states: [RunState: Int] {
        byID.values.reduce(into: [:]) { counts, run in counts[run.state, default: 0] += 1 }
    }

    /// Every run's ID, in order.
    var ids: [UInt64] { byID.keys.sorted() }

    /// The IDs of the runs that satisfy `predicate`, in order.
    func ids(where predicate: (FlowRun) -> Bool) -> [UInt64] {
        byID.compactMap { predicate($0.value) ? $0.key : nil }.sorted()
    }

    /// The shard of run `id`, if it is in memory.
    func shard(of id: UInt64) -> UInt32? { byID[id]?.shard }

    /// Adds a run, new or read back from the store; a run already here is kept as it is.
    mutating func add(_ run: FlowRun) {
        guard byID[run.id] == nil else { return }
        byID[run.id] = run
        if run.state.isFinal { finishedOrder.append(run.id) }
    }

    /// Changes a run in place: a copy out of the dictionary and back would cost more than the change
    /// (``Dictionary/modify(_:_:)``). The change's result, or nil when the run is not in memory.
    @discardableResult
    mutating func modify<Result>(_ id: UInt64, _ change: (inout FlowRun) -> Result) -> Result? {
        byID.modifyIfPresent(id, change)
    }

    /// Takes a run out, so that an operator action can change it along with the rest of the core; it is
    /// put back with ``put(_:)``.
    mutating func take(_ id: UInt64) -> FlowRun? { byID.removeValue(forKey: id) }

    /// Puts back a run taken out with ``take(_:)``.
    mutating func put(_ run: FlowRun) { byID[run.id] = run }

    /// Notes that a run reached a final state: it is forgotten after those that ended before it.
    mutating func ended(_ id: UInt64) { finishedOrder.append(id) }

    /// Notes that a final run was opened again for a rerun.
    mutating func reopened(_ id: UInt64) { finishedOrder.removeAll { $0 == id } }

    /// Forgets final run `id`, which the store no longer has (retention deleted it).
    mutating func forget(_ id: UInt64) {
        guard byID[id]?.state.isFinal == true else { return }
        byID[id] = nil
        finishedOrder.removeAll { $0 == id }
    }

    /// Forgets the final runs that ended first, beyond the most recent `kept`.
    mutating func forgetFinished(keeping kept: Int) {
        guard finishedOrder.count > kept else { return }
        for id in finishedOrder.prefix(finishedOrder.count - kept) { byID[id] = nil }
        finishedOrder.removeFirst(finishedOrder.count - kept)
    }
}
