import Foundation
import Glibc
import Synchronization
import Testing
import ZeroMQ

private let interruptsHandled = Atomic<Int>(0)

@Test
func signalsDuringABlockedReceiveAreRetriedInsteadOfThrown() throws {
    // A handler (not SIG_IGN) is what makes the poll inside libzmq's blocking receive fail with EINTR.
    _ = signal(SIGUSR1) { _ in interruptsHandled.add(1, ordering: .relaxed) }
    let context = try Context()
    let receiving = DispatchSemaphore(value: 0)
    let finished = DispatchSemaphore(value: 0)
    let receiver = Mutex<pthread_t?>(nil)
    let outcome = Mutex<String>("not run")
    Thread {
        defer { finished.signal() }
        // Threads inherit the signal mask of the test's dispatch worker, which blocks most signals.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        sigaddset(&unblocked, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
        receiver.withLock { $0 = pthread_self() }
        do {
            let pull = try makeSocket(context, .pull)
            try pull.bind("inproc://interrupted")
            receiving.signal()
            let message = try pull.receive()
            let expected = message == [bytes("after signals")]
            outcome.withLock { $0 = expected ? "received" : "\(String(describing: message))" }
        } catch {
            receiving.signal()
            outcome.withLock { $0 = "\(error)" }
        }
    }.start()
    try #require(receiving.wait(timeout: .now() + 5) == .success)
    let thread = try #require(receiver.withLock { $0 })

    // Paced so most signals land while the receive is blocked; the outcome does not depend on the timing.
    let before = interruptsHandled.load(ordering: .relaxed)
    for _ in 0..<25 {
        pthread_kill(thread, SIGUSR1)
        usleep(2_000)
    }
    let push = try makeSocket(context, .push)
    try push.connect("inproc://interrupted")
    try push.send(bytes("after signals"))
    try #require(finished.wait(timeout: .now() + 5) == .success)
    #expect(outcome.withLock { $0 } == "received")
    #expect(interruptsHandled.load(ordering: .relaxed) > before)
}
