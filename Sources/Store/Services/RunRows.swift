import Wire

/// The terms that tell an open run's row from a final one's, in the management's and the orchestrator's
/// `runs` tables, built from ``RunState/isFinal`` so that they cannot drift from it.
///
/// `isOpen` is the partial index `runs_open`'s term, and a query must repeat it word for word to use
/// the index. It is a chain of comparisons, not `NOT IN (...)`: SQLite tests a partial index's term on
/// the row before and after every write, and an `IN` list costs it a temporary B-tree each time (in a
/// micro-benchmark, 9–11 µs an update against 3–5).
enum RunRows {
    static let finalStates = RunState.allCases.filter(\.isFinal).map { String($0.rawValue) }
    /// A run that has not ended.
    static let isOpen = finalStates.map { "state <> \($0)" }.joined(separator: " AND ")
    /// A run that has ended; in queries only, never in an index's term.
    static let isFinal = "state IN (\(finalStates.joined(separator: ", ")))"
    /// The migration that gives `runs_open` the term above.
    static let openIndex = """
        DROP INDEX runs_open;
        CREATE INDEX runs_open ON runs (state) WHERE \(isOpen);
        """
}
