internal import CSQLite
internal import Glibc

/// A connection to one SQLite database, with a cache of prepared statements.
///
/// A `Database` has exactly one owning thread: it is not `Sendable`, and SQLite's per-connection mutex is off.
/// Another thread that needs the same file opens its own `Database`; in WAL mode its reads do not block this
/// connection's writes. The statements handed out by ``prepare(_:)`` belong to the database, live until
/// ``close()`` (or `deinit`), and must not be used after it.
///
/// Writes go through ``transaction(_:)``. It takes the write lock up front (`BEGIN IMMEDIATE`), so a
/// transaction waits for the lock at its start rather than failing half-way, and it rolls back when its body or
/// its `COMMIT` throws, so a failed transaction leaves nothing behind. Transactions do not nest: calling
/// ``transaction(_:)`` inside another is a programming error.
public final class Database {
    /// How a connection is opened and tuned; applied as pragmas when it opens.
    public struct Options: Sendable {
        /// The journal mode; WAL lets readers on other connections run beside the one writer.
        public var journalMode: JournalMode
        /// How hard SQLite works to get commits onto the disk.
        public var synchronous: Synchronous
        /// How long a statement waits for another connection's lock before failing with SQLITE_BUSY.
        public var busyTimeoutMilliseconds: Int32
        /// Whether foreign-key constraints are enforced.
        public var foreignKeys: Bool
        /// Whether to open read-only; writes then fail with SQLITE_READONLY.
        public var readOnly: Bool
        /// Whether this connection keeps the file to itself (`locking_mode=EXCLUSIVE`): no lock is taken
        /// and released at every transaction, and in WAL mode no shared-memory index is used; no other
        /// connection can read the file while this one is open.
        public var exclusive: Bool = false
        /// The page cache, in KiB (SQLite's default is 2000).
        public var cacheKilobytes: Int = 2000
        /// How much of the file reads may map into memory instead of copying, in bytes; 0 for none.
        public var mmapBytes: Int = 0
        /// WAL pages after which a commit checkpoints them into the database file (SQLite's default is 1000).
        public var checkpointPages: Int = 1000
        /// How often a thread with a connection of its own checkpoints the write-ahead log, so that this
        /// connection's commits seldom do; nil for none. Needs WAL, and `exclusive` off.
        public var backgroundCheckpoints: Duration?
        /// With background checkpoints, the WAL pages after which this connection starts the log again
        /// from its beginning: once the thread has copied all but the last 512 pages or fewer, a commit
        /// copies those itself, and its next transaction writes over the log's first pages. Nil leaves
        /// the log to grow until a pass finds nothing new, which under a steady load is seldom before
        /// `checkpointPages`.
        public var restartPages: Int?
        /// Whether this connection gathers its log's writes into fewer, larger ones (`shim.h`), when it
        /// syncs every commit (`full`, `extra`) in WAL mode. Only for the file's one writer: the frames of
        /// a transaction rolled back are written late, if at all, and could land over another writer's.
        public var gathersLogWrites: Bool

        /// Creates options; the defaults suit a broker's own database file.
        public init(
            journalMode: JournalMode = .wal,
            synchronous: Synchronous = Database.defaultSynchronous,
            busyTimeoutMilliseconds: Int32 = 5000,
            foreignKeys: Bool = true,
            readOnly: Bool = false,
            exclusive: Bool = false,
            cacheKilobytes: Int = 2000,
            mmapBytes: Int = 0,
            checkpointPages: Int = 1000,
            backgroundCheckpoints: Duration? = nil,
            restartPages: Int? = nil,
            gathersLogWrites: Bool = false
        ) {
            self.journalMode = journalMode
            self.synchronous = synchronous
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.foreignKeys = foreignKeys
            self.readOnly = readOnly
            self.exclusive = exclusive
            self.cacheKilobytes = cacheKilobytes
            self.mmapBytes = mmapBytes
            self.checkpointPages = checkpointPages
            self.backgroundCheckpoints = backgroundCheckpoints
            self.restartPages = restartPages
            self.gathersLogWrites = gathersLogWrites
        }
    }

    /// How hard a service's store syncs unless told otherwise: `full`, so that nothing acknowledged is
    /// taken back by a power loss. Every turn commits a batch, so it costs one fsync a turn, not a job.
    public static let defaultSynchronous = Synchronous.full

    /// The value of `PRAGMA synchronous`.
    public enum Synchronous: Sendable {
        /// Never waits for the disk: an OS crash or power loss may corrupt the database.
        case off
        /// In WAL mode, waits for the disk at checkpoints only: a power loss may undo the last commits, but
        /// the database stays consistent.
        case normal
        /// Waits for the disk at every commit: committed means durable, even across power loss.
        case full
        /// Like `full`, and also syncs the directory after a rollback journal is deleted.
        case extra
    }

    /// The value of `PRAGMA journal_mode`.
    public enum JournalMode: Sendable {
        /// Write-ahead log: readers and the writer do not block each other.
        case wal
        /// Rollback journal, deleted at the end of each transaction.
        case delete
        /// Rollback journal in memory: a crash during a write may corrupt the database.
        case memory
    }

    /// The path the database was opened with; `:memory:` for a private in-memory database.
    public let path: String

    /// A test seam for write failures: consulted with the SQL before every step of a statement that may
    /// write; a non-nil result code is thrown as an ``SQLiteError`` for that statement, as if SQLite had
    /// returned it (for example 13, SQLITE_FULL). Nil lets the statement run.
    public var faultInjector: (@Sendable (String) -> Int32?)?

    /// SQLite's process-wide settings, made once before the first connection: no memory statistics,
    /// which would take a global mutex on every allocation. Nothing reads them.
    private static let configured: Int32 = baton_sqlite_disable_memory_statistics()
    /// The VFS that gathers a log's writes, registered once; SQLITE_OK if it is there.
    private static let logVFS: Int32 = baton_sqlite_register_log_vfs()

    private var handle: OpaquePointer?
    private var statements: [String: Statement] = [:]
    private var isInTransaction = false
    private(set) var checkpointer: Checkpointer?

    /// Opens (creating if needed) the database at `path`, or a private in-memory one for `:memory:`.
    ///
    /// Throws an ``SQLiteError`` naming the path if the file cannot be opened, for example because its folder
    /// does not exist, or if it can only be opened read-only while `options.readOnly` is false.
    public init(path: String, options: Options = .init()) throws(SQLiteError) {
        _ = Self.configured
        self.path = path
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        flags |= options.readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        var connection: OpaquePointer?
        // The one writer of a file that syncs every commit gathers its log's writes (see `shim.h`): SQLite
        // writes a frame's header and its page apart, two system calls a page, some 150 a loaded shard's
        // commit. In a loaded shard's profile `pwrite` fell from 6.6% to 2.6% of its samples. Not under
        // `normal`, whose commits make their frames visible to other connections without a sync, which is
        // when the gathered writes reach the file.
        let gathers = options.gathersLogWrites && !options.readOnly && options.journalMode == .wal && path != ":memory:"
            && (options.synchronous == .full || options.synchronous == .extra) && Self.logVFS == SQLITE_OK
        var rc = sqlite3_open_v2(path, &connection, flags, gathers ? "baton-log" : nil)
        if gathers, rc == SQLITE_OK, let opened = connection, baton_sqlite_overwrites_safely(opened) == 0 {
            // A file that is not overwritten safely (`psow=0`): SQLite syncs half-way through a commit's
            // last frame, and the log's writes may not be gathered. Opened again as any other.
            sqlite3_close_v2(opened)
            connection = nil
            rc = sqlite3_open_v2(path, &connection, flags, nil)
        }
        guard rc == SQLITE_OK, let connection else {
            let error = SQLiteError(rc, connection: connection, sql: nil)
            sqlite3_close_v2(connection)
            throw SQLiteError(code: error.code, extendedCode: error.extendedCode,
                              message: "\(error.message): \(path)", sql: nil)
        }
        // From here on a throw runs deinit, which closes the connection.
        handle = connection
        // SQLite silently falls back to read-only when the file is not writable.
        if !options.readOnly && sqlite3_db_readonly(connection, "main") == 1 {
            throw SQLiteError(simulated: SQLITE_READONLY, detail: path, sql: nil)
        }
        sqlite3_busy_timeout(connection, options.busyTimeoutMilliseconds)
        // Before the journal mode: in WAL mode, exclusive locking must come before the first access.
        if options.exclusive { try execute("PRAGMA locking_mode = EXCLUSIVE") }
        if !options.readOnly {
            try setJournalMode(options.journalMode)
        }
        try execute("PRAGMA synchronous = \(options.synchronous.pragmaValue)")
        try execute("PRAGMA foreign_keys = \(options.foreignKeys ? "ON" : "OFF")")
        try execute("PRAGMA cache_size = -\(options.cacheKilobytes)")
        if options.mmapBytes > 0 { try execute("PRAGMA mmap_size = \(options.mmapBytes)") }
        if options.checkpointPages != 1000 { try execute("PRAGMA wal_autocheckpoint = \(options.checkpointPages)") }
        if let interval = options.backgroundCheckpoints, options.journalMode == .wal, !options.readOnly, path != ":memory:" {
            precondition(!options.exclusive, "background checkpoints need a second connection, which exclusive locking shuts out")
            checkpointer = try Checkpointer(path: path, synchronous: options.synchronous, interval: interval)
            if let pages = options.restartPages {
                logRestart = LogRestart(pages: pages, backstop: options.checkpointPages)
                // In place of SQLite's automatic checkpoint, which this hook replaces and does the backstop of.
                sqlite3_wal_hook(connection, { context, connection, _, frames in
                    Unmanaged<Database>.fromOpaque(context!).takeUnretainedValue().committed(logFrames: Int(frames), connection: connection!)
                    return SQLITE_OK
                }, Unmanaged.passUnretained(self).toOpaque())
            }
        }
    }

    /// Pages a commit may copy from the log itself, at most, to let the log start again (unless the log
    /// is at its backstop, or `restartPages` is smaller): the few commits made while the background pass
    /// ran.
    static let restartTail = 512

    /// What the writer knows of its log, to start it again while it is short (``Options/restartPages``).
    private struct LogRestart {
        let pages: Int
        let backstop: Int
        /// The log's frames after the last commit.
        var frames = 0
        /// Background passes begun before the log last started again: what they copied was another log's.
        var passesBefore = 0
        /// Whether this connection's own checkpoint copied the whole log, which its next transaction then
        /// starts again.
        var copiedAll = false
    }

    private var logRestart: LogRestart?

    /// After each commit (SQLite's WAL hook, on this connection's thread, outside the write lock): copies
    /// the last pages of the log into the file once the background thread has copied the rest, so that
    /// the next transaction starts the log again; wakes the thread when the log is long and it has not.
    private func committed(logFrames frames: Int, connection: OpaquePointer) {
        guard var restart = logRestart, let checkpointer else { return }
        defer { logRestart = restart }
        // A log started again: passes begun before this commit may have copied the one before. Seen by
        // its length, or, since this commit may be longer than the last one was, by the copy below.
        if frames < restart.frames || restart.copiedAll {
            restart.passesBefore = checkpointer.passesBegun
            restart.copiedAll = false
        }
        restart.frames = frames
        guard frames >= restart.pages else { return }
        if frames < restart.backstop, (checkpointer.wholeCopy(after: restart.passesBefore) ?? 0) < frames - Self.restartTail {
            checkpointer.nudge()
            return
        }
        // SQLITE_BUSY: a background pass is copying; a later commit tries again. Another failure is the
        // commits' to report: this checkpoint moves nothing they rely on.
        var logged: Int32 = 0
        var copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &logged, &copied)
        if rc == SQLITE_OK && logged == copied { restart.copiedAll = true }
    }

    deinit {
        close()
    }

    private func setJournalMode(_ mode: JournalMode) throws(SQLiteError) {
        let sql = "PRAGMA journal_mode = \(mode.pragmaValue)"
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.step()
        let actual = statement.text(0)
        // In-memory and temporary databases cannot use WAL; a file that keeps another mode is an error.
        let isFile = path != ":memory:" && !path.isEmpty
        if isFile && actual.uppercased() != mode.pragmaValue {
            throw SQLiteError(simulated: SQLITE_ERROR, detail: "journal mode stayed \(actual) for \(path)", sql: sql)
        }
    }

    private var live: OpaquePointer {
        guard let handle else { preconditionFailure("database used after close: \(path)") }
        return handle
    }

    // MARK: Statements

    /// Runs one or more statements separated by semicolons, discarding any rows.
    ///
    /// Meant for schema changes and pragmas, not the hot path: each statement is prepared, run and finalized.
    /// A failure carries the text of the failing statement.
    public func execute(_ sql: String) throws(SQLiteError) {
        let connection = live
        // withCString only rethrows untyped errors, hence the Result.
        let outcome = sql.withCString { text in
            Result { () throws(SQLiteError) in try execute(text, connection: connection) }
        }
        try outcome.get()
    }

    private func execute(_ text: UnsafePointer<CChar>, connection: OpaquePointer) throws(SQLiteError) {
        var next: UnsafePointer<CChar>? = text
        while let current = next, current.pointee != 0 {
            var statement: OpaquePointer?
            let rc = sqlite3_prepare_v2(connection, current, -1, &statement, &next)
            guard rc == SQLITE_OK else {
                let rest = String(cString: current).drop(while: \.isWhitespace)
                throw SQLiteError(rc, connection: connection, sql: String(rest))
            }
            // Whitespace or a comment prepares to no statement.
            guard let statement else { continue }
            defer { sqlite3_finalize(statement) }
            let isReadOnly = sqlite3_stmt_readonly(statement) != 0
            while try step(statement, isReadOnly: isReadOnly, sql: String(cString: sqlite3_sql(statement))) {}
        }
    }

    /// The cached statement for `sql`, which must hold exactly one statement; prepared on first use.
    ///
    /// The same SQL text always gives the same ``Statement``, reset and with its bindings cleared, until the
    /// database closes.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        if let statement = statements[sql] {
            statement.reset()
            return statement
        }
        let connection = live
        var handle: OpaquePointer?
        var trailing: OpaquePointer?
        var trailingIsInvalid = false
        let rc = sql.withCString { text in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(connection, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, &tail)
            // Only whitespace and comments may follow; SQLite would silently ignore a second statement.
            if rc == SQLITE_OK, let tail, tail.pointee != 0 {
                trailingIsInvalid = sqlite3_prepare_v2(connection, tail, -1, &trailing, nil) != SQLITE_OK
            }
            return rc
        }
        guard rc == SQLITE_OK else { throw SQLiteError(rc, connection: connection, sql: sql) }
        guard let handle, trailing == nil, !trailingIsInvalid else {
            sqlite3_finalize(handle)
            sqlite3_finalize(trailing)
            let detail = handle == nil ? "no statement in the text" : "several statements; use execute(_:)"
            throw SQLiteError(simulated: SQLITE_MISUSE, detail: detail, sql: sql)
        }
        let statement = Statement(sql: sql, database: self, handle: handle)
        statements[sql] = statement
        return statement
    }

    /// Steps `statement` once, after asking the fault injector if the statement may write.
    func step(_ statement: OpaquePointer, isReadOnly: Bool, sql: @autoclosure () -> String) throws(SQLiteError)
        -> Bool
    {
        if !isReadOnly, let faultInjector {
            let text = sql()
            if let code = faultInjector(text) { throw SQLiteError(simulated: code, sql: text) }
        }
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc: throw SQLiteError(rc, connection: handle, sql: sql())
        }
    }

    // MARK: Transactions

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE` … `COMMIT`) and returns its result.
    ///
    /// If `body` or the `COMMIT` throws, the transaction is rolled back and the error rethrown. Calling this
    /// inside another transaction is a programming error.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        guard !isInTransaction else { preconditionFailure("transaction(_:) called inside a transaction: \(path)") }
        return try run(beginning: "BEGIN IMMEDIATE", body)
    }

    /// Runs `body`, whose statements only read, in one read transaction (`BEGIN` … `COMMIT`): they see
    /// one snapshot, and a WAL database takes its read lock once instead of at every statement. Inside a
    /// write transaction it runs `body` in that one.
    public func reading<T>(_ body: () throws -> T) throws -> T {
        guard !isInTransaction else { return try body() }
        return try run(beginning: "BEGIN", body)
    }

    /// Runs `body` between `begin` and `COMMIT`, rolling back if either throws.
    private func run<T>(beginning begin: String, _ body: () throws -> T) throws -> T {
        try prepare(begin).step()
        isInTransaction = true
        defer { isInTransaction = false }
        do {
            let result = try body()
            try prepare("COMMIT").step()
            return result
        } catch {
            rollBack()
            throw error
        }
    }

    private func rollBack() {
        guard let handle else { return }
        // Log writes gathered and not yet written are the transaction's, which no one may read now.
        baton_sqlite_drop_log_writes(handle)
        // Some errors (SQLITE_FULL, SQLITE_IOERR, …) make SQLite roll back on its own; ROLLBACK would then fail.
        guard sqlite3_get_autocommit(handle) == 0 else { return }
        // Should ROLLBACK itself fail, the caller's error matters more, and the next BEGIN will report the rest.
        _ = try? prepare("ROLLBACK").step()
    }

    // MARK: Schema version

    /// The schema version stored in the file (`PRAGMA user_version`); 0 for a new database.
    public var userVersion: Int {
        get throws(SQLiteError) {
            let statement = try prepare("PRAGMA user_version")
            defer { statement.reset() }
            try statement.step()
            return statement.int(0)
        }
    }

    /// Stores `version` as the schema version; it must fit in 32 bits.
    public func setUserVersion(_ version: Int) throws(SQLiteError) {
        guard let version = Int32(exactly: version) else {
            preconditionFailure("user_version \(version) does not fit in 32 bits")
        }
        try execute("PRAGMA user_version = \(version)")
    }

    // MARK: Connection state

    /// The number of rows inserted, updated or deleted by the most recent such statement.
    public var changes: Int {
        Int(sqlite3_changes64(live))
    }

    /// The octets the database takes on disk: its file and its write-ahead log.
    public var fileBytes: Int64 {
        [path, path + "-wal"].reduce(0) { total, file in
            var status = stat()
            return total + (stat(file, &status) == 0 ? Int64(status.st_size) : 0)
        }
    }

    /// The rowid of the most recent successful INSERT on this connection.
    public var lastInsertRowID: Int64 {
        sqlite3_last_insert_rowid(live)
    }

    /// Copies the whole write-ahead log into the database file and truncates the log to zero bytes.
    public func checkpoint() throws(SQLiteError) {
        let connection = live
        let rc = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_TRUNCATE, nil, nil)
        guard rc == SQLITE_OK else {
            throw SQLiteError(rc, connection: connection, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// Waits until the background checkpointer has copied the whole log, as it stands at this call, into
    /// the database file. False if it did not within `timeout`, or if this database has no background
    /// checkpoints.
    public func waitForBackgroundCheckpoint(timeout: Duration) -> Bool {
        checkpointer?.waitForWholeCopy(timeout: timeout) ?? false
    }

    /// Finalizes every cached statement and closes the connection; later calls do nothing.
    public func close() {
        guard let handle else { return }
        if logRestart != nil { sqlite3_wal_hook(handle, nil, nil) }
        checkpointer?.stop()
        checkpointer = nil
        for statement in statements.values {
            statement.finalize()
        }
        statements.removeAll()
        sqlite3_close_v2(handle)
        self.handle = nil
    }
}

/// A database belongs to one owning thread.
@available(*, unavailable)
extension Database: Sendable {}

extension Database.Synchronous {
    var pragmaValue: String {
        switch self {
        case .off: "OFF"
        case .normal: "NORMAL"
        case .full: "FULL"
        case .extra: "EXTRA"
        }
    }
}

extension Database.JournalMode {
    fileprivate var pragmaValue: String {
        switch self {
        case .wal: "WAL"
        case .delete: "DELETE"
        case .memory: "MEMORY"
        }
    }
}
