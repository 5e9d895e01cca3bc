import Foundation
@testable import Runtime
import Synchronization
import Testing

/// The pool a worker runs handlers on: every piece of work runs once, and work that blocks still gets a
/// thread of its own, however the chain of wake-ups hands it on.
@Suite struct HandlerThreadsTests {
    /// Counts pieces of work started and ended, and signals when a count is reached.
    final class Tally: Sendable {
        let started = Mutex(0)
        let ended = Mutex<[Int]>([])
        let allStarted = DispatchSemaphore(value: 0)
        let allEnded = DispatchSemaphore(value: 0)
        let expected: Int

        init(expected: Int) { self.expected = expected }

        func start() {
            if started.withLock({ count in
                count += 1
                return count == expected
            }) { allStarted.signal() }
        }

        func end(_ index: Int) {
            if ended.withLock({ ended in
                ended.append(index)
                return ended.count == expected
            }) { allEnded.signal() }
        }
    }

    @Test func pieceOfWorkThatBlocksEachGetsAThreadSoAllRunAtOnce() {
        let threads = HandlerThreads()
        defer { threads.stop() }
        let count = 24
        let tally = Tally(expected: count)
        let release = DispatchSemaphore(value: 0)
        for index in 0..<count {
            threads.run {
                tally.start()
                release.wait()  // Until every one has started: only if all run at once.
                tally.end(index)
            }
        }
        #expect(tally.allStarted.wait(timeout: .now() + 30) == .success, "only \(tally.started.withLock { $0 }) of \(count) started")
        for _ in 0..<count { release.signal() }
        #expect(tally.allEnded.wait(timeout: .now() + 30) == .success)
    }

    @Test func aBurstOfCheapWorkRunsEveryPieceExactlyOnce() {
        let threads = HandlerThreads()
        defer { threads.stop() }
        let count = 20_000
        let tally = Tally(expected: count)
        for index in 0..<count {
            threads.run { tally.end(index) }
        }
        #expect(tally.allEnded.wait(timeout: .now() + 60) == .success)
        #expect(tally.ended.withLock { $0.sorted() } == Array(0..<count))
    }

    @Test func workQueuedWhileEveryThreadIsBusyStillRuns() {
        let threads = HandlerThreads()
        defer { threads.stop() }
        // Two long pieces hold two threads; what comes after runs beside them, not after them.
        let hold = DispatchSemaphore(value: 0)
        let holding = Tally(expected: 2)
        for index in 0..<2 {
            threads.run {
                holding.start()
                hold.wait()
                holding.end(index)
            }
        }
        #expect(holding.allStarted.wait(timeout: .now() + 30) == .success)
        let later = Tally(expected: 100)
        for index in 0..<100 {
            threads.run { later.end(index) }
        }
        #expect(later.allEnded.wait(timeout: .now() + 30) == .success)
        hold.signal()
        hold.signal()
        #expect(holding.allEnded.wait(timeout: .now() + 30) == .success)
    }
}
