/// Which service of a cluster a process (or a thread of `baton dev`) runs.
public enum ServiceRole: Hashable, Sendable {
    case management
    case orchestrator
    case shard(id: UInt32)
    /// Worker `index` of a pool; the pool may be left out when the cluster has only one.
    case worker(pool: String?, index: Int)
    /// The timer; more than one may run, each with its own index (and data folder).
    case timer(index: Int)

    /// The service's name in logs, pid files and counters: `shard-2`, `worker-general-1`.
    public func name(pool resolved: String? = nil) -> String {
        switch self {
        case .management: "management"
        case .orchestrator: "orchestrator"
        case .shard(let id): "shard-\(id)"
        case .worker(let pool, let index): "worker-\(resolved ?? pool ?? "pool")-\(index)"
        case .timer(let index): index == 1 ? "timer" : "timer-\(index)"
        }
    }
}
