internal import CZeroMQ
internal import Glibc

/// A set of sockets and file descriptors waited on together with `zmq_poll`.
///
/// Add items once, then call `poll(timeoutMilliseconds:)` in a loop and read each item's `ready(_:)` events. The
/// poller keeps its sockets alive and, like them, belongs to one thread. `zmq_poll` costs time linear in the item
/// count: keep a few items per thread.
public struct Poller {
    private var items: [zmq_pollitem_t] = []
    // Parallel to `items`; nil for file descriptors. Holding the sockets keeps their handles valid.
    private var sockets: [Socket?] = []

    /// Creates an empty poller.
    public init() {}

    /// Adds `socket`, waiting for `events`; returns the index to pass to `ready(_:)`.
    public mutating func add(_ socket: Socket, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Adds a plain file descriptor (a pipe, an eventfd), waiting for `events`; returns its index.
    public mutating func add(fileDescriptor: Int32, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever, 0: just check) and returns how many items are ready.
    ///
    /// A signal (EINTR) restarts an infinite wait; a finite wait returns 0 instead, so a caller that derives the
    /// timeout from its next deadline recomputes it. Throws ENOTSOCK if a socket was closed after being added.
    public mutating func poll(timeoutMilliseconds: Int) throws -> Int {
        for index in items.indices {
            items[index].revents = 0
            if let socket = sockets[index] {
                // Re-read the handle so a socket closed since `add` fails here instead of in libzmq.
                items[index].socket = try socket.openHandle("poll")
            }
        }
        while true {
            let count = Int32(items.count)
            let result = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, count, timeoutMilliseconds) }
            if result >= 0 { return Int(result) }
            let code = zmq_errno()
            guard code == EINTR else { throw ZMQError(code: code, operation: "poll") }
            if timeoutMilliseconds >= 0 {
                for index in items.indices {
                    items[index].revents = 0
                }
                return 0
            }
        }
    }

    /// The events the last `poll` reported for the item at `index` (empty if it was not ready).
    public func ready(_ index: Int) -> PollEvents {
        PollEvents(rawValue: items[index].revents)
    }
}

@available(*, unavailable)
extension Poller: Sendable {}
