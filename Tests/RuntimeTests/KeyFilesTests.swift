import Foundation
@testable import Runtime
import Testing

@Suite struct KeyFilesTests {
    /// Found by a new user, who gave `--identity` a public key: the refusal named its mode only. It also
    /// names the secret the user meant; a secret file readable by others is refused without that hint.
    @Test func aPublicKeyGivenAsAnIdentityIsRefusedNamingItsSecret() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try KeyFiles.create(name: "alice", role: .operator, in: folder)
        #expect(throws: KeyFiles.Problem.self) { try KeyFiles.readSecret("\(folder)/alice.key") }
        do {
            _ = try KeyFiles.readSecret("\(folder)/alice.key")
        } catch let problem as KeyFiles.Problem {
            #expect(problem.message == "is readable by others (mode 644); chmod 600 it (if it is a public key, give its secret, \(folder)/alice.secret)")
        }
        #expect(chmod("\(folder)/alice.secret", 0o640) == 0)
        do {
            _ = try KeyFiles.readSecret("\(folder)/alice.secret")
            Issue.record("a secret readable by its group was read")
        } catch let problem as KeyFiles.Problem {
            #expect(problem.message == "is readable by others (mode 640); chmod 600 it")
        }
    }
}

@Suite struct KeyNameTests {
    /// Found by an operator: `baton keys new shard-0` and `shard-99999` were made as shards' keys, which
    /// no shard reads (IDs are 1 to 65535, written as the cluster file writes them).
    @Test func aShardsKeyIsMadeOnlyUnderAShardsName() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["shard-0", "shard-99999", "shard-01", "shard-", "shard-x"] {
            #expect(KeyRole.misnamedShard(name)?.contains("not \"\(name)\"") == true, "\(name)")
            #expect(throws: KeyFiles.Problem.self, "\(name)") { try KeyFiles.create(name: name, role: .shard, in: folder) }
            #expect(throws: KeyFiles.Problem.self, "\(name)") { try KeyFiles.create(name: name, role: .operator, in: folder) }
        }
        for name in ["shard-1", "shard-65535", "alice", "pool-shard-0"] { #expect(KeyRole.misnamedShard(name) == nil, "\(name)") }
        #expect(try KeyFiles.create(name: "shard-12", role: .shard, in: folder).identity.role == .shard)
    }
}
