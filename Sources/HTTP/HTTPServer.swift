import Foundation
internal import Glibc
import Synchronization

/// A small HTTP/1.1 server on its own thread, for `/metrics` and the dashboard.
///
/// One thread polls the listening socket, every connection and a wake-up pipe; sockets never block, so
/// a slow or stalled client holds up no one else. Each request goes to the handler on that thread; the
/// handler answers through its ``HTTPResponder``, at once or later from any thread, and must not block
/// (work that waits, such as a call to management, goes elsewhere and answers from there).
///
/// Bounded throughout (`docs/web.md`, "HTTP"):
/// - requests by ``HTTPLimits`` (request line, header, header count, body);
/// - connections: at ``Configuration/connections`` a new one closes the connection quiet the longest
///   (idle, or reading a request, and quiet for a second at least); with none such, it is answered 503
///   and closed;
/// - time: a request must arrive whole within ``Configuration/requestTimeout`` of its first octet, a new
///   connection must begin its first within as long, an idle connection closes after
///   ``Configuration/idleTimeout``, a handler that has not answered within
///   ``Configuration/responseTimeout`` is answered 504 for it, and a client that reads none of its response
///   for ``Configuration/writeTimeout`` is dropped;
/// - one request at a time per connection: what a client sends ahead waits, unread, until it is answered.
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        /// The address to bind: an IPv4 address (127.0.0.1 unless an operator says otherwise).
        public var host = "127.0.0.1"
        /// The port; 0 picks a free one (see ``HTTPServer/port``).
        public var port: UInt16 = 0
        public var limits = HTTPLimits()
        public var connections = 128
        public var requestTimeout: Int64 = 10_000
        public var idleTimeout: Int64 = 60_000
        public var responseTimeout: Int64 = 30_000
        public var writeTimeout: Int64 = 30_000
        /// How long a connection must have been quiet to be closed for a new one at the bound.
        public var quietToMakeRoom: Int64 = 1000

        public init(host: String = "127.0.0.1", port: UInt16 = 0) {
            self.host = host
            self.port = port
        }

        /// Reads `HOST:PORT` (`127.0.0.1:9100`, `0.0.0.0:8080`, `:9100` for 127.0.0.1).
        public init(address: String) throws(HTTPAddressError) {
            guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
                throw HTTPAddressError(address: address, why: "expected HOST:PORT, such as 127.0.0.1:9100")
            }
            let host = String(address[..<colon])
            self.init(host: host.isEmpty ? "127.0.0.1" : (host == "localhost" ? "127.0.0.1" : host), port: port)
            var probe = in_addr()
            guard inet_pton(AF_INET, self.host, &probe) == 1 else {
                throw HTTPAddressError(address: address, why: "\"\(host)\" is not an IPv4 address")
            }
        }
    }

    public typealias Handler = @Sendable (HTTPRequest, HTTPResponder) -> Void

    /// The port bound (the one picked, for port 0).
    public let port: UInt16
    public let configuration: Configuration
    private let name: String
    private let listener: Int32
    private let wake: (read: Int32, write: Int32)
    private let handler: Handler
    private let answers = Mutex<[(connection: UInt64, response: HTTPResponse)]>([])
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// What the server has done, for its own metrics and the tests.
    public let counters = HTTPCounters()

    /// Binds (throwing a clear error if it cannot) and starts serving.
    public init(_ configuration: Configuration, name: String = "http", handler: @escaping Handler) throws {
        self.configuration = configuration
        self.name = name
        self.handler = handler
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw HTTPServerError("cannot create a pipe: \(Self.lastError())") }
        for end in ends { Self.detach(end) }
        wake = (ends[0], ends[1])
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else {
            close(ends[0]); close(ends[1])
            throw HTTPServerError("cannot open a socket: \(Self.lastError())")
        }
        var one: Int32 = 1
        _ = setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = configuration.port.bigEndian
        guard inet_pton(AF_INET, configuration.host, &address.sin_addr) == 1 else {
            close(socket); close(ends[0]); close(ends[1])
            throw HTTPServerError("\"\(configuration.host)\" is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(socket, 128) == 0 else {
            let why = Self.lastError()
            close(socket); close(ends[0]); close(ends[1])
            throw HTTPServerError("cannot listen on \(configuration.host):\(configuration.port): \(why)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        listener = socket
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in
            serve()
            finished.signal()
        }
        thread.name = name
        thread.start()
        started.store(true, ordering: .releasing)
    }

    deinit {
        close(listener)
        close(wake.read)
        close(wake.write)
    }

    /// The address to show people: `http://127.0.0.1:PORT`.
    public var url: String { "http://\(configuration.host):\(port)" }

    /// Stops serving: closes every connection and waits for the thread.
    public func stop() {
        guard started.load(ordering: .acquiring), !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        ring()
        finished.wait()
    }

    /// Takes an answer from a responder (any thread) and wakes the server to send it.
    func answer(_ response: HTTPResponse, connection: UInt64) {
        answers.withLock { $0.append((connection, response)) }
        ring()
    }

    private func ring() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// Makes a descriptor non-blocking, and not inherited by the commands a worker starts.
    static func detach(_ descriptor: Int32) {
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    // MARK: - The serving thread

    private final class Connection {
        let descriptor: Int32
        /// Numbers every request: an answer for an earlier one, or for a connection closed and reused, is dropped.
        var serial: UInt64
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        var phase = Phase.idle
        var deadline: Int64
        var keepAlive = true
        var head = false
        /// When its client last did something: connected, sent octets, or was answered whole.
        var active: Int64

        enum Phase { case idle, reading, waiting, writing }

        init(descriptor: Int32, serial: UInt64, deadline: Int64, active: Int64) {
            self.descriptor = descriptor
            self.serial = serial
            self.deadline = deadline
            self.active = active
        }
    }

    private func serve() {
        var connections: [Int32: Connection] = [:]
        var bySerial: [UInt64: Int32] = [:]
        var nextSerial: UInt64 = 1
        let parser = HTTPParser(limits: configuration.limits)
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        /// Until when the listener is not polled, after running out of descriptors.
        var listenerResting: Int64 = 0

        func now() -> Int64 {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
        }

        func drop(_ connection: Connection) {
            close(connection.descriptor)
            connections[connection.descriptor] = nil
            bySerial[connection.serial] = nil
        }

        func respond(_ connection: Connection, _ response: HTTPResponse, now: Int64) {
            counters.count(response.status)
            connection.output = response.serialized(forHead: connection.head, keepAlive: connection.keepAlive)
            connection.written = 0
            connection.phase = .writing
            connection.deadline = now + configuration.writeTimeout
            bySerial[connection.serial] = nil
            flush(connection, now: now)
        }

        /// Writes what the socket takes now; at the end, reads the next request or closes.
        func flush(_ connection: Connection, now: Int64) {
            while connection.written < connection.output.count {
                let sent = connection.output.withUnsafeBytes { bytes in
                    send(connection.descriptor, bytes.baseAddress! + connection.written, connection.output.count - connection.written, Int32(MSG_NOSIGNAL))
                }
                if sent > 0 {
                    connection.written += sent
                    connection.deadline = now + configuration.writeTimeout
                } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    return
                } else {
                    drop(connection)
                    return
                }
            }
            guard connection.keepAlive, !stopping.load(ordering: .relaxed) else {
                drop(connection)
                return
            }
            connection.output = []
            connection.active = now
            connection.phase = connection.input.isEmpty ? .idle : .reading
            connection.deadline = now + (connection.input.isEmpty ? configuration.idleTimeout : configuration.requestTimeout)
            take(connection, now: now)
        }

        /// Hands the next whole request in the connection's input to the handler, or answers its error.
        func take(_ connection: Connection, now: Int64) {
            guard connection.phase == .idle || connection.phase == .reading else { return }
            let request: HTTPRequest?
            do {
                request = try parser.next(from: &connection.input)
            } catch {
                counters.countMalformed()
                connection.keepAlive = false
                connection.head = false
                respond(connection, .error(error.status, error.reason), now: now)
                return
            }
            guard let request else { return }
            nextSerial += 1
            bySerial[connection.serial] = nil
            connection.serial = nextSerial
            bySerial[connection.serial] = connection.descriptor
            connection.keepAlive = request.keepAlive
            connection.head = request.method == "HEAD"
            connection.phase = .waiting
            connection.deadline = now + configuration.responseTimeout
            handler(request, HTTPResponder(server: self, connection: connection.serial))
        }

        func accept(now: Int64) {
            while true {
                let descriptor = Glibc.accept(listener, nil, nil)
                guard descriptor >= 0 else {
                    // Out of descriptors: the listener stays readable; it is left alone for a moment instead of spun on.
                    if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { listenerResting = now + 100 }
                    return
                }
                Self.detach(descriptor)
                // At the bound, the connection quiet the longest makes room: one kept alive, one that never
                // sent a request, or one in the middle of a request that has sent nothing for a second
                // (octets dribbled to hold a place). One that did something within the second, accepted or
                // read in this pass among them (reads come first), is not taken: a client holding
                // connections open, silent or nearly, turns no one away.
                if connections.count >= configuration.connections,
                    let quiet = connections.values.filter({ ($0.phase == .idle || $0.phase == .reading) && now - $0.active >= configuration.quietToMakeRoom })
                        .min(by: { ($0.active, $0.serial) < ($1.active, $1.serial) })
                {
                    counters.countReclaimed()
                    drop(quiet)
                }
                guard connections.count < configuration.connections else {
                    // Told why, as far as one write without waiting reaches, and closed.
                    counters.countRefused()
                    let busy = HTTPResponse.error(.serviceUnavailable, "more than \(configuration.connections) connections are open").serialized(keepAlive: false)
                    _ = busy.withUnsafeBytes { send(descriptor, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                    close(descriptor)
                    continue
                }
                var one: Int32 = 1
                _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                nextSerial += 1
                // Its first request must begin as soon as any must end: a connection that never sends one
                // is closed then, not kept as long as an idle one that has been answered.
                connections[descriptor] = Connection(descriptor: descriptor, serial: nextSerial, deadline: now + configuration.requestTimeout, active: now)
            }
        }

        while !stopping.load(ordering: .relaxed) {
            let resting = listenerResting > now()
            var items = [
                pollfd(fd: listener, events: resting ? 0 : Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
            ]
            let order = Array(connections.values)
            var soonest = resting ? listenerResting : Int64.max
            for connection in order {
                var events: Int16 = 0
                switch connection.phase {
                case .idle, .reading: events = Int16(POLLIN)
                case .writing: events = Int16(POLLOUT)
                case .waiting: events = 0
                }
                items.append(pollfd(fd: connection.descriptor, events: events, revents: 0))
                soonest = min(soonest, connection.deadline)
            }
            let start = now()
            let timeout = soonest == .max ? 1000 : Int32(max(0, min(soonest - start, 1000)))
            let ready = poll(&items, nfds_t(items.count), timeout)
            if ready < 0 && errno != EINTR { break }
            let now = now()
            if items[1].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while read(wake.read, &sink, sink.count) > 0 {}
            }
            let answered: [(connection: UInt64, response: HTTPResponse)] = answers.withLock { pending in
                defer { pending = [] }
                return pending
            }
            for answer in answered {
                guard let descriptor = bySerial[answer.connection], let open = connections[descriptor], open.phase == Connection.Phase.waiting else { continue }
                respond(open, answer.response, now: now)
            }
            for (index, connection) in order.enumerated() {
                // Closed since the poll, or its descriptor reused by a connection accepted since.
                guard connections[connection.descriptor] === connection else { continue }
                let events = items[index + 2].revents
                if events & Int16(POLLOUT) != 0, connection.phase == .writing {
                    flush(connection, now: now)
                } else if events & Int16(POLLIN | POLLHUP | POLLERR) != 0, connection.phase == .idle || connection.phase == .reading {
                    let count = recv(connection.descriptor, &chunk, chunk.count, 0)
                    if count > 0 {
                        connection.active = now
                        if connection.phase == .idle {
                            connection.phase = .reading
                            connection.deadline = now + configuration.requestTimeout
                        }
                        connection.input += chunk[0..<count]
                        take(connection, now: now)
                    } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                        drop(connection)
                    }
                } else if events & Int16(POLLHUP | POLLERR) != 0, connection.phase == .writing || connection.phase == .waiting {
                    // Gone while its answer was being written, or awaited: its answer, if it comes, is dropped.
                    drop(connection)
                }
            }
            // After the reads: a connection whose client just sent something is not the one to make room.
            if items[0].revents & Int16(POLLIN) != 0 { accept(now: now) }
            for connection in Array(connections.values) where connection.deadline <= now {
                switch connection.phase {
                case .idle:
                    drop(connection)
                case .reading:
                    counters.countTimedOut()
                    connection.keepAlive = false
                    connection.head = false
                    respond(connection, .error(.requestTimeout, "the request did not arrive whole within \(configuration.requestTimeout) ms"), now: now)
                case .waiting:
                    counters.countTimedOut()
                    connection.keepAlive = false
                    respond(connection, .error(.gatewayTimeout, "no answer within \(configuration.responseTimeout) ms"), now: now)
                case .writing:
                    counters.countTimedOut()
                    drop(connection)
                }
            }
        }
        for connection in Array(connections.values) { drop(connection) }
    }
}

/// Answers one request, once, from any thread; a second answer, or one for a connection gone, is dropped.
public struct HTTPResponder: Sendable {
    let server: HTTPServer
    let connection: UInt64

    public func respond(_ response: HTTPResponse) { server.answer(response, connection: connection) }
}

/// What an HTTP server did: responses by status class, requests refused as malformed, connections turned
/// away for the bound, idle ones closed to make room, and timeouts.
public final class HTTPCounters: Sendable {
    private let responses = Mutex<[Int: Int]>([:])
    private let malformedCount = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)
    private let reclaimedCount = Atomic<Int>(0)
    private let timedOutCount = Atomic<Int>(0)

    public init() {}

    /// Responses sent, by status code.
    public var byStatus: [Int: Int] { responses.withLock { $0 } }
    public var malformed: Int { malformedCount.load(ordering: .relaxed) }
    public var refused: Int { refusedCount.load(ordering: .relaxed) }
    public var reclaimed: Int { reclaimedCount.load(ordering: .relaxed) }
    public var timedOut: Int { timedOutCount.load(ordering: .relaxed) }

    func count(_ status: HTTPStatus) { responses.withLock { $0[status.code, default: 0] += 1 } }
    func countMalformed() { malformedCount.add(1, ordering: .relaxed) }
    func countRefused() { refusedCount.add(1, ordering: .relaxed) }
    func countReclaimed() { reclaimedCount.add(1, ordering: .relaxed) }
    func countTimedOut() { timedOutCount.add(1, ordering: .relaxed) }
}

/// Why the server could not start.
public struct HTTPServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// An HTTP address that cannot be read.
public struct HTTPAddressError: Error, CustomStringConvertible, Sendable {
    public var address: String
    public var why: String
    public var description: String { "\"\(address)\" is not an HTTP address: \(why)" }
}
