import Core
import Foundation
import Glibc
import Runtime
import Testing

/// A run fail-run ended with a job still stopping, whose end came while the orchestrator was down: the
/// restarted orchestrator did not read the ended run back, so the end was never applied, and the job
/// stayed `running` in a failed run, its rerun refused for ever. A refused rerun asked the job's shard
/// for its status again; found by an explorer, nothing else did. The restarted orchestrator now asks
/// the shard itself, and the job settles with no operator's action.
@Suite(.serialized) struct MissedEndTests {
    @Test func aJobWhoseEndCameWhileTheOrchestratorWasDownSettlesAfterItsRestart() throws {
        try withTemporaryFolder { folder in try withProcessCluster(in: folder) { config, cluster, client in
            let pidfile = "\(folder)/stubborn.pid"
            let flow = JSON.object([
                ("product", .string("ops")), ("flow", .string("strict")), ("on_failure", .string("fail-run")),
                ("jobs", .array([
                    // The first time, it ignores SIGTERM (its sleep inherits that): it stops only at the SIGKILL
                    // after the grace. Rerun, it succeeds, as does bad.
                    .object([("name", .string("stubborn")), ("run", .string(
                        #"[ -e "$BATON_PARAM_pidfile.rerun" ] && exit 0; trap '' TERM; echo $$ > "$BATON_PARAM_pidfile"; sleep 300"#))]),
                    .object([("name", .string("bad")), ("run", .string(
                        #"while [ ! -s "$BATON_PARAM_pidfile" ]; do sleep 0.05; done; [ -e "$BATON_PARAM_pidfile.rerun" ] && exit 0; exit 7"#))]),
                ])),
            ]).rendered()
            try client.apply([flow])
            let run = try client.start("ops/strict", params: ["pidfile": pidfile])
            let failed = try client.waitForRun(run)
            #expect(failed["run"]?["state"]?.string == "failed")
            #expect(job(failed, "stubborn")?["state"]?.string == "running")
            let pid = try #require(pid_t(String(contentsOfFile: pidfile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            // The orchestrator goes down while the job still runs, its cancellation at the shard, and comes
            // back once the job has been killed at the end of its grace: its end is published meanwhile.
            try killAndRestart("orchestrator", of: cluster, config: config) {
                try waitUntil("the stubborn job's shell to be killed", limit: 30) { !isRunning(pid) }
            }
            func stubborn() throws -> String? {
                job(try client.call("status", .object([("run", .number(run))])).body, "stubborn")?["state"]?.string
            }
            // The end came while the run was not in memory; the restarted orchestrator asks the shard for it.
            try waitUntil("the shard's status of the stubborn job to be applied", limit: 30) { try stubborn() == "cancelled" }
            let status = try client.call("status", .object([("run", .number(run))])).body
            #expect(status["run"]?["state"]?.string == "failed", "\(status.rendered())")

            #expect(FileManager.default.createFile(atPath: "\(pidfile).rerun", contents: nil))
            let rerun = try client.call("rerun", .object([("run", .number(run))]))
            #expect(rerun.status == .ok, "\(rerun.errorText)")
            let again = try client.waitForRun(run)
            #expect(again["run"]?["state"]?.string == "succeeded", "\(again.rendered())")
        } }
    }
}
