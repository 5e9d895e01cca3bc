import Core
import Foundation
import Glibc
import Runtime
import Store
import Testing
import Wire

/// Two `baton timer` processes fire one schedule against a real cluster; one is killed with SIGKILL
/// halfway. Every second fires once: never twice, and none is lost while the other timer runs.
@Suite(.serialized) struct TimerProcessTests {
    @Test func twoTimerProcessesFireEachSecondOnceAndOneSurvivesTheOthersDeath() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            var file = try ChaosTests.clusterFile(data: "\(folder)/data")
            file = file.replacingOccurrences(of: "\"durability\"", with: "\"timer\": {\"grace\": \"10s\"},\n  \"durability\"")
            try file.write(toFile: config, atomically: true, encoding: .utf8)
            let (upStatus, upOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(upStatus == 0, "\(upOutput)")
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
            let cluster = try {
                if case .success(let cluster) = ClusterFile.parse(try String(contentsOfFile: config, encoding: .utf8), file: config) { return cluster }
                throw ServiceError("the generated cluster file is invalid")
            }()

            // The second timer, beside the one `baton up` started.
            let second = Process()
            second.executableURL = URL(fileURLWithPath: CommandLineTests.baton)
            second.arguments = ["timer", "--config", config, "--index", "2"]
            second.environment = ProcessInfo.processInfo.environment.merging(["BATON_LOG": "debug"]) { _, new in new }
            let secondLog = "\(folder)/second-timer.log"
            _ = FileManager.default.createFile(atPath: secondLog, contents: nil)
            second.standardOutput = FileHandle(forWritingAtPath: secondLog)
            second.standardError = second.standardOutput
            try second.run()
            defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }

            let client = try APIClient(cluster: cluster)
            let flow = #"{"product": "ops", "flow": "tick", "schedule": {"cron": "* * * * * *", "catch_up": "none"}, "jobs": [{"name": "a", "run": "true"}]}"#
            try client.apply([flow])
            /// Waits (at most 30 s) until the schedule has started `count` runs.
            func waitForFirings(_ count: Int) throws {
                for _ in 0..<300 {
                    let reply = try client.call("schedule", .object([("flow", .string("ops/tick")), ("next", .number(0))]))
                    if (reply.body["fired"]?.integer ?? 0) >= count { return }
                    usleep(100_000)
                }
                Issue.record("the schedule did not reach \(count) firings")
            }
            try waitForFirings(3)
            let pidFile = "\(cluster.data)/run/timer.pid"
            let first = try #require(pid_t(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            kill(first, SIGKILL)
            let killed = SystemClock().now()
            let before = try client.call("schedule", .object([("flow", .string("ops/tick"))])).body["fired"]?.integer ?? 0
            try waitForFirings(Int(before) + 3)
            kill(second.processIdentifier, SIGKILL)
            second.waitUntilExit()
            _ = try ChaosTests.baton(["down", "--config", config])

            let store = try ManagementStore(path: cluster.storePath(of: .management)!)
            defer { store.database.close() }
            let firings = try store.firings(of: "ops/tick", limit: 1000).reversed()
            let instants = firings.map(\.instant.milliseconds)
            // Every whole second from the first firing to the last, each once.
            #expect(instants.count >= 6, "\(instants)")
            #expect(zip(instants, instants.dropFirst()).allSatisfy { $1 - $0 == 1000 }, "a second was skipped or fired twice: \(instants)")
            #expect(firings.allSatisfy { $0.outcome == .started && $0.run != 0 })
            #expect(firings.contains { $0.instant > killed }, "the surviving timer kept firing")
            #expect(firings.filter { $0.instant > killed }.allSatisfy { $0.timer.hasSuffix("/timer/2") }, "only the second timer was left")
            // One run per firing, and none of them twice.
            let runs = try store.database.prepare("SELECT key, COUNT(*) FROM runs WHERE flow = 'tick' GROUP BY key")
            var keys = 0
            while try runs.step() {
                keys += 1
                #expect(runs.int(1) == 1, "\(runs.text(0)) started \(runs.int(1)) runs")
                #expect(runs.text(0).hasPrefix("schedule:ops/tick@"))
            }
            runs.reset()
            #expect(keys == firings.count)
        }
    }
}
