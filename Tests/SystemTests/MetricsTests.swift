import Core
import Foundation
import Glibc
import Runtime
import Testing

/// Every service of a cluster of processes serves `/metrics` that `promtool check metrics` accepts, with
/// figures that match what ran; `baton dev` serves them all at one address; the scrape configuration
/// and the alert rules in `deploy/prometheus` pass promtool's checks.
@Suite(.serialized) struct MetricsTests {
    /// The value of the series `name{labels}` (labels as written, in order), or nil.
    static func value(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    /// The sum of every series of `name` whose labels contain each of `containing`.
    static func sum(_ text: String, _ name: String, containing: [String] = []) -> Double {
        text.split(separator: "\n").filter { line in
            (line.hasPrefix(name + " ") || line.hasPrefix(name + "{")) && containing.allSatisfy { line.contains($0) }
        }.compactMap { Double($0.split(separator: " ").last!) }.reduce(0, +)
    }

    /// Whether nothing listens on 127.0.0.1:`port` (it can be bound).
    static func isFree(_ port: UInt16) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    static func checked(_ text: String, in folder: String, as name: String) throws {
        let file = "\(folder)/\(name).prom"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try promtool(["check", "metrics"], input: file)
        #expect(status == 0, "promtool check metrics on \(name):\n\(output)")
    }

    @Test func everyServiceOfAClusterOfProcessesServesMetricsPromtoolAccepts() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            func endpoint() throws -> JSON { .string("tcp://127.0.0.1:\(try FreePort.find())") }
            func web() throws -> (JSON, UInt16) {
                let port = try FreePort.find()
                return (.string("127.0.0.1:\(port)"), port)
            }
            let (managementWeb, managementPort) = try web()
            let (orchestratorWeb, orchestratorPort) = try web()
            let (timerWeb, timerPort) = try web()
            let shardWebs = try (1...2).map { _ in try web() }
            // Two workers: the second serves on the port above the pool's.
            var poolPort: UInt16 = 0
            repeat { poolPort = try FreePort.find() } while !Self.isFree(poolPort + 1)
            let shards: [JSON] = try (1...2).map { id in
                .object([
                    ("id", .number(id)), ("submit", try endpoint()), ("work", try endpoint()), ("events", try endpoint()),
                    ("metrics", shardWebs[id - 1].0),
                ])
            }
            try JSON.object([
                ("data", .string("\(folder)/data")), ("heartbeat", .string("250ms")),
                ("management", .object([("api", try endpoint()), ("metrics", managementWeb)])),
                ("orchestrator", .object([("ops", try endpoint()), ("events", try endpoint()), ("metrics", orchestratorWeb)])),
                ("timer", .object([("metrics", timerWeb)])),
                ("shards", .array(shards)),
                ("pools", .array([.object([("name", .string("general")), ("slots", .number(4)), ("workers", .number(2)), ("metrics", .string("127.0.0.1:\(poolPort)"))])])),
            ]).rendered(pretty: true).write(toFile: config, atomically: true, encoding: .utf8)
            let (upStatus, upOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(upStatus == 0, "\(upOutput)")
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }

            // A flow with a job that fails once and is retried.
            let flow = JSON.object([
                ("product", .string("ledger")), ("flow", .string("close")),
                ("jobs", .array([
                    .object([("name", .string("extract")), ("run", .string("true")), ("partitions", .number(3))]),
                    .object([
                        ("name", .string("flaky")), ("after", .array([.string("extract")])),
                        ("run", .string("[ \"$BATON_ATTEMPT\" -ge 2 ]")), ("retries", .number(1)), ("backoff", .string("10ms")),
                    ]),
                ])),
            ]).rendered()
            let admin = try APIClient(cluster: try SecurityTests.load(config))
            try admin.apply([flow])
            let run = try admin.start("ledger/close")
            let status = try admin.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded", "\(status.rendered())")
            let shard = Int(status["run"]?["shard"]?.integer ?? 1)

            // Refusals show, each where it happened: a key management does not trust, refused at the
            // handshake (its call is never answered), and a viewer's request its role may not make (403).
            let cluster = try SecurityTests.load(config)
            let strangers = "\(folder)/strangers"
            try FileManager.default.createDirectory(atPath: strangers, withIntermediateDirectories: true)
            _ = try KeyFiles.create(name: "stranger", role: .admin, in: strangers)
            let stranger = try APIClient(endpoint: cluster.management.api, curve: ClusterKeys.client(of: cluster, key: "\(strangers)/stranger.secret"))
            // Said as a refusal, at once, not as a management that does not answer.
            #expect(throws: APIClient.Refused.self, "an untrusted key was answered") { _ = try stranger.call("runs", timeout: 30_000) }
            do { _ = try stranger.call("runs", timeout: 30_000) } catch {
                #expect("\(error)".contains("refused this client's key at the handshake"), "\(error)")
            }
            // Trusted since, the same client is answered: it connects afresh after a refusal.
            try FileManager.default.copyItem(atPath: "\(strangers)/stranger.key", toPath: "\(folder)/data/keys/stranger.key")
            #expect(try ChaosTests.baton(["keys", "reload", "--config", config]).0 == 0)
            try waitUntil("the stranger's key to be trusted") { (try? stranger.call("runs", timeout: 2000))?.status == .ok }
            try FileManager.default.removeItem(atPath: "\(folder)/data/keys/stranger.key")
            #expect(try ChaosTests.baton(["keys", "new", "wall", "--role", "viewer", "--config", config]).0 == 0)
            #expect(try ChaosTests.baton(["keys", "reload", "--config", config]).0 == 0)
            let viewer = try APIClient(endpoint: cluster.management.api, curve: ClusterKeys.client(of: cluster, key: "\(folder)/data/keys/wall.secret"))
            try waitUntil("the viewer's key to be read") { try viewer.call("runs").status == .ok }
            #expect(try viewer.call("apply", .object([("files", .array([]))])).status == .forbidden)
            // A client without keys fails at the greeting, before the ZAP handler: counted all the same.
            let keyless = try APIClient(endpoint: cluster.management.api)
            #expect(throws: APIClient.Refused.self, "a keyless client was answered") { _ = try keyless.call("runs", timeout: 30_000) }
            try waitUntil("management to count the three refusals") {
                let body = try httpGet(port: managementPort, "/metrics").body
                return Self.value(body, #"baton_refused_connections_total{reason="key"}"#) ?? 0 >= 1
                    && Self.value(body, #"baton_refused_connections_total{reason="handshake"}"#) ?? 0 >= 1
                    && Self.value(body, "baton_refused_messages_total") == 1
            }

            var texts: [String: String] = [:]
            let ports = [
                ("management", managementPort), ("orchestrator", orchestratorPort), ("timer", timerPort), ("shard-1", shardWebs[0].1),
                ("shard-2", shardWebs[1].1), ("worker-1", poolPort), ("worker-2", poolPort + 1),
            ]
            for (name, port) in ports {
                let (code, body) = try httpGet(port: port, "/metrics")
                #expect(code == 200, "\(name): \(body)")
                try Self.checked(body, in: folder, as: name)
                #expect(Self.value(body, "process_open_fds") ?? 0 > 0, "\(name) tells its process's figures")
                #expect(!body.contains("service=\""), "one service a process: no service label")
                texts[name] = body
            }
            // What ran shows: 3 partitions and 2 attempts of flaky on the run's shard, one of them retried.
            let ran = texts["shard-\(shard)"]!
            #expect(Self.value(ran, #"baton_shard_attempts_ended_total{outcome="succeeded"}"#) == 4, "\(ran)")
            #expect(Self.value(ran, #"baton_shard_attempts_ended_total{outcome="retrying"}"#) == 1)
            #expect(Self.value(ran, "baton_shard_retries_total") == 1)
            #expect(Self.value(ran, #"baton_shard_queue_wait_seconds_count{product="ledger"}"#) == 5)
            #expect(Self.value(ran, #"baton_shard_task_run_seconds_count{product="ledger"}"#) == 5)
            #expect(Self.value(ran, #"baton_shard_queued_tasks{product="ledger"}"#) == 0)
            #expect(Self.value(ran, "baton_shard_workers") == 2)
            #expect(Self.value(ran, #"baton_shard_estimated_wait_seconds{product="ledger"}"#) == 0, "free slots: at once")
            #expect(Self.value(ran, #"baton_messages_received_total{kind="submit"}"#) ?? 0 >= 1)
            #expect(Self.sum(ran, "baton_store_commit_duration_seconds_count") > 0)
            #expect(Self.value(ran, "baton_store_bytes") ?? 0 > 0)
            #expect(Self.value(texts["management"]!, "baton_management_products") == 1)
            #expect(Self.value(texts["management"]!, #"baton_management_runs{state="succeeded"}"#) == 1)
            #expect(Self.value(texts["orchestrator"]!, #"baton_orchestrator_runs{state="succeeded"}"#) == 1)
            #expect(Self.value(texts["worker-1"]!, "baton_worker_slots") == 4)
            #expect(Self.sum(texts["worker-1"]!, "baton_messages_received_total", containing: [#"kind="tasks""#])
                + Self.sum(texts["worker-2"]!, "baton_messages_received_total", containing: [#"kind="tasks""#]) >= 1)
            #expect(Self.value(texts["timer"]!, "baton_timer_schedules") == 0)

            // Anything but /metrics is refused, naming what is served.
            let other = try httpGet(port: managementPort, "/secrets")
            #expect(other.code == 404)
            #expect(other.body.contains("/metrics"))
        }
    }

    @Test func devServesEveryServicesMetricsAtOneAddressEachLabelled() throws {
        try withTemporaryFolder { folder in
            let (dev, banner) = try startDev(data: "\(folder)/data", ["--web", "127.0.0.1:0"])
            defer {
                dev.interrupt()
                dev.waitUntilExit()
            }
            let line = banner.split(separator: "\n").first { $0.hasPrefix("metrics:") }
            let url = line?.split(separator: " ").last.map(String.init) ?? ""
            let port = url.split(separator: ":").last.flatMap { UInt16($0.split(separator: "/").first ?? "") }
            #expect(url.hasPrefix("http://127.0.0.1:") && url.hasSuffix("/metrics"), "\(banner)")
            let (code, body) = try httpGet(port: port ?? 0, "/metrics")
            #expect(code == 200)
            try Self.checked(body, in: folder, as: "dev")
            for service in ["management", "orchestrator", "shard-1", "timer", "worker-dev-1", "worker-dev-2"] {
                #expect(body.contains("baton_loop_turns_total{service=\"\(service)\"}"), "\(service) is there")
            }
            // A page of another site whose name was pointed at 127.0.0.1 reads nothing (DNS rebinding).
            let rebound = try httpRequest(port: port ?? 0, "GET", "/api/queue", headers: ["Host": "rebound.example:8700"])
            #expect(rebound.code == 421, "\(rebound)")
            #expect(try httpRequest(port: port ?? 0, "GET", "/api/ping", headers: ["Host": "localhost:\(port ?? 0)"]).code == 200)
        }
    }

    @Test func theScrapeConfigurationAndTheAlertRulesPassPromtool() throws {
        let rules = try promtool(["check", "rules", "\(repositoryRoot)/deploy/prometheus/baton-alerts.yml"])
        #expect(rules.status == 0, "\(rules.output)")
        let config = try promtool(["check", "config", "\(repositoryRoot)/deploy/prometheus/prometheus.yml"])
        #expect(config.status == 0, "\(config.output)")
        // Every metric the alerts use is one Baton serves (docs/metrics.md documents each).
        let text = try String(contentsOfFile: "\(repositoryRoot)/deploy/prometheus/baton-alerts.yml", encoding: .utf8)
        let documented = try String(contentsOfFile: "\(repositoryRoot)/docs/metrics.md", encoding: .utf8)
        let used = Set(text.matches(of: /baton_[a-z_]+/).map { String($0.output) })
        #expect(!used.isEmpty)
        for metric in used {
            let base = metric.replacing(/_(bucket|sum|count)$/, with: "")
            #expect(documented.contains("`\(base)`"), "\(metric) is documented in docs/metrics.md")
        }
    }
}
