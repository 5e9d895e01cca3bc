import Foundation
import Synchronization

/// The threads a worker runs handlers on: one per attempt running, made when none is idle and kept for
/// the next attempts.
///
/// Not Dispatch's global queue: that runs only about as many blocking work items at once as there are
/// cores, and grows slowly after, so a worker of 8 slots would run 2 sleeping handlers at once and keep
/// 6 leased tasks waiting where the shard cannot see them. A handler abandoned at its timeout keeps its
/// thread until it returns; the next attempt gets another.
final class HandlerThreads: Sendable {
    private struct State {
        var work: [@Sendable () -> Void] = []
        var idle = 0
        var stopping = false
    }

    private let state = Mutex(State())
    /// Signalled once for each idle thread woken: each piece of work has exactly one taker.
    private let wake = DispatchSemaphore(value: 0)

    /// Runs `body` on an idle thread, or on a new one if none is idle.
    func run(_ body: @escaping @Sendable () -> Void) {
        let woken = state.withLock { state in
            state.work.append(body)
            guard state.idle > 0 else { return false }
            state.idle -= 1
            return true
        }
        if woken {
            wake.signal()
        } else {
            Thread.detachNewThread { [self] in loop() }
        }
    }

    /// Ends every idle thread now, and each busy one when its work returns.
    func stop() {
        let idle = state.withLock { state in
            state.stopping = true
            defer { state.idle = 0 }
            return state.idle
        }
        for _ in 0..<idle { wake.signal() }
    }

    private func loop() {
        while let body = state.withLock({ state in state.work.isEmpty ? nil : state.work.removeFirst() }) {
            body()
            let stopping = state.withLock { state in
                if !state.stopping { state.idle += 1 }
                return state.stopping
            }
            if stopping { return }
            wake.wait()
        }
    }
}
