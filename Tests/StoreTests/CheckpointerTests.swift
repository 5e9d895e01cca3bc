import Foundation
@testable import Store
import Testing

/// The background checkpoints' thread, from inside.
@Suite struct CheckpointerTests {
    /// SQLite syncs the file after a pass only when the pass copied up to the log's end: a pass that
    /// stopped short (here, at a reader's snapshot; under load, at the writer's next commits) would
    /// leave its pages for the writer's own checkpoint to sync, in the writer's turn.
    @Test func thePagesOfAPassThatStopsShortOfTheLogsEndAreSyncedByTheThread() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/baton.db"
            // Passes only when asked, and none by the writer.
            let options = Database.Options(synchronous: .full, checkpointPages: 1_000_000, backgroundCheckpoints: .seconds(3600))
            let database = try Database(path: path, options: options)
            let checkpointer = try #require(database.checkpointer)
            try database.execute("CREATE TABLE t(x)")
            try database.transaction { try database.execute("INSERT INTO t VALUES (randomblob(200000))") }
            // A reader keeps the log's end as it stands: no pass may copy past it.
            let reader = try Database(path: path)
            try reader.execute("BEGIN")
            #expect(try reader.count("t") == 1)
            try database.transaction { try database.execute("INSERT INTO t VALUES (randomblob(200000))") }

            #expect(checkpointer.pass(timeout: .seconds(30)))
            #expect(checkpointer.syncs == 1)
            // Nothing new to copy while the reader stays: nothing to sync.
            #expect(checkpointer.pass(timeout: .seconds(30)))
            #expect(checkpointer.syncs == 1)

            // The rest, copied once the reader is gone, and synced too.
            try reader.execute("COMMIT")
            #expect(checkpointer.pass(timeout: .seconds(30)))
            #expect(checkpointer.syncs == 2)
            #expect(try database.count("t") == 2)
            reader.close()
        }
    }

    @Test func aFileThatIsNeverSyncedIsNotSyncedByTheThreadEither() throws {
        try withTemporaryDirectory { directory in
            let options = Database.Options(synchronous: .off, checkpointPages: 1_000_000, backgroundCheckpoints: .seconds(3600))
            let database = try Database(path: directory + "/baton.db", options: options)
            let checkpointer = try #require(database.checkpointer)
            try database.execute("CREATE TABLE t(x)")
            try database.transaction { try database.execute("INSERT INTO t VALUES (randomblob(200000))") }
            #expect(checkpointer.pass(timeout: .seconds(30)))
            #expect(checkpointer.syncs == 0)
        }
    }
}
