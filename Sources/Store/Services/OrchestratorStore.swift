public import Core
public import Wire

/// The orchestrator's store: the flow versions it ran, runs, the jobs it submitted or saw end, its
/// positions in the shards' streams, the answers it gave, and its own event log.
///
/// A job's row is written when it ends, or when anything but its first release changes it (an operator's
/// action, a hand-over), not at every status in between; the first row counts the job's release. After a
/// restart, open jobs are submitted again, those without a row released again, and their shards answer
/// with their current status.
public final class OrchestratorStore {
    public let database: Database
    public let log: EventLog
    /// Definitions parsed while reading runs back, by `product/flow/version`.
    private var parsed: [String: (FlowDefinition, FlowGraph)] = [:]

    static let migrations = [
        Migration(
            version: 1, name: "orchestrator",
            sql: """
                CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY,
                    product TEXT NOT NULL,
                    flow TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    shard INTEGER NOT NULL,
                    moment INTEGER NOT NULL,
                    params TEXT NOT NULL,
                    state INTEGER NOT NULL,
                    started INTEGER NOT NULL,
                    finished INTEGER NOT NULL,
                    detail TEXT NOT NULL
                );
                CREATE INDEX runs_open ON runs (state) WHERE state NOT IN (2, 3, 7);
                CREATE TABLE definitions (
                    product TEXT NOT NULL,
                    flow TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    definition TEXT NOT NULL,
                    PRIMARY KEY (product, flow, version)
                ) WITHOUT ROWID;
                CREATE TABLE jobs (
                    run INTEGER NOT NULL,
                    idx INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    generation INTEGER NOT NULL,
                    state INTEGER NOT NULL,
                    attempts INTEGER NOT NULL,
                    pending INTEGER NOT NULL,
                    running INTEGER NOT NULL,
                    succeeded INTEGER NOT NULL,
                    failed INTEGER NOT NULL,
                    step INTEGER NOT NULL,
                    steps INTEGER NOT NULL,
                    started INTEGER NOT NULL,
                    finished INTEGER NOT NULL,
                    time INTEGER NOT NULL,
                    output TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    releases INTEGER NOT NULL,
                    successes INTEGER NOT NULL,
                    PRIMARY KEY (run, idx)
                ) WITHOUT ROWID;
                CREATE TABLE controls (request INTEGER PRIMARY KEY, shard INTEGER NOT NULL, frame BLOB NOT NULL, answered INTEGER NOT NULL);
                CREATE TABLE positions (publisher TEXT PRIMARY KEY, epoch INTEGER NOT NULL, sequence INTEGER NOT NULL);
                CREATE TABLE answers (request INTEGER PRIMARY KEY, status INTEGER NOT NULL, detail TEXT NOT NULL);
                """ + EventLog.schema),
        Migration(
            version: 2, name: "operator actions",
            sql: """
                ALTER TABLE runs ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE runs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE runs ADD COLUMN stopping INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN resume INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE holds (product TEXT PRIMARY KEY) WITHOUT ROWID;
                """),
        Migration(version: 3, name: "run priorities", sql: "ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 3;"),
        Migration(
            version: 4, name: "retention: when each answer was given",
            sql: """
                ALTER TABLE answers ADD COLUMN time INTEGER NOT NULL DEFAULT 0;
                UPDATE answers SET time = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
                """),
        // CONTROL gained `generation` (for hand-over) at its end: a stored one without it reads as 0.
        Migration(
            version: 5, name: "moves: each moved product's shard, and CONTROL's generation",
            sql: """
                CREATE TABLE product_shards (product TEXT PRIMARY KEY, shard INTEGER NOT NULL) WITHOUT ROWID;
                UPDATE controls SET frame = frame || x'00000000';
                """),
        Migration(
            version: 6, name: "runs being taken over by their new shard",
            sql: "CREATE TABLE take_overs (run INTEGER PRIMARY KEY, shard INTEGER NOT NULL, frame BLOB NOT NULL);"),
        Migration(
            version: 7, name: "runs handed over with tasks running, whose ends are relayed; CONTROL's from",
            sql: """
                CREATE TABLE relays (
                    run INTEGER PRIMARY KEY, source INTEGER NOT NULL, target INTEGER NOT NULL, generation INTEGER NOT NULL, relayed INTEGER NOT NULL
                );
                UPDATE controls SET frame = frame || x'00000000';
                DELETE FROM controls WHERE answered = 1;
                """),
        Migration(version: 8, name: "the open runs' index term as comparisons: a NOT IN list cost a temporary table at every write", sql: RunRows.openIndex),
        Migration(version: 9, name: "the runs with a job active, to find those that ended with one at a restart", sql: RunRows.activeJobsIndex),
    ]

    public init(path: String, synchronous: Database.Synchronous = Database.defaultSynchronous) throws {
        database = try Database.service(path: path, synchronous: synchronous, migrations: Self.migrations)
        log = EventLog(database: database)
    }

    /// Starts a new epoch and reads back the open runs, positions and answers.
    /// Deletes what is older than `retention`, at most `batch` of each: finished runs (by their end) with
    /// their jobs, and answers (by when they were given). Returns the runs it deleted and how many answers.
    @discardableResult
    public func trim(now: Timestamp, retention: Int64, batch: Int = 1000) throws -> (runs: [UInt64], answers: Int) {
        let before = now.milliseconds - retention
        var deleted = (runs: [UInt64](), answers: 0)
        try database.transaction {
            let old = try database.prepare(
                "SELECT id FROM runs WHERE \(RunRows.isFinal) AND finished > 0 AND finished < ? ORDER BY id LIMIT ?")
            old.bind(1, before)
            old.bind(2, batch)
            var runs: [Int64] = []
            while try old.step() { runs.append(old.int64(0)) }
            old.reset()
            let jobs = try database.prepare("DELETE FROM jobs WHERE run = ?")
            let run = try database.prepare("DELETE FROM runs WHERE id = ?")
            for id in runs {
                jobs.bind(1, id)
                try jobs.run()
                run.bind(1, id)
                try run.run()
            }
            deleted.runs = runs.map { UInt64(bitPattern: $0) }
            deleted.answers = try database.deleteBatch(
                "DELETE FROM answers WHERE request IN (SELECT request FROM answers WHERE time < ? ORDER BY request LIMIT ?)", before, limit: batch)
        }
        return deleted
    }

    /// The answer given to operation request `request`, if the store holds one.
    public func answer(_ request: UInt64) throws -> OperationResult? {
        let statement = try database.prepare("SELECT status, detail FROM answers WHERE request = ?")
        statement.bind(1, Int64(bitPattern: request))
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return OperationResult(request: request, status: Status(rawValue: UInt16(statement.int(0))), detail: statement.text(1))
    }

    /// How many of the newest answers ``open(shards:answersInMemory:)`` reads back.
    public static let answersInMemory = 10_000

    /// How many of the newest ended runs with a job still active ``open(shards:answersInMemory:endedWithActiveJobs:)``
    /// reads back: as many final runs as the orchestrator keeps in memory by default.
    public static let endedWithActiveJobs = 1000

    public func open(
        shards: [UInt32], answersInMemory: Int = OrchestratorStore.answersInMemory,
        endedWithActiveJobs: Int = OrchestratorStore.endedWithActiveJobs
    ) throws -> (epoch: UInt32, snapshot: OrchestratorSnapshot) {
        let epoch = try database.nextEpoch()
        var snapshot = OrchestratorSnapshot()
        let runs = try database.prepare("SELECT id FROM runs INDEXED BY runs_open WHERE \(RunRows.isOpen) ORDER BY id")
        var ids: [UInt64] = []
        while try runs.step() { ids.append(UInt64(runs.int64(0))) }
        runs.reset()
        for id in ids { if let run = try run(id) { snapshot.runs.append(run) } }
        // Runs that ended with a job still active (fail-run's cancellations on their way): the ends that
        // came while they were out of memory were not applied, and their shards are asked for them. The
        // jobs' term is `jobs_active`'s (``RunRows/jobIsActive``), on the alias.
        let ended = try database.prepare(
            """
            SELECT DISTINCT j.run FROM jobs AS j INDEXED BY jobs_active JOIN runs AS r ON r.id = j.run
            WHERE j.state > 1 AND j.state < 6 AND r.\(RunRows.isFinal) ORDER BY j.run DESC LIMIT ?
            """)
        ended.bind(1, endedWithActiveJobs)
        var endedIDs: [UInt64] = []
        while try ended.step() { endedIDs.append(UInt64(ended.int64(0))) }
        ended.reset()
        for id in endedIDs.reversed() { if let run = try run(id), run.state.isFinal { snapshot.endedRuns.append(run) } }
        let positions = try database.prepare("SELECT publisher, epoch, sequence FROM positions")
        while try positions.step() {
            let publisher = positions.text(0)
            guard publisher.hasPrefix("shard-"), let shard = UInt32(publisher.dropFirst(6)) else { continue }
            snapshot.positions[shard] = (UInt32(positions.int64(1)), UInt64(positions.int64(2)))
        }
        positions.reset()
        // The newest answers: older ones are read when a request asks for them (``answer(_:)``).
        let answers = try database.prepare("SELECT request, status, detail FROM answers ORDER BY request DESC LIMIT ?")
        answers.bind(1, answersInMemory)
        while try answers.step() {
            let request = UInt64(bitPattern: answers.int64(0))
            snapshot.answered[request] = OperationResult(
                request: request, status: Status(rawValue: UInt16(answers.int(1))), detail: answers.text(2))
        }
        answers.reset()
        let controls = try database.prepare("SELECT shard, frame FROM controls WHERE answered = 0 ORDER BY request")
        while try controls.step() {
            guard case .control(let control)? = try? Message.decode(controls.blob(1)) else { continue }
            snapshot.controls.append(OrchestratorCore.PendingControl(shard: UInt32(controls.int(0)), control: control))
        }
        controls.reset()
        snapshot.lastControl = UInt64(try database.meta("last_control") ?? 0)
        let holds = try database.prepare("SELECT product FROM holds")
        while try holds.step() { snapshot.heldProducts.insert(holds.text(0)) }
        holds.reset()
        let moved = try database.prepare("SELECT product, shard FROM product_shards")
        while try moved.step() { snapshot.productShards[moved.text(0)] = UInt32(moved.int(1)) }
        moved.reset()
        let taking = try database.prepare("SELECT run, shard, frame FROM take_overs")
        while try taking.step() {
            guard case .takeOver(let takeOver) = try Message.decode(taking.blob(2)) else { continue }
            snapshot.takeOvers[UInt64(bitPattern: taking.int64(0))] = OrchestratorCore.PendingTakeOver(shard: UInt32(taking.int(1)), takeOver: takeOver)
        }
        taking.reset()
        let relaying = try database.prepare("SELECT run, source, target, generation, relayed FROM relays")
        while try relaying.step() {
            snapshot.relays[UInt64(bitPattern: relaying.int64(0))] = OrchestratorCore.Relay(
                source: UInt32(relaying.int(1)), target: UInt32(relaying.int(2)), generation: UInt32(relaying.int(3)),
                relayed: UInt32(relaying.int(4)))
        }
        relaying.reset()
        snapshot.sequence = try log.newest()
        _ = shards
        return (epoch, snapshot)
    }

    /// A run with its jobs, as stored; nil when unknown.
    public func run(_ id: UInt64) throws -> FlowRun? {
        let statement = try database.prepare(
            """
            SELECT r.product, r.flow, r.version, r.shard, r.moment, r.params, d.definition, r.state, r.started, r.finished, r.detail,
                   r.paused, r.held, r.stopping, r.priority
            FROM runs r JOIN definitions d ON d.product = r.product AND d.flow = r.flow AND d.version = r.version WHERE r.id = ?
            """)
        statement.bind(1, Int64(bitPattern: id))
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        let product = statement.text(0)
        let flow = statement.text(1)
        let version = UInt32(statement.int(2))
        let label = "run \(id) (\(product)/\(flow) v\(version))"
        let versionKey = "\(product)/\(flow)/\(version)"
        let definition: FlowDefinition
        let graph: FlowGraph
        if let (cachedDefinition, cachedGraph) = parsed[versionKey] {
            (definition, graph) = (cachedDefinition, cachedGraph)
        } else {
            // Read as it was applied: a limit lowered since must not keep the run from reading back.
            switch FlowFile.parse(statement.text(6), file: label, checkingLimits: false) {
            case .success(let read): definition = read
            case .failure(let error):
                throw SQLiteError(code: 11, extendedCode: 11, message: "the stored definition of \(label) is invalid: \(error)", sql: nil)
            }
            graph = FlowGraph(definition)
            parsed[versionKey] = (definition, graph)
        }
        let params = Self.params(statement.text(5))
        var jobs = definition.jobs.map { FlowRunJob(name: $0.name) }
        let rows = try database.prepare(
            """
            SELECT idx, generation, state, attempts, pending, running, succeeded, failed, step, steps, started, finished,
                   time, output, detail, resume FROM jobs WHERE run = ?
            """)
        rows.bind(1, Int64(bitPattern: id))
        defer { rows.reset() }
        while try rows.step() {
            let index = rows.int(0)
            guard jobs.indices.contains(index) else { continue }
            let state = JobState(rawValue: UInt8(rows.int(2))) ?? .submitted
            var job = FlowRunJob(name: jobs[index].name, state: state, generation: UInt32(rows.int(1)), resume: rows.bool(15))
            job.stored = true
            job.accepted = !state.isActive
            if state != .waiting && state != .submitted && state != .skipped {
                job.status = JobStatus(
                    run: id, job: job.name, generation: job.generation, state: state, attempts: UInt16(rows.int(3)),
                    pending: UInt32(rows.int(4)), running: UInt32(rows.int(5)), succeeded: UInt32(rows.int(6)),
                    failed: UInt32(rows.int(7)), step: UInt16(rows.int(8)), steps: UInt16(rows.int(9)),
                    started: UInt64(max(0, rows.int64(10))), finished: UInt64(max(0, rows.int64(11))),
                    time: UInt64(max(0, rows.int64(12))), output: rows.text(13), detail: rows.text(14))
            } else {
                job.detail = rows.text(14)
            }
            jobs[index] = job
        }
        var run = FlowRun(
            id: id, product: product, flow: flow, version: version, shard: UInt32(statement.int(3)),
            moment: UInt64(bitPattern: statement.int64(4)), params: params, definition: definition, graph: graph, jobs: jobs,
            state: RunState(rawValue: UInt8(statement.int(7))) ?? .running,
            started: Timestamp(milliseconds: statement.int64(8)), finished: Timestamp(milliseconds: statement.int64(9)),
            detail: statement.text(10))
        run.paused = statement.bool(11)
        run.held = statement.bool(12)
        run.stopping = statement.bool(13)
        run.priority = UInt8(clamping: statement.int(14))
        return run
    }

    /// Binds a job's row to the 20 parameters of the upsert or the update of `commit`, in the upsert's order.
    static func bind(_ row: FlowRunJobRow, to statement: Statement) {
        let status = row.job.status
        statement.bind(1, Int64(bitPattern: row.run))
        statement.bind(2, row.index)
        statement.bind(3, row.job.name)
        statement.bind(4, Int64(row.job.generation))
        statement.bind(5, Int64(row.job.state.rawValue))
        statement.bind(6, Int64(status?.attempts ?? 0))
        statement.bind(7, Int64(status?.pending ?? 0))
        statement.bind(8, Int64(status?.running ?? 0))
        statement.bind(9, Int64(status?.succeeded ?? 0))
        statement.bind(10, Int64(status?.failed ?? 0))
        statement.bind(11, Int64(status?.step ?? 0))
        statement.bind(12, Int64(status?.steps ?? 1))
        statement.bind(13, Int64(clamping: status?.started ?? 0))
        statement.bind(14, Int64(clamping: status?.finished ?? 0))
        statement.bind(15, Int64(clamping: status?.time ?? 0))
        statement.bind(16, status?.output ?? "")
        statement.bind(17, row.job.detail.isEmpty ? (status?.detail ?? "") : row.job.detail)
        statement.bind(18, row.released ? 1 : 0)
        statement.bind(19, row.succeeded ? 1 : 0)
        statement.bind(20, row.job.resume)
    }

    static func params(_ text: String) -> [String: String] {
        var params: [String: String] = [:]
        for member in (try? JSONParser.parse(text))?.members ?? [] { params[member.key] = member.value.string }
        return params
    }

    /// Commits a turn; returns the RUN-UPDATES frames to publish.
    @discardableResult
    public func commit(_ turn: OrchestratorTurn, now: Timestamp) throws -> [[UInt8]] {
        try database.transaction {
            if !turn.runs.isEmpty {
                // A run's definition and parameters are written once, when it starts; later turns only
                // change its state. A run may be paused or stopped in the turn that starts it.
                let insert = try database.prepare(
                    """
                    INSERT INTO runs (id, product, flow, version, shard, moment, params, state, started, finished, detail, held, priority, paused, stopping)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let define = try database.prepare(
                    "INSERT OR IGNORE INTO definitions (product, flow, version, definition) VALUES (?, ?, ?, ?)")
                let defined = try database.prepare("SELECT 1 FROM definitions WHERE product = ? AND flow = ? AND version = ?")
                let update = try database.prepare(
                    "UPDATE runs SET state = ?, finished = ?, detail = ?, moment = ?, paused = ?, held = ?, stopping = ?, priority = ?, shard = ? WHERE id = ?")
                for run in turn.runs {
                    if turn.newRuns.contains(run.id) {
                        // A flow version's definition is stored once, for all its runs.
                        defined.bind(1, run.product)
                        defined.bind(2, run.flow)
                        defined.bind(3, Int64(run.version))
                        let known = try defined.step()
                        defined.reset()
                        if !known {
                            define.bind(1, run.product)
                            define.bind(2, run.flow)
                            define.bind(3, Int64(run.version))
                            define.bind(4, run.definition.json.rendered())
                            try define.run()
                        }
                        insert.bind(1, Int64(bitPattern: run.id))
                        insert.bind(2, run.product)
                        insert.bind(3, run.flow)
                        insert.bind(4, Int64(run.version))
                        insert.bind(5, Int64(run.shard))
                        insert.bind(6, Int64(bitPattern: run.moment))
                        insert.bind(7, JSON.strings(run.params).rendered())
                        insert.bind(8, Int64(run.state.rawValue))
                        insert.bind(9, run.started.milliseconds)
                        insert.bind(10, run.finished.milliseconds)
                        insert.bind(11, run.detail)
                        insert.bind(12, run.held)
                        insert.bind(13, Int64(run.priority))
                        insert.bind(14, run.paused)
                        insert.bind(15, run.stopping)
                        try insert.run()
                    } else {
                        update.bind(1, Int64(run.state.rawValue))
                        update.bind(2, run.finished.milliseconds)
                        update.bind(3, run.detail)
                        update.bind(4, Int64(bitPattern: run.moment))
                        update.bind(5, run.paused)
                        update.bind(6, run.held)
                        update.bind(7, run.stopping)
                        update.bind(8, Int64(run.priority))
                        update.bind(9, Int64(run.shard))
                        update.bind(10, Int64(bitPattern: run.id))
                        try update.run()
                    }
                }
            }
            if !turn.jobs.isEmpty {
                let upsert = try database.prepare(
                    """
                    INSERT INTO jobs (run, idx, name, generation, state, attempts, pending, running, succeeded,
                        failed, step, steps, started, finished, time, output, detail, releases, successes, resume)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (run, idx) DO UPDATE SET generation = excluded.generation, state = excluded.state,
                        attempts = excluded.attempts, pending = excluded.pending, running = excluded.running,
                        succeeded = excluded.succeeded, failed = excluded.failed, step = excluded.step,
                        steps = excluded.steps, started = excluded.started, finished = excluded.finished,
                        time = excluded.time, output = excluded.output, detail = excluded.detail,
                        releases = releases + excluded.releases, successes = successes + excluded.successes,
                        resume = excluded.resume
                    """)
                // A row that counts no release is, as a rule, of a job whose row is there (a later change):
                // an update finds it without the insert an upsert tries first (a fifth of the statement's
                // cost). A job skipped or stopped before it was ever released has no row: the update finds
                // none, and the upsert writes it. (The name, ?3, is a row's from its insert on, as in the
                // upsert.) A first row that counts a release is written by the upsert.
                let update = try database.prepare(
                    """
                    UPDATE jobs SET generation = ?4, state = ?5, attempts = ?6, pending = ?7, running = ?8,
                        succeeded = ?9, failed = ?10, step = ?11, steps = ?12, started = ?13, finished = ?14, time = ?15,
                        output = ?16, detail = ?17, releases = releases + ?18, successes = successes + ?19, resume = ?20
                    WHERE run = ?1 AND idx = ?2
                    """)
                for row in turn.jobs {
                    if row.released {
                        Self.bind(row, to: upsert)
                        try upsert.runKeepingBindings()
                    } else {
                        Self.bind(row, to: update)
                        try update.runKeepingBindings()
                        if database.changes == 0 {
                            Self.bind(row, to: upsert)
                            try upsert.runKeepingBindings()
                        }
                    }
                }
            }
            if !turn.positions.isEmpty {
                let statement = try database.prepare(
                    """
                    INSERT INTO positions (publisher, epoch, sequence) VALUES (?, ?, ?)
                    ON CONFLICT (publisher) DO UPDATE SET epoch = excluded.epoch, sequence = excluded.sequence
                    """)
                for position in turn.positions {
                    statement.bind(1, position.publisher)
                    statement.bind(2, Int64(position.epoch))
                    statement.bind(3, Int64(bitPattern: position.sequence))
                    try statement.run()
                }
            }
            if !turn.answers.isEmpty {
                let statement = try database.prepare("INSERT OR REPLACE INTO answers (request, status, detail, time) VALUES (?, ?, ?, ?)")
                for (request, answer) in turn.answers {
                    statement.bind(1, Int64(bitPattern: request))
                    statement.bind(2, Int64(answer.status.rawValue))
                    statement.bind(3, answer.detail)
                    statement.bind(4, now.milliseconds)
                    try statement.run()
                }
            }
            for pending in turn.controls {
                let statement = try database.prepare("INSERT OR IGNORE INTO controls (request, shard, frame, answered) VALUES (?, ?, ?, 0)")
                statement.bind(1, Int64(bitPattern: pending.control.request))
                statement.bind(2, Int64(pending.shard))
                statement.bind(3, Message.control(pending.control).encoded())
                try statement.run()
            }
            for request in turn.answeredControls {
                let statement = try database.prepare("DELETE FROM controls WHERE request = ?")
                statement.bind(1, Int64(bitPattern: request))
                try statement.run()
            }
            if !turn.holds.isEmpty {
                let hold = try database.prepare("INSERT OR IGNORE INTO holds (product) VALUES (?)")
                let release = try database.prepare("DELETE FROM holds WHERE product = ?")
                for (product, held) in turn.holds {
                    let statement = held ? hold : release
                    statement.bind(1, product)
                    try statement.run()
                }
            }
            if !turn.productShards.isEmpty {
                let statement = try database.prepare("INSERT OR REPLACE INTO product_shards (product, shard) VALUES (?, ?)")
                for (product, shard) in turn.productShards {
                    statement.bind(1, product)
                    statement.bind(2, Int64(shard))
                    try statement.run()
                }
            }
            if !turn.takeOvers.isEmpty {
                let insert = try database.prepare("INSERT OR REPLACE INTO take_overs (run, shard, frame) VALUES (?, ?, ?)")
                let delete = try database.prepare("DELETE FROM take_overs WHERE run = ?")
                for (run, pending) in turn.takeOvers {
                    if let pending {
                        insert.bind(1, Int64(bitPattern: run))
                        insert.bind(2, Int64(pending.shard))
                        insert.bind(3, Message.takeOver(pending.takeOver).encoded())
                        try insert.run()
                    } else {
                        delete.bind(1, Int64(bitPattern: run))
                        try delete.run()
                    }
                }
            }
            if !turn.relays.isEmpty {
                let insert = try database.prepare("INSERT OR REPLACE INTO relays (run, source, target, generation, relayed) VALUES (?, ?, ?, ?, ?)")
                let delete = try database.prepare("DELETE FROM relays WHERE run = ?")
                for (run, relay) in turn.relays {
                    if let relay {
                        insert.bind(1, Int64(bitPattern: run))
                        insert.bind(2, Int64(relay.source))
                        insert.bind(3, Int64(relay.target))
                        insert.bind(4, Int64(relay.generation))
                        insert.bind(5, Int64(relay.relayed))
                        try insert.run()
                    } else {
                        delete.bind(1, Int64(bitPattern: run))
                        try delete.run()
                    }
                }
            }
            if !turn.controls.isEmpty { try database.setMeta("last_control", Int64(bitPattern: turn.lastControl)) }
            return try turn.updateMessages.map { updates in
                let frame = Message.runUpdates(updates).encoded()
                try log.append(sequence: updates.sequence, epoch: updates.epoch, time: now, frame: frame)
                return frame
            }
        }
    }
}
