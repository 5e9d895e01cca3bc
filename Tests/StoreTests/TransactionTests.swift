import Store
import Testing

@Suite struct TransactionTests {
    struct Abandon: Error, Equatable {}

    static func jobsDatabase(path: String = ":memory:") throws -> Database {
        let database = try Database(path: path)
        try database.execute("""
            CREATE TABLE jobs(id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload BLOB);
            CREATE TABLE audit(note TEXT NOT NULL);
            """)
        return database
    }

    @Test func committedTransactionKeepsItsRowsAndReturnsTheBodysResult() throws {
        let database = try Self.jobsDatabase()
        let ids = try database.transaction {
            let insert = try database.prepare("INSERT INTO jobs(name) VALUES (?1)")
            return try ["a", "b", "c"].map { name in
                insert.bind(1, name)
                try insert.run()
                return database.lastInsertRowID
            }
        }
        #expect(ids == [1, 2, 3])
        #expect(try database.count("jobs") == 3)
    }

    @Test func rolledBackTransactionLeavesNothingBehind() throws {
        let database = try Self.jobsDatabase()
        #expect(throws: Abandon()) {
            try database.transaction {
                try database.execute("INSERT INTO jobs(name) VALUES ('a'); INSERT INTO audit VALUES ('a added')")
                throw Abandon()
            }
        }
        #expect(try database.count("jobs") == 0)
        #expect(try database.count("audit") == 0)
        // The connection is out of the transaction and can start another.
        try database.transaction { try database.execute("INSERT INTO jobs(name) VALUES ('b')") }
        #expect(try database.count("jobs") == 1)
    }

    @Test func failedCommitRollsBackAndThrowsTheCommitError() throws {
        let database = try Database(path: ":memory:")
        try database.execute("""
            CREATE TABLE flows(id INTEGER PRIMARY KEY);
            CREATE TABLE runs(id INTEGER PRIMARY KEY,
                              flow INTEGER REFERENCES flows(id) DEFERRABLE INITIALLY DEFERRED);
            """)
        // A deferred foreign key is only checked at COMMIT, which then fails.
        let error = try #require(throws: SQLiteError.self) {
            try database.transaction { try database.execute("INSERT INTO runs(flow) VALUES (42)") }
        }
        #expect(error.isConstraint)
        #expect(error.extendedCode == 787)  // SQLITE_CONSTRAINT_FOREIGNKEY
        #expect(error.sql == "COMMIT")
        #expect(try database.count("runs") == 0)
        try database.transaction {
            try database.execute("INSERT INTO flows(id) VALUES (42); INSERT INTO runs(flow) VALUES (42)")
        }
        #expect(try database.count("runs") == 1)
    }

    @Test func readsInOneReadTransactionSeeOneSnapshot() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            let reader = try Self.jobsDatabase(path: path)
            let writer = try Database(path: path)
            let counts = try reader.reading {
                let before = try reader.count("jobs")
                // Another connection commits between the two reads; WAL lets it, and the reader does not see it.
                try writer.transaction { try writer.execute("INSERT INTO jobs(name) VALUES ('a')") }
                return (before, try reader.count("jobs"))
            }
            #expect(counts == (0, 0))
            #expect(try reader.count("jobs") == 1)
        }
    }

    @Test func readingInsideAWriteTransactionSeesItsWrites() throws {
        let database = try Self.jobsDatabase()
        let count = try database.transaction {
            try database.execute("INSERT INTO jobs(name) VALUES ('a')")
            return try database.reading { try database.count("jobs") }
        }
        #expect(count == 1)
        #expect(try database.count("jobs") == 1)
    }

    @Test func aThrowEndsTheReadTransaction() throws {
        let database = try Self.jobsDatabase()
        #expect(throws: Abandon()) {
            try database.reading {
                _ = try database.count("jobs")
                throw Abandon()
            }
        }
        // The connection is out of it: a write transaction starts.
        try database.transaction { try database.execute("INSERT INTO jobs(name) VALUES ('b')") }
        #expect(try database.count("jobs") == 1)
    }

    @Test func nestedTransactionIsAProgrammingError() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let database = try Database(path: ":memory:")
            try database.transaction {
                try database.transaction {}
            }
        }
        let output = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(output.contains("transaction(_:) called inside a transaction"))
    }

    @Test func simulatedDiskFullRollsBackTheTransaction() throws {
        let database = try Self.jobsDatabase()
        let failingSQL = "INSERT INTO audit(note) VALUES (?1)"
        database.faultInjector = { sql in sql == failingSQL ? 13 : nil }
        let error = try #require(throws: SQLiteError.self) {
            try database.transaction {
                try database.prepare("INSERT INTO jobs(name) VALUES (?1)").run(.text("a"))
                try database.prepare(failingSQL).run(.text("a added"))
            }
        }
        #expect(error.isFull)
        #expect(error.code == 13 && error.extendedCode == 13)
        #expect(error.sql == failingSQL)
        #expect(error.description == #"SQLite error 13 (database or disk is full) in "\#(failingSQL)""#)
        #expect(try database.count("jobs") == 0)

        database.faultInjector = nil
        try database.transaction { try database.prepare(failingSQL).run(.text("a added")) }
        #expect(try database.count("audit") == 1)
    }

    @Test func faultInjectorIsConsultedOnlyForStatementsThatMayWrite() throws {
        let database = try Self.jobsDatabase()
        try database.execute("INSERT INTO jobs(name) VALUES ('a')")
        database.faultInjector = { _ in 13 }
        #expect(try database.count("jobs") == 1)
        #expect(try database.prepare("SELECT name FROM jobs").rows { $0.text(0) } == ["a"])
        #expect(throws: SQLiteError.self) { try database.execute("DELETE FROM jobs") }
        #expect(throws: SQLiteError.self) { try database.prepare("UPDATE jobs SET name = 'b'").run() }
        #expect(try database.count("jobs") == 1)
    }

    @Test func maxPageCountProducesARealDiskFullAndTheTransactionRollsBack() throws {
        try withTemporaryDirectory { directory in
            let database = try Self.jobsDatabase(path: directory + "/baton.db")
            try database.execute("INSERT INTO jobs(name) VALUES ('kept')")
            guard case .integer(let pages) = try database.scalar("PRAGMA page_count") else {
                Issue.record("no page count")
                return
            }
            try database.execute("PRAGMA max_page_count = \(pages + 4)")
            let error = try #require(throws: SQLiteError.self) {
                try database.transaction {
                    let insert = try database.prepare("INSERT INTO jobs(name, payload) VALUES (?1, ?2)")
                    for number in 1...100 {
                        try insert.run(.text("job \(number)"), .blob([UInt8](repeating: 0xAB, count: 4096)))
                    }
                }
            }
            #expect(error.isFull)
            #expect(error.sql == "INSERT INTO jobs(name, payload) VALUES (?1, ?2)")
            #expect(try database.prepare("SELECT name FROM jobs").rows { $0.text(0) } == ["kept"])
        }
    }
}
