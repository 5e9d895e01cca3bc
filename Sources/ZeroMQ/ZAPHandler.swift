internal import CZeroMQ
import Foundation
import Synchronization

/// A ZAP handler (RFC 27): answers, on its own thread, libzmq's question of whether a peer may connect,
/// for every socket of one context that names a ZAP domain.
///
/// libzmq asks over `inproc://zeromq.zap.01` in the same context, and in 4.3.4 lets every CURVE client in
/// when nothing is bound there. So the handler binds that endpoint before its initialiser returns: create it
/// before the first server socket binds, and stop it only after the last one is closed. Even so, a receiver
/// should not trust a message that carries no User-Id (``Socket/receiveWithUserID(dontWait:)``): that is a
/// connection no handler approved.
public final class ZAPHandler: Sendable {
    /// What libzmq asks about one connection.
    public struct Request: Sendable {
        /// The ZAP domain of the socket connected to.
        public var domain: String
        /// The peer's IP address.
        public var address: String
        /// `NULL`, `PLAIN` or `CURVE`.
        public var mechanism: String
        /// For CURVE, the client's long-term public key as 40 Z85 characters; empty otherwise.
        public var publicKey: String
    }

    /// The answer to a request.
    public enum Decision: Sendable, Equatable {
        /// The peer may connect; `userID` is what every message from it carries as its User-Id.
        case allow(userID: String)
        /// The peer is refused; the handshake fails, and it receives nothing.
        case deny(reason: String)
    }

    /// The endpoint libzmq asks on (RFC 27).
    public static let endpoint = "inproc://zeromq.zap.01"

    /// What the handler's thread and its owner share.
    private final class Shared: Sendable {
        let running = Atomic<Bool>(true)
        let finished = DispatchSemaphore(value: 0)
        let counts = Mutex<(allowed: Int, denied: Int)>((0, 0))
    }

    private let shared = Shared()

    /// Binds the ZAP endpoint in `context` and starts answering with `decide`; throws if the endpoint
    /// cannot be bound (another handler holds it).
    public init(context: Context, decide: @escaping @Sendable (Request) -> Decision) throws {
        let bound = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        let shared = self.shared
        let thread = Thread {
            defer { shared.finished.signal() }
            let socket: Socket
            do {
                socket = try Socket(context, type: .rep)
                try socket.setLinger(milliseconds: 0)
                // A short timeout, so that the loop sees `stop()` soon; a request is answered at once.
                try socket.setReceiveTimeout(milliseconds: 50)
                try socket.bind(Self.endpoint)
            } catch {
                failure.withLock { $0 = error }
                bound.signal()
                return
            }
            bound.signal()
            defer { socket.close() }
            while shared.running.load(ordering: .relaxed) {
                guard let frames = try? socket.receive() else { continue }
                let (reply, allowed) = Self.answer(frames, decide)
                shared.counts.withLock { allowed ? ($0.allowed += 1) : ($0.denied += 1) }
                _ = try? socket.send(reply)
            }
        }
        thread.name = "zap"
        thread.start()
        bound.wait()
        if let error = failure.withLock({ $0 }) {
            shared.finished.wait()
            shared.running.store(false, ordering: .relaxed)
            throw error
        }
    }

    /// Stops answering and unbinds: from now on libzmq would let CURVE clients in unasked, so stop the
    /// handler only after every server socket of the context is closed.
    public func stop() {
        guard shared.running.exchange(false, ordering: .relaxed) else { return }
        shared.finished.wait()
    }

    /// How many connections were allowed and refused so far.
    public var decisions: (allowed: Int, denied: Int) { shared.counts.withLock { $0 } }

    deinit { stop() }

    /// The reply to one ZAP request (version, request ID, domain, address, identity, mechanism, credentials),
    /// and whether it allows the peer. A request this handler cannot read is refused.
    public static func answer(_ frames: [[UInt8]], _ decide: (Request) -> Decision) -> (reply: [[UInt8]], allowed: Bool) {
        func text(_ index: Int) -> String { frames.indices.contains(index) ? String(decoding: frames[index], as: UTF8.self) : "" }
        let requestID = frames.count > 1 ? frames[1] : []
        func reply(_ status: String, _ statusText: String, _ userID: String) -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(status.utf8), Array(statusText.utf8), Array(userID.utf8), []]
        }
        guard frames.count >= 6, text(0) == "1.0" else {
            return (reply("400", "malformed ZAP request", ""), false)
        }
        let mechanism = text(5)
        var publicKey = ""
        if mechanism == "CURVE" {
            guard frames.count >= 7, let key = Curve.z85(frames[6]) else { return (reply("400", "malformed CURVE credentials", ""), false) }
            publicKey = key
        }
        switch decide(Request(domain: text(2), address: text(3), mechanism: mechanism, publicKey: publicKey)) {
        case .allow(let userID): return (reply("200", "OK", userID), true)
        case .deny(let reason): return (reply("400", reason, ""), false)
        }
    }
}
