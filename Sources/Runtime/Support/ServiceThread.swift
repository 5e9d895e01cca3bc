import Foundation
import Synchronization

/// What a service's loop sees of its controller: whether to stop, and how to say it is ready.
public final class ServiceControl: Sendable {
    /// Rung to wake the loop when it must stop.
    public let doorbell: Doorbell
    private let state = Mutex(State())
    private let settled = DispatchSemaphore(value: 0)

    struct State {
        var stopping = false
        var started: Result<Void, any Error>?
    }

    init(doorbell: Doorbell) { self.doorbell = doorbell }

    /// Whether the loop must stop.
    public var isStopping: Bool { state.withLock { $0.stopping } }

    /// Called by the loop once its sockets are bound and its store is open.
    public func ready() { settle(.success(())) }

    func failed(_ error: any Error) { settle(.failure(error)) }

    private func settle(_ result: Result<Void, any Error>) {
        let first = state.withLock { state -> Bool in
            guard state.started == nil else { return false }
            state.started = result
            return true
        }
        if first { settled.signal() }
    }

    /// Waits until the loop is ready or has failed to start.
    func waitUntilSettled() -> Result<Void, any Error> {
        settled.wait()
        settled.signal()
        return started!
    }
    func stop() { state.withLock { $0.stopping = true } }
    var started: Result<Void, any Error>? { state.withLock { $0.started } }
}

/// Runs one service's event loop on its own thread, after czmq's zactor: the loop owns its sockets;
/// `start` returns once it is ready (or throws why it could not start), `stop` wakes it and waits for it.
public final class ServiceThread: Sendable {
    /// The service's name, for logs and errors.
    public let name: String
    let control: ServiceControl
    private let finished = DispatchSemaphore(value: 0)
    private let outcome = Mutex<(any Error)?>(nil)
    private let body: @Sendable (ServiceControl) throws -> Void

    public init(name: String, body: @escaping @Sendable (ServiceControl) throws -> Void) throws {
        self.name = name
        self.control = ServiceControl(doorbell: try Doorbell())
        self.body = body
    }

    /// Starts the loop and waits until it is ready; throws the error that stopped it from starting.
    public func start() throws {
        let thread = Thread { [self] in
            do {
                try body(control)
            } catch {
                outcome.withLock { $0 = error }
                control.failed(error)
            }
            control.failed(ServiceError("\(name) stopped before it was ready"))
            finished.signal()
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
        if case .failure(let error) = control.waitUntilSettled() {
            finished.wait()
            throw error
        }
    }

    /// Asks the loop to stop and waits for it; returns the error that ended it, if one did.
    @discardableResult
    public func stop() -> (any Error)? {
        control.stop()
        control.doorbell.ring()
        finished.wait()
        finished.signal()
        return outcome.withLock { $0 }
    }

    /// Wakes the loop for a turn, as a message would: after the process read its keys again, so that
    /// what a removed key held ends at once.
    public func wake() { control.doorbell.ring() }

    /// The error that ended the loop, if it ended on its own.
    public var failure: (any Error)? { outcome.withLock { $0 } }

    /// Waits until the loop ends on its own or is stopped.
    public func wait() {
        finished.wait()
        finished.signal()
    }
}
