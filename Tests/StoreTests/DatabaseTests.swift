import Foundation
import Store
import Testing

@Suite struct DatabaseTests {
    @Test func openAndCloseOnATemporaryFileLeavesOnlyTheDatabaseFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            let database = try Database(path: path)
            #expect(database.path == path)
            try database.execute("CREATE TABLE jobs(id INTEGER PRIMARY KEY, name TEXT)")
            try database.prepare("INSERT INTO jobs(name) VALUES (?1)").run(.text("a"))
            #expect(try contents(of: directory).contains("baton.db-wal"))
            database.close()
            database.close()
            // The last connection to close checkpoints and removes the -wal and -shm files.
            #expect(try contents(of: directory) == ["baton.db"])
        }
    }

    @Test func walModeForeignKeysAndBusyTimeoutAreInEffect() throws {
        try withTemporaryDirectory { directory in
            let database = try Database(path: directory + "/baton.db")
            #expect(try database.scalar("PRAGMA journal_mode") == .text("wal"))
            #expect(try database.scalar("PRAGMA synchronous") == .integer(2), "full by default: nothing committed is lost to a power loss")
            #expect(try database.scalar("PRAGMA foreign_keys") == .integer(1))
            #expect(try database.scalar("PRAGMA busy_timeout") == .integer(5000))
        }
    }

    @Test(arguments: zip([Database.Synchronous.off, .normal, .full, .extra], [Int64(0), 1, 2, 3]))
    func synchronousIsAsSet(synchronous: Database.Synchronous, pragmaValue: Int64) throws {
        try withTemporaryDirectory { directory in
            let options = Database.Options(synchronous: synchronous, busyTimeoutMilliseconds: 250, foreignKeys: false)
            let database = try Database(path: directory + "/baton.db", options: options)
            #expect(try database.scalar("PRAGMA synchronous") == .integer(pragmaValue))
            #expect(try database.scalar("PRAGMA foreign_keys") == .integer(0))
            #expect(try database.scalar("PRAGMA busy_timeout") == .integer(250))
        }
    }

    @Test func deleteJournalModeIsAsSet() throws {
        try withTemporaryDirectory { directory in
            let database = try Database(path: directory + "/baton.db", options: .init(journalMode: .delete))
            #expect(try database.scalar("PRAGMA journal_mode") == .text("delete"))
        }
    }

    @Test func inMemoryDatabaseOpensWithMemoryJournal() throws {
        let database = try Database(path: ":memory:")
        #expect(try database.scalar("PRAGMA journal_mode") == .text("memory"))
        try database.execute("CREATE TABLE t(x)")
        #expect(try database.count("t") == 0)
    }

    @Test func committedDataIsVisibleAfterReopeningTheFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            do {
                let database = try Database(path: path)
                try database.execute("CREATE TABLE jobs(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
                try database.transaction {
                    let insert = try database.prepare("INSERT INTO jobs(name) VALUES (?1)")
                    for name in ["build", "test", "deploy"] {
                        try insert.run(.text(name))
                    }
                }
                database.close()
            }
            let reopened = try Database(path: path)
            let names = try reopened.prepare("SELECT name FROM jobs ORDER BY id").rows { $0.text(0) }
            #expect(names == ["build", "test", "deploy"])
        }
    }

    @Test func deinitClosesTheConnection() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            do {
                let database = try Database(path: path)
                try database.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
                _ = try database.prepare("SELECT x FROM t")
            }
            #expect(try contents(of: directory) == ["baton.db"])
        }
    }

    @Test func openingInAMissingFolderFailsNamingThePath() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/missing/baton.db"
            let error = try #require(throws: SQLiteError.self) { try Database(path: path) }
            #expect(error.code == 14)  // SQLITE_CANTOPEN
            #expect(error.message == "unable to open database file: \(path)")
            #expect(error.description == "SQLite error 14 (unable to open database file: \(path))")
            #expect(error.sql == nil)
        }
    }

    @Test func readOnlyOptionRefusesWrites() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            try Database(path: path).execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
            let database = try Database(path: path, options: .init(readOnly: true))
            #expect(try database.count("t") == 1)
            let error = try #require(throws: SQLiteError.self) { try database.execute("INSERT INTO t VALUES (2)") }
            #expect(error.isReadOnly)
            #expect(error.sql == "INSERT INTO t VALUES (2)")
            #expect(try database.count("t") == 1)
        }
    }

    // Root ignores file permissions, so only an ordinary user can see a 0444 file refuse writes.
    @Test(.enabled(if: geteuid() != 0, "root can write to a 0444 file"))
    func readOnlyFileRefusesOpeningForWriting() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            try Database(path: path).execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
            #expect(chmod(path, 0o444) == 0)
            let error = try #require(throws: SQLiteError.self) { try Database(path: path) }
            #expect(error.isReadOnly)
            #expect(error.message.hasSuffix(path))
            let reader = try Database(path: path, options: .init(readOnly: true))
            #expect(try reader.count("t") == 1)
            #expect(throws: SQLiteError.self) { try reader.execute("INSERT INTO t VALUES (2)") }
        }
    }

    @Test func readerOnASecondConnectionSeesOnlyCommittedData() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            let writer = try Database(path: path)
            try writer.execute("CREATE TABLE jobs(id INTEGER PRIMARY KEY)")
            let reader = try Database(path: path)
            try writer.transaction {
                try writer.execute("INSERT INTO jobs DEFAULT VALUES; INSERT INTO jobs DEFAULT VALUES")
                #expect(try writer.count("jobs") == 2)
                #expect(try reader.count("jobs") == 0)
            }
            #expect(try reader.count("jobs") == 2)
        }
    }

    @Test func secondWriterIsBusyWhileTheFirstHoldsTheLock() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            let first = try Database(path: path)
            try first.execute("CREATE TABLE t(x)")
            let second = try Database(path: path, options: .init(busyTimeoutMilliseconds: 0))
            try first.transaction {
                let error = try #require(throws: SQLiteError.self) { try second.transaction {} }
                #expect(error.isBusy)
                #expect(error.sql == "BEGIN IMMEDIATE")
            }
            try second.transaction { try second.execute("INSERT INTO t VALUES (1)") }
            #expect(try first.count("t") == 1)
        }
    }

    @Test func checkpointTruncatesTheWriteAheadLog() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            let database = try Database(path: path)
            try database.execute("CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(10000))")
            #expect(try fileSize(path + "-wal") > 0)
            try database.checkpoint()
            #expect(try fileSize(path + "-wal") == 0)
            #expect(try database.count("t") == 1)
        }
    }

    @Test func backgroundCheckpointsMoveTheLogIntoTheFileWithoutTheWriter() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            // The writer's own checkpoint is out of reach: only the background thread can copy pages.
            let database = try Database(path: path, options: .init(checkpointPages: 1_000_000, backgroundCheckpoints: .milliseconds(20)))
            try database.execute("CREATE TABLE t(x)")
            // After each commit of 200 kB, wait until the background thread has copied the whole log into
            // the file, so that the next commit starts the log again.
            for _ in 1...20 {
                try database.transaction { try database.execute("INSERT INTO t VALUES (randomblob(200000))") }
                #expect(database.waitForBackgroundCheckpoint(timeout: .seconds(30)))
            }
            // Twenty commits of 200 kB each: the file holds them, and the log was started again rather
            // than grown to hold them all.
            #expect(try fileSize(path) >= 4_000_000)
            #expect(try fileSize(path + "-wal") < 4_000_000)
            database.close()
            #expect(try contents(of: directory) == ["baton.db"])
        }
    }

    /// The writer's own checkpoint is out of reach, and the writer never waits for the thread: only the
    /// restart keeps the log short. (Without it, 1,500 such commits grew the log past 25 MB: a background
    /// pass seldom finds nothing new while the writer goes on.) Past 64 pages, fewer than the 512 a commit
    /// may copy, the writer copies the log itself at once; past 1,024, it wakes the thread, whose passes
    /// run once a minute otherwise, and copies only what the thread has not.
    @Test(arguments: [(restartPages: 64, interval: Duration.milliseconds(20), bound: 8_000_000), (1_024, .seconds(60), 16_000_000)])
    func aLogWrittenWithoutPauseStartsAgainWhileShort(restartPages: Int, interval: Duration, bound: Int) throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            let options = Database.Options(checkpointPages: 1_000_000, backgroundCheckpoints: interval, restartPages: restartPages)
            let database = try Database(path: path, options: options)
            try database.execute("CREATE TABLE t(x)")
            // 3,000 commits of about 5 pages each: 60 MB of log, were it never started again.
            for _ in 1...3_000 {
                try database.transaction { try database.execute("INSERT INTO t VALUES (randomblob(20000))") }
            }
            let log = try fileSize(path + "-wal")
            #expect(log < bound, "the log was started again while the writer went on: \(log) octets")
            database.close()
            let reopened = try Database(path: path)
            #expect(try reopened.count("t") == 3_000)
            #expect(try reopened.scalar("PRAGMA integrity_check") == .text("ok"))
        }
    }

    @Test(arguments: [Database.Synchronous.full, .normal])
    func everyCommitIsInTheLogWhateverItsSize(synchronous: Database.Synchronous) throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            // A page cache of 64 kB, so that a large transaction spills pages into the log before its commit
            // and reads some back; under `full` the log's writes are gathered, and each of these paths must
            // find them.
            let database = try Database(path: path, options: .init(synchronous: synchronous, cacheKilobytes: 64, gathersLogWrites: true))
            try database.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, x BLOB NOT NULL)")
            func row(_ id: Int64) -> [UInt8] { [UInt8](repeating: UInt8(id % 251), count: Int(id % 7) * 3_000 + 100) }
            var id: Int64 = 0
            // Commits of a row, of about 300 kB, and of about 5 MB.
            for rows in [1, 30, 500, 1, 30] {
                try database.transaction {
                    try Self.insert(rows, into: database, after: &id, row: row)
                    // Read back within the transaction, from pages that may be in the log by now.
                    #expect(try database.count("t") == id)
                }
            }
            database.close()
            let reopened = try Database(path: path)
            #expect(try reopened.scalar("PRAGMA integrity_check") == .text("ok"))
            let stored = try reopened.prepare("SELECT id, x FROM t ORDER BY id").rows { ($0.int64(0), $0.blob(1)) }
            #expect(stored.count == Int(id))
            #expect(stored.allSatisfy { $0.1 == row($0.0) })
        }
    }

    /// Inserts `count` rows into `t(id, x)`, numbered on from `id`, each with the blob `row` makes of its ID.
    static func insert(_ count: Int, into database: Database, after id: inout Int64, row: (Int64) -> [UInt8]) throws {
        let insert = try database.prepare("INSERT INTO t (id, x) VALUES (?1, ?2)")
        for _ in 0..<count {
            id += 1
            insert.bind(1, id)
            insert.bind(2, row(id))
            try insert.run()
        }
    }

    /// Also where the file system is not taken to overwrite a sector without harm (`psow=0`): SQLite then
    /// syncs half-way through a commit's last frame, and a log's writes must not be gathered.
    @Test(arguments: [false, true])
    func anotherConnectionReadsEveryCommitOfAGatheredLog(sectorsUnsafe: Bool) throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            let opened = sectorsUnsafe ? "file:\(path)?psow=0" : path
            let writer = try Database(path: opened, options: .init(synchronous: .full, cacheKilobytes: 64, gathersLogWrites: true))
            try writer.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, x BLOB NOT NULL)")
            let reader = try Database(path: path, options: .init(readOnly: true))
            var id: Int64 = 0
            for rows in [1, 40, 1, 300, 7] {
                try writer.transaction { try Self.insert(rows, into: writer, after: &id) { [UInt8](repeating: UInt8($0 % 251), count: 5_000) } }
                // What a commit made visible is in the file: the reader sees every row, whole.
                #expect(try reader.count("t") == id)
                let stored = try reader.prepare("SELECT id, x FROM t").rows { ($0.int64(0), $0.blob(1)) }
                #expect(stored.allSatisfy { $0.1 == [UInt8](repeating: UInt8($0.0 % 251), count: 5_000) })
            }
        }
    }

    @Test func aTransactionRolledBackLeavesNothingOfItsGatheredLogBehind() throws {
        struct Refused: Error {}
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            let writer = try Database(path: path, options: .init(synchronous: .full, cacheKilobytes: 40, gathersLogWrites: true))
            try writer.execute("CREATE TABLE t(x BLOB NOT NULL); CREATE TABLE u(y BLOB NOT NULL)")
            try writer.checkpoint()
            // A transaction large enough to spill pages into the log, then rolled back.
            do {
                try writer.transaction {
                    for _ in 0..<150 { try writer.execute("INSERT INTO t VALUES (randomblob(3000))") }
                    throw Refused()
                }
                Issue.record("the transaction was not refused")
            } catch {
                #expect(error is Refused)
            }
            // Another connection commits over the same part of the log; then the writer reads, and its own
            // frames of the transaction rolled back must not land over those.
            let other = try Database(path: path, options: .init(synchronous: .full))
            try other.transaction {
                for _ in 0..<300 { try other.execute("INSERT INTO u VALUES (zeroblob(3000))") }
            }
            #expect(try writer.count("u") == 300)
            #expect(try writer.count("t") == 0)
            writer.close()
            other.close()
            let reopened = try Database(path: path)
            #expect(try reopened.scalar("PRAGMA integrity_check") == .text("ok"))
            #expect(try reopened.count("u") == 300)
        }
    }

    @Test func changesAndLastInsertRowIDDescribeTheLastStatement() throws {
        let database = try Database(path: ":memory:")
        try database.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER)")
        try database.prepare("INSERT INTO t(id, x) VALUES (?1, ?2)").run(.integer(41), .integer(1))
        #expect(database.lastInsertRowID == 41)
        #expect(database.changes == 1)
        try database.execute("INSERT INTO t(x) VALUES (2), (3)")
        #expect(database.lastInsertRowID == 43)
        try database.prepare("UPDATE t SET x = x + 1 WHERE x >= ?1").run(.integer(2))
        #expect(database.changes == 2)
    }
}
