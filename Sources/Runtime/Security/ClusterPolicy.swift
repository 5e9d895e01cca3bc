import Core
import Wire

/// Who may do what in a cluster with keys (`docs/security.md`), as each service's sockets apply it:
///
/// | Socket | Who may connect | What it takes from whom |
/// |---|---|---|
/// | a shard's `submit` | the orchestrator | SUBMIT, TAKE-OVER |
/// | a shard's `work` | the orchestrator; workers of pools that serve the shard | CONTROL, PARTITIONS-ENDED, SHARD-QUERY and FETCH from the orchestrator; the worker protocol from workers |
/// | a shard's `events` | the orchestrator; admins, to watch | (it only reads) |
/// | the orchestrator's `ops` | management | OPERATION-REQUEST, RUN-QUERY, SHARD-QUERY, FETCH |
/// | the orchestrator's `events` | management; admins, to watch | (it only reads) |
/// | management's `api` | viewers, operators, admins, timers | API-REQUEST (each method by role: ``APIRoles``) |
///
/// A client checks its server by the server's public key, which it must know in advance.
enum ClusterPolicy {
    /// The name of the key a service holds: `management`, `orchestrator`, `shard-2`, `pool-general`, `timer`.
    static func keyName(of role: ServiceRole, pool: String?) -> String {
        switch role {
        case .management: "management"
        case .orchestrator: "orchestrator"
        case .shard(let id): "shard-\(id)"
        case .worker: "pool-\(pool ?? "")"
        case .timer: "timer"
        }
    }

    /// The worker protocol's messages: what a worker sends a shard.
    static let workerMessages: Set<MessageID> = [.ready, .pull, .results, .heartbeat, .disconnect, .recall]

    /// What `role`'s service brings to its sockets: its key pair from `folder`, the keys of the servers it
    /// connects to, and who may connect to the sockets it binds. Throws naming a missing or wrong file.
    static func keys(for role: ServiceRole, pool: String?, in cluster: ClusterConfiguration, folder: String, ring: KeyRing) throws -> ServiceKeys {
        let name = keyName(of: role, pool: pool)
        let pair: KeyPair
        do {
            pair = try KeyFiles.readSecret("\(folder)/\(name).secret")
        } catch {
            throw ServiceError("\(name) needs its secret key: \(error) (`baton keys new \(name) --dir \(folder)` makes one; `baton up` makes a one-machine cluster's)")
        }
        var servers: [(endpoints: [String], key: String, why: String)] = []
        var admissions: [String: Admission] = [:]
        switch role {
        case .management:
            servers.append(([cluster.orchestrator.ops, cluster.orchestrator.events], "orchestrator", "management connects to the orchestrator"))
            admissions["api"] = .roles([.viewer, .operator, .admin, .timer], "viewers, operators, admins and timers")
        case .orchestrator:
            for shard in cluster.shards {
                servers.append(([shard.submit, shard.work, shard.events], "shard-\(shard.id)", "the orchestrator connects to shard \(shard.id)"))
            }
            admissions["ops"] = Admission(
                who: "management", admits: { $0.role == .management },
                takes: { message, _ in [.operationRequest, .runQuery, .shardQuery, .fetch].contains(message) })
            admissions["events"] = .roles([.management, .admin], "management and admins")
        case .shard(let id):
            let serving = Set(cluster.pools.filter { $0.shards.contains(id) }.map { "pool-\($0.name)" })
            admissions["submit"] = Admission(
                who: "the orchestrator", admits: { $0.role == .orchestrator }, takes: { message, _ in message == .submit || message == .takeOver })
            admissions["work"] = Admission(
                who: "the orchestrator, and workers of the pools that serve shard \(id)",
                admits: { $0.role == .orchestrator || ($0.role == .worker && serving.contains($0.name)) },
                takes: { message, sender in
                    sender.role == .orchestrator ? [.control, .fetch, .partitionsEnded, .shardQuery].contains(message) : workerMessages.contains(message)
                })
            admissions["events"] = .roles([.orchestrator, .admin], "the orchestrator and admins")
        case .worker:
            for id in cluster.pool(pool ?? "")?.shards ?? [] {
                guard let shard = cluster.shard(id) else { continue }
                servers.append(([shard.work], "shard-\(id)", "pool \(pool ?? "") works for shard \(id)"))
            }
        case .timer:
            servers.append(([cluster.management.api], "management", "the timer asks management"))
        }
        var serverKeys: [String: String] = [:]
        for server in servers {
            guard let key = ring.key(named: server.key) else {
                throw ServiceError("\(ring.folder)/\(server.key).key is missing: \(server.why), and must know its public key")
            }
            for endpoint in server.endpoints { serverKeys[endpoint] = key.publicKey }
        }
        return ServiceKeys(pair: pair, serverKeys: serverKeys, admissions: admissions)
    }
}
