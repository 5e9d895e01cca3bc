import Core
import Foundation
import Glibc
import Runtime

/// `baton keys`: make a key pair, list a folder's keys, or have a running cluster read its keys again.
enum Keys {
    static func run(_ command: KeysCommand, console: any Console) throws(CommandFailure) -> ExitCode {
        switch command {
        case .new(let name, let role, let folder):
            let directory = try path(of: folder, console: console)
            if let misnamed = KeyRole.misnamedShard(name) { throw CommandFailure(code: .usage, message: misnamed) }
            guard let role = role ?? KeyRole.ofService(named: name) else {
                throw CommandFailure(
                    code: .usage,
                    message: "give the role of \"\(name)\" with --role (viewer, operator or admin for a person or tool; a service's key is named for it: management, orchestrator, shard-N, pool-NAME, timer)")
            }
            do {
                let pair = try KeyFiles.create(name: name, role: role, in: directory)
                console.out("made \(directory)/\(name).key (public: give it to every process) and \(directory)/\(name).secret (private: keep it on the machine that uses it)")
                console.out("\(name): role \(role.rawValue), fingerprint \(pair.identity.fingerprint)")
            } catch {
                throw CommandFailure(code: .failure, message: "\(error)")
            }
            return .success
        case .list(let folder, let json):
            let directory = try path(of: folder, console: console)
            let keys: [KeyIdentity]
            do {
                keys = try KeyRing(folder: directory).all
            } catch {
                throw CommandFailure(code: .failure, message: "\(error)")
            }
            if json {
                let list = keys.map { JSON.object([("name", .string($0.name)), ("role", .string($0.role.rawValue)), ("public_key", .string($0.publicKey))]) }
                console.out(JSON.object([("keys", .array(list))]).rendered(pretty: true))
            } else if keys.isEmpty {
                console.out("no keys in \(directory)")
            } else {
                let rows = keys.map { [$0.name, $0.role.rawValue, $0.fingerprint, FileManager.default.fileExists(atPath: "\(directory)/\($0.name).secret") ? "here" : "-"] }
                for line in Formatting.table([["NAME", "ROLE", "FINGERPRINT", "SECRET"]] + rows) { console.out(line) }
            }
            return .success
        case .reload(let config):
            let cluster = try Cluster.load(config)
            // Read as each process will read it: a folder a process would refuse (a key file broken, a
            // name given twice) is named here, and no one is told, rather than every process keeping its
            // old keys while this says it told them.
            do {
                guard try ClusterKeys.ring(of: cluster) != nil else {
                    throw CommandFailure(code: .failure, message: "\(config) says \"security\": \"none\": it has no keys to read again")
                }
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure(
                    code: .failure, message: "no process was told to read its keys again, as each would refuse them and keep the keys it has: \(error)")
            }
            var told = 0
            for process in Up.processes(cluster) {
                guard let pid = Up.readPID("\(cluster.data)/run/\(process.name).pid"), Up.isRunning(process, pid: pid) else { continue }
                if kill(pid, SIGHUP) == 0 {
                    console.out("told \(process.name) (pid \(pid)) to read its keys again")
                    told += 1
                }
            }
            if told == 0 { console.out("nothing of \(config) is running here; under systemd, `systemctl reload` each unit") }
            return .success
        }
    }

    /// The folder a key command works in.
    private static func path(of folder: KeyFolder, console: any Console) throws(CommandFailure) -> String {
        switch folder {
        case .directory(let directory): return directory
        case .cluster(let file):
            let cluster = try Cluster.load(file, console: console)
            guard case .keys(let directory) = cluster.security else {
                throw CommandFailure(code: .failure, message: "\(file) says \"security\": \"none\": it has no keys")
            }
            return directory
        }
    }
}
