/// One step of the schema, applied by ``Database/migrate(_:)`` when `PRAGMA user_version` is below `version`.
public struct Migration: Sendable {
    /// The schema version this migration produces: 1 for the first, then one more for each.
    public let version: Int
    /// A short name for logs and failure messages, such as `create_jobs`.
    public let name: String
    /// The statements to run, separated by semicolons, inside the migration's transaction.
    public let sql: String

    /// Creates the migration that brings the schema from `version - 1` to `version`.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}
