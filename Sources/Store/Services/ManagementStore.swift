public import Core
internal import Glibc
import Wire

/// Management's store: products and their shards, every version of every flow, runs, operation
/// requests not yet answered, the counters that never go back, its position in the orchestrator's stream,
/// and the shards an operator drained.
public final class ManagementStore {
    public let database: Database

    public init(path: String, synchronous: Database.Synchronous = Database.defaultSynchronous) throws {
        database = try Database.service(path: path, synchronous: synchronous, migrations: Self.migrations)
    }

    /// Reads back everything management keeps in memory.
    public func open(finishedRuns: Int = 1000, audit: Int = 1000, recentFirings: Int = 20) throws -> ManagementSnapshot {
        var snapshot = ManagementSnapshot()
        let products = try database.prepare(
            "SELECT name, shard, created, weight, cap, rate, burst, priority_over_fairness, key_weights, held FROM products")
        while try products.step() {
            let name = products.text(0)
            let weights = ((try? JSONParser.parse(products.text(8)))?.members ?? []).compactMap { member in
                member.value.integer.map { KeyWeight(key: member.key, weight: UInt32(clamping: $0)) }
            }
            let policy = ProductPolicy(
                product: name, weight: UInt32(products.int(3)), cap: UInt32(products.int(4)), rate: UInt32(products.int(5)),
                burst: UInt32(products.int(6)), priorityOverFairness: products.int(7) == 0 ? 0 : 1, keyWeights: weights)
            var product = ProductRecord(name: name, shard: UInt32(products.int(1)), created: Timestamp(milliseconds: products.int64(2)), policy: policy)
            product.held = products.int(9) != 0
            snapshot.products.append(product)
        }
        products.reset()
        let flows = try database.prepare(
            """
            SELECT product, flow, version, definition, params, jobs, applied, schedule FROM flows f
            WHERE version = (SELECT MAX(version) FROM flows g WHERE g.product = f.product AND g.flow = f.flow)
            """)
        while try flows.step() {
            snapshot.flows.append(
                FlowRecord(
                    product: flows.text(0), flow: flows.text(1), version: UInt32(flows.int(2)), definition: flows.text(3),
                    params: flows.isNull(4) ? nil : OrchestratorStore.params(flows.text(4)), jobs: flows.int(5),
                    applied: Timestamp(milliseconds: flows.int64(6)), schedule: flows.isNull(7) ? nil : flows.text(7)))
        }
        flows.reset()
        let runs = try database.prepare(
            """
            SELECT \(Self.runColumns) FROM runs INDEXED BY runs_open WHERE \(RunRows.isOpen)
            UNION ALL
            SELECT * FROM (SELECT \(Self.runColumns) FROM runs NOT INDEXED WHERE \(RunRows.isFinal) ORDER BY id DESC LIMIT ?)
            ORDER BY id
            """)
        runs.bind(1, finishedRuns)
        while try runs.step() { snapshot.runs.append(Self.run(runs)) }
        runs.reset()
        let operations = try database.prepare("SELECT frame FROM operations WHERE answered = 0 ORDER BY request")
        while try operations.step() {
            if case .operationRequest(let request) = try? Message.decode(operations.blob(0)) { snapshot.pending.append(request) }
        }
        operations.reset()
        snapshot.counters = ManagementCounters(
            lastRun: UInt64(try database.meta("last_run") ?? 0), lastMoment: UInt64(try database.meta("last_moment") ?? 0),
            lastRequest: UInt64(try database.meta("last_request") ?? 0))
        let position = try database.prepare("SELECT epoch, sequence FROM positions WHERE publisher = ?")
        position.bind(1, snapshot.position.publisher)
        if try position.step() {
            snapshot.position.epoch = UInt32(position.int64(0))
            snapshot.position.sequence = UInt64(position.int64(1))
        }
        position.reset()
        let recent = try database.prepare("SELECT \(Self.auditColumns) FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id")
        recent.bind(1, audit)
        while try recent.step() { snapshot.audit.append(Self.entry(recent)) }
        recent.reset()
        let calendars = try database.prepare("SELECT name, version, text, applied FROM calendars ORDER BY name")
        while try calendars.step() {
            let name = calendars.text(0)
            let text = calendars.text(2)
            // Valid when applied; one this version cannot read (written by a newer one) is left out, and the
            // schedules on it say so.
            guard let calendar = try? BusinessCalendar.parse(text, name: name) else { continue }
            snapshot.calendars.append(
                CalendarRecord(
                    name: name, version: UInt32(calendars.int(1)), text: text, applied: Timestamp(milliseconds: calendars.int64(3)),
                    calendar: calendar))
        }
        calendars.reset()
        let schedules = try database.prepare("SELECT flow, since, fired, missed, skipped FROM schedules")
        while try schedules.step() {
            snapshot.schedules.append(
                ScheduleState(
                    flow: schedules.text(0), since: Timestamp(milliseconds: schedules.int64(1)), fired: UInt64(schedules.int64(2)),
                    missed: UInt64(schedules.int64(3)), skipped: UInt64(schedules.int64(4))))
        }
        schedules.reset()
        let queued = try database.prepare("SELECT \(Self.firingColumns) FROM firings WHERE outcome = 'queued' ORDER BY flow, instant")
        while try queued.step() { snapshot.queuedFirings.append(Self.firing(queued)) }
        queued.reset()
        let load = try database.prepare("SELECT product, bucket, jobs FROM load ORDER BY product, bucket")
        while try load.step() {
            snapshot.load.append(LoadMeter.Bucket(product: load.text(0), index: load.int64(1), jobs: UInt32(clamping: load.int64(2))))
        }
        load.reset()
        let latest = try database.prepare(
            """
            SELECT \(Self.firingColumns) FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY flow ORDER BY instant DESC) AS age FROM firings)
            WHERE age <= ? ORDER BY flow, instant
            """)
        latest.bind(1, recentFirings)
        while try latest.step() { snapshot.recentFirings.append(Self.firing(latest)) }
        latest.reset()
        let drained = try database.prepare("SELECT shard FROM drained ORDER BY shard")
        while try drained.step() { snapshot.drained.append(UInt32(clamping: drained.int64(0))) }
        drained.reset()
        return snapshot
    }

    /// Each product and the shard it is bound to, read from the store at `path` without opening it as
    /// management does (no migration, nothing written), while management may be running on it: for
    /// `baton up` to check a new cluster file before it restarts anything. None when there is no store yet.
    public static func boundProducts(at path: String) throws -> [(name: String, shard: UInt32)] {
        guard access(path, F_OK) == 0 else { return [] }
        let database = try Database(path: path, options: Database.Options(readOnly: true))
        defer { database.close() }
        let statement = try database.prepare("SELECT name, shard FROM products")
        defer { statement.reset() }
        var products: [(name: String, shard: UInt32)] = []
        while try statement.step() { products.append((statement.text(0), UInt32(clamping: statement.int64(1)))) }
        return products
    }

    static let firingColumns = "flow, instant, date, outcome, run, missed, timer, time, detail"

    static func firing(_ row: Statement) -> FiringRecord {
        FiringRecord(
            flow: row.text(0), instant: Timestamp(milliseconds: row.int64(1)), date: row.text(2),
            outcome: FiringRecord.Outcome(rawValue: row.text(3)) ?? .missed, run: UInt64(bitPattern: row.int64(4)),
            missedBefore: UInt64(bitPattern: row.int64(5)), timer: row.text(6), time: Timestamp(milliseconds: row.int64(7)),
            detail: row.text(8))
    }

    /// A flow's firings, newest first, at most `limit`.
    public func firings(of flow: String, limit: Int) throws -> [FiringRecord] {
        let statement = try database.prepare("SELECT \(Self.firingColumns) FROM firings WHERE flow = ? ORDER BY instant DESC LIMIT ?")
        statement.bind(1, flow)
        statement.bind(2, max(limit, 0))
        defer { statement.reset() }
        var firings: [FiringRecord] = []
        while try statement.step() { firings.append(Self.firing(statement)) }
        return firings
    }

    static let runColumns = """
        id, product, flow, version, shard, moment, params, key, state, jobs, succeeded, failed, active, started, finished, detail, updated,
        priority, finishing
        """

    static func run(_ row: Statement) -> RunRecord {
        RunRecord(
            id: UInt64(row.int64(0)), product: row.text(1), flow: row.text(2), version: UInt32(row.int(3)),
            shard: UInt32(row.int(4)), moment: UInt64(bitPattern: row.int64(5)), params: OrchestratorStore.params(row.text(6)),
            key: row.text(7), state: RunState(rawValue: UInt8(row.int(8))) ?? .running, jobs: UInt32(row.int(9)),
            succeeded: UInt32(row.int(10)), failed: UInt32(row.int(11)), active: UInt32(row.int(12)),
            started: Timestamp(milliseconds: row.int64(13)), finished: Timestamp(milliseconds: row.int64(14)),
            detail: row.text(15), updated: Timestamp(milliseconds: row.int64(16)), priority: UInt8(clamping: row.int(17)),
            finishing: UInt32(row.int(18)))
    }

    /// Runs as `runs` lists them, newest first: at most `limit + 1` (one more, to tell whether a next page
    /// exists), each filter an indexed condition.
    public func runs(_ listing: RunListing) throws -> [RunRecord] {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        if let product = listing.product {
            conditions.append("product = ?")
            values.append(.text(product))
        }
        if let flow = listing.flow {
            conditions.append("flow = ?")
            values.append(.text(flow))
        }
        if let state = listing.state {
            conditions.append("state = ?")
            values.append(.integer(Int64(state.rawValue)))
        }
        if let since = listing.since {
            conditions.append("started >= ?")
            values.append(.integer(since))
        }
        if let until = listing.until {
            conditions.append("started < ?")
            values.append(.integer(until))
        }
        if let before = listing.before {
            conditions.append("id < ?")
            values.append(.integer(Int64(bitPattern: before)))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let statement = try database.prepare("SELECT \(Self.runColumns) FROM runs \(filter) ORDER BY id DESC LIMIT ?")
        for (index, value) in values.enumerated() {
            switch value {
            case .text(let text): statement.bind(Int32(index + 1), text)
            case .integer(let number): statement.bind(Int32(index + 1), number)
            }
        }
        statement.bind(Int32(values.count + 1), listing.limit + 1)
        defer { statement.reset() }
        var runs: [RunRecord] = []
        while try statement.step() { runs.append(Self.run(statement)) }
        return runs
    }

    private enum SQLiteValue {
        case text(String)
        case integer(Int64)
    }

    /// Deletes what is older than its retention, at most `batch` rows of each kind: finished runs (by
    /// their end) and firings (by their instant) older than `retention`, and audit entries older than
    /// `auditRetention`. Called often, off the hot path, so that each call is short; returns how many of
    /// each it deleted. The runs of `keeping` stay whatever their age (an action may reopen them).
    @discardableResult
    public func trim(
        now: Timestamp, retention: Int64, auditRetention: Int64, keeping: Set<UInt64> = [], batch: Int = 1000
    ) throws -> (runs: Int, firings: Int, audit: Int) {
        let runsBefore = now.milliseconds - retention
        let auditBefore = now.milliseconds - auditRetention
        var deleted = (runs: 0, firings: 0, audit: 0)
        try database.transaction {
            // Runs end roughly in the order they start: the oldest IDs first, stopping at the batch.
            let runs = try database.prepare(
                """
                DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE \(RunRows.isFinal) AND finished > 0 AND finished < ?
                AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?)
                """)
            runs.bind(1, runsBefore)
            runs.bind(2, "[" + keeping.map { String(Int64(bitPattern: $0)) }.joined(separator: ",") + "]")
            runs.bind(3, batch)
            try runs.run()
            deleted.runs = database.changes
            deleted.firings = try database.deleteBatch(
                "DELETE FROM firings WHERE (flow, instant) IN (SELECT flow, instant FROM firings WHERE instant < ? AND outcome <> 'queued' LIMIT ?)",
                runsBefore, limit: batch)
            deleted.audit = try database.deleteBatch(
                "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < ? ORDER BY id LIMIT ?)", auditBefore, limit: batch)
            // Load buckets older than the meter's window count for nothing.
            _ = try database.deleteBatch(
                "DELETE FROM load WHERE (product, bucket) IN (SELECT product, bucket FROM load WHERE bucket < ? LIMIT ?)",
                now.milliseconds / LoadMeter.bucket - Int64(LoadMeter.buckets), limit: batch)
        }
        return deleted
    }

    /// What the store holds for a recall (``ManagementCore/recallsNeeded(for:by:)``): an action's audit entry by its
    /// request ID, or the newest run started with a key.
    public func recall(_ recall: ManagementRecall) throws -> ManagementRecalled {
        switch recall {
        case .action(let key):
            let statement = try database.prepare("SELECT \(Self.auditColumns) FROM audit WHERE key = ?")
            statement.bind(1, key)
            defer { statement.reset() }
            return .action(try statement.step() ? Self.entry(statement) : nil)
        case .run(let key):
            let statement = try database.prepare("SELECT \(Self.runColumns) FROM runs WHERE key = ? ORDER BY id DESC LIMIT 1")
            statement.bind(1, key)
            defer { statement.reset() }
            return .run(try statement.step() ? Self.run(statement) : nil)
        case .runID(let id):
            let statement = try database.prepare("SELECT \(Self.runColumns) FROM runs WHERE id = ?")
            statement.bind(1, Int64(bitPattern: id))
            defer { statement.reset() }
            return .run(try statement.step() ? Self.run(statement) : nil)
        }
    }

    static let auditColumns = "id, key, time, actor, action, run, product, job, options, status, detail, answered, comment"

    static func entry(_ row: Statement) -> AuditEntry {
        AuditEntry(
            id: UInt64(bitPattern: row.int64(0)), key: row.text(1), time: Timestamp(milliseconds: row.int64(2)), actor: row.text(3),
            method: row.text(4), run: UInt64(bitPattern: row.int64(5)), product: row.text(6), job: row.text(7), options: row.text(8),
            status: UInt16(clamping: row.int64(9)), detail: row.text(10), answered: Timestamp(milliseconds: row.int64(11)), comment: row.text(12))
    }

    /// Version `version` of the flow `product`/`flow`, if the store has it.
    public func flow(product: String, flow: String, version: UInt32) throws -> FlowRecord? {
        let statement = try database.prepare(
            "SELECT product, flow, version, definition, params, jobs, applied, schedule FROM flows WHERE product = ? AND flow = ? AND version = ?")
        defer { statement.reset() }
        statement.bind(1, product)
        statement.bind(2, flow)
        statement.bind(3, Int64(version))
        guard try statement.step() else { return nil }
        return FlowRecord(
            product: statement.text(0), flow: statement.text(1), version: UInt32(statement.int(2)), definition: statement.text(3),
            params: statement.isNull(4) ? nil : OrchestratorStore.params(statement.text(4)), jobs: statement.int(5),
            applied: Timestamp(milliseconds: statement.int64(6)), schedule: statement.isNull(7) ? nil : statement.text(7))
    }

    /// The audit log of a run, or (for run 0) of a product, or (for run 0 and no product) of an actor, oldest
    /// first, at most `limit` entries (the newest).
    public func history(run: UInt64, product: String, actor: String = "", limit: Int, before: UInt64? = nil) throws -> [AuditEntry] {
        let filter = run != 0 ? "run = ?1" : !product.isEmpty ? "product = ?1" : "actor = ?1"
        let statement = try database.prepare(
            "SELECT \(Self.auditColumns) FROM (SELECT * FROM audit WHERE \(filter) AND id < ?3 ORDER BY id DESC LIMIT ?2) ORDER BY id")
        if run != 0 {
            statement.bind(1, Int64(bitPattern: run))
        } else {
            statement.bind(1, product.isEmpty ? actor : product)
        }
        statement.bind(2, max(limit, 0))
        statement.bind(3, Int64(clamping: before ?? UInt64(Int64.max)))
        defer { statement.reset() }
        var entries: [AuditEntry] = []
        while try statement.step() { entries.append(Self.entry(statement)) }
        return entries
    }

    /// Commits a turn.
    public func commit(_ turn: ManagementTurn) throws {
        guard turn.needsCommit else { return }
        try database.transaction {
            for product in turn.products {
                let statement = try database.prepare(
                    """
                    INSERT OR REPLACE INTO products (name, shard, created, weight, cap, rate, burst, priority_over_fairness, key_weights, held)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                statement.bind(1, product.name)
                statement.bind(2, Int64(product.shard))
                statement.bind(3, product.created.milliseconds)
                statement.bind(4, Int64(product.policy.weight))
                statement.bind(5, Int64(product.policy.cap))
                statement.bind(6, Int64(product.policy.rate))
                statement.bind(7, Int64(product.policy.burst))
                statement.bind(8, Int64(product.policy.priorityOverFairness))
                statement.bind(9, JSON.object(product.policy.keyWeights.map { ($0.key, .number(Int($0.weight))) }).rendered())
                statement.bind(10, Int64(product.held ? 1 : 0))
                try statement.run()
            }
            for flow in turn.flows {
                let statement = try database.prepare(
                    "INSERT INTO flows (product, flow, version, definition, params, jobs, applied, schedule) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                statement.bind(1, flow.product)
                statement.bind(2, flow.flow)
                statement.bind(3, Int64(flow.version))
                statement.bind(4, flow.definition)
                statement.bind(5, flow.params.map { JSON.strings($0).rendered() })
                statement.bind(6, flow.jobs)
                statement.bind(7, flow.applied.milliseconds)
                statement.bind(8, flow.schedule)
                try statement.run()
            }
            for calendar in turn.calendars {
                let statement = try database.prepare("INSERT OR REPLACE INTO calendars (name, version, text, applied) VALUES (?, ?, ?, ?)")
                statement.bind(1, calendar.name)
                statement.bind(2, Int64(calendar.version))
                statement.bind(3, calendar.text)
                statement.bind(4, calendar.applied.milliseconds)
                try statement.run()
            }
            // Removals first: a turn that removes a schedule and then adds it again keeps the later row.
            for flow in turn.removedSchedules {
                let statement = try database.prepare("DELETE FROM schedules WHERE flow = ?")
                statement.bind(1, flow)
                try statement.run()
            }
            for state in turn.schedules {
                let statement = try database.prepare(
                    "INSERT OR REPLACE INTO schedules (flow, since, fired, missed, skipped) VALUES (?, ?, ?, ?, ?)")
                statement.bind(1, state.flow)
                statement.bind(2, state.since.milliseconds)
                statement.bind(3, Int64(bitPattern: state.fired))
                statement.bind(4, Int64(bitPattern: state.missed))
                statement.bind(5, Int64(bitPattern: state.skipped))
                try statement.run()
            }
            if !turn.load.isEmpty {
                let statement = try database.prepare("INSERT OR REPLACE INTO load (product, bucket, jobs) VALUES (?, ?, ?)")
                for bucket in turn.load {
                    statement.bind(1, bucket.product)
                    statement.bind(2, bucket.index)
                    statement.bind(3, Int64(bucket.jobs))
                    try statement.run()
                }
            }
            for firing in turn.firings {
                let statement = try database.prepare("INSERT OR REPLACE INTO firings (\(Self.firingColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                statement.bind(1, firing.flow)
                statement.bind(2, firing.instant.milliseconds)
                statement.bind(3, firing.date)
                statement.bind(4, firing.outcome.rawValue)
                statement.bind(5, Int64(bitPattern: firing.run))
                statement.bind(6, Int64(bitPattern: firing.missedBefore))
                statement.bind(7, firing.timer)
                statement.bind(8, firing.time.milliseconds)
                statement.bind(9, firing.detail)
                try statement.run()
            }
            for run in turn.runs {
                let statement = try database.prepare(
                    """
                    INSERT OR REPLACE INTO runs (id, product, flow, version, shard, moment, params, key, state, jobs, succeeded,
                        failed, active, started, finished, detail, updated, priority, finishing)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                statement.bind(1, Int64(bitPattern: run.id))
                statement.bind(2, run.product)
                statement.bind(3, run.flow)
                statement.bind(4, Int64(run.version))
                statement.bind(5, Int64(run.shard))
                statement.bind(6, Int64(bitPattern: run.moment))
                statement.bind(7, JSON.strings(run.params).rendered())
                statement.bind(8, run.key)
                statement.bind(9, Int64(run.state.rawValue))
                statement.bind(10, Int64(run.jobs))
                statement.bind(11, Int64(run.succeeded))
                statement.bind(12, Int64(run.failed))
                statement.bind(13, Int64(run.active))
                statement.bind(14, run.started.milliseconds)
                statement.bind(15, run.finished.milliseconds)
                statement.bind(16, run.detail)
                statement.bind(17, run.updated.milliseconds)
                statement.bind(18, Int64(run.priority))
                statement.bind(19, Int64(run.finishing))
                try statement.run()
            }
            for operation in turn.operations {
                let statement = try database.prepare("INSERT OR IGNORE INTO operations (request, frame, answered) VALUES (?, ?, 0)")
                statement.bind(1, Int64(bitPattern: operation.request))
                statement.bind(2, Message.operationRequest(operation).encoded())
                try statement.run()
            }
            // An answered operation is never sent again, and a start's carries its whole flow: it goes.
            for request in turn.answered {
                let statement = try database.prepare("DELETE FROM operations WHERE request = ?")
                statement.bind(1, Int64(bitPattern: request))
                try statement.run()
            }
            if !turn.audit.isEmpty || !turn.auditAnswers.isEmpty {
                let statement = try database.prepare(
                    """
                    INSERT INTO audit (\(Self.auditColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET status = excluded.status, detail = excluded.detail, answered = excluded.answered
                    """)
                for entry in turn.audit + turn.auditAnswers {
                    statement.bind(1, Int64(bitPattern: entry.id))
                    statement.bind(2, entry.key)
                    statement.bind(3, entry.time.milliseconds)
                    statement.bind(4, entry.actor)
                    statement.bind(5, entry.method)
                    statement.bind(6, Int64(bitPattern: entry.run))
                    statement.bind(7, entry.product)
                    statement.bind(8, entry.job)
                    statement.bind(9, entry.options)
                    statement.bind(10, Int64(entry.status))
                    statement.bind(11, entry.detail)
                    statement.bind(12, entry.answered.milliseconds)
                    statement.bind(13, entry.comment)
                    try statement.run()
                }
            }
            for (shard, isDrained) in turn.drains.sorted(by: { $0.key < $1.key }) {
                let statement = try database.prepare(isDrained ? "INSERT OR IGNORE INTO drained (shard) VALUES (?)" : "DELETE FROM drained WHERE shard = ?")
                statement.bind(1, Int64(shard))
                try statement.run()
            }
            if let counters = turn.counters {
                try database.setMeta("last_run", Int64(bitPattern: counters.lastRun))
                try database.setMeta("last_moment", Int64(bitPattern: counters.lastMoment))
                try database.setMeta("last_request", Int64(bitPattern: counters.lastRequest))
            }
            if let position = turn.position {
                let statement = try database.prepare(
                    """
                    INSERT INTO positions (publisher, epoch, sequence) VALUES (?, ?, ?)
                    ON CONFLICT (publisher) DO UPDATE SET epoch = excluded.epoch, sequence = excluded.sequence
                    """)
                statement.bind(1, position.publisher)
                statement.bind(2, Int64(position.epoch))
                statement.bind(3, Int64(bitPattern: position.sequence))
                try statement.run()
            }
        }
    }
}
