/// Management's store schema, one migration per change, in order: each runs once, in a transaction, when a
/// store of an earlier version opens.
extension ManagementStore {
    static let migrations = [
        Migration(
            version: 1, name: "management",
            sql: """
                CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                CREATE TABLE products (name TEXT PRIMARY KEY, shard INTEGER NOT NULL, created INTEGER NOT NULL);
                CREATE TABLE flows (
                    product TEXT NOT NULL,
                    flow TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    definition TEXT NOT NULL,
                    params TEXT,
                    jobs INTEGER NOT NULL,
                    applied INTEGER NOT NULL,
                    PRIMARY KEY (product, flow, version)
                ) WITHOUT ROWID;
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY,
                    product TEXT NOT NULL,
                    flow TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    shard INTEGER NOT NULL,
                    moment INTEGER NOT NULL,
                    params TEXT NOT NULL,
                    key TEXT NOT NULL,
                    state INTEGER NOT NULL,
                    jobs INTEGER NOT NULL,
                    succeeded INTEGER NOT NULL,
                    failed INTEGER NOT NULL,
                    active INTEGER NOT NULL,
                    started INTEGER NOT NULL,
                    finished INTEGER NOT NULL,
                    detail TEXT NOT NULL,
                    updated INTEGER NOT NULL
                );
                CREATE INDEX runs_open ON runs (state) WHERE state NOT IN (2, 3, 7);
                CREATE TABLE operations (request INTEGER PRIMARY KEY, frame BLOB NOT NULL, answered INTEGER NOT NULL);
                CREATE INDEX operations_pending ON operations (answered) WHERE answered = 0;
                CREATE TABLE positions (publisher TEXT PRIMARY KEY, epoch INTEGER NOT NULL, sequence INTEGER NOT NULL);
                """),
        Migration(
            version: 2, name: "audit log",
            sql: """
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY,
                    key TEXT NOT NULL UNIQUE,
                    time INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    run INTEGER NOT NULL,
                    product TEXT NOT NULL,
                    job TEXT NOT NULL,
                    options TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    detail TEXT NOT NULL,
                    answered INTEGER NOT NULL
                );
                CREATE INDEX audit_by_run ON audit (run, id);
                CREATE INDEX audit_by_product ON audit (product, id);
                """),
        Migration(
            version: 3, name: "product policies",
            sql: """
                ALTER TABLE products ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE products ADD COLUMN cap INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE products ADD COLUMN rate INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE products ADD COLUMN burst INTEGER NOT NULL DEFAULT 0;
                """),
        Migration(
            version: 4, name: "schedules",
            sql: """
                ALTER TABLE flows ADD COLUMN schedule TEXT;
                CREATE TABLE calendars (
                    name TEXT PRIMARY KEY,
                    version INTEGER NOT NULL,
                    text TEXT NOT NULL,
                    applied INTEGER NOT NULL
                );
                CREATE TABLE schedules (
                    flow TEXT PRIMARY KEY,
                    since INTEGER NOT NULL,
                    fired INTEGER NOT NULL,
                    missed INTEGER NOT NULL,
                    skipped INTEGER NOT NULL
                );
                CREATE TABLE firings (
                    flow TEXT NOT NULL,
                    instant INTEGER NOT NULL,
                    date TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    run INTEGER NOT NULL,
                    missed INTEGER NOT NULL,
                    timer TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    detail TEXT NOT NULL,
                    PRIMARY KEY (flow, instant)
                ) WITHOUT ROWID;
                CREATE INDEX firings_queued ON firings (outcome) WHERE outcome = 'queued';
                """),
        Migration(
            version: 5, name: "run priorities, priority over fairness and fairness keys' weights",
            sql: """
                ALTER TABLE products ADD COLUMN priority_over_fairness INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE products ADD COLUMN key_weights TEXT NOT NULL DEFAULT '{}';
                ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 3;
                """),
        Migration(
            version: 6, name: "runs by key; the orchestrator's stream under its own name",
            sql: """
                CREATE INDEX runs_by_key ON runs (key) WHERE key <> '';
                UPDATE positions SET publisher = 'orchestrator' WHERE publisher = 'flow';
                """),
        Migration(
            version: 7, name: "the audit log under keys: the actor a client claimed, and each actor's entries",
            sql: """
                ALTER TABLE audit ADD COLUMN comment TEXT NOT NULL DEFAULT '';
                CREATE INDEX audit_by_actor ON audit (actor, id);
                """),
        Migration(
            version: 8, name: "runs listed by product, flow and state",
            sql: """
                CREATE INDEX runs_by_flow ON runs (product, flow, id);
                CREATE INDEX runs_by_state ON runs (state, id);
                """),
        Migration(
            version: 9, name: "answered operations are not kept",
            sql: """
                DELETE FROM operations WHERE answered = 1;
                """),
        Migration(
            version: 10, name: "the shard tasks of a run handed over still finish on",
            sql: "ALTER TABLE runs ADD COLUMN finishing INTEGER NOT NULL DEFAULT 0;"),
        Migration(
            version: 11, name: "each product's measured load, so that a restart keeps it",
            sql: "CREATE TABLE load (product TEXT NOT NULL, bucket INTEGER NOT NULL, jobs INTEGER NOT NULL, PRIMARY KEY (product, bucket)) WITHOUT ROWID;"),
        Migration(
            version: 12, name: "whether an operator holds each product, from the last hold or release done",
            sql: """
                ALTER TABLE products ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
                UPDATE products SET held = 1 WHERE (
                    SELECT action FROM audit WHERE audit.product = products.name AND action IN ('hold', 'release') AND status = 200
                    ORDER BY id DESC LIMIT 1) = 'hold';
                """),
        Migration(version: 13, name: "the open runs' index term as comparisons: a NOT IN list cost a temporary table at every write", sql: RunRows.openIndex),
        Migration(
            version: 14, name: "the shards an operator drained: no new product is bound to them, and none moves onto them",
            sql: "CREATE TABLE drained (shard INTEGER PRIMARY KEY);"),
    ]
}
