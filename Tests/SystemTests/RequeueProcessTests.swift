import Core
import Foundation
import Glibc
import Runtime
import Testing
import Wire

/// Pause, resume, hold and release through a cluster of processes while a run's tasks wait behind
/// others of the same product: every task still runs once, as attempt 1, and a capped product does
/// not stall afterwards.
@Suite(.serialized) struct RequeueProcessTests {
    /// 40 partitions that each leave a trace line, then wait until the gate file exists.
    static let gated = #"echo "$BATON_PARTITION $BATON_ATTEMPT" >> "$BATON_PARAM_trace"; while [ ! -e "$BATON_PARAM_gate" ]; do sleep 0.01; done"#

    @Test func pausingResumingHoldingAndReleasingRunsEachTaskOnce() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            try ChaosTests.clusterFile(data: "\(folder)/data").write(toFile: config, atomically: true, encoding: .utf8)
            let (upStatus, upOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(upStatus == 0, "\(upOutput)")
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
            let cluster = try {
                if case .success(let cluster) = ClusterFile.parse(try String(contentsOfFile: config, encoding: .utf8), file: config) { return cluster }
                throw ServiceError("the generated cluster file is invalid")
            }()
            let client = try APIClient(cluster: cluster)
            let flow = JSON.object([
                ("product", .string("ledger")), ("flow", .string("wide")),
                ("params", .object([("trace", .string("")), ("gate", .string(""))])),
                ("jobs", .array([.object([("name", .string("part")), ("run", .string(Self.gated)), ("partitions", .number(40))])])),
            ]).rendered()
            try client.apply([flow])

            // Once without a cap (16 slots: 24 tasks wait), once with a cap of 4 (36 wait).
            for (round, cap) in [0, 4].enumerated() {
                if cap > 0 {
                    let capped = try DistributedJobTests.act(client, "set-policy", [("product", .string("ledger")), ("cap", .number(cap))], request: "cap")
                    #expect(capped.status == .ok, "\(capped.errorText)")
                }
                let trace = "\(folder)/trace-\(round)"
                let gate = "\(folder)/gate-\(round)"
                let run = try client.start("ledger/wide", params: ["trace": trace, "gate": gate])
                // The slots (or the cap) are full and the rest of the tasks wait behind them.
                try Self.waitForLines(trace, count: cap > 0 ? cap : 16)

                for (action, state) in [("pause", "paused"), ("resume", "running")] {
                    let reply = try DistributedJobTests.act(client, action, [("run", .number(run))], request: "\(action)-\(round)")
                    #expect(reply.status == .ok, "\(action): \(reply.errorText)")
                    _ = try DistributedJobTests.waitFor(client, run: run, state: state)
                }
                for (action, state) in [("hold", "paused"), ("release", "running")] {
                    let reply = try DistributedJobTests.act(client, action, [("product", .string("ledger"))], request: "\(action)-\(round)")
                    #expect(reply.status == .ok, "\(action): \(reply.errorText)")
                    _ = try DistributedJobTests.waitFor(client, run: run, state: state)
                }
                _ = FileManager.default.createFile(atPath: gate, contents: nil)
                let status = try client.waitForRun(run)
                #expect(status["run"]?["state"]?.string == "succeeded", "\(status.rendered())")

                let starts = DistributedJobTests.trace(trace)
                let partitions = starts.compactMap { $0.first.flatMap(Int.init) }
                #expect(partitions.sorted() == Array(0..<40), "each partition starts once: \(partitions.sorted())")
                #expect(starts.allSatisfy { $0.last == "1" }, "every start is attempt 1: \(starts.filter { $0.last != "1" })")
                #expect(job(status, "part")?["attempts"]?.integer == 1)
            }
        }
    }

    /// Waits until the trace holds at least `count` lines; the limit only guards against a hang.
    static func waitForLines(_ path: String, count: Int, limit: TimeInterval = 60) throws {
        let deadline = Date().addingTimeInterval(limit)
        while Date() < deadline {
            if DistributedJobTests.trace(path).count >= count { return }
            usleep(10_000)
        }
        throw ServiceError("\(path) did not reach \(count) lines")
    }
}
