internal import CSQLite

/// A prepared statement from ``Database/prepare(_:)``, owned and cached by its database until it closes.
///
/// Bind parameters (numbered from 1), ``step()`` through the rows, read columns (numbered from 0), then
/// ``reset()``; ``run(_:)`` and ``rows(_:map:)`` do all of it in one call, and ``runKeepingBindings()``
/// runs a statement whose every use binds all its parameters without clearing them. The next `prepare`
/// of the same SQL text hands out this same object again, reset and with its bindings cleared, so a
/// statement must not be held across another `prepare` of its own text.
///
/// Binding does not throw, so a row costs one `try`: a parameter index out of range is a programming error
/// (precondition), and any other binding failure, such as text longer than SQLite's limit, is thrown by the
/// next ``step()``.
public final class Statement {
    /// The SQL text the statement was prepared from.
    public let sql: String

    private var handle: OpaquePointer?
    /// Cached `sqlite3_stmt_readonly`; the fault injector is consulted only for statements that may write.
    private let isReadOnly: Bool
    private unowned let database: Database
    private var bindingError: SQLiteError?

    init(sql: String, database: Database, handle: OpaquePointer) {
        self.sql = sql
        self.database = database
        self.handle = handle
        self.isReadOnly = sqlite3_stmt_readonly(handle) != 0
    }

    /// Releases the SQLite statement; the database does this for every cached statement when it closes.
    func finalize() {
        sqlite3_finalize(handle)
        handle = nil
    }

    private var live: OpaquePointer {
        guard let handle else { preconditionFailure("statement used after its database was closed: \(sql)") }
        return handle
    }

    // MARK: Binding

    /// Binds a 64-bit integer to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: Int64) {
        check(sqlite3_bind_int64(live, index, value), index)
    }

    /// Binds an integer to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: Int) {
        check(sqlite3_bind_int64(live, index, Int64(value)), index)
    }

    /// Binds a floating-point number to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: Double) {
        check(sqlite3_bind_double(live, index, value), index)
    }

    /// Binds a Boolean to parameter `index` (from 1), stored as the integer 0 or 1.
    public func bind(_ index: Int32, _ value: Bool) {
        check(sqlite3_bind_int64(live, index, value ? 1 : 0), index)
    }

    /// Binds UTF-8 text to parameter `index` (from 1); SQLite copies it, and an empty string is not NULL.
    public func bind(_ index: Int32, _ value: String) {
        let handle = live
        var value = value
        let rc = value.withUTF8 { bytes in
            // A nil base address would bind NULL, so an empty string gets a real (empty) C string, one that
            // lives for ever and need not be copied (nil: SQLITE_STATIC).
            guard let base = bytes.baseAddress, !bytes.isEmpty else {
                return sqlite3_bind_text64(handle, index, baton_sqlite_empty(), 0, nil, UInt8(SQLITE_UTF8))
            }
            let text = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            return sqlite3_bind_text64(
                handle, index, text, UInt64(bytes.count), baton_sqlite_transient, UInt8(SQLITE_UTF8))
        }
        check(rc, index)
    }

    /// Binds bytes as a blob to parameter `index` (from 1); SQLite copies them, and an empty array is an empty
    /// blob, not NULL.
    public func bind(_ index: Int32, _ value: [UInt8]) {
        let handle = live
        let rc = value.withUnsafeBytes { bytes in
            // Empty, not NULL, and not copied (nil: SQLITE_STATIC).
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return sqlite3_bind_blob64(handle, index, baton_sqlite_empty(), 0, nil) }
            return sqlite3_bind_blob64(handle, index, base, UInt64(bytes.count), baton_sqlite_transient)
        }
        check(rc, index)
    }

    /// Binds any ``SQLValue`` to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: SQLValue) {
        switch value {
        case .null: bindNull(index)
        case .integer(let integer): bind(index, integer)
        case .real(let real): bind(index, real)
        case .text(let text): bind(index, text)
        case .blob(let bytes): bind(index, bytes)
        }
    }

    /// Binds a 64-bit integer, or NULL for nil, to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: Int64?) {
        if let value { bind(index, value) } else { bindNull(index) }
    }

    /// Binds an integer, or NULL for nil, to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: Int?) {
        if let value { bind(index, value) } else { bindNull(index) }
    }

    /// Binds a floating-point number, or NULL for nil, to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: Double?) {
        if let value { bind(index, value) } else { bindNull(index) }
    }

    /// Binds a Boolean as 0 or 1, or NULL for nil, to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: Bool?) {
        if let value { bind(index, value) } else { bindNull(index) }
    }

    /// Binds text, or NULL for nil, to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: String?) {
        if let value { bind(index, value) } else { bindNull(index) }
    }

    /// Binds a blob, or NULL for nil, to parameter `index` (from 1).
    public func bind(_ index: Int32, _ value: [UInt8]?) {
        if let value { bind(index, value) } else { bindNull(index) }
    }

    /// Binds `values` to parameters 1, 2, 3, …; there must be exactly one value per parameter.
    public func bind(_ values: SQLValue...) {
        bind(all: values)
    }

    private func bindNull(_ index: Int32) {
        check(sqlite3_bind_null(live, index), index)
    }

    private func bind(all values: [SQLValue]) {
        let count = Int(sqlite3_bind_parameter_count(live))
        precondition(values.count == count, "\(values.count) values for \(count) parameters in \"\(sql)\"")
        for (offset, value) in values.enumerated() {
            bind(Int32(truncatingIfNeeded: offset + 1), value)
        }
    }

    private func check(_ rc: Int32, _ index: Int32) {
        guard rc != SQLITE_OK else { return }
        precondition(rc != SQLITE_RANGE, "parameter \(index) out of range in \"\(sql)\"")
        if bindingError == nil {
            bindingError = SQLiteError(rc, connection: sqlite3_db_handle(handle), sql: sql)
        }
    }

    // MARK: Running

    /// Advances to the next row: true while a row is available, false once the statement is done.
    ///
    /// On failure the statement is reset (its bindings stay) and the error carries this statement's SQL.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let handle = live
        do throws(SQLiteError) {
            if let bindingError {
                self.bindingError = nil
                throw bindingError
            }
            return try database.step(handle, isReadOnly: isReadOnly, sql: sql)
        } catch {
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Binds `values` (if any; otherwise keeps the bindings made so far), steps to completion and resets.
    ///
    /// On the hot path, bind each parameter and call `run()` with no values: that allocates nothing.
    public func run(_ values: SQLValue...) throws(SQLiteError) {
        if !values.isEmpty { bind(all: values) }
        defer { reset() }
        while try step() {}
    }

    /// Steps to completion with the values bound, and rewinds the statement keeping them bound.
    ///
    /// For a statement every use of which binds each of its parameters first: clearing them all to NULL
    /// after each row written was work for nothing (1% of a loaded orchestrator's time, writing a row of
    /// 20 values a job). Where a use may leave a parameter unbound, to mean NULL, call `run()`.
    public func runKeepingBindings() throws(SQLiteError) {
        defer {
            sqlite3_reset(live)
            bindingError = nil
        }
        while try step() {}
    }

    /// Binds `values` (if any; otherwise keeps the bindings made so far), maps every row and resets.
    public func rows<T>(_ values: SQLValue..., map: (Statement) throws -> T) throws -> [T] {
        if !values.isEmpty { bind(all: values) }
        defer { reset() }
        var result: [T] = []
        while try step() {
            result.append(try map(self))
        }
        return result
    }

    /// Rewinds the statement to its first row and clears all bindings to NULL.
    public func reset() {
        let handle = live
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        bindingError = nil
    }

    // MARK: Reading the current row

    /// The number of columns in each row.
    public var columnCount: Int32 {
        sqlite3_column_count(live)
    }

    /// Column `column` (from 0) as a 64-bit integer; NULL reads as 0.
    public func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(live, column)
    }

    /// Column `column` (from 0) as an integer; NULL reads as 0.
    public func int(_ column: Int32) -> Int {
        Int(truncatingIfNeeded: sqlite3_column_int64(live, column))
    }

    /// Column `column` (from 0) as a floating-point number; NULL reads as 0.
    public func double(_ column: Int32) -> Double {
        sqlite3_column_double(live, column)
    }

    /// Column `column` (from 0) as a Boolean: any non-zero integer is true; NULL reads as false.
    public func bool(_ column: Int32) -> Bool {
        sqlite3_column_int64(live, column) != 0
    }

    /// Column `column` (from 0) as UTF-8 text; NULL reads as the empty string.
    public func text(_ column: Int32) -> String {
        let handle = live
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        // column_bytes after column_text, so the count is that of the UTF-8 form.
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// Column `column` (from 0) as bytes; NULL and the empty blob both read as `[]`.
    public func blob(_ column: Int32) -> [UInt8] {
        let handle = live
        guard let bytes = sqlite3_column_blob(handle, column) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, column))
        return [UInt8](UnsafeRawBufferPointer(start: bytes, count: count))
    }

    /// Whether column `column` (from 0) is NULL.
    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(live, column) == SQLITE_NULL
    }

    /// Column `column` (from 0) with the type SQLite stored it as.
    public func value(_ column: Int32) -> SQLValue {
        switch sqlite3_column_type(live, column) {
        case SQLITE_INTEGER: .integer(int64(column))
        case SQLITE_FLOAT: .real(double(column))
        case SQLITE_TEXT: .text(text(column))
        case SQLITE_BLOB: .blob(blob(column))
        default: .null
        }
    }
}

/// A statement belongs to its database's owning thread.
@available(*, unavailable)
extension Statement: Sendable {}
