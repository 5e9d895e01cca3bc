import Core
import Foundation
import Runtime
import Store
import Testing

/// Retention on a cluster of processes as `baton up` runs it: what it deletes is gone from every answer,
/// not only from the listings read from the stores.
@Suite(.serialized) struct RetentionProcessTests {
    /// Found by an operator: with a short retention, a failed run deleted from the stores still answered
    /// `status` from memory, its start key still returned it, and a rerun of it was taken, its jobs written
    /// with no run to keep them, and lost at the orchestrator's next restart.
    @Test func aRunRetentionDeletedIsGoneFromStatusItsKeyAndItsRerun() throws {
        let short = { (text: String) in text.replacingOccurrences(of: #""heartbeat": "250ms""#, with: #""heartbeat": "250ms", "retention": "2s""#) }
        try MoveTests.withCluster(shards: 1, edit: short) { folder, config, admin in
            let flow = JSON.object([
                ("product", .string("r")), ("flow", .string("g")),
                ("jobs", .array([
                    .object([("name", .string("a")), ("run", .string("exit 1"))]),
                    .object([("name", .string("b")), ("after", .array([.string("a")])), ("run", .string("true"))]),
                ])),
            ]).rendered()
            try admin.apply([flow])
            let started = try admin.call("start", .object([("flow", .string("r/g")), ("key", .string("eod-1"))]))
            let run = try #require(started.body["run"]?.integer)
            #expect(try admin.waitForRun(UInt64(run))["run"]?["state"]?.string == "failed")

            // Deleted within a second or two of the retention: then `status` says so. (The orchestrator and
            // management each delete it on their own clock; from the first, `status` answers 410.)
            var last = ""
            try waitUntil("run \(run) to be deleted (last status: \(last))") {
                let reply = try admin.call("status", .object([("run", .number(run))]))
                last = "\(reply.status.rawValue) \(reply.errorText)"
                let listed = try admin.call("runs", .object([])).body["runs"]?.array ?? []
                return reply.status == .gone && listed.isEmpty
            }
            #expect(last == "410 run \(run) is older than the 2s retention: its record was deleted")

            // A rerun is refused as status is, and nothing of it reaches the orchestrator's store.
            let (rerunStatus, rerunOutput) = try ChaosTests.baton(["rerun", String(run), "--config", config])
            #expect(rerunStatus != 0 && rerunOutput.contains("run \(run) is older than the 2s retention"), "\(rerunOutput)")
            let store = try Database(path: "\(folder)/data/orchestrator/orchestrator.db", options: .init(readOnly: true))
            defer { store.close() }
            let rows = try store.prepare("SELECT (SELECT count(*) FROM runs WHERE id = ?), (SELECT count(*) FROM jobs WHERE run = ?)")
            rows.bind(1, run)
            rows.bind(2, run)
            #expect(try rows.step() && rows.int64(0) == 0 && rows.int64(1) == 0)
            rows.reset()

            // Its key starts a new run, as it would after a restart.
            let again = try admin.call("start", .object([("flow", .string("r/g")), ("key", .string("eod-1"))]))
            #expect(again.status == .ok && again.body["repeated"] == nil, "\(again.body.rendered())")
            #expect((again.body["run"]?.integer ?? 0) > run)
        }
    }
}
