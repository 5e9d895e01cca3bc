import Core
import Foundation
import Runtime
import ZeroMQ

/// A cluster that `baton-load` talks to, started here or running elsewhere: where its management API
/// and its shards' event streams are, and how to let it go afterwards.
final class LoadTarget {
    /// The context to open sockets in: the embedded cluster's, since its endpoints are `inproc://`.
    let context: Context
    let api: String
    /// Each shard's events endpoint, by the name it publishes under (`shard-1`).
    let events: [String: String]
    /// One line saying what the cluster is, for the report.
    let summary: String
    /// Slots of all workers together: how many tasks may run at once.
    let slots: Int
    /// In a cluster with keys: the key the load speaks with (the folder's local admin, who may act and
    /// watch the shards' events), and the folder with the services' public keys.
    let keys: (pair: KeyPair, folder: String)?
    private var embedded: EmbeddedCluster?
    private let folder: String?

    private init(
        context: Context, api: String, events: [String: String], summary: String, slots: Int,
        keys: (pair: KeyPair, folder: String)? = nil, embedded: EmbeddedCluster? = nil, folder: String? = nil
    ) {
        self.context = context
        self.api = api
        self.events = events
        self.summary = summary
        self.slots = slots
        self.keys = keys
        self.embedded = embedded
        self.folder = folder
    }

    /// Starts or finds the cluster `target` names.
    static func open(_ target: LoadOptions.Target) throws(LoadFailure) -> LoadTarget {
        switch target {
        case .embedded(let shards, let workers, let slots, let fairness, let headroom):
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-load-\(UUID().uuidString)").path
            var options = EmbeddedCluster.Options(data: folder)
            options.shards = shards
            options.workers = workers
            options.slots = slots
            options.fairness = fairness
            options.headroom = headroom
            // Everything is inproc: no port is opened.
            options.api = nil
            let cluster: EmbeddedCluster
            do {
                cluster = try EmbeddedCluster(options)
            } catch {
                try? FileManager.default.removeItem(atPath: folder)
                throw LoadFailure(.unavailable, "cannot start the embedded cluster in \(folder): \(error)")
            }
            let events = Dictionary(uniqueKeysWithValues: cluster.shardAddresses.map { ("shard-\($0.shard)", $0.events) })
            return LoadTarget(
                context: cluster.context, api: cluster.api[0], events: events,
                summary: "embedded cluster: \(shards) shard\(shards == 1 ? "" : "s"), \(workers) worker\(workers == 1 ? "" : "s") × \(slots) slots, "
                    + "fairness \(fairness.rawValue)\(headroom > 0 ? ", headroom \(headroom)" : "")",
                slots: workers * slots, embedded: cluster, folder: folder)
        case .cluster(let file):
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw LoadFailure(.unavailable, "\(file): cannot read the cluster file")
            }
            let cluster: ClusterConfiguration
            switch ClusterFile.parse(text, file: file) {
            case .success(let configuration): cluster = configuration
            case .failure(let error): throw LoadFailure(.unavailable, "the cluster file is invalid:\n\(error)")
            }
            let context: Context
            do {
                context = try Context()
            } catch {
                throw LoadFailure(.unavailable, "cannot create a ZeroMQ context: \(error)")
            }
            // With keys, the folder's local admin speaks for the load, as for a `baton` command given the file.
            var keys: (pair: KeyPair, folder: String)?
            if case .keys(let folder) = cluster.security {
                do {
                    keys = (try KeyFiles.readSecret("\(folder)/\(ClusterKeys.localAdmin).secret"), folder)
                } catch {
                    throw LoadFailure(.unavailable, "the cluster has keys, and the load needs its admin key: \(error)")
                }
            }
            let events = Dictionary(uniqueKeysWithValues: cluster.shards.map { ("shard-\($0.id)", $0.events) })
            let slots = cluster.pools.reduce(0) { $0 + $1.workers * $1.slots }
            let modes = Set(cluster.shards.map { $0.fairness.rawValue + ($0.headroom > 0 ? ", headroom \($0.headroom)" : "") })
                .sorted().joined(separator: "/")
            return LoadTarget(
                context: context, api: cluster.management.api, events: events,
                summary: "cluster \(file): \(cluster.shards.count) shards, \(slots) slots in its pools' workers, fairness \(modes)"
                    + (keys == nil ? "" : ", with keys"),
                slots: slots, keys: keys)
        }
    }

    /// Readies `socket` to connect to the service named `server` (`management`, `shard-1`): with the load's
    /// key and the service's, in a cluster with keys; nothing otherwise. Called before each connect, since
    /// a subscriber connects to every shard, each with its own key.
    func secure(_ socket: Socket, for server: String) throws {
        guard let keys else { return }
        try socket.setCurvePublicKey(keys.pair.identity.publicKey)
        try socket.setCurveSecretKey(keys.pair.secretKey)
        try socket.setCurveServerKey(try KeyFiles.readPublic("\(keys.folder)/\(server).key").publicKey)
    }

    /// The load's key and management's, for a client of its API; nil in a cluster without keys.
    func apiCurve() throws -> (pair: KeyPair, serverKey: String)? {
        guard let keys else { return nil }
        return (keys.pair, try KeyFiles.readPublic("\(keys.folder)/management.key").publicKey)
    }

    /// A client of management's API, with the load's key in a cluster with keys.
    func apiClient() throws -> APIClient { try APIClient(endpoint: api, context: context, curve: try apiCurve()) }

    /// Whether runs left open can be left behind: an embedded cluster goes away with them.
    var isEmbedded: Bool { embedded != nil }

    /// The embedded cluster's first failed service, with its error.
    var failure: String? { embedded?.failure.map { "\($0.name) stopped: \($0.error)" } }

    /// Stops the embedded cluster and removes its folder; nothing for a cluster running elsewhere.
    /// Every socket opened in `context` must be closed first.
    func close() {
        embedded?.stop()
        embedded = nil
        if let folder { try? FileManager.default.removeItem(atPath: folder) }
    }
}

/// Why `baton-load` could not measure, with the exit status it means.
struct LoadFailure: Error, CustomStringConvertible {
    enum Code: Int32 {
        /// A job failed, or the embedded cluster broke.
        case failure = 1
        /// The cluster could not be started or reached, or refused a request.
        case unavailable = 3
    }

    var code: Code
    var description: String
    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
