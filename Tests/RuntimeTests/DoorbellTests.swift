import Foundation
import Glibc
import Synchronization
import Testing

@testable import Runtime

/// The doorbell wakes a service's loop from other threads: each ring must wake a poll that has not yet
/// seen it, however rings and drains interleave, or what was rung for waits for a socket's traffic or a
/// timeout.
@Suite struct DoorbellTests {
    @Test func everyRingWakesALoopThatDrainsOnlyWhenThePollFindsItReadable() throws {
        let doorbell = try Doorbell()
        let rings = 100_000
        let producers = 2
        let added = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        for _ in 0..<producers {
            Thread.detachNewThread {
                for _ in 0..<rings {
                    added.add(1, ordering: .releasing)
                    doorbell.ring()
                }
                finished.add(1, ordering: .releasing)
            }
        }
        // As the service loop does: poll, drain if the pipe is readable, then take what was rung for.
        var taken = 0
        var timeouts = 0
        while taken < rings * producers {
            var item = pollfd(fd: doorbell.fileDescriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&item, 1, 2000)
            if ready == 0 {
                // Two seconds without a wake-up, every ring rung and some not taken: one was lost. (A
                // producer held up between its work and its ring only delays it.)
                timeouts += 1
                if finished.load(ordering: .acquiring) == producers && added.load(ordering: .acquiring) > taken { break }
                continue
            }
            if item.revents & Int16(POLLIN) != 0 { doorbell.drain() }
            taken = added.load(ordering: .acquiring)
        }
        #expect(taken == rings * producers, "a ring was lost: \(taken) of \(rings * producers) taken, \(timeouts) polls timed out")
    }
}
