import Foundation
import Glibc
import Store

/// Moves a store that an earlier release kept elsewhere to where a service keeps it now, once, before
/// the service opens it.
enum LegacyStore {
    /// Adopts the first of `candidates` that exists as `path`, unless `path` exists already. The old
    /// store's write-ahead log is checkpointed into it first, so that the one file that moves holds
    /// every commit; a crash leaves either the old file (adopted at the next start) or the new one.
    /// `held` are folders this process holds the lock of already.
    static func adopt(_ candidates: [String], as path: String, held: Set<String>, log: Log) throws {
        let files = FileManager.default
        guard !files.fileExists(atPath: path), let old = candidates.first(where: { $0 != path && files.fileExists(atPath: $0) }) else {
            return
        }
        let oldFolder = (old as NSString).deletingLastPathComponent
        let newFolder = (path as NSString).deletingLastPathComponent
        // A process of the earlier release may still run on the old folder: never move a store from under
        // it. Under its lock, the store is looked for again: another service may have taken it meanwhile.
        var lock: DataLock?
        if oldFolder != newFolder, !held.contains(oldFolder), files.fileExists(atPath: "\(oldFolder)/lock") {
            lock = try DataLock(oldFolder)
        }
        defer { lock?.release() }
        guard !files.fileExists(atPath: path), files.fileExists(atPath: old) else { return }
        try move(old, to: path, folder: newFolder)
        log.warning("adopted the store of an earlier release", ["from": old, "to": path])
    }

    private static func move(_ old: String, to path: String, folder: String) throws {
        do {
            let database = try Database(path: old)
            try database.checkpoint()
            database.close()
        } catch {
            throw ServiceError("cannot adopt the store of an earlier release \(old): \(error)")
        }
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        guard rename(old, path) == 0 else {
            throw ServiceError("cannot move the store of an earlier release \(old) to \(path): \(String(cString: strerror(errno)))")
        }
        for suffix in ["-wal", "-shm"] { unlink(old + suffix) }
    }
}
