import Core
import Foundation
import Glibc
import Runtime
import Store
import Testing
import Wire

/// Partitions, steps with their results, the job entry moment, and operator actions, through every
/// service over real sockets and SQLite files.
@Suite(.serialized) struct DistributedJobTests {
    /// A flow of one product from its jobs.
    static func flow(_ product: String, _ name: String, _ jobs: [JSON]) -> String {
        JSON.object([
            ("product", .string(product)), ("flow", .string(name)), ("params", .object([("dir", .string(""))])),
            ("jobs", .array(jobs)),
        ]).rendered()
    }

    /// The lines of a trace file, split into words; none when it does not exist yet.
    static func trace(_ path: String) -> [[String]] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    }

    /// An operator action through the API; returns the reply.
    static func act(_ client: APIClient, _ method: String, _ members: [(String, JSON)], request: String) throws -> APIClient.Reply {
        try client.call(method, .object(members + [("actor", .string("tester")), ("request", .string(request))]))
    }

    /// Waits until the run (or one of its jobs) is in `state`; the limit only guards against a hang.
    static func waitFor(_ client: APIClient, run: UInt64, job name: String? = nil, state: String, limit: TimeInterval = 30) throws -> JSON {
        let deadline = Date().addingTimeInterval(limit)
        var last = JSON.object([])
        while Date() < deadline {
            let reply = try client.call("status", .object([("run", .number(run))]))
            last = reply.body
            let current = name.map { job(reply.body, $0)?["state"]?.string } ?? reply.body["run"]?["state"]?.string
            if reply.status == .ok, current == state { return reply.body }
            usleep(20_000)
        }
        throw ServiceError("\(name.map { "job \($0) of " } ?? "")run \(run) did not become \(state): \(last.rendered())")
    }

    @Test func failedPartitionsRerunFromFailureAloneWithTheRunsEntryMoment() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 2
            options.slots = 2
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            // Partitions 6 and 7 fail until the file `fixed` exists; each partition takes 100 ms, so
            // that both workers get some.
            let work = #"""
                sleep 0.1; echo "$BATON_PARTITION $BATON_PARTITIONS $BATON_ENTRY_MOMENT $BATON_WORKER" >> "$BATON_PARAM_dir/trace"; \
                if [ "$BATON_PARTITION" -ge 6 ] && [ ! -e "$BATON_PARAM_dir/fixed" ]; then exit 1; fi
                """#
            try client.apply([Self.flow("ledger", "split", [.object([("name", .string("part")), ("run", .string(work)), ("partitions", .number(8))])])])
            let run = try client.start("ledger/split", params: ["dir": folder])
            let failed = try client.waitForRun(run)
            #expect(failed["run"]?["state"]?.string == "failed")
            let part = try #require(job(failed, "part"))
            #expect(part["state"]?.string == "failed")
            #expect(part["tasks"]?["succeeded"]?.integer == 6 && part["tasks"]?["failed"]?.integer == 2, "\(part.rendered())")
            let first = Self.trace("\(folder)/trace")
            #expect(first.count == 8)
            #expect(Set(first.map { $0[0] }) == Set((0..<8).map(String.init)))
            #expect(Set(first.map { $0[1] }) == ["8"])
            #expect(Set(first.map { $0[3] }).count == 2, "the partitions ran on both workers: \(first)")
            let moment = try #require(failed["run"]?["moment"]?.integer)
            #expect(Set(first.map { $0[2] }) == [String(moment)])

            // Rerunning a run that is still running is refused; here, one that failed is rerun, once
            // however many times the request is sent.
            #expect(FileManager.default.createFile(atPath: "\(folder)/fixed", contents: Data()))
            let rerun = try Self.act(client, "rerun", [("run", .number(run))], request: "rerun-1")
            #expect(rerun.status == .ok, "\(rerun.errorText)")
            let again = try Self.act(client, "rerun", [("run", .number(run))], request: "rerun-1")
            #expect(again.status == .ok && again.body["repeated"]?.bool == true)
            let succeeded = try client.waitForRun(run)
            #expect(succeeded["run"]?["state"]?.string == "succeeded", "\(succeeded.rendered())")
            #expect(succeeded["run"]?["moment"]?.integer == moment)
            let second = Self.trace("\(folder)/trace").dropFirst(8)
            #expect(second.map { $0[0] }.sorted() == ["6", "7"], "only the failed partitions ran again: \(second)")
            #expect(Set(second.map { $0[2] }) == [String(moment)], "a rerun keeps the entry moment")
            #expect(job(succeeded, "part")?["generation"]?.integer == 1)

            // A rerun of the job with a fresh moment runs every partition again, with the new moment.
            let fresh = try Self.act(client, "rerun-job", [("run", .number(run)), ("job", .string("part")), ("fresh", .bool(true))], request: "fresh-1")
            #expect(fresh.status == .ok, "\(fresh.errorText)")
            let rerunAll = try client.waitForRun(run)
            #expect(rerunAll["run"]?["state"]?.string == "succeeded")
            let third = Self.trace("\(folder)/trace").dropFirst(10)
            #expect(third.count == 8)
            let newMoment = try #require(rerunAll["run"]?["moment"]?.integer)
            #expect(newMoment > moment)
            #expect(Set(third.map { $0[2] }) == [String(newMoment)])

            let history = try client.call("history", .object([("run", .number(run))])).body["actions"]?.array?.filter { $0["action"]?.string != "start" } ?? []
            #expect(history.map { $0["action"]?.string ?? "" } == ["rerun", "rerun-job"], "\(history)")
            #expect(history.allSatisfy { $0["actor"]?.string == "tester" && $0["outcome"]?.string == "done" })
        }
    }

    @Test func stepsHandTheirResultsOnAndStopPauseHoldMarkAndRerunActOnce() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            let trace = #"echo "$BATON_JOB $BATON_STEP_NAME $BATON_PARTITION" >> "$BATON_PARAM_dir/trace""#
            try client.apply([
                Self.flow("ops", "steps", [
                    .object([
                        ("name", .string("etl")),
                        ("steps", .array([
                            .object([("name", .string("extract")), ("partitions", .array([.string("eu"), .string("us")])),
                                     ("run", .string(#"printf "rows-$BATON_PARTITION_KEY" > "$BATON_RESULT""#))]),
                            .object([("name", .string("load")), ("partitions", .number(2)),
                                     ("run", .string(#"cat "$BATON_INPUTS/etl.0.$BATON_PARTITION" > "$BATON_RESULT"; echo "+" >> "$BATON_RESULT""#))]),
                        ])),
                    ]),
                    .object([("name", .string("report")), ("after", .array([.string("etl")])), ("inputs", .array([.string("etl")])),
                             ("run", .string(#"cut -f5 "$BATON_INPUTS/index" | while read f; do cat "$BATON_INPUTS/$f"; done > "$BATON_PARAM_dir/report""#))]),
                ]),
                Self.flow("ops", "slow", [
                    .object([("name", .string("sleepy")), ("partitions", .number(2)), ("run", .string(trace + "; sleep 30"))]),
                    .object([("name", .string("later")), ("after", .array([.string("sleepy")])), ("run", .string(trace))]),
                ]),
                // `first` waits for the test to open its gate, so that it ends while its run is paused.
                Self.flow("ops", "pair", [
                    .object([("name", .string("first")), ("run", .string(trace + #"; while [ ! -e "$BATON_PARAM_dir/gate" ]; do sleep 0.01; done"#))]),
                    .object([("name", .string("second")), ("after", .array([.string("first")])), ("run", .string(trace))]),
                ]),
                Self.flow("ops", "broken", [
                    .object([("name", .string("bad")), ("run", .string(trace + "; exit 3"))]),
                    .object([("name", .string("next")), ("after", .array([.string("bad")])), ("run", .string(trace))]),
                ]),
            ])

            // Steps: each load partition receives its extract partition's result; report receives both.
            let steps = try client.start("ops/steps", params: ["dir": folder])
            let stepsDone = try client.waitForRun(steps)
            #expect(stepsDone["run"]?["state"]?.string == "succeeded", "\(stepsDone.rendered())")
            #expect(try String(contentsOfFile: "\(folder)/report", encoding: .utf8) == "rows-eu+\nrows-us+\n")

            // stop: the running partitions are cancelled, the job after them never runs.
            let slow = try client.start("ops/slow", params: ["dir": folder])
            let deadline = Date().addingTimeInterval(10)
            while Self.trace("\(folder)/trace").filter({ $0[0] == "sleepy" }).count < 2 && Date() < deadline { usleep(20_000) }
            for _ in 0..<2 { #expect(try Self.act(client, "stop", [("run", .number(slow))], request: "stop-1").status == .ok) }
            let stopped = try client.waitForRun(slow)
            #expect(stopped["run"]?["state"]?.string == "stopped")
            #expect(job(stopped, "sleepy")?["state"]?.string == "cancelled")
            #expect(job(stopped, "later")?["state"]?.string == "skipped")
            let stopAgain = try Self.act(client, "stop", [("run", .number(slow))], request: "stop-2")
            #expect(stopAgain.status == .conflict && stopAgain.errorText.contains("has already ended"), "\(stopAgain.errorText)")

            // pause and resume: nothing starts while paused. `first` runs when the pause comes; once it
            // has succeeded, the orchestrator has decided about `second` in the same turn: kept back.
            let pair = try client.start("ops/pair", params: ["dir": folder])
            try waitUntil("first to start") { Self.trace("\(folder)/trace").contains { $0[0] == "first" } }
            #expect(try Self.act(client, "pause", [("run", .number(pair))], request: "pause-1").status == .ok)
            _ = try Self.act(client, "pause", [("run", .number(pair))], request: "pause-1")
            _ = try Self.waitFor(client, run: pair, state: "paused")
            _ = FileManager.default.createFile(atPath: "\(folder)/gate", contents: nil)
            let firstDone = try Self.waitFor(client, run: pair, job: "first", state: "succeeded")
            #expect(firstDone["run"]?["state"]?.string == "paused")
            #expect(job(firstDone, "second")?["state"]?.string == "waiting", "a paused run submitted a job: \(firstDone.rendered())")
            #expect(!Self.trace("\(folder)/trace").contains { $0[0] == "second" }, "a paused run started a job")
            #expect(try Self.act(client, "resume", [("run", .number(pair))], request: "resume-1").status == .ok)
            _ = try Self.act(client, "resume", [("run", .number(pair))], request: "resume-1")
            #expect(try client.waitForRun(pair)["run"]?["state"]?.string == "succeeded")

            // hold and release a product: a run started while it is held waits.
            #expect(try Self.act(client, "hold", [("product", .string("ops"))], request: "hold-1").status == .ok)
            _ = try Self.act(client, "hold", [("product", .string("ops"))], request: "hold-1")
            let held = try client.start("ops/pair", params: ["dir": folder])
            // Paused from its start: the orchestrator committed it with nothing submitted to a shard.
            let heldStatus = try Self.waitFor(client, run: held, state: "paused")
            let jobStates = heldStatus["jobs"]?.array?.map { $0["state"]?.string ?? "" } ?? []
            #expect(jobStates == ["waiting", "waiting"], "a held product's run submitted a job: \(heldStatus.rendered())")
            let before = Self.trace("\(folder)/trace").count
            #expect(try Self.act(client, "release", [("product", .string("ops"))], request: "release-1").status == .ok)
            _ = try Self.act(client, "release", [("product", .string("ops"))], request: "release-1")
            #expect(try client.waitForRun(held)["run"]?["state"]?.string == "succeeded")
            #expect(Self.trace("\(folder)/trace").count == before + 2)

            // rerun-job with downstream: both jobs run again, once.
            #expect(try Self.act(client, "rerun-job", [("run", .number(held)), ("job", .string("first")), ("downstream", .bool(true))], request: "rj-1").status == .ok)
            _ = try Self.act(client, "rerun-job", [("run", .number(held)), ("job", .string("first")), ("downstream", .bool(true))], request: "rj-1")
            let rerun = try client.waitForRun(held)
            #expect(rerun["run"]?["state"]?.string == "succeeded")
            #expect(job(rerun, "second")?["generation"]?.integer == 1)
            #expect(Self.trace("\(folder)/trace").count == before + 4)

            // mark-succeeded: the job after a failed one runs, and the run succeeds.
            let broken = try client.start("ops/broken", params: ["dir": folder])
            #expect(try client.waitForRun(broken)["run"]?["state"]?.string == "failed")
            #expect(try Self.act(client, "mark-succeeded", [("run", .number(broken)), ("job", .string("bad"))], request: "mark-1").status == .ok)
            _ = try Self.act(client, "mark-succeeded", [("run", .number(broken)), ("job", .string("bad"))], request: "mark-1")
            let marked = try client.waitForRun(broken)
            #expect(marked["run"]?["state"]?.string == "succeeded", "\(marked.rendered())")
            #expect(job(marked, "bad")?["detail"]?.string == "marked succeeded by an operator")
            #expect(Self.trace("\(folder)/trace").filter { $0[0] == "next" }.count == 1)

            // Bad input changes nothing and says what was wrong.
            let unknownJob = try Self.act(client, "mark-succeeded", [("run", .number(broken)), ("job", .string("nope"))], request: "bad-1")
            #expect(unknownJob.status == .notFound && unknownJob.errorText.contains("has no job \"nope\""), "\(unknownJob.errorText)")
            let unknownRun = try Self.act(client, "stop", [("run", .number(999))], request: "bad-2")
            #expect(unknownRun.status == .notFound && unknownRun.errorText.contains("unknown run 999"))
            let busy = try client.start("ops/slow", params: ["dir": folder])
            let running = try Self.act(client, "rerun", [("run", .number(busy))], request: "bad-3")
            #expect(running.status == .conflict && running.errorText.contains("is still"), "\(running.errorText)")
            _ = try Self.act(client, "stop", [("run", .number(busy))], request: "stop-busy")

            // The audit log has each action once, in order, after the run's start.
            func actions(_ run: UInt64) throws -> [String] {
                let all = try client.call("history", .object([("run", .number(run))])).body["actions"]?.array?.map { $0["action"]?.string ?? "" } ?? []
                #expect(all.first == "start")
                return Array(all.dropFirst())
            }
            #expect(try actions(slow) == ["stop", "stop"])
            #expect(try actions(pair) == ["pause", "resume"])
            #expect(try actions(held) == ["rerun-job"])
            #expect(try actions(broken) == ["mark-succeeded", "mark-succeeded"])
            let products = try client.call("history", .object([("product", .string("ops"))])).body["actions"]?.array ?? []
            #expect(products.filter { $0["run"]?.integer == 0 && $0["action"]?.string != "apply" }.map { $0["action"]?.string ?? "" } == ["hold", "release"])
            let refused = try client.call("history", .object([("run", .number(slow))])).body["actions"]?.array?.last
            #expect(refused?["outcome"]?.string == "refused")
        }
    }
}
