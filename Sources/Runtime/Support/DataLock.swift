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

    public func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
