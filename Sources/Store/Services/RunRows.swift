/// The terms that tell an open run's row from a final one's, in the management's and the orchestrator's
/// `runs` tables.
///
/// `isOpen` is the partial index `runs_open`'s term, and a query must repeat it word for word to use
/// the index (`INDEXED BY runs_open` fails to prepare otherwise). It is a chain of comparisons, not
/// `NOT IN (...)`: SQLite tests a partial index's term on the row before and after every write, and an
/// `IN` list costs it a temporary B-tree each time (in a micro-benchmark, 9–11 µs an update against
/// 3–5). The terms are literals, not built from ``RunState/isFinal``: a store keeps the term its
/// migration wrote, so a change to the final states needs a new migration of the index, and a test
/// holds the terms to the enumeration.
enum RunRows {
    /// A run that has not ended.
    static let isOpen = "state <> 2 AND state <> 3 AND state <> 7"
    /// A run that has ended; in queries only, never in an index's term.
    static let isFinal = "state IN (2, 3, 7)"
    /// The migration that gives `runs_open` the term above (management's 13, the orchestrator's 8).
    static let openIndex = """
        DROP INDEX runs_open;
        CREATE INDEX runs_open ON runs (state) WHERE state <> 2 AND state <> 3 AND state <> 7;
        """
    /// A job of the orchestrator's `jobs` still active (submitted, queued, running or retrying): the
    /// partial index `jobs_active`'s term, repeated by the query that uses it (on an alias).
    static let jobIsActive = "state > 1 AND state < 6"
    /// The migration that makes `jobs_active` (the orchestrator's 9): the runs with a job active, of which
    /// a restart reads back those that have ended, to ask their shards for those jobs' ends.
    static let activeJobsIndex = "CREATE INDEX jobs_active ON jobs (run) WHERE state > 1 AND state < 6;"
}
