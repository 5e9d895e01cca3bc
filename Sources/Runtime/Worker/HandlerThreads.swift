import Foundation
import Synchronization

/// The threads a worker runs handlers on: as many as attempts run at once, made when none is idle and
/// kept for the next attempts.
///
/// Not Dispatch's global queue: that runs only about as many blocking work items at once as there are
/// cores, and grows slowly after, so a worker of 8 slots would run 2 sleeping handlers at once and keep
/// 6 leased tasks waiting where the shard cannot see them. A handler abandoned at its timeout keeps its
/// thread until it returns; the next attempt gets another.
///
/// Waking a thread costs a system call and a context switch, more than a cheap handler's whole run. So
/// work is handed on by a chain: `run` wakes (or starts) a thread only if none is already on its way, a
/// thread that takes a piece of work wakes the next one while work is left, before it runs its own, and
/// a thread that ends its work takes the next piece before it sleeps. Long handlers still each get a
/// thread of their own, one wake-up after another; a burst of cheap ones is run by the few threads that
/// are awake, without a wake-up each.
final class HandlerThreads: Sendable {
    private struct State {
        /// Work not yet taken, oldest first from `head`; a piece taken is let go at once (it holds its
        /// task's context), and the array is emptied when the last is taken.
        var work: [(@Sendable () -> Void)?] = []
        var head = 0
        /// Threads asleep, waiting for `wake`.
        var sleeping = 0
        /// Threads woken or started that have not yet taken their work: at most one while the chain runs.
        var coming = 0
        var stopping = false

        var isEmpty: Bool { head == work.count }

        mutating func take() -> (@Sendable () -> Void)? {
            guard !isEmpty else { return nil }
            let body = work[head].take()
            head += 1
            if head == work.count {
                work.removeAll(keepingCapacity: true)
                head = 0
            }
            return body
        }

        /// Whether to call in another thread for the work left: none is on its way yet. Counts it as coming;
        /// `sleeping` tells the caller whether to wake one or start one.
        mutating func callsAnother() -> (call: Bool, wake: Bool) {
            guard !isEmpty, coming == 0, !stopping else { return (false, false) }
            coming = 1
            guard sleeping > 0 else { return (true, false) }
            sleeping -= 1
            return (true, true)
        }
    }

    private let state = Mutex(State())
    /// Signalled once for each sleeping thread woken.
    private let wake = DispatchSemaphore(value: 0)

    /// Runs `body` on a thread of the pool, or on a new one if every thread is busy; after `stop`, on a
    /// thread of its own.
    func run(_ body: @escaping @Sendable () -> Void) {
        let call = state.withLock { state -> (call: Bool, wake: Bool)? in
            guard !state.stopping else { return nil }
            state.work.append(body)
            return state.callsAnother()
        }
        guard let call else {
            Thread.detachNewThread { body() }
            return
        }
        summon(call)
    }

    /// Ends every sleeping thread now, and each busy one when its work returns; work queued before runs
    /// first.
    func stop() {
        let sleeping = state.withLock { state in
            state.stopping = true
            // Each is woken to end, as called-in threads are.
            state.coming += state.sleeping
            defer { state.sleeping = 0 }
            return state.sleeping
        }
        for _ in 0..<sleeping { wake.signal() }
    }

    private func summon(_ call: (call: Bool, wake: Bool)) {
        guard call.call else { return }
        if call.wake {
            wake.signal()
        } else {
            Thread.detachNewThread { [self] in loop(called: true) }
        }
    }

    /// A thread's life: take work (calling in the next thread while some is left), run it, and sleep only
    /// when there is none.
    private func loop(called: Bool) {
        var called = called
        while true {
            let (body, call) = state.withLock { state -> ((@Sendable () -> Void)?, (call: Bool, wake: Bool)) in
                if called {
                    state.coming -= 1
                    called = false
                }
                // Stopping, a thread runs what is left, one piece after another, and calls in no other.
                if state.stopping { return (state.take(), (false, false)) }
                guard let body = state.take() else {
                    state.sleeping += 1
                    return (nil, (false, false))
                }
                return (body, state.callsAnother())
            }
            summon(call)
            if let body {
                body()
                continue
            }
            if state.withLock({ $0.stopping }) { return }
            wake.wait()
            called = true
        }
    }
}
