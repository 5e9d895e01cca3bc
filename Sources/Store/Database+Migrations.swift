internal import CSQLite

extension Database {
    /// Brings the schema up to the last of `migrations`, using `PRAGMA user_version` as the current version.
    ///
    /// `migrations` must be numbered 1, 2, 3, … in order without gaps; anything else is a programming error.
    /// Every migration above the stored version runs, in order, in its own transaction together with the bump
    /// of `user_version`, so a failing migration leaves the database at the version before it. A database
    /// whose version is newer than the last migration is refused: this program does not know its schema.
    public func migrate(_ migrations: [Migration]) throws {
        for (offset, migration) in migrations.enumerated() where migration.version != offset + 1 {
            preconditionFailure(
                "migration \(migration.name) has version \(migration.version) at position \(offset + 1); "
                    + "versions must run 1, 2, 3, … without gaps")
        }
        let current = try userVersion
        guard current <= migrations.count else {
            throw SQLiteError(
                code: SQLITE_ERROR, extendedCode: SQLITE_ERROR,
                message: "database schema version \(current) is newer than this program knows (\(migrations.count))",
                sql: nil)
        }
        for migration in migrations.dropFirst(current) {
            try transaction {
                try execute(migration.sql)
                try setUserVersion(migration.version)
            }
        }
    }
}
