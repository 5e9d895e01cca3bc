/// The shard store's schema, one migration per change, in order: each runs once, in a transaction, when a
/// store of an earlier version opens.
extension ShardStore {
    static let migrations = [
        Migration(
            version: 1, name: "shard queue",
            sql: """
                CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY,
                    run INTEGER NOT NULL,
                    job TEXT NOT NULL,
                    generation INTEGER NOT NULL,
                    spec BLOB NOT NULL,
                    state INTEGER NOT NULL,
                    step INTEGER NOT NULL,
                    completed INTEGER NOT NULL,
                    attempts INTEGER NOT NULL,
                    started INTEGER NOT NULL,
                    finished INTEGER NOT NULL,
                    output TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    cancelled INTEGER NOT NULL,
                    UNIQUE (run, job, generation)
                );
                CREATE INDEX jobs_open ON jobs (state) WHERE state IN (3, 4, 5);
                CREATE TABLE tasks (
                    id INTEGER PRIMARY KEY,
                    job_id INTEGER NOT NULL,
                    step INTEGER NOT NULL,
                    partition INTEGER NOT NULL,
                    state INTEGER NOT NULL,
                    attempt INTEGER NOT NULL,
                    failures INTEGER NOT NULL,
                    losses INTEGER NOT NULL,
                    due INTEGER NOT NULL,
                    ord INTEGER NOT NULL,
                    lease_worker TEXT,
                    lease_session INTEGER,
                    started INTEGER NOT NULL,
                    finished INTEGER NOT NULL,
                    exit_code INTEGER NOT NULL,
                    output TEXT NOT NULL,
                    log TEXT NOT NULL,
                    error TEXT NOT NULL,
                    data BLOB NOT NULL,
                    successes INTEGER NOT NULL
                );
                CREATE INDEX tasks_by_job ON tasks (job_id, step, partition);
                """ + EventLog.schema),
        Migration(version: 2, name: "paused runs", sql: "CREATE TABLE paused (run INTEGER PRIMARY KEY);"),
        Migration(
            version: 3, name: "product policies and queue times",
            sql: """
                CREATE TABLE policies (
                    product TEXT PRIMARY KEY, weight INTEGER NOT NULL, cap INTEGER NOT NULL, rate INTEGER NOT NULL, burst INTEGER NOT NULL
                );
                ALTER TABLE jobs ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
                """),
        Migration(
            version: 4, name: "run priorities, priority over fairness and fairness keys' weights",
            sql: """
                CREATE TABLE priorities (run INTEGER PRIMARY KEY, priority INTEGER NOT NULL);
                ALTER TABLE policies ADD COLUMN priority_over_fairness INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE policies ADD COLUMN key_weights BLOB NOT NULL DEFAULT x'00000000';
                """),
        // A lease is given back after a restart only to its worker's name with the same key.
        Migration(version: 5, name: "the key a lease's worker registered with", sql: "ALTER TABLE tasks ADD COLUMN lease_key TEXT;"),
        Migration(version: 6, name: "retention: finished jobs by their end", sql: "CREATE INDEX jobs_finished ON jobs (finished) WHERE state IN (6, 7, 8, 9);"),
        Migration(
            version: 7, name: "runs handed over by moves",
            sql: "CREATE TABLE handed_over (run INTEGER PRIMARY KEY, generation INTEGER NOT NULL, time INTEGER NOT NULL);"),
        Migration(
            version: 8, name: "what runs handed over carried, and results of runs taken over",
            sql: """
                ALTER TABLE handed_over ADD COLUMN answer BLOB NOT NULL DEFAULT x'';
                CREATE TABLE imported_results (
                    run INTEGER NOT NULL, job TEXT NOT NULL, partition INTEGER NOT NULL, step INTEGER NOT NULL,
                    partition_key TEXT NOT NULL, data BLOB NOT NULL, time INTEGER NOT NULL,
                    PRIMARY KEY (run, job, partition)
                );
                CREATE INDEX imported_results_time ON imported_results (time);
                """),
        Migration(
            version: 9, name: "runs handed over with tasks running: the jobs finishing them, and how each ended",
            sql: """
                ALTER TABLE jobs ADD COLUMN finishing INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE away_ends (
                    run INTEGER NOT NULL, job TEXT NOT NULL, step INTEGER NOT NULL, partition INTEGER NOT NULL, attempt INTEGER NOT NULL,
                    ended BLOB NOT NULL, time INTEGER NOT NULL,
                    PRIMARY KEY (run, job, step, partition, attempt)
                );
                CREATE INDEX away_ends_time ON away_ends (time);
                """),
        Migration(
            version: 10, name: "each task's history: who ran each attempt, and the attempts that did not succeed",
            sql: """
                ALTER TABLE tasks ADD COLUMN worker TEXT NOT NULL DEFAULT '';
                CREATE TABLE attempts (
                    job_id INTEGER NOT NULL, step INTEGER NOT NULL, partition INTEGER NOT NULL, attempt INTEGER NOT NULL,
                    worker TEXT NOT NULL, started INTEGER NOT NULL, finished INTEGER NOT NULL, state INTEGER NOT NULL,
                    exit_code INTEGER NOT NULL, output TEXT NOT NULL, log TEXT NOT NULL, error TEXT NOT NULL,
                    PRIMARY KEY (job_id, step, partition, attempt)
                ) WITHOUT ROWID;
                """),
        Migration(
            version: 11, name: "the heartbeat a lease's worker was granted, for the grace after a restart",
            sql: "ALTER TABLE tasks ADD COLUMN lease_heartbeat INTEGER NOT NULL DEFAULT 0;"),
        Migration(
            version: 12, name: "the jobs finishing for runs handed over, found at a start without reading every open job",
            sql: "CREATE INDEX jobs_finishing ON jobs (id) WHERE finishing = 1 AND state IN (3, 4, 5);"),
        Migration(
            version: 13, name: "the partial indexes' state terms as ranges: an IN list cost a temporary table at every write",
            sql: """
                DROP INDEX jobs_open;
                CREATE INDEX jobs_open ON jobs (state) WHERE state BETWEEN 3 AND 5;
                DROP INDEX jobs_finished;
                CREATE INDEX jobs_finished ON jobs (finished) WHERE state >= 6;
                DROP INDEX jobs_finishing;
                CREATE INDEX jobs_finishing ON jobs (id) WHERE finishing = 1 AND state BETWEEN 3 AND 5;
                """),
        // A job of one step of one partition keeps its task in its own row: its lease is one update of a
        // row no index reads, and its end one row, where a row of its own cost an insert into two B-trees
        // and an update. `tasks` becomes a view of both kinds; rows written before stay where they are.
        Migration(
            version: 14, name: "the task of a one-task job in its job's row",
            sql: """
                ALTER TABLE tasks RENAME TO task_rows;
                ALTER TABLE jobs ADD COLUMN task_id INTEGER;
                ALTER TABLE jobs ADD COLUMN task_state INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_attempt INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_failures INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_losses INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_due INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_ord INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_lease_worker TEXT;
                ALTER TABLE jobs ADD COLUMN task_lease_session INTEGER;
                ALTER TABLE jobs ADD COLUMN task_lease_key TEXT;
                ALTER TABLE jobs ADD COLUMN task_lease_heartbeat INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_started INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_finished INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_exit_code INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_output TEXT NOT NULL DEFAULT '';
                ALTER TABLE jobs ADD COLUMN task_log TEXT NOT NULL DEFAULT '';
                ALTER TABLE jobs ADD COLUMN task_error TEXT NOT NULL DEFAULT '';
                ALTER TABLE jobs ADD COLUMN task_data BLOB NOT NULL DEFAULT x'';
                ALTER TABLE jobs ADD COLUMN task_successes INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN task_worker TEXT NOT NULL DEFAULT '';
                CREATE VIEW tasks AS
                    SELECT id, job_id, step, partition, state, attempt, failures, losses, due, ord, lease_worker, lease_session,
                           started, finished, exit_code, output, log, error, data, successes, lease_key, worker, lease_heartbeat
                    FROM task_rows
                    UNION ALL
                    SELECT task_id, id, 0, 0, task_state, task_attempt, task_failures, task_losses, task_due, task_ord,
                           task_lease_worker, task_lease_session, task_started, task_finished, task_exit_code, task_output,
                           task_log, task_error, task_data, task_successes, task_lease_key, task_worker, task_lease_heartbeat
                    FROM jobs WHERE task_id IS NOT NULL;
                """),
        // A restart reads the open jobs in batches by ID: by an index of their IDs alone, not by walking
        // every row ever kept, finished ones included. It changes when `jobs_open` did: as a job opens,
        // moves to another step, and ends.
        Migration(
            version: 15, name: "the open jobs by ID",
            sql: """
                DROP INDEX jobs_open;
                CREATE INDEX jobs_open ON jobs (id) WHERE state BETWEEN 3 AND 5;
                """),
        // A lease that alone changed a task kept in its job's row goes here, one row a turn for all of them,
        // not into that wide row: most tasks end within a second, and their row is then written once.
        Migration(
            version: 16, name: "the lease log",
            sql: "CREATE TABLE lease_log (sequence INTEGER PRIMARY KEY, leases BLOB NOT NULL);"),
        // A job submitted with its one task in its row goes here, one row a turn for all of them, not into a
        // row of its own: most jobs end within a second, and their row is then written once, at the end.
        Migration(
            version: 17, name: "the submission log",
            sql: """
                CREATE TABLE submission_log (
                    sequence INTEGER PRIMARY KEY, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, jobs BLOB NOT NULL);
                """),
    ]
}
