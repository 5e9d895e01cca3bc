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
