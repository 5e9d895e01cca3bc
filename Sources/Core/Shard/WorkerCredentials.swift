public import Wire

/// Who sent a message on a shard's `work` ROUTER, as the connection's CurveZMQ handshake and the ZAP
/// handler established it: the sender's key, and what that key is allowed.
///
/// The runtime hands them to ``ShardCore/received(_:from:credentials:now:)`` with every message; nil
/// means a keyless connection (`baton dev` over `inproc://` and loopback), which is allowed everything.
/// With credentials:
/// - a worker's name is bound to the key it registered with: a READY naming a worker that is registered,
///   or whose leases wait for it after a restart, under another key is refused (DISCONNECT 403), and
///   leases restored after a restart go back only to the same name with the same key;
/// - a key limited to some products is never handed a task of another product, nor told of one (DEMAND).
///
/// Whatever the credentials, a result changes a task only when it comes from the connection that holds
/// the task's lease, under the session it registered with.
public struct WorkerCredentials: Hashable, Sendable {
    /// The sender's public key, 40 characters of Z85.
    public var key: String
    /// The worker pool the key belongs to.
    public var pool: String
    /// The products whose tasks the key may run; nil for any product.
    public var products: Set<String>?
    /// The tags the key's workers may claim (the pool's, in the cluster file); nil for any. A READY's
    /// other tags are ignored, so that a worker cannot claim a capability its pool was not given.
    public var tags: Set<String>?

    public init(key: String, pool: String, products: Set<String>? = nil, tags: Set<String>? = nil) {
        self.key = key
        self.pool = pool
        self.products = products
        self.tags = tags
    }

    /// Whether the key may run tasks of `product`.
    public func allows(_ product: String) -> Bool { products?.contains(product) ?? true }
}

/// A READY the shard refused, because its worker name is bound to another key: answered DISCONNECT 403,
/// and reported in the turn so that the runtime counts it and logs both keys.
public struct RefusedRegistration: Equatable, Sendable {
    /// The connection it came on, and the worker name it gave.
    public var peer: Peer
    public var worker: String
    /// The key that sent it (nil: keyless).
    public var key: String?
    /// The key the name is bound to: of the worker registered under it, or of the leases restored for it
    /// after a restart (nil: keyless).
    public var holder: String?

    public init(peer: Peer, worker: String, key: String?, holder: String?) {
        self.peer = peer
        self.worker = worker
        self.key = key
        self.holder = holder
    }
}

/// Results of one RESULTS message for attempts whose lease the sender does not hold: another worker's,
/// another session's, or one restored after a restart and not claimed. Receipted, so that a worker that
/// lost track forgets them, but applied to nothing; reported in the turn so that the runtime counts and
/// logs them.
public struct ForeignResults: Equatable, Sendable {
    /// The connection they came on, with the worker registered there and its key (nil: keyless).
    public var peer: Peer
    public var worker: String
    public var key: String?
    /// The attempts reported.
    public var tasks: [TaskRef]

    public init(peer: Peer, worker: String, key: String?, tasks: [TaskRef]) {
        self.peer = peer
        self.worker = worker
        self.key = key
        self.tasks = tasks
    }
}
