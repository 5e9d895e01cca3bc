import Core
import Foundation
import Runtime
import Testing

/// `baton down` as an operator runs it on a cluster with work running.
@Suite struct DownTests {
    /// Found by an operator: `down` stopped workers one after another, each waiting out its drain, so that
    /// the drains added up and the workers not yet signalled kept taking tasks. Every worker is told at once:
    /// each began to drain before any had stopped.
    @Test func everyWorkerDrainsAtOnce() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            var text = try ChaosTests.clusterFile(data: "\(folder)/data")
            text = text.replacingOccurrences(of: #""workers": 2"#, with: #""workers": 2, "drain": "2s""#)
            #expect(text.contains("\"drain\""), "\(text)")
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            #expect(try ChaosTests.baton(["up", "--config", config]).0 == 0)
            var down = false
            defer { if !down { _ = try? ChaosTests.baton(["down", "--config", config]) } }
            let admin = try APIClient(cluster: try SecurityTests.load(config))
            let flow = #"{"product": "p", "flow": "long", "jobs": [{"name": "a", "partitions": 16, "run": "sleep 30"}]}"#
            try admin.apply([flow])
            _ = try admin.start("p/long")
            try waitUntil("both workers to run tasks") {
                let workers = try admin.call("workers", .object([])).body["shards"]?.array ?? []
                let busy = Set(workers.flatMap { $0["workers"]?.array ?? [] }.filter { ($0["leases"]?.integer ?? 0) > 0 }.compactMap { $0["name"]?.string })
                return busy.count == 2
            }
            #expect(try ChaosTests.baton(["down", "--config", config]).0 == 0)
            down = true
            // Each worker's log: when it began to drain, and when it stopped.
            func moments(_ worker: String) throws -> (draining: String, stopped: String) {
                let lines = try String(contentsOfFile: "\(folder)/data/logs/worker-chaos-\(worker).log", encoding: .utf8).split(separator: "\n")
                let draining = try #require(lines.last { $0.contains(" info draining") }, "worker \(worker) never drained")
                let stopped = try #require(lines.last { $0.contains(" info stopped") }, "worker \(worker) never stopped")
                return (String(draining.prefix(24)), String(stopped.prefix(24)))
            }
            let (first, second) = (try moments("1"), try moments("2"))
            #expect(first.draining < second.stopped && second.draining < first.stopped, "\(first) \(second)")
        }
    }
}
