internal import CSQLite
import Foundation
import Synchronization

/// Copies a WAL database's write-ahead log into the database file from a thread and a connection of
/// its own, so that the connection that writes never stops for a checkpoint.
///
/// SQLite's automatic checkpoint runs inside the commit that takes the log past its limit: the writer
/// copies the whole log into the file, and syncs it, before its commit returns, which for a log of
/// tens of megabytes stalls a service's event loop for most of a second. A passive checkpoint on
/// another connection copies the same pages while the writer goes on appending; once the log is
/// copied, the writer's next transaction starts it again from the beginning.
///
/// SQLite syncs the file only after a pass that copied up to the log's end as it stands when the copy
/// ends, which under a steady stream of commits hardly ever happens: the pages copied stayed unsynced
/// until the writer's own checkpoint of the log's last pages synced them all, in the writer's turn (5–10 ms
/// measured at half a shard's capacity, a few times a second). So the thread syncs the file itself after
/// every pass that copied pages, through SQLite's own handle of it: SQLite does not say whether it
/// synced, and a sync with nothing left to write is cheap.
final class Checkpointer: Sendable {
    private let state = Mutex<State>(State())
    private let wake = NSCondition()
    private let finished = Atomic<Bool>(false)
    /// Signalled after every pass, for those waiting on one.
    private let passed = NSCondition()

    private struct State {
        var stopping = false
        /// The first error a checkpoint met, for the owner to read.
        var failure: SQLiteError?
        /// Passes begun so far, and the number of the last one that found the whole log copied.
        var begun = 0
        var lastWholeCopy = 0
        /// The log's frames when that pass began, all of which it copied.
        var wholeCopyFrames = 0
        /// Whether the writer asked for a pass before the next interval ends.
        var nudged = false
        /// Passes ended so far, and the syncs of the file the thread made itself after them.
        var ended = 0
        var syncs = 0
    }

    /// Opens the second connection and starts the thread, which checkpoints every `interval`.
    init(path: String, synchronous: Database.Synchronous, interval: Duration) throws(SQLiteError) {
        var connection: OpaquePointer?
        let rc = sqlite3_open_v2(path, &connection, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nil)
        guard rc == SQLITE_OK, let connection else {
            let error = SQLiteError(rc, connection: connection, sql: nil)
            sqlite3_close_v2(connection)
            throw error
        }
        // A checkpoint syncs as its own connection's `synchronous` says.
        sqlite3_busy_timeout(connection, 1000)
        sqlite3_exec(connection, "PRAGMA synchronous = \(synchronous.pragmaValue)", nil, nil, nil)
        let handle = Handle(connection)
        let syncs = synchronous != .off
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        Thread.detachNewThread { [self] in
            run(handle.connection, syncing: syncs, every: seconds)
            sqlite3_close_v2(handle.connection)
            finished.store(true, ordering: .releasing)
        }
    }

    private func run(_ connection: OpaquePointer, syncing syncs: Bool, every seconds: Double) {
        // The log's frames, and those copied, as the last pass left them: a pass that copied nothing new
        // has nothing to sync.
        var before: (log: Int32, copied: Int32) = (0, 0)
        while true {
            wake.lock()
            if !state.withLock({ $0.stopping || $0.nudged }) { _ = wake.wait(until: Date(timeIntervalSinceNow: seconds)) }
            state.withLock { $0.nudged = false }
            wake.unlock()
            if state.withLock({ $0.stopping }) { return }
            let pass = state.withLock { state in
                state.begun += 1
                return state.begun
            }
            var logFrames: Int32 = 0
            var copiedFrames: Int32 = 0
            let rc = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copiedFrames)
            // SQLITE_BUSY: another checkpoint is running (the writer's own, past its limit); try later.
            if rc != SQLITE_OK && rc & 0xFF != SQLITE_BUSY {
                let error = SQLiteError(rc, connection: connection, sql: "PRAGMA wal_checkpoint(PASSIVE)")
                state.withLock { if $0.failure == nil { $0.failure = error } }
            }
            // A log started again since (shorter) may have been copied as far as the last one was.
            if rc == SQLITE_OK, syncs, copiedFrames > 0, copiedFrames != before.copied || logFrames < before.log {
                let synced = Self.sync(connection)
                if synced == SQLITE_OK {
                    state.withLock { $0.syncs += 1 }
                } else {
                    let error = SQLiteError(synced, connection: connection, sql: "sync of the database file after a checkpoint")
                    state.withLock { if $0.failure == nil { $0.failure = error } }
                }
            }
            before = (logFrames, copiedFrames)
            passed.lock()
            state.withLock { $0.ended += 1 }
            if rc == SQLITE_OK && logFrames == copiedFrames {
                state.withLock { state in
                    state.lastWholeCopy = pass
                    state.wholeCopyFrames = Int(logFrames)
                }
            }
            passed.broadcast()
            passed.unlock()
        }
    }

    /// Syncs the connection's database file through SQLite's own handle of it. Not through a descriptor
    /// of the thread's own: closing that would drop every POSIX lock the process holds on the file.
    private static func sync(_ connection: OpaquePointer) -> Int32 {
        var file: UnsafeMutablePointer<sqlite3_file>?
        let rc = sqlite3_file_control(connection, "main", SQLITE_FCNTL_FILE_POINTER, &file)
        guard rc == SQLITE_OK, let file, let sync = file.pointee.pMethods?.pointee.xSync else { return rc == SQLITE_OK ? SQLITE_MISUSE : rc }
        return sync(file, SQLITE_SYNC_NORMAL)
    }

    /// Passes begun so far.
    var passesBegun: Int { state.withLock { $0.begun } }

    /// The syncs of the file the thread made itself, after passes that copied pages.
    var syncs: Int { state.withLock { $0.syncs } }

    /// Starts a pass and waits until it has ended; false if none did within `timeout`.
    func pass(timeout: Duration) -> Bool {
        waitForPass(timeout: timeout, nudging: true) { state, target in state.ended >= target }
    }

    /// The log's frames the last pass that copied all it found had found, if that pass is later than
    /// the first `passes`.
    func wholeCopy(after passes: Int) -> Int? {
        state.withLock { $0.lastWholeCopy > passes ? $0.wholeCopyFrames : nil }
    }

    /// Starts a pass now, or as soon as the one under way ends, rather than at the end of the interval.
    func nudge() {
        wake.lock()
        state.withLock { $0.nudged = true }
        wake.signal()
        wake.unlock()
    }

    /// Waits until a pass that began after this call has found the whole log copied into the file;
    /// false if none did within `timeout`.
    func waitForWholeCopy(timeout: Duration) -> Bool {
        waitForPass(timeout: timeout, nudging: false) { state, target in state.lastWholeCopy >= target }
    }

    /// Waits until `done` holds for the number of the first pass to begin after this call (nudged to begin
    /// now if `nudging`); false if it did not within `timeout`.
    private func waitForPass(timeout: Duration, nudging: Bool, until done: (State, Int) -> Bool) -> Bool {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = Date(timeIntervalSinceNow: seconds)
        passed.lock()
        defer { passed.unlock() }
        // A pass already under way may have read the log's length before the caller's last commit.
        let target = state.withLock { $0.begun } + 1
        if nudging { nudge() }
        while !state.withLock({ done($0, target) }) {
            if !passed.wait(until: deadline) { return state.withLock { done($0, target) } }
        }
        return true
    }

    /// The first error a checkpoint met, if any. The writer's own commits report the failures that
    /// matter (a full disk fails them too); this says why the log may have grown.
    var failure: SQLiteError? { state.withLock { $0.failure } }

    /// Stops the thread and closes its connection; returns once both are done.
    func stop() {
        wake.lock()
        state.withLock { $0.stopping = true }
        wake.signal()
        wake.unlock()
        while !finished.load(ordering: .acquiring) { usleep(1000) }
    }

    /// A connection handed to the thread that is its only user from then on.
    private struct Handle: @unchecked Sendable {
        let connection: OpaquePointer
        init(_ connection: OpaquePointer) { self.connection = connection }
    }
}
