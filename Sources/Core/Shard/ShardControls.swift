import Wire

/// What operators set on a shard through CONTROL, and the changes of the current turn to commit:
/// runs paused, run priorities changed, product policies set.
///
/// A changed run priority overrides the priority a job is submitted with (a submission sent before the
/// change may still carry the old one). It is kept while the shard holds a job of the run, and
/// forgotten with the run's last job, once the rows that finish that job are in a turn.
struct ShardControls: Sendable {
    /// Runs an operator paused: their pending tasks are not handed out until the run is resumed.
    private(set) var paused: Set<UInt64>
    /// Changed run priorities, by run, with how many of the run's jobs the shard holds.
    private var priorities: [UInt64: (priority: UInt8, jobs: Int)] = [:]

    // This turn's changes.
    /// Runs paused (true) or resumed (false).
    private var pauseChanges: [UInt64: Bool] = [:]
    private var priorityChanges: [UInt64: UInt8] = [:]
    private var forgotten: Set<UInt64> = []
    private var policyChanges: [String: ProductPolicy] = [:]

    init(paused: Set<UInt64>) { self.paused = paused }

    /// The priority an operator set for `run`, if the shard holds a job of it.
    func priority(of run: UInt64) -> UInt8? { priorities[run]?.priority }

    /// A job restored from the store, of a run whose changed priority the store kept.
    mutating func restoredJob(of run: UInt64, priority: UInt8) {
        priorities[run, default: (priority, 0)].jobs += 1
    }

    /// A new job of `run` is held.
    mutating func jobAdded(of run: UInt64) {
        priorities[run]?.jobs += 1
    }

    /// A job of `run` left memory: with the run's last job, its changed priority is forgotten.
    mutating func jobForgotten(of run: UInt64) {
        guard let index = priorities.index(forKey: run) else { return }
        if priorities.values[index].jobs > 1 {
            priorities.values[index].jobs -= 1
        } else {
            priorities.remove(at: index)
            forgotten.insert(run)
        }
    }

    /// Pauses `run`; false if it was paused already.
    mutating func pause(_ run: UInt64) -> Bool {
        guard paused.insert(run).inserted else { return false }
        pauseChanges[run] = true
        return true
    }

    /// Resumes `run`; false if it was not paused.
    mutating func resume(_ run: UInt64) -> Bool {
        guard paused.remove(run) != nil else { return false }
        pauseChanges[run] = false
        return true
    }

    /// Sets the priority of `run`, of which the shard holds `jobs` jobs.
    mutating func setPriority(_ priority: UInt8, of run: UInt64, jobs: Int) {
        priorities[run] = (priority, jobs)
        priorityChanges[run] = priority
        forgotten.remove(run)
    }

    /// Notes a product policy set, to commit.
    mutating func policySet(_ policy: ProductPolicy) {
        policyChanges[policy.product] = policy
    }

    /// Moves this turn's changes into `turn`.
    mutating func takeChanges(into turn: inout ShardTurn) {
        turn.pauses = pauseChanges
        turn.priorities = priorityChanges
        turn.forgottenPriorities = forgotten
        turn.policies = Array(policyChanges.values)
        pauseChanges = [:]
        priorityChanges = [:]
        forgotten = []
        policyChanges = [:]
    }
}
