import Core
import Foundation
import Glibc
import Runtime
import Store
import Testing
import Wire

/// A job of three steps whose shard is killed with SIGKILL during the second: the restarted shard goes on
/// at the second step, with the first step's results as they were committed, and never runs the first again.
@Suite(.serialized) struct StepRecoveryTests {
    @Test func aShardKilledDuringTheSecondStepResumesThereWithTheFirstStepsResults() throws {
        try withTemporaryFolder { folder in try withProcessCluster(in: folder) { config, cluster, client in
            let log = #"echo "$BATON_STEP_NAME $BATON_PARTITION $BATON_ENTRY_MOMENT" >> "$BATON_PARAM_trace""#
            let flow = JSON.object([
                ("product", .string("recovery")), ("flow", .string("three-steps")), ("params", .object([("trace", .string(""))])),
                ("jobs", .array([.object([
                    ("name", .string("etl")), ("retries", .number(2)), ("backoff", .string("50ms")),
                    ("steps", .array([
                        .object([("name", .string("extract")), ("partitions", .number(4)),
                                 ("run", .string(log + #"; printf "e$BATON_PARTITION" > "$BATON_RESULT""#))]),
                        // Long enough for the shard to be killed while these run.
                        .object([("name", .string("transform")), ("partitions", .number(4)),
                                 ("run", .string(log + #"; sleep 1.5; { cat "$BATON_INPUTS/etl.0.$BATON_PARTITION"; printf t; } > "$BATON_RESULT""#))]),
                        .object([("name", .string("load")),
                                 ("run", .string(log + #"; cut -f5 "$BATON_INPUTS/index" | while read f; do cat "$BATON_INPUTS/$f"; echo; done > "$BATON_PARAM_trace.load""#))]),
                    ])),
                ])])),
            ]).rendered()
            try client.apply([flow])
            let trace = "\(folder)/trace"
            let run = try client.start("recovery/three-steps", params: ["trace": trace])

            // Kill the run's shard once the second step has started, and start it again.
            let deadline = Date().addingTimeInterval(30)
            func lines() -> [[String]] {
                ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            }
            while !lines().contains(where: { $0.first == "transform" }) && Date() < deadline { usleep(10_000) }
            let shard = try #require(client.call("status", .object([("run", .number(run))])).body["run"]?["shard"]?.integer)
            try killAndRestartShard(shard, of: cluster, config: config)

            let final = try client.waitForRun(run, limit: 60_000)
            #expect(final["run"]?["state"]?.string == "succeeded", "\(final.rendered(pretty: true))")
            let all = lines()
            // The first step ran once per partition: the restart resumed at the second step.
            #expect(all.filter { $0.first == "extract" }.map { $0[1] }.sorted() == ["0", "1", "2", "3"], "\(all)")
            #expect(Set(all.filter { $0.first == "transform" }.map { $0[1] }) == ["0", "1", "2", "3"])
            #expect(all.filter { $0.first == "load" }.count == 1)
            #expect(Set(all.map { $0[2] }).count == 1, "every task saw the run's entry moment")
            // The last step received every transform result, each built on its extract result.
            #expect(try String(contentsOfFile: "\(trace).load", encoding: .utf8) == "e0t\ne1t\ne2t\ne3t\n")
        } }
    }
}
