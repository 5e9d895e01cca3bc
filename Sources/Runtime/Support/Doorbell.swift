internal import Glibc
import Synchronization

/// Wakes an event loop from another thread: the loop polls the read end, other threads ring it.
///
/// A pipe rather than an inproc socket, because any thread may ring it: ZeroMQ sockets belong to one thread.
public final class Doorbell: Sendable {
    /// The end the loop polls.
    public let fileDescriptor: Int32
    private let writeEnd: Int32
    /// Whether a ring is waiting to be drained: rings before the drain write nothing more, so that many
    /// attempts ending together cost one write and one wake-up, not one each.
    private let rung = Atomic<Bool>(false)

    public init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else {
            throw ServiceError("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        // Not inherited by the commands a worker starts, and never blocking the loop.
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        fileDescriptor = ends[0]
        writeEnd = ends[1]
    }

    deinit {
        close(fileDescriptor)
        close(writeEnd)
    }

    /// Wakes the loop, unless a ring not yet drained already will: the pipe holds one octet at most.
    public func ring() {
        guard !rung.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Empties the pipe, once the loop has found it readable, before the loop looks at what the rings
    /// were for: a ring after this writes again. One read does: rings between two drains write one octet.
    ///
    /// The pipe is read before the flag is cleared. A ring between the two finds the flag set and writes
    /// nothing, and what it rang for is taken after this drain all the same (the exchange acquires what
    /// the ring released). Cleared first, a ring's octet could be read with the flag left set: no ring
    /// would write again, and the loop, which drains only a readable pipe, would never be woken by one.
    public func drain() {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            _ = read(fileDescriptor, buffer.baseAddress, buffer.count)
        }
        _ = rung.exchange(false, ordering: .acquiringAndReleasing)
    }
}
