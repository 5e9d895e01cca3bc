internal import Glibc

/// Finds TCP ports on 127.0.0.1 that are free now, by binding port 0 and reading what the OS chose.
public enum FreePort {
    /// A free port. Another process may take it before it is used; callers bind it at once.
    public static func find() throws -> UInt16 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ServiceError("cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw ServiceError("cannot bind 127.0.0.1 to find a free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}
