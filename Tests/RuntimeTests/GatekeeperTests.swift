import Core
import Foundation
@testable import Runtime
import Testing
import Wire
import ZeroMQ

/// What the gatekeeper takes from whom, message by message, on a shard's sockets as `ClusterPolicy` sets
/// them: the checks that hold even where libzmq let a connection in unasked.
@Suite struct GatekeeperTests {
    @Test func everyMessageIsCheckedAgainstTheKeysAsTheyStandNow() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-gate-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let orchestrator = try KeyFiles.create(name: "orchestrator", role: .orchestrator, in: folder).identity
        let general = try KeyFiles.create(name: "pool-general", role: .worker, in: folder).identity
        let other = try KeyFiles.create(name: "pool-other", role: .worker, in: folder).identity
        let vera = try KeyFiles.create(name: "vera", role: .viewer, in: folder).identity
        let shard = try KeyFiles.create(name: "shard-1", role: .shard, in: folder)
        let ring = try KeyRing(folder: folder)
        let context = try Context()
        let gate = try Gatekeeper(context: context, ring: ring, log: Log(service: "test", level: .quiet))
        defer { gate.stop() }

        // Shard 1, served by the pool general only; the pool other serves shard 2.
        let file = """
            {"data": "\(folder)/data", "management": {"api": "tcp://127.0.0.1:1"},
             "orchestrator": {"ops": "tcp://127.0.0.1:2", "events": "tcp://127.0.0.1:3"},
             "shards": [{"id": 1, "submit": "tcp://127.0.0.1:4", "work": "tcp://127.0.0.1:5", "events": "tcp://127.0.0.1:6"},
                        {"id": 2, "submit": "tcp://127.0.0.1:7", "work": "tcp://127.0.0.1:8", "events": "tcp://127.0.0.1:9"}],
             "pools": [{"name": "general", "shards": [1]}, {"name": "other", "shards": [2]}]}
            """
        let cluster = try ClusterFile.parse(file, file: "c.json").get()
        let keys = try ClusterPolicy.keys(for: .shard(id: 1), pool: nil, in: cluster, folder: folder, ring: ring)
        #expect(keys.pair.identity.publicKey == shard.identity.publicKey)
        for (socket, admission) in keys.admissions { gate.register(domain: "shard-1/\(socket)", admission) }
        let now = Timestamp(milliseconds: 1)

        // Who may send on which socket.
        #expect(gate.sender(userID: orchestrator.publicKey, domain: "shard-1/submit", now: now)?.name == "orchestrator")
        #expect(gate.sender(userID: general.publicKey, domain: "shard-1/submit", now: now) == nil)
        #expect(gate.sender(userID: general.publicKey, domain: "shard-1/work", now: now)?.name == "pool-general")
        #expect(gate.sender(userID: other.publicKey, domain: "shard-1/work", now: now) == nil)
        #expect(gate.sender(userID: vera.publicKey, domain: "shard-1/work", now: now) == nil)
        #expect(gate.sender(userID: nil, domain: "shard-1/work", now: now) == nil, "a connection no handler approved")
        #expect(gate.sender(userID: orchestrator.publicKey, domain: "shard-2/work", now: now) == nil, "a socket no one registered")

        // What each may send there.
        #expect(gate.takes(.submit, from: orchestrator, domain: "shard-1/submit", now: now))
        #expect(gate.takes(.control, from: orchestrator, domain: "shard-1/work", now: now))
        #expect(!gate.takes(.ready, from: orchestrator, domain: "shard-1/work", now: now))
        for message in [MessageID.ready, .pull, .results, .heartbeat, .disconnect, .recall] {
            #expect(gate.takes(message, from: general, domain: "shard-1/work", now: now))
        }
        for message in [MessageID.control, .fetch, .submit, .operationRequest] {
            #expect(!gate.takes(message, from: general, domain: "shard-1/work", now: now), "\(message.name) from a worker")
        }

        // A key removed counts no more, on a connection already made too.
        try FileManager.default.removeItem(atPath: "\(folder)/pool-general.key")
        let before = ring.revocations
        let (added, removed) = try ring.reload()
        #expect(added.isEmpty && removed.map(\.name) == ["pool-general"])
        #expect(ring.revocations == before + 1)
        #expect(gate.sender(userID: general.publicKey, domain: "shard-1/work", now: now) == nil)
        #expect(gate.refused >= 7)

        // The orchestrator's `ops` takes from management only what management sends there.
        let management = try KeyFiles.create(name: "management", role: .management, in: folder).identity
        _ = try KeyFiles.create(name: "shard-2", role: .shard, in: folder)
        try ring.reload()
        let ops = try #require(try ClusterPolicy.keys(for: .orchestrator, pool: nil, in: cluster, folder: folder, ring: ring).admissions["ops"])
        #expect(ops.admits(management) && !ops.admits(orchestrator) && !ops.admits(vera))
        for message in [MessageID.operationRequest, .runQuery, .shardQuery, .fetch] { #expect(ops.takes(message, management)) }
        for message in [MessageID.submit, .control, .ready, .apiRequest, .takeOver] { #expect(!ops.takes(message, management), "\(message.name) on ops") }
    }

    @Test func aServicesRoleGoesWithItsNameOnly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: KeyFiles.Problem.self) { try KeyFiles.create(name: "ci", role: .orchestrator, in: folder) }
        #expect(throws: KeyFiles.Problem.self) { try KeyFiles.create(name: "shard-1", role: .admin, in: folder) }
        #expect(throws: Never.self) { try KeyFiles.create(name: "ci", role: .operator, in: folder) }
        // A secret readable by others, or a link to one, is refused.
        let pair = try KeyFiles.create(name: "pool-a", role: .worker, in: folder)
        #expect(try KeyFiles.readSecret("\(folder)/pool-a.secret").secretKey == pair.secretKey)
        try FileManager.default.createSymbolicLink(atPath: "\(folder)/link.secret", withDestinationPath: "\(folder)/pool-a.secret")
        #expect(throws: KeyFiles.Problem.self) { try KeyFiles.readSecret("\(folder)/link.secret") }
        chmod("\(folder)/pool-a.secret", 0o640)
        #expect(throws: KeyFiles.Problem.self) { try KeyFiles.readSecret("\(folder)/pool-a.secret") }
    }
}
