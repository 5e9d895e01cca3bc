import Foundation
import Glibc

/// An exclusive lock on a data folder, so that two processes never share its stores. It is an
/// advisory lock (`flock`) on `FOLDER/lock`, released when the process ends however it ends.
public final class DataLock {
    private var descriptor: Int32

    /// Takes the lock, creating the folder if needed; throws if another process holds it.
    public init(_ folder: String) throws(ServiceError) {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ServiceError("cannot create \(folder): \(error.localizedDescription)")
        }
        descriptor = open("\(folder)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ServiceError("cannot open \(folder)/lock: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ServiceError("another Baton process is using \(folder) (it holds \(folder)/lock); stop it first")
        }
    }

    /// Whether a process holds `folder`'s lock now: false when none does, or when the folder has no lock
    /// file. Taking the lock to see does not change who may take it next.
    public static func isHeld(_ folder: String) -> Bool {
        let descriptor = open("\(folder)/lock", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    public func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
