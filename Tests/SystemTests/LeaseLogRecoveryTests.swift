import Core
import Foundation
import Runtime
import Store
import Testing
import Wire

/// A shard killed with SIGKILL while leases it handed out are only in its lease log (their jobs queued
/// behind others, leased in a later turn than the one that took them), and the jobs themselves only in
/// its submission log: the restarted shard puts those jobs and leases back, the workers claim them, and
/// no job runs twice, none is lost.
@Suite(.serialized) struct LeaseLogRecoveryTests {
    @Test func aShardKilledWhileLeasesAreOnlyInItsLogGivesThemBackAndNothingRunsTwice() throws {
        try withTemporaryFolder { folder in try withProcessCluster(in: folder) { config, cluster, client in
            // 40 jobs for 16 slots: the first 16 are leased in the turn that takes them, the rest as slots free,
            // each lease then only in the lease log until the task ends or a second passes.
            let slow = ChaosTests.traced + "; sleep 1.5"
            let flow = JSON.object([
                ("product", .string("leases")), ("flow", .string("waves")), ("params", .object([("trace", .string(""))])),
                ("jobs", .array((0..<40).map { ChaosTests.job("w\($0)", run: slow) })),
            ]).rendered()
            try client.apply([flow])
            let trace = "\(folder)/trace"
            let run = try client.start("leases/waves", params: ["trace": trace])
            func lines() -> [[String]] {
                ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            }
            let shard = try #require(client.call("status", .object([("run", .number(run))])).body["run"]?["shard"]?.integer)
            let store = "\(cluster.data)/shard-\(shard)/shard.db"
            // Once a later wave has started and its leases are in the lease log, its jobs still in the submission
            // log (it keeps them 10 s), the shard is killed.
            func logged(_ table: String) -> Int64 {
                guard let reader = try? Database(path: store, options: .init(readOnly: true)) else { return 0 }
                defer { reader.close() }
                guard let statement = try? reader.prepare("SELECT count(*) FROM \(table)"), (try? statement.step()) == true else { return 0 }
                defer { statement.reset() }
                return statement.int64(0)
            }
            try waitUntil("a lease of a later wave in the shard's lease log, its job in the submission log", limit: 30) {
                lines().count > 16 && logged("lease_log") > 0 && logged("submission_log") > 0
            }
            try killAndRestartShard(shard, of: cluster, config: config)

            let final = try client.waitForRun(run, limit: 60_000)
            #expect(final["run"]?["state"]?.string == "succeeded", "\(final.rendered(pretty: true))")
            // Every job ran once: the leases came back, their workers claimed them, and their results were
            // taken. (A TASKS still in the killed shard's queue never reached its worker: that lease, put back
            // and not claimed, is taken back, and the task runs on its next attempt, once.)
            let all = lines()
            #expect(all.count == 40 && Set(all.map { $0[1] }).count == 40, "\(all)")
        } }
    }
}
