import Core
import Foundation
import Glibc
import Runtime
import Testing
import Wire

/// A worker written in Python from `docs/protocol.md` alone (`examples/python/worker.py`, pyzmq) runs
/// every task of an encrypted cluster of processes with its pool's key, and one with a key of another
/// role is refused and takes nothing. `make test` provides a Python with pyzmq as `BATON_TEST_PYTHON`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["BATON_TEST_PYTHON"] != nil, "needs BATON_TEST_PYTHON: a Python with pyzmq (make test makes one)"))
struct ForeignWorkerTests {
    static let python = ProcessInfo.processInfo.environment["BATON_TEST_PYTHON"] ?? "python3"
    static let worker = "\(repositoryRoot)/examples/python/worker.py"

    /// Leaves a line with the worker's name and the task, fails the first attempt of `flaky`.
    static let traced = #"echo "$BATON_WORKER $BATON_JOB $BATON_PARTITION $BATON_ATTEMPT" >> "$BATON_PARAM_trace"; [ "$BATON_JOB" != flaky ] || [ "$BATON_ATTEMPT" -ge 2 ]"#

    @Test func aPythonWorkerWithItsPoolsKeyRunsAFlowAndOneWithAnotherKeyIsRefused() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            func endpoint() throws -> JSON { .string("tcp://127.0.0.1:\(try FreePort.find())") }
            let shards: [JSON] = try (1...2).map { id in
                .object([("id", .number(id)), ("submit", try endpoint()), ("work", try endpoint()), ("events", try endpoint())])
            }
            try JSON.object([
                ("data", .string("\(folder)/data")), ("heartbeat", .string("250ms")),
                ("management", .object([("api", try endpoint())])),
                ("orchestrator", .object([("ops", try endpoint()), ("events", try endpoint())])), ("shards", .array(shards)),
                // Baton starts no worker of its own: the pool's workers are Python processes.
                ("pools", .array([.object([("name", .string("py")), ("slots", .number(4)), ("workers", .number(0))])])),
            ]).rendered(pretty: true).write(toFile: config, atomically: true, encoding: .utf8)
            let (upStatus, upOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(upStatus == 0, "\(upOutput)")
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
            let cluster = try SecurityTests.load(config)
            let keys = "\(folder)/data/keys"

            var workers: [Foundation.Process] = []
            defer {
                for worker in workers where worker.isRunning { kill(worker.processIdentifier, SIGKILL) }
                for worker in workers { worker.waitUntilExit() }
            }
            for shard in cluster.shards {
                workers.append(try Self.start(shard: shard, name: "py/\(shard.id)", key: "\(keys)/pool-py.secret", keys: keys, folder: folder))
            }

            let trace = "\(folder)/trace"
            var jobs: [JSON] = [.object([("name", .string("extract")), ("run", .string(Self.traced)), ("partitions", .number(4))])]
            for index in 0..<8 {
                jobs.append(.object([("name", .string("load\(index)")), ("after", .array([.string("extract")])), ("run", .string(Self.traced))]))
            }
            jobs.append(.object([
                ("name", .string("flaky")), ("after", .array((0..<8).map { .string("load\($0)") })), ("run", .string(Self.traced)),
                ("retries", .number(1)), ("backoff", .string("50ms")),
            ]))
            let flow = JSON.object([
                ("product", .string("foreign")), ("flow", .string("nightly")), ("params", .object([("trace", .string(""))])), ("jobs", .array(jobs)),
            ]).rendered()
            let admin = try APIClient(cluster: cluster)
            try admin.apply([flow])
            let run = try admin.start("foreign/nightly", params: ["trace": trace])
            let status = try admin.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded", "\(status.rendered())")
            let lines = DistributedJobTests.trace(trace)
            // 4 partitions, 8 loads, and flaky twice; every one run by a Python worker.
            #expect(lines.count == 14, "\(lines)")
            #expect(lines.allSatisfy { $0.first?.hasPrefix("py/") == true }, "\(lines)")
            #expect(lines.filter { $0[1] == "flaky" }.map { $0[3] } == ["1", "2"])

            // A viewer's key at a shard: the handshake is refused, the worker says so and stops, having taken nothing.
            #expect(try ChaosTests.baton(["keys", "new", "intruder", "--role", "viewer", "--dir", "\(folder)/other"]).0 == 0)
            let intruder = try Self.start(
                shard: cluster.shards[0], name: "intruder", key: "\(folder)/other/intruder.secret", keys: keys, folder: folder)
            workers.append(intruder)
            intruder.waitUntilExit()
            let said = (try? String(contentsOfFile: "\(folder)/intruder.log", encoding: .utf8)) ?? ""
            #expect(intruder.terminationStatus != 0)
            #expect(said.contains("refused the handshake (HANDSHAKE_FAILED_AUTH)"), "\(said)")
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/intruder/logs"))
        }
    }

    /// `baton dev` binds each shard's `work` socket on a loopback port beside inproc and prints it: a
    /// Python worker started with that endpoint, and no key, runs a flow of `baton dev` with no worker
    /// of Baton's own.
    @Test func aPythonWorkerJoinsBatonDevAtTheWorkEndpointItPrints() throws {
        try withTemporaryFolder { folder in
            let data = "\(folder)/data"
            let (dev, banner) = try startDev(data: data, ["--workers", "0", "--no-web"])
            defer {
                kill(dev.processIdentifier, SIGKILL)
                dev.waitUntilExit()
            }
            let line = try #require(banner.split(separator: "\n").first { $0.hasPrefix("shard 1 work:") }, "\(banner)")
            let endpoint = try #require(line.split(separator: " ").first { $0.hasPrefix("tcp://127.0.0.1:") }.map(String.init), "\(line)")
            let process = Foundation.Process()
            process.executableURL = URL(fileURLWithPath: Self.python)
            process.arguments = [Self.worker, "--endpoint", endpoint, "--name", "py/dev", "--slots", "4", "--heartbeat", "250", "--data", "\(folder)/py"]
            let log = "\(folder)/py.log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            defer {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            let trace = "\(folder)/trace"
            let flow = JSON.object([
                ("product", .string("foreign")), ("flow", .string("dev")), ("params", .object([("trace", .string(""))])),
                ("jobs", .array([
                    .object([("name", .string("extract")), ("run", .string(Self.traced)), ("partitions", .number(3))]),
                    .object([("name", .string("load0")), ("after", .array([.string("extract")])), ("run", .string(Self.traced))]),
                ])),
            ]).rendered()
            try flow.write(toFile: "\(folder)/flow.json", atomically: true, encoding: .utf8)
            #expect(try ChaosTests.baton(["apply", "--data", data, "\(folder)/flow.json"]).0 == 0)
            let (status, output) = try ChaosTests.baton(["start", "--data", data, "foreign/dev", "--param", "trace=\(trace)", "--wait"])
            #expect(status == 0, "\(output) \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            let lines = DistributedJobTests.trace(trace)
            #expect(lines.count == 4 && lines.allSatisfy { $0.first == "py/dev" }, "\(lines)")
        }
    }

    /// Starts `examples/python/worker.py` for `shard`, with `key`, logging to FOLDER/NAME.log.
    static func start(shard: ClusterConfiguration.Shard, name: String, key: String, keys: String, folder: String) throws -> Foundation.Process {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: python)
        let label = name.replacingOccurrences(of: "/", with: "-")
        process.arguments = [
            worker, "--endpoint", shard.work, "--name", name, "--slots", "4", "--heartbeat", "250",
            "--key-file", key, "--server-key-file", "\(keys)/shard-\(shard.id).key", "--data", "\(folder)/\(label)",
        ]
        let log = "\(folder)/\(label).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }
}
