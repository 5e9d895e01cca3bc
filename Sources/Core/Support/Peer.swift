/// A peer of a ROUTER socket, by the routing ID libzmq gave its connection.
///
/// A routing ID names a connection, not a worker: it changes when the worker reconnects. A shard
/// keys a worker's session by its connection; the logical name from READY only ties a new
/// connection to the leases of the worker's earlier one.
public struct Peer: Hashable, Sendable, CustomStringConvertible {
    /// The routing ID's octets.
    public var id: [UInt8]

    public init(_ id: [UInt8]) { self.id = id }

    public var description: String { id.map { String($0, radix: 16) }.joined() }

    /// The octets as one run of bytes: the synthesized hash fed them to the hasher one by one, and a
    /// shard looks up a peer for every result it takes.
    public func hash(into hasher: inout Hasher) {
        id.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
