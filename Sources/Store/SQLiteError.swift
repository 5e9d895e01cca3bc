internal import CSQLite

/// A failure reported by SQLite, or simulated by ``Database/faultInjector``.
public struct SQLiteError: Error, Equatable, CustomStringConvertible {
    /// The primary result code, such as 13 for SQLITE_FULL or 19 for SQLITE_CONSTRAINT.
    public let code: Int32
    /// The extended result code, such as 2067 for SQLITE_CONSTRAINT_UNIQUE; equal to `code` when there is none.
    public let extendedCode: Int32
    /// What SQLite said (`sqlite3_errmsg`) when the failure happened.
    public let message: String
    /// The statement being prepared or run, if one was involved.
    public let sql: String?

    init(code: Int32, extendedCode: Int32, message: String, sql: String?) {
        self.code = code
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    /// The error for `resultCode` as the connection reports it; connections are opened with extended result
    /// codes, so the primary code is the low byte.
    init(_ resultCode: Int32, connection: OpaquePointer?, sql: String?) {
        let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? Self.text(of: resultCode)
        self.init(code: resultCode & 0xFF, extendedCode: resultCode, message: message, sql: sql)
    }

    /// An error that did not come from a connection, described by SQLite's text for `resultCode`.
    init(simulated resultCode: Int32, detail: String? = nil, sql: String?) {
        let text = Self.text(of: resultCode)
        let message = detail.map { "\(text): \($0)" } ?? text
        self.init(code: resultCode & 0xFF, extendedCode: resultCode, message: message, sql: sql)
    }

    private static func text(of resultCode: Int32) -> String {
        String(cString: sqlite3_errstr(resultCode))
    }

    /// The database or its disk is full (SQLITE_FULL), including a `PRAGMA max_page_count` limit.
    public var isFull: Bool { code == SQLITE_FULL }

    /// The database was opened read-only or its file cannot be written (SQLITE_READONLY).
    public var isReadOnly: Bool { code == SQLITE_READONLY }

    /// Another connection held a lock for longer than the busy timeout (SQLITE_BUSY).
    public var isBusy: Bool { code == SQLITE_BUSY }

    /// A UNIQUE, NOT NULL, CHECK or foreign-key constraint failed (SQLITE_CONSTRAINT).
    public var isConstraint: Bool { code == SQLITE_CONSTRAINT }

    /// The code, the message and the statement, e.g. `SQLite error 13 (database or disk is full) in "INSERT …"`.
    public var description: String {
        guard let sql else { return "SQLite error \(code) (\(message))" }
        return "SQLite error \(code) (\(message)) in \"\(sql)\""
    }
}
