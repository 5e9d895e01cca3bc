public import Core
import Foundation
import Synchronization

/// Calls the management API for the web server: threads of their own, each with its own client (a
/// socket belongs to one thread), taking calls from a bounded queue, so that the HTTP thread never waits
/// on management.
public final class APIRelay: Sendable {
    public typealias Done = @Sendable (APIClient.Reply?, String?) -> Void

    struct Call: Sendable {
        var method: String
        var body: JSON
        var done: Done
    }

    /// Calls waiting for a thread; more are refused at once.
    public static let queueLimit = 256

    private let calls = Mutex<(queue: [Call], stopping: Bool)>(([], false))
    private let ready = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let threads: Int

    /// Starts `threads` threads, each connecting a client with `connect` on its own thread.
    public init(threads: Int = 2, connect: @escaping @Sendable () throws -> APIClient) {
        self.threads = threads
        for index in 0..<threads {
            let thread = Thread { [self] in
                let client = try? connect()
                while let call = next() {
                    guard let client else {
                        call.done(nil, "cannot reach the management API")
                        continue
                    }
                    do {
                        call.done(try client.call(call.method, call.body, timeout: 8000), nil)
                    } catch {
                        call.done(nil, "\(error)")
                    }
                }
                finished.signal()
            }
            thread.name = "web-api-\(index + 1)"
            thread.start()
        }
    }

    /// Queues a call; `done` runs on a relay thread with the reply, or with why there is none.
    public func call(_ method: String, _ body: JSON = .object([]), done: @escaping Done) {
        let taken = calls.withLock { state -> Bool in
            guard !state.stopping, state.queue.count < Self.queueLimit else { return false }
            state.queue.append(Call(method: method, body: body, done: done))
            return true
        }
        if taken { ready.signal() } else { done(nil, "more than \(Self.queueLimit) calls wait for the management API") }
    }

    private func next() -> Call? {
        while true {
            ready.wait()
            let (call, stopping) = calls.withLock { state -> (Call?, Bool) in
                state.queue.isEmpty ? (nil, state.stopping) : (state.queue.removeFirst(), false)
            }
            if let call { return call }
            if stopping { return nil }
        }
    }

    /// Answers what waits with no reply, and ends the threads once their calls in progress return.
    public func stop() {
        let waiting = calls.withLock { state -> [Call] in
            state.stopping = true
            defer { state.queue = [] }
            return state.queue
        }
        for call in waiting { call.done(nil, "the web server is stopping") }
        for _ in 0..<threads { ready.signal() }
        for _ in 0..<threads { finished.wait() }
    }
}
