import Store
import Testing

@Suite struct MigrationTests {
    static let migrations = [
        Migration(version: 1, name: "create_jobs", sql: """
            CREATE TABLE jobs(id INTEGER PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending');
            """),
        Migration(version: 2, name: "add_priority", sql: """
            ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX jobs_by_state_and_priority ON jobs(state, priority);
            """),
        Migration(version: 3, name: "create_leases", sql: """
            CREATE TABLE leases(job INTEGER PRIMARY KEY REFERENCES jobs(id), worker TEXT NOT NULL,
                                expires_at INTEGER NOT NULL);
            INSERT INTO jobs(name) VALUES ('migrated');
            """),
    ]

    /// Every schema object with its SQL, in a stable order.
    static func schema(of database: Database) throws -> [String] {
        try database.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name").rows {
            "\($0.text(0)) \($0.text(1)) \($0.text(2)) \($0.text(3))"
        }
    }

    /// The schema built by applying the migrations one release at a time.
    static func stepwiseSchema() throws -> [String] {
        let database = try Database(path: ":memory:")
        for count in 1...migrations.count {
            try database.migrate(Array(migrations.prefix(count)))
        }
        return try schema(of: database)
    }

    @Test(arguments: 0...2)
    func migrationFromEveryEarlierVersionReachesTheSameSchema(startVersion: Int) throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            try Database(path: path).migrate(Array(Self.migrations.prefix(startVersion)))
            let database = try Database(path: path)
            #expect(try database.userVersion == startVersion)
            try database.migrate(Self.migrations)
            #expect(try database.userVersion == 3)
            #expect(try Self.schema(of: database) == Self.stepwiseSchema())
            #expect(try database.count("jobs") == 1)
        }
    }

    @Test func migratingAnUpToDateDatabaseChangesNothing() throws {
        let database = try Database(path: ":memory:")
        try database.migrate(Self.migrations)
        try database.migrate(Self.migrations)
        #expect(try database.userVersion == 3)
        #expect(try database.count("jobs") == 1)
    }

    @Test func failingMigrationLeavesThePreviousVersion() throws {
        let database = try Database(path: ":memory:")
        let broken = Migration(version: 2, name: "broken", sql: """
            CREATE TABLE half_done(x);
            INSERT INTO no_such_table VALUES (1);
            """)
        let error = try #require(throws: SQLiteError.self) {
            try database.migrate([Self.migrations[0], broken])
        }
        #expect(error.message == "no such table: no_such_table")
        #expect(error.sql?.hasPrefix("INSERT INTO no_such_table") == true)
        #expect(try database.userVersion == 1)
        #expect(try database.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'") == .integer(0))
    }

    @Test func simulatedDiskFullWhileBumpingTheVersionLeavesThePreviousVersion() throws {
        let database = try Database(path: ":memory:")
        database.faultInjector = { sql in sql == "PRAGMA user_version = 2" ? 13 : nil }
        let error = try #require(throws: SQLiteError.self) { try database.migrate(Self.migrations) }
        #expect(error.isFull)
        #expect(try database.userVersion == 1)
        #expect(try database.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'jobs_by_state_and_priority'")
            == .integer(0))
        database.faultInjector = nil
        try database.migrate(Self.migrations)
        #expect(try Self.schema(of: database) == Self.stepwiseSchema())
    }

    @Test func databaseNewerThanTheProgramIsRefused() throws {
        let database = try Database(path: ":memory:")
        try database.setUserVersion(7)
        let error = try #require(throws: SQLiteError.self) { try database.migrate(Self.migrations) }
        #expect(error.message == "database schema version 7 is newer than this program knows (3)")
        #expect(try database.userVersion == 7)
    }

    @Test func migrationsWithAGapAreAProgrammingError() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let database = try Database(path: ":memory:")
            try database.migrate([
                Migration(version: 1, name: "one", sql: "CREATE TABLE one(x)"),
                Migration(version: 3, name: "three", sql: "CREATE TABLE three(x)"),
            ])
        }
        let output = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(output.contains("migration three has version 3 at position 2"))
    }
}
