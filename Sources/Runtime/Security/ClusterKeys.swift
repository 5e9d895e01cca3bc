import Foundation

/// A cluster's keys as its processes and commands use them: the ring a process trusts, the keys
/// `baton up` makes for a one-machine cluster, and the key a client command speaks with.
public enum ClusterKeys {
    /// The keys a process of `cluster` trusts; nil for a cluster without keys.
    public static func ring(of cluster: ClusterConfiguration) throws -> KeyRing? {
        guard case .keys(let folder) = cluster.security else { return nil }
        guard FileManager.default.fileExists(atPath: folder) else {
            throw ServiceError(
                "the cluster's keys should be in \(folder), which does not exist: `baton up` makes a one-machine cluster's keys, "
                    + "`baton keys new NAME` makes one (docs/security.md); \"security\": \"none\" runs without, in the clear")
        }
        return try KeyRing(folder: folder)
    }

    /// Says, at every start, that a cluster without keys runs in the clear.
    public static func warnIfPlain(_ cluster: ClusterConfiguration, log: Log) {
        guard cluster.security == .none else { return }
        log.warning("\"security\": \"none\": connections are not encrypted, and anyone who reaches a port can act on the cluster")
    }

    /// Reads the ring's folder again, saying which keys came and went; an invalid file keeps the keys as they were.
    public static func reload(_ ring: KeyRing?, log: Log) {
        guard let ring else {
            log.info("no keys to read again: the cluster has none")
            return
        }
        do {
            let (added, removed) = try ring.reload()
            log.info("keys read again", [
                "added": added.map(\.description).joined(separator: ", "), "removed": removed.map(\.description).joined(separator: ", "),
                "keys": String(ring.all.count),
            ])
        } catch {
            log.error("keys not read again, the old ones still hold", ["why": "\(error)"])
        }
    }

    /// The key of the people who run a one-machine cluster: an admin.
    public static let localAdmin = "admin"

    /// The keys every process of `cluster` needs, by name and role: the services', and a local admin's.
    public static func names(in cluster: ClusterConfiguration) -> [(name: String, role: KeyRole)] {
        [("management", .management), ("orchestrator", .orchestrator), ("timer", .timer)]
            + cluster.shards.map { ("shard-\($0.id)", KeyRole.shard) } + cluster.pools.map { ("pool-\($0.name)", KeyRole.worker) }
            + [(localAdmin, .admin)]
    }

    /// Makes the keys of `cluster` that are missing from its folder (both files), for `baton up` on one
    /// machine; returns their names. A key whose public file exists is left alone, secret or not.
    public static func createMissing(in cluster: ClusterConfiguration) throws -> [String] {
        guard case .keys(let folder) = cluster.security else { return [] }
        var created: [String] = []
        for (name, role) in names(in: cluster) where !FileManager.default.fileExists(atPath: "\(folder)/\(name).key") {
            try KeyFiles.create(name: name, role: role, in: folder)
            created.append(name)
        }
        return created
    }

    /// The key a client command speaks with to `cluster`'s management: `key` (a secret key file), else the
    /// folder's local admin key; with the management's public key. Nil for a cluster without keys.
    public static func client(of cluster: ClusterConfiguration, key: String?) throws -> (pair: KeyPair, serverKey: String)? {
        guard case .keys(let folder) = cluster.security else { return nil }
        let path = key ?? "\(folder)/\(localAdmin).secret"
        let pair: KeyPair
        do {
            pair = try KeyFiles.readSecret(path)
        } catch {
            throw ServiceError("the cluster has keys, and this command needs one: \(error) (give --identity FILE or BATON_IDENTITY)")
        }
        let server: KeyIdentity
        do {
            server = try KeyFiles.readPublic("\(folder)/management.key")
        } catch {
            throw ServiceError("cannot know management's key: \(error)")
        }
        return (pair, server.publicKey)
    }
}
