internal import Glibc
import Foundation
import Synchronization

/// Syncs a store's write-ahead log on a thread of its own, so that a service's loop does not wait for the
/// disk: a group commit behind the loop.
///
/// Under `durability full` a service's store commits with SQLite's `synchronous = NORMAL`, which writes a
/// turn's pages to the log without waiting for the disk, and the loop asks for a sync here. The loop
/// goes on with its next turns meanwhile, and sends what a turn produced only once a sync that began after
/// that turn's commit has returned (``ServiceLoop``): nothing is told before it is on the disk, as with
/// `synchronous = FULL`, which syncs the log at every commit. One sync covers every commit before it, so
/// under load a sync covers several turns.
///
/// The log is the store's `-wal` file, opened here once it exists; syncing any descriptor of a file
/// flushes the file. SQLite itself syncs the log before each checkpoint copies it into the database.
final class LogSync: Sendable {
    private struct State {
        /// The number of the last sync asked for, and of the last one done.
        var requested: UInt64 = 0
        var synced: UInt64 = 0
        var failure: String?
        var stopping = false
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let path: String
    private let doorbell: Doorbell
    /// What a sync does in place of flushing the file: a test's witness. Nil, or why it failed.
    private let replacement: (@Sendable () -> String?)?
    /// The log's descriptor, opened by the syncing thread alone.
    private nonisolated(unsafe) var descriptor: Int32 = -1

    /// Starts the thread that syncs `path` (or calls `replacement` instead) and rings `doorbell` after
    /// each sync.
    init(path: String, doorbell: Doorbell, replacement: (@Sendable () -> String?)? = nil) {
        self.path = path
        self.doorbell = doorbell
        self.replacement = replacement
        Thread.detachNewThread { [self] in run() }
    }

    /// Asks for a sync of everything written to the log so far; returns its number.
    func request() -> UInt64 {
        let number = state.withLock { state -> UInt64 in
            state.requested += 1
            return state.requested
        }
        wake.signal()
        return number
    }

    /// The number of the last sync done: every commit before that sync was asked for is on the disk.
    var synced: UInt64 { state.withLock { $0.synced } }

    /// Why the log could not be synced, once it could not: nothing after it may be told.
    var failure: String? { state.withLock { $0.failure } }

    /// Ends the thread once the syncs asked for are done, and waits for it; again, does nothing.
    func stop() {
        let first = state.withLock { state -> Bool in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        wake.signal()
        done.wait()
    }

    private func run() {
        defer {
            if descriptor >= 0 { close(descriptor) }
            done.signal()
        }
        while true {
            wake.wait()
            let (target, stopping) = state.withLock { ($0.requested, $0.stopping) }
            if target > state.withLock({ $0.synced }) {
                let outcome = sync()
                state.withLock { state in
                    if let outcome { state.failure = state.failure ?? outcome } else { state.synced = max(state.synced, target) }
                }
                doorbell.ring()
            }
            if stopping { return }
        }
    }

    /// Flushes the log to the disk; nil, or why it could not.
    private func sync() -> String? {
        if let replacement { return replacement() }
        if descriptor < 0 {
            descriptor = open(path, O_RDWR | O_CLOEXEC)
            // No log yet: nothing was written to one since the store opened, and what was is in the database.
            if descriptor < 0 { return errno == ENOENT ? nil : "cannot open \(path): \(String(cString: strerror(errno)))" }
        }
        if fdatasync(descriptor) != 0 { return "cannot sync \(path): \(String(cString: strerror(errno)))" }
        return nil
    }
}
