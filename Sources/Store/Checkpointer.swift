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
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        Thread.detachNewThread { [self] in
            run(handle.connection, every: seconds)
            sqlite3_close_v2(handle.connection)
            finished.store(true, ordering: .releasing)
        }
    }

    private func run(_ connection: OpaquePointer, every seconds: Double) {
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
            passed.lock()
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

    /// Passes begun so far.
    var passesBegun: Int { state.withLock { $0.begun } }

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
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = Date(timeIntervalSinceNow: seconds)
        passed.lock()
        defer { passed.unlock() }
        // A pass already under way may have read the log's length before the caller's last commit.
        let target = state.withLock { $0.begun } + 1
        while state.withLock({ $0.lastWholeCopy < target }) {
            if !passed.wait(until: deadline) { return state.withLock { $0.lastWholeCopy >= target } }
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
