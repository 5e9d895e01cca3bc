import Core
import Foundation
import Glibc
import Runtime
import Testing
import Wire
import ZeroMQ

/// The attacks of `docs/security.md` against a cluster of processes secured as `baton up` sets it up:
/// each fails for the attacker, and the same cluster then runs its flow to success.
@Suite(.serialized) struct SecurityTests {
    /// A job that waits for its gate file, so that a run stays open while it is attacked.
    static let gated = #"while [ ! -e "$BATON_PARAM_gate" ]; do sleep 0.01; done; echo done >> "$BATON_PARAM_trace""#

    @Test func everyAttackFailsAndTheClusterStillRunsItsFlow() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            // A second pool, of no worker of Baton's own and limited to another product: its key is a worker's,
            // of the wrong pool.
            let text = try ChaosTests.clusterFile(data: "\(folder)/data").replacingOccurrences(
                of: "\"workers\": 2\n    }", with: #""workers": 2}, {"name": "other", "workers": 0, "products": ["elsewhere"]}"#)
            #expect(text.contains("\"other\""))
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let (upStatus, upOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(upStatus == 0, "\(upOutput)")
            #expect(upOutput.contains("made the keys of"), "\(upOutput)")
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
            let cluster = try Self.load(config)
            let keys = "\(folder)/data/keys"
            let admin = try APIClient(cluster: cluster)

            // A viewer's key, made and read by the running cluster without a restart.
            #expect(try ChaosTests.baton(["keys", "new", "vera", "--role", "viewer", "--config", config]).0 == 0)
            #expect(try ChaosTests.baton(["keys", "new", "watcher", "--role", "admin", "--config", config]).0 == 0)
            let reload = try ChaosTests.baton(["keys", "reload", "--config", config])
            #expect(reload.0 == 0 && reload.1.contains("told management"), "\(reload.1)")
            try waitUntil("management reads vera's key") {
                ((try? String(contentsOfFile: "\(folder)/data/logs/management.log", encoding: .utf8)) ?? "").contains("vera")
            }
            // An admin sees her key among those management trusts, by fingerprint.
            let listed = try admin.call("keys").body["keys"]?.array ?? []
            let veraKey = try KeyFiles.readPublic("\(keys)/vera.key")
            #expect(listed.contains { $0["name"]?.string == "vera" && $0["role"]?.string == "viewer" && $0["fingerprint"]?.string == veraKey.fingerprint })

            let flow = JSON.object([
                ("product", .string("ledger")), ("flow", .string("close")),
                ("params", .object([("trace", .string("")), ("gate", .string(""))])),
                ("jobs", .array([
                    .object([("name", .string("wait")), ("run", .string(Self.gated))]),
                    .object([("name", .string("after")), ("after", .array([.string("wait")])), ("run", .string(#"echo after >> "$BATON_PARAM_trace""#))]),
                ])),
            ]).rendered()
            try admin.apply([flow])
            let trace = "\(folder)/trace", gate = "\(folder)/gate", marker = "\(folder)/owned"
            let run = try admin.start("ledger/close", params: ["trace": trace, "gate": gate])

            let attacker = try Attacker(cluster: cluster, keys: keys)
            defer { attacker.close() }
            let shard = cluster.shards[0]

            // 1. No CURVE, on every kind of socket: the handshake fails and nothing is taken.
            for endpoint in [shard.submit, shard.work, cluster.orchestrator.ops, cluster.management.api] {
                #expect(try attacker.refused(endpoint, as: nil), "\(endpoint) let a peer without CURVE in")
            }
            // 2. An unknown key, which knows the servers' keys.
            let stranger = Attacker.stranger(try Curve.keyPair())
            for endpoint in [shard.submit, shard.work, cluster.orchestrator.ops, cluster.management.api] {
                #expect(try attacker.refused(endpoint, as: stranger), "\(endpoint) let an unknown key in")
            }
            // 3. Known keys on sockets their role may not use: a worker pool's key pushing a SUBMIT that would
            //    run a command, sending OPERATION-REQUESTs, reading a shard's events; a viewer at a shard.
            let pool = try KeyFiles.readSecret("\(keys)/pool-chaos.secret")
            let vera = try KeyFiles.readSecret("\(keys)/vera.secret")
            let submit = Message.submit(Submit(jobs: [
                JobSpec(run: 999, job: "own", product: "ledger", flow: "close", moment: 1, type: "ledger/own",
                        steps: [StepSpec(name: "own", kind: .command, action: "touch \(marker)")])
            ])).encoded()
            #expect(try attacker.refused(shard.submit, as: pool, sending: submit))
            #expect(try attacker.refused(cluster.orchestrator.ops, as: pool, sending: Message.operationRequest(
                OperationRequest(request: 1, action: .start, run: 1_000)).encoded()))
            #expect(try attacker.refused(shard.events, as: pool))
            #expect(try attacker.refused(cluster.orchestrator.events, as: pool))
            #expect(try attacker.refused(shard.work, as: vera))

            // 4. A worker pool's key on a shard's `work` socket, where it may connect: a CONTROL that would
            //    cancel the run is refused. The probe behind it (a frame of another protocol version,
            //    answered DISCONNECT 505) proves the CONTROL was read first, on the same connection.
            // Each from a context of its own, clear of the sockets the attacks above opened and closed.
            for target in cluster.shards {
                let prober = try Attacker(cluster: cluster, keys: keys)
                defer { prober.close() }
                let answer = try prober.sendThenProbe(target.work, as: pool, Message.control(
                    Control(request: 77, action: .cancelRun, run: run, grace: 0)).encoded())
                #expect(answer == .versionNotSupported)
                // Unanswered once under full-suite load: what the shard logged, for the next time.
                if answer == nil { Self.printLogTail("\(folder)/data/logs/shard-\(target.id).log") }
            }

            // 5. Another pool's key, which may speak the worker protocol: a READY under the name of a worker
            //    that holds the run's task is refused (403) and takes nothing from it; RESULTS for tasks it does
            //    not hold are receipted and change nothing.
            let other = try KeyFiles.readSecret("\(keys)/pool-other.secret")
            // A context of its own for what must get through, as for the probes above.
            let worker = try Attacker(cluster: cluster, keys: keys)
            defer { worker.close() }
            let home = try #require(cluster.shard(UInt32(try admin.call("status", .object([("run", .number(run))])).body["run"]?["shard"]?.integer ?? 0)))
            let host = ServiceEnvironment(log: Log(service: "test", level: .quiet)).host
            for index in 1...2 {
                let answer = try worker.exchange(home.work, as: other, [
                    Message.ready(Ready(worker: "\(host)/chaos/\(index)", session: 7, slots: 8, heartbeat: 1000)).encoded()
                ]) { if case .disconnect(let disconnect) = $0 { disconnect.status } else { nil } }
                #expect(answer == .forbidden, "READY as \(host)/chaos/\(index): \(String(describing: answer))")
            }
            let forged = (1...50).map { TaskResult(task: UInt64($0), attempt: 1, outcome: .succeeded, started: 1, duration: 1) }
            let receipted = try worker.exchange(home.work, as: other, [
                Message.ready(Ready(worker: "intruder", session: 8, slots: 0, heartbeat: 1000)).encoded(),
                Message.results(Results(results: forged)).encoded(),
            ]) { if case .receipt(let receipt) = $0 { receipt.tasks.count } else { nil } }
            #expect(receipted == 50)

            // 5b. A worker of the `other` pool, limited to the product `elsewhere`, registered with free slots
            //     while the ledger's run has work to hand out: it is handed none of it (checked once the run
            //     has ended), and a long heartbeat keeps it registered all the while.
            let (limited, limitedMonitor) = try worker.connect(home.work, as: other, type: .dealer)
            defer {
                limited.close()
                limitedMonitor.close()
            }
            var limitedHeard: [Message] = []
            func hear(until done: (Message) -> Bool) throws -> Bool {
                while let frames = try limited.receive() {
                    guard let message = try? Message.decode(frames.last ?? []) else { continue }
                    limitedHeard.append(message)
                    if done(message) { return true }
                }
                return false
            }
            _ = try limited.send(Message.ready(Ready(worker: "other-1", session: 9, slots: 8, heartbeat: 60_000)).encoded())
            #expect(try hear { if case .welcome = $0 { true } else { false } }, "the limited worker was not welcomed")

            // 6. The API with a viewer's key: reading works, changing is refused 403 and audited.
            let viewer = try APIClient(endpoint: cluster.management.api, curve: (vera, try KeyFiles.readPublic("\(keys)/management.key").publicKey))
            #expect(try viewer.call("status", .object([("run", .number(run))])).status == .ok)
            let stop = try viewer.call("stop", .object([("run", .number(run)), ("actor", .string("admin")), ("request", .string("x"))]))
            #expect(stop.status == .forbidden && stop.errorText.contains("stop needs the operator role; vera is a viewer"), "\(stop.errorText)")
            let apply = try viewer.call("apply", .object([("files", .array([.object([("path", .string("f.json")), ("text", .string(flow))])]))]))
            #expect(apply.status == .forbidden)
            // The second refusal, within a second of the first, is answered but not written with it (one entry a
            // second a key); once that second is over, one entry counts it.
            var refused: [JSON] = []
            try waitUntil("management audits the refusal it left unsaid") {
                refused = try admin.call("history", .object([("actor", .string("vera"))])).body["actions"]?.array ?? []
                return refused.count >= 2
            }
            #expect(refused.count == 2)
            #expect(refused.map { $0["action"]?.string ?? "" } == ["stop", "apply"], "\(refused)")
            #expect(refused.last?["detail"]?.string == "1 more requests of vera refused for its role in the second after the last entry (the last: apply)")
            #expect(refused.first?["comment"]?.string == "claimed actor \"admin\"")
            #expect(refused.allSatisfy { $0["outcome"]?.string == "refused" && $0["status"]?.integer == 403 })

            // 7. A flood of handshakes from unknown keys, going on while the run ends and what follows runs.
            // From a context of its own: its 200 sockets' teardown is not to hold up the watcher's below.
            let flooder = try Attacker(cluster: cluster, keys: keys)
            var flood = try flooder.flood(cluster.management.api, count: 100) + flooder.flood(shard.work, count: 100)
            var flooding = true
            defer {
                if flooding { for socket in flood { socket.close() } }
                flooder.close()
            }

            // The run was never cancelled, and finishes once its gate opens.
            let open = try admin.call("status", .object([("run", .number(run))]))
            #expect(open.body["run"]?["state"]?.string == "running", "\(open.body.rendered())")
            _ = FileManager.default.createFile(atPath: gate, contents: nil)
            let status = try admin.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded", "\(status.rendered())")
            #expect(DistributedJobTests.trace(trace).map { $0.joined(separator: " ") } == ["done", "after"])
            #expect(!FileManager.default.fileExists(atPath: marker), "the forged SUBMIT ran its command")
            // Management took vera's requests as hers alone, and the run's start as the admin's.
            let actions = try admin.call("history", .object([("run", .number(run))])).body["actions"]?.array ?? []
            #expect(actions.map { "\($0["actor"]?.string ?? "") \($0["action"]?.string ?? "")" } == ["admin start", "vera stop"])
            // The flood has made its point once a log has counted it: a line says how many were refused since
            // the one before, which takes refusals more than a second after the first. A flood's sockets may
            // have stopped trying by then (a loaded machine makes a quick run's end slow), so a few more join
            // it each half second, at most 300. Then the handshakes below are not to queue behind a thousand a
            // second.
            var polls = 0
            try waitUntil("a log line to count the flood") {
                polls += 1
                if polls % 50 == 0 && flood.count < 500 { flood += try flooder.flood(shard.work, count: 10) }
                return try FileManager.default.contentsOfDirectory(atPath: "\(folder)/data/logs").contains { file in
                    file.hasSuffix(".log")
                        && ((try? String(contentsOfFile: "\(folder)/data/logs/\(file)", encoding: .utf8)) ?? "").contains("also refused since the last line=")
                }
            }
            for socket in flood { socket.close() }
            flooding = false

            // The limited worker was handed none of the ledger's tasks, nor told of them. Its pool's key removed
            // and read again, the shard ends it at once: DISCONNECT 403, without waiting for its heartbeat.
            try FileManager.default.removeItem(atPath: "\(keys)/pool-other.key")
            #expect(try ChaosTests.baton(["keys", "reload", "--config", config]).0 == 0)
            #expect(try hear { if case .disconnect(let disconnect) = $0 { disconnect.status == .forbidden } else { false } },
                    "a removed pool key's worker was not ended: \(limitedHeard.map(\.id.name))")
            #expect(!limitedHeard.contains { if case .tasks = $0 { true } else if case .demand = $0 { true } else { false } },
                    "a worker limited to another product heard of the ledger's work: \(limitedHeard.map(\.id.name))")

            // An admin's watcher of shard 1's events, which hears its beacons; on a context of its own, clear
            // of the hundreds of sockets the attacks above opened and closed.
            let watcher = try KeyFiles.readSecret("\(keys)/watcher.secret")
            let listener = try Attacker(cluster: cluster, keys: keys)
            let (events, monitor) = try listener.connect(shard.events, as: watcher, type: .sub)
            defer {
                events.close()
                monitor.close()
                listener.close()
            }
            try events.subscribe([])
            // Its first beacon: the handshake and the subscription come first, and a loaded machine is slow.
            do {
                try waitUntil("the watcher to hear the shard") { try events.receive(dontWait: true) != nil }
            } catch {
                // Unheard once under full-suite load: what the watcher's socket and the shard saw, for the next time.
                var seen: [String] = []
                try monitor.setReceiveTimeout(milliseconds: 100)
                while let frames = try monitor.receive() { if let event = SocketEvent(frames) { seen.append("\(event.kind.rawValue)/\(event.value)") } }
                FileHandle.standardError.write(Data("the watcher's monitor saw \(seen)\n".utf8))
                Self.printLogTail("\(folder)/data/logs/shard-\(shard.id).log")
                throw error
            }

            // A key removed and read again stops counting at once, without a restart: a new connection is
            // refused, and a publisher drops its subscribers, the removed key's among them.
            // The reload that added vera's key wrote a line naming her too: wait for a line after it.
            func reloads() -> [Substring] {
                ((try? String(contentsOfFile: "\(folder)/data/logs/management.log", encoding: .utf8)) ?? "")
                    .split(separator: "\n").filter { $0.contains("keys read again") }
            }
            // A folder the processes would refuse is named first, and no process is told (each would keep
            // its keys while the command said it told them).
            let broken = "\(keys)/carol.key"
            _ = FileManager.default.createFile(atPath: broken, contents: Data())
            let refusedReload = try ChaosTests.baton(["keys", "reload", "--config", config])
            #expect(refusedReload.0 == 1 && refusedReload.1.contains("no process was told") && refusedReload.1.contains("carol.key"), "\(refusedReload.1)")
            #expect(!refusedReload.1.contains("told management"), "\(refusedReload.1)")
            try FileManager.default.removeItem(atPath: broken)
            let before = reloads().count
            try FileManager.default.removeItem(atPath: "\(keys)/vera.key")
            try FileManager.default.removeItem(atPath: "\(keys)/watcher.key")
            #expect(try ChaosTests.baton(["keys", "reload", "--config", config]).0 == 0)
            try waitUntil("management drops vera's key") { reloads().dropFirst(before).contains { $0.contains("vera") } }
            #expect(try attacker.refused(cluster.management.api, as: vera), "a removed key still got in")
            #expect(try Attacker.waitForEvent(monitor, [.disconnected]) == .disconnected)
            while try events.receive(dontWait: true) != nil {}
            #expect(try Attacker.waitForEvent(monitor, .handshakeFailed) == .handshakeFailedAuthentication)
            // The cluster goes on, its own subscribers connected again: another run succeeds, and the watcher
            // hears none of it.
            let again = try admin.start("ledger/close", params: ["trace": trace, "gate": gate])
            #expect(try admin.waitForRun(again)["run"]?["state"]?.string == "succeeded")
            #expect(try events.receive(dontWait: true) == nil)

            // What the processes wrote of all this. Every secret file is its owner's alone (0600), and no secret
            // is in any log. Refusals are named by the key's fingerprint, never its whole text, and each log
            // says at most a few a second however many came: the flood's thousands are counted, not written.
            let logs = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/data/logs").filter { $0.hasSuffix(".log") }
                .map { ((try? String(contentsOfFile: "\(folder)/data/logs/\($0)", encoding: .utf8)) ?? "") }
            for file in try FileManager.default.contentsOfDirectory(atPath: keys) where file.hasSuffix(".secret") {
                let mode = try FileManager.default.attributesOfItem(atPath: "\(keys)/\(file)")[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(file) has mode \(String(mode ?? 0, radix: 8))")
                let secret = try KeyFiles.readSecret("\(keys)/\(file)").secretKey
                #expect(!logs.contains { $0.contains(secret) }, "the secret of \(file) is in a log")
            }
            let refusals = logs.flatMap { $0.split(separator: "\n").filter { $0.contains(" warning refused ") } }
            #expect(refusals.contains { $0.contains("also refused since the last line=") }, "the flood was written line by line")
            #expect(refusals.contains { $0.contains("key=\(KeyIdentity.fingerprint(of: stranger.identity.publicKey))") })
            #expect(!refusals.contains { $0.contains(stranger.identity.publicKey) })
            for log in logs {
                let seconds = Dictionary(grouping: log.split(separator: "\n").filter { $0.contains(" warning refused ") }) { $0.prefix(19) }
                // A line a second of the handler's and the messages' refusals, one every 10 s of failed
                // handshakes, and the service's own (a shard's of READY and results).
                #expect(seconds.values.allSatisfy { $0.count <= 4 }, "\(seconds.values.map(\.count).max() ?? 0) refusals written in one second: \(seconds.values.filter { $0.count > 4 })")
            }
        }
    }

    /// libzmq lets a CURVE peer in unasked when no ZAP handler answers. A cluster whose handler has stopped
    /// (or has not started: services bind only after it is up) still takes nothing from such a peer, while
    /// the connections made before go on.
    @Test func aPeerThatConnectsWhenNoHandlerAnswersGetsNothing() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            try ChaosTests.clusterFile(data: "\(folder)/data").write(toFile: config, atomically: true, encoding: .utf8)
            let configuration = try Self.load(config)
            _ = try ClusterKeys.createMissing(in: configuration)
            let cluster = try EmbeddedCluster(configuration, environment: ServiceEnvironment(log: Log(service: "test", level: .error)))
            defer { cluster.stop() }
            let admin = try APIClient(cluster: configuration)
            try admin.apply([ChaosTests.flows()[0].1])
            let gate = try #require(cluster.gate)
            gate.stop()

            let attacker = try Attacker(cluster: configuration, keys: "\(folder)/data/keys")
            defer { attacker.close() }
            let shard = configuration.shards[0]
            let (socket, monitor) = try attacker.connect(shard.work, as: Attacker.stranger(try Curve.keyPair()), type: .dealer)
            defer {
                socket.close()
                monitor.close()
            }
            let ready = Message.ready(Ready(worker: "intruder", session: 1, slots: 8, heartbeat: 1000, commands: 1, tags: [], handlers: []))
            _ = try socket.send(ready.encoded())
            try waitUntil("the shard refuses the intruder's READY") { cluster.counters["shard-1"]?.refused ?? 0 >= 1 }
            // And a subscriber let in so is not subscribed to anything.
            let (events, eventsMonitor) = try attacker.connect(shard.events, as: Attacker.stranger(try Curve.keyPair()), type: .sub)
            defer {
                events.close()
                eventsMonitor.close()
            }
            try events.subscribe([])
            try waitUntil("the shard refuses the intruder's subscription") { cluster.counters["shard-1"]?.refused ?? 0 >= 2 }
            // Nor is anything taken from it on the other sockets that bind: a SUBMIT that would run a command
            // on the shard's PULL, an operation on the orchestrator's, a stop at management's API.
            let marker = "\(folder)/owned"
            var intruders: [(socket: Socket, monitor: Socket)] = []
            defer { for intruder in intruders { intruder.socket.close(); intruder.monitor.close() } }
            let sends: [(endpoint: String, type: SocketType, service: String, frame: Message)] = [
                (shard.submit, .push, "shard-1", .submit(Submit(jobs: [
                    JobSpec(run: 999, job: "own", product: "ledger", flow: "close", moment: 1, type: "ledger/own",
                            steps: [StepSpec(name: "own", kind: .command, action: "touch \(marker)")])
                ]))),
                (configuration.orchestrator.ops, .dealer, "orchestrator", .operationRequest(OperationRequest(request: 1, action: .start, run: 1_000))),
                (configuration.management.api, .dealer, "management", .apiRequest(APIRequest(request: 1, method: "stop", body: #"{"run": 1}"#))),
            ]
            for send in sends {
                let before = cluster.counters[send.service]?.refused ?? 0
                let intruder = try attacker.connect(send.endpoint, as: Attacker.stranger(try Curve.keyPair()), type: send.type)
                intruders.append(intruder)
                _ = try intruder.socket.send(send.frame.encoded())
                try waitUntil("\(send.service) refuses the intruder's \(send.frame.id.name)") { cluster.counters[send.service]?.refused ?? 0 > before }
            }

            // The established connections still work: a run goes through every service, shard 1's included.
            let trace = "\(folder)/trace"
            let run = try admin.start(ChaosTests.flows()[0].0, params: ["trace": trace])
            let status = try admin.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded", "\(status.rendered())")
            // Meanwhile the intruder was told nothing and given nothing, and heard no event.
            #expect(try socket.receive(dontWait: true) == nil)
            #expect(try events.receive(dontWait: true) == nil)
            for intruder in intruders where intruder.socket !== intruders[0].socket { #expect(try intruder.socket.receive(dontWait: true) == nil) }
            #expect(!FileManager.default.fileExists(atPath: marker), "the intruder's SUBMIT ran its command")
            #expect(cluster.counters["shard-1"]?.malformed == 0)
        }
    }

    /// Plain TCP only when the file says so, and then a warning from `baton up` and from every process.
    @Test func aClusterWithoutKeysSaysSoAtEveryStart() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            let text = try ChaosTests.clusterFile(data: "\(folder)/data")
                .replacingOccurrences(of: "\"durability\"", with: "\"security\": \"none\", \"durability\"")
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let (status, output) = try ChaosTests.baton(["up", "--config", config])
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
            #expect(status == 0, "\(output)")
            #expect(output.contains("warning: \(config) says \"security\": \"none\""), "\(output)")
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/data/keys"))
            let cluster = try Self.load(config)
            for name in ["management", "orchestrator", "shard-1", "shard-2"] {
                let log = (try? String(contentsOfFile: "\(folder)/data/logs/\(name).log", encoding: .utf8)) ?? ""
                #expect(log.contains("connections are not encrypted"), "\(name) did not warn")
            }
            // And it works, in the clear.
            let client = try APIClient(cluster: cluster)
            #expect(try client.call("ping", .object([])).status == .ok)
        }
    }

    /// The last lines of a service's log, on standard error: for a failure that cannot be replayed.
    static func printLogTail(_ path: String, lines: Int = 40) {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log at \(path))"
        let tail = text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        FileHandle.standardError.write(Data("--- the last \(lines) lines of \(path):\n\(tail)\n".utf8))
    }

    static func load(_ config: String) throws -> ClusterConfiguration {
        switch ClusterFile.parse(try String(contentsOfFile: config, encoding: .utf8), file: config) {
        case .success(let cluster): return cluster
        case .failure(let error): throw ServiceError("\(error)")
        }
    }
}

/// A peer that attacks a cluster from outside: its own context, with whatever key it has.
struct Attacker {
    let context: Context
    /// Each server's public key, by endpoint: an attacker may know them, they are public.
    let serverKeys: [String: String]
    /// The socket type that speaks to each endpoint: PUSH to a PULL, SUB to a PUB, else DEALER.
    let types: [String: SocketType]
    private static let guardMilliseconds: Int32 = 30_000
    private nonisolated(unsafe) static var monitors = 0

    init(cluster: ClusterConfiguration, keys: String) throws {
        context = try Context()
        var serverKeys: [String: String] = [:]
        var types: [String: SocketType] = [cluster.orchestrator.events: .sub]
        let public_ = { (name: String) throws -> String in try KeyFiles.readPublic("\(keys)/\(name).key").publicKey }
        serverKeys[cluster.management.api] = try public_("management")
        for endpoint in [cluster.orchestrator.ops, cluster.orchestrator.events] { serverKeys[endpoint] = try public_("orchestrator") }
        for shard in cluster.shards {
            for endpoint in [shard.submit, shard.work, shard.events] { serverKeys[endpoint] = try public_("shard-\(shard.id)") }
            types[shard.submit] = .push
            types[shard.events] = .sub
        }
        self.serverKeys = serverKeys
        self.types = types
    }

    func close() { context.shutdown() }

    /// A socket of `type` connected to `endpoint` with `key` (nil: no CURVE), and a monitor of its handshake.
    func connect(_ endpoint: String, as key: KeyPair?, type: SocketType) throws -> (socket: Socket, monitor: Socket) {
        let socket = try Socket(context, type: type)
        try socket.setReceiveTimeout(milliseconds: Self.guardMilliseconds)
        try socket.setSendTimeout(milliseconds: Self.guardMilliseconds)
        try socket.setLinger(milliseconds: 0)
        if let key {
            try socket.setCurveServerKey(serverKeys[endpoint] ?? "")
            try socket.setCurvePublicKey(key.identity.publicKey)
            try socket.setCurveSecretKey(key.secretKey)
        }
        Self.monitors += 1
        let name = "inproc://attacker-monitor-\(Self.monitors)"
        try socket.monitor(name, kinds: .all)
        let monitor = try Socket(context, type: .pair)
        try monitor.setReceiveTimeout(milliseconds: Self.guardMilliseconds)
        try monitor.connect(name)
        try socket.connect(endpoint)
        return (socket, monitor)
    }

    /// A key pair no process of the cluster knows.
    static func stranger(_ key: (publicKey: String, secretKey: String)) -> KeyPair {
        KeyPair(identity: KeyIdentity(name: "stranger", role: .admin, publicKey: key.publicKey), secretKey: key.secretKey)
    }

    /// Whether `endpoint` refuses the handshake of `key`: waits for the handshake's outcome, after sending
    /// `frame` (which must then never arrive) on a socket that sends; a socket that only reads must hear nothing.
    func refused(_ endpoint: String, as key: KeyPair?, sending frame: [UInt8]? = nil) throws -> Bool {
        let type = types[endpoint] ?? .dealer
        let (socket, monitor) = try connect(endpoint, as: key, type: type)
        defer {
            socket.close()
            monitor.close()
        }
        if type == .sub { try socket.subscribe([]) }
        if type != .sub { _ = try socket.send(frame ?? Message.heartbeat.encoded(), dontWait: true) }
        let (outcome, seen) = try waitForHandshake(monitor, endpoint, key)
        // What let a peer in, for the log of a failing test.
        func admitted(_ why: String) -> Bool {
            FileHandle.standardError.write(Data("\(key?.identity.name ?? "no CURVE") got in at \(endpoint): \(why); the monitor saw \(seen)\n".utf8))
            return false
        }
        if outcome == .handshakeSucceeded { return admitted("its handshake succeeded") }
        if type != .push, let frames = try socket.receive(dontWait: true) { return admitted("it received \(frames.map(\.count)) octets") }
        return true
    }

    /// Sends `frame` on a DEALER with `key`, then a frame of another protocol version; returns the status of
    /// the DISCONNECT that answers the second, which proves the first was read.
    func sendThenProbe(_ endpoint: String, as key: KeyPair, _ frame: [UInt8]) throws -> Status? {
        let (socket, monitor) = try connect(endpoint, as: key, type: .dealer)
        defer {
            socket.close()
            monitor.close()
        }
        var probe = Message.heartbeat.encoded()
        probe[Message.signature.count] = Message.version &+ 1
        _ = try socket.send(frame)
        _ = try socket.send(probe)
        while let frames = try socket.receive() {
            if case .disconnect(let disconnect) = try? Message.decode(frames.last ?? []) { return disconnect.status }
        }
        try Self.reportSilence(of: monitor, at: endpoint, to: key)
        return nil
    }

    /// Unanswered (seen under full-suite load): says what the socket's monitor saw, for the next time.
    static func reportSilence(of monitor: Socket, at endpoint: String, to key: KeyPair) throws {
        var seen: [String] = []
        try monitor.setReceiveTimeout(milliseconds: 100)
        while let frames = try monitor.receive() { if let event = SocketEvent(frames) { seen.append("\(event.kind.rawValue)/\(event.value)") } }
        FileHandle.standardError.write(Data("no answer from \(endpoint) to \(key.identity.name); the monitor saw \(seen)\n".utf8))
    }

    /// Sends `frames` on a new DEALER with `key`, then reads until `answer` picks a value out of a message.
    func exchange<T>(_ endpoint: String, as key: KeyPair, _ frames: [[UInt8]], answer: (Message) -> T?) throws -> T? {
        let (socket, monitor) = try connect(endpoint, as: key, type: .dealer)
        defer {
            socket.close()
            monitor.close()
        }
        for frame in frames { _ = try socket.send(frame) }
        while let received = try socket.receive() {
            if let message = try? Message.decode(received.last ?? []), let value = answer(message) { return value }
        }
        try Self.reportSilence(of: monitor, at: endpoint, to: key)
        return nil
    }

    /// Connects `count` sockets with new unknown keys, each with a request queued: libzmq tries their
    /// handshakes again and again (every 100 ms) until they are closed. Returns them, to close.
    func flood(_ endpoint: String, count: Int) throws -> [Socket] {
        try (0..<count).map { _ in
            let socket = try Socket(context, type: .dealer)
            try socket.setLinger(milliseconds: 0)
            try socket.setReconnectInterval(milliseconds: 100)
            let key = try Curve.keyPair()
            try socket.setCurveServerKey(serverKeys[endpoint] ?? "")
            try socket.setCurvePublicKey(key.publicKey)
            try socket.setCurveSecretKey(key.secretKey)
            try socket.connect(endpoint)
            _ = try socket.send(Message.heartbeat.encoded(), dontWait: true)
            return socket
        }
    }

    /// The first event of `kinds` the monitor reports.
    static func waitForEvent(_ monitor: Socket, _ kinds: SocketEvent.Kind) throws -> SocketEvent.Kind {
        while true {
            guard let frames = try monitor.receive() else { throw ServiceError("no event within the guard time") }
            if let event = SocketEvent(frames), !event.kind.isDisjoint(with: kinds) { return event.kind }
        }
    }

    /// The first handshake outcome the monitor reports: succeeded, or one of the failures (a disconnection
    /// before any handshake counts as one).
    ///
    /// libzmq's monitor now and then reports nothing at all for a socket (it drops events it cannot queue):
    /// a monitor silent for 5 s counts as no handshake, and the caller then checks that nothing arrived.
    private func waitForHandshake(_ monitor: Socket, _ endpoint: String, _ key: KeyPair?) throws -> (SocketEvent.Kind, [String]) {
        var seen: [String] = []
        try monitor.setReceiveTimeout(milliseconds: 5000)
        while true {
            guard let frames = try monitor.receive() else {
                guard seen.isEmpty else {
                    throw ServiceError("no handshake outcome at \(endpoint) for \(key?.identity.name ?? "no CURVE"); saw \(seen)")
                }
                return (.handshakeFailedNoDetail, seen)
            }
            guard let event = SocketEvent(frames) else { continue }
            seen.append("\(event.kind.rawValue)/\(event.value)")
            if event.kind == .handshakeSucceeded || !event.kind.isDisjoint(with: .handshakeFailed) || event.kind == .disconnected {
                return (event.kind, seen)
            }
        }
    }
}
