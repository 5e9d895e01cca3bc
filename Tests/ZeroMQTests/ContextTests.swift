import Foundation
import Synchronization
import Testing
import ZeroMQ

@Test
func socketKeepsItsContextAlive() throws {
    func makeLinkedPair() throws -> (left: Socket, right: Socket) {
        let context = try Context()
        let left = try makeSocket(context, .pair)
        let right = try makeSocket(context, .pair)
        try link(left, right, over: .inproc)
        return (left, right)
    }
    // The only references to the context are now the sockets' own.
    let (left, right) = try makeLinkedPair()

    try left.send([bytes("still"), bytes("alive")])
    #expect(try right.receive() == [bytes("still"), bytes("alive")])
}

@Test
func shutdownMakesABlockedReceiveOnAnotherThreadThrowTerminated() throws {
    let context = try Context()
    let listening = DispatchSemaphore(value: 0)
    let finished = DispatchSemaphore(value: 0)
    let outcome = Mutex<String>("not run")
    let thread = Thread {
        defer { finished.signal() }
        do {
            // Created on the thread that uses it: sockets never cross threads.
            let pull = try Socket(context, type: .pull)
            try pull.setReceiveTimeout(milliseconds: 10_000)
            try pull.bind("inproc://quiet")
            listening.signal()
            let message = try pull.receive()
            outcome.withLock { $0 = "returned \(String(describing: message))" }
        } catch let error as ZMQError {
            outcome.withLock { $0 = error.isTerminated ? "terminated in \(error.operation)" : "\(error)" }
        } catch {
            outcome.withLock { $0 = "\(error)" }
        }
    }
    thread.start()
    try #require(listening.wait(timeout: .now() + 5) == .success)

    // Had the receive not started yet, it would still fail with ETERM: shutdown is permanent.
    context.shutdown()
    try #require(finished.wait(timeout: .now() + 15) == .success)
    #expect(outcome.withLock { $0 } == "terminated in receive")
}

@Test
func socketsCannotBeCreatedAfterShutdown() throws {
    let context = try Context()
    context.shutdown()
    let error = #expect(throws: ZMQError.self) { try Socket(context, type: .dealer) }
    #expect(error?.isTerminated == true)
}

@Test
func contextTerminationDoesNotWaitForUnsentMessages() throws {
    // Nobody listens there, so the tcp queue below can never drain.
    let freePort = try unusedLoopbackEndpoint()

    let finished = DispatchSemaphore(value: 0)
    let outcome = Mutex<String>("not run")
    // On a thread of its own so that a hang fails the test instead of stalling the run.
    Thread {
        defer { finished.signal() }
        func queueAndDropEverything() throws -> Int {
            let context = try Context()
            let inproc = try Socket(context, type: .push)
            try inproc.connect("inproc://never-bound")
            let tcp = try Socket(context, type: .push)
            try tcp.connect(freePort)
            var queued = 0
            for index in 0..<10 {
                if try inproc.send([bytes("job"), pattern(100 * index)], dontWait: true) { queued += 1 }
                if try tcp.send([bytes("job"), pattern(100 * index)], dontWait: true) { queued += 1 }
            }
            inproc.close()
            // `tcp` is left to deinit; the context terminates when this function returns.
            return queued
        }
        do {
            let queued = try queueAndDropEverything()
            outcome.withLock { $0 = "terminated with \(queued) queued" }
        } catch {
            outcome.withLock { $0 = "\(error)" }
        }
    }.start()

    try #require(finished.wait(timeout: .now() + 5) == .success, "zmq_ctx_term hung")
    #expect(outcome.withLock { $0 } == "terminated with 20 queued")
}
