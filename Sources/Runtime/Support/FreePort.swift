internal import Glibc
import Synchronization

/// Finds TCP ports on 127.0.0.1 that are free now, for clusters that a test or `baton bench` writes a
/// cluster file for.
///
/// A port is chosen below Linux's ephemeral range (32768 and up by default), where the kernel never
/// picks the local port of an outgoing connection, and never twice by one process: asking the kernel for
/// port 0 would give a port from that range, which a connection made before the service binds it may
/// take, and which the kernel may give out again once its probe socket is closed.
public enum FreePort {
    private static let range: Range<UInt16> = 15_000..<32_768
    private static let given = Mutex<Set<UInt16>>([])

    /// A free port, not given before by this process. Another process may still take it before it is
    /// used; callers bind it at once.
    public static func find() throws -> UInt16 {
        for _ in 0..<1000 {
            let port = UInt16.random(in: range)
            guard given.withLock({ $0.insert(port).inserted }) else { continue }
            if isFree(port) { return port }
        }
        throw ServiceError("cannot find a free port on 127.0.0.1 from \(range.lowerBound) to \(range.upperBound - 1)")
    }

    /// Whether `port` on 127.0.0.1 can be bound now.
    private static func isFree(_ port: UInt16) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
