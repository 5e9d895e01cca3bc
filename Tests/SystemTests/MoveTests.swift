import Core
import Foundation
import Glibc
import Runtime
import Testing
import Wire

/// `baton move` and `baton drain` on a cluster of processes as `baton up` runs it, with keys: a product
/// moves twice while one of its runs goes on, the shard it left is killed in between while a task of the
/// run still finishes there, and every run ends with each job run once.
@Suite(.serialized) struct MoveTests {
    /// A cluster of processes as `baton up` runs it, with keys and `shards` shards, stopped at the end;
    /// `body` gets its folder, its cluster file and an admin's client.
    /// `edit` changes the cluster file's text first.
    static func withCluster(
        shards: Int = 2, edit: (String) -> String = { $0 }, _ body: (_ folder: String, _ config: String, _ admin: APIClient) throws -> Void
    ) throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            let text = try Self.adding(shardsUpTo: shards, to: try ChaosTests.clusterFile(data: "\(folder)/data"))
            try edit(text).write(toFile: config, atomically: true, encoding: .utf8)
            let (upStatus, upOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(upStatus == 0, "\(upOutput)")
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
            try body(folder, config, try APIClient(cluster: try SecurityTests.load(config)))
        }
    }

    /// A cluster file with shards added, each on ports of its own, until it has `count`.
    static func adding(shardsUpTo count: Int, to text: String) throws -> String {
        var cluster = try #require(try JSONParser.parse(text).members)
        let index = try #require(cluster.firstIndex { $0.key == "shards" })
        var shards = cluster[index].value.array ?? []
        let port = { () throws -> JSON in .string("tcp://127.0.0.1:\(try FreePort.find())") }
        while shards.count < count {
            shards.append(.object([("id", .number(shards.count + 1)), ("submit", try port()), ("work", try port()), ("events", try port())]))
        }
        cluster[index].value = .array(shards)
        return JSON.object(cluster.map { ($0.key, $0.value) }).rendered(pretty: true)
    }

    @Test func aRunGoesOnWhereItStartedWhileItsProductMovesTwiceAndTheShardItLeftIsKilled() throws {
        try Self.withCluster { folder, config, admin in
            // The first job says it began, then waits for its gate.
            let gated = #"touch "$BATON_PARAM_gate.began"; "# + SecurityTests.gated
            let flow = JSON.object([
                ("product", .string("ledger")), ("flow", .string("close")),
                ("params", .object([("trace", .string("")), ("gate", .string(""))])),
                ("jobs", .array([
                    .object([("name", .string("wait")), ("run", .string(gated))]),
                    .object([("name", .string("after")), ("after", .array([.string("wait")])), ("run", .string(#"echo after >> "$BATON_PARAM_trace""#))]),
                ])),
            ]).rendered()
            try admin.apply([flow])
            func product() throws -> JSON {
                let body = try admin.call("products", .object([])).body
                return try #require(body["products"]?.array?.first { $0["product"]?.string == "ledger" })
            }
            let source = UInt32(try #require(try product()["shard"]?.integer))
            let target: UInt32 = source == 1 ? 2 : 1

            // A run that stays open until its gate opens, its first job running on the source.
            let (trace, gate) = ("\(folder)/trace", "\(folder)/gate")
            let first = try admin.start("ledger/close", params: ["trace": trace, "gate": gate])
            try waitUntil("the first job to run") { FileManager.default.fileExists(atPath: "\(gate).began") }

            // The move: answered once the orchestrator has it. The open run follows, its running task
            // finishing on the source: the product shows it finishing there.
            let (moveStatus, moveOutput) = try ChaosTests.baton(["move", "ledger", "--to", String(target), "--config", config])
            #expect(moveStatus == 0 && moveOutput.contains("product ledger moves to shard \(target)"), "\(moveOutput)")
            let moving = try product()
            #expect(moving["shard"]?.integer == Int64(target), "\(moving.rendered())")
            #expect(moving["move"]?["phase"]?.string == "finishing", "\(moving.rendered())")
            #expect(moving["move"]?["finishing"]?.rendered() == #"[{"shard":\#(source),"open_runs":1}]"#, "\(moving.rendered())")
            try waitUntil("the run to be handed over, its task finishing on the source") {
                let run = try admin.call("status", .object([("run", .number(first))])).body["run"]
                return run?["shard"]?.integer == Int64(target)
            }
            #expect(try product()["move"]?["finishing"]?.rendered() == #"[{"shard":\#(source),"open_runs":1}]"#)
            let (listStatus, listOutput) = try ChaosTests.baton(["products", "--config", config])
            #expect(listStatus == 0 && listOutput.contains("finishing on shard \(source): 1 run"), "\(listOutput)")

            // The source dies: a run started now runs on the target and ends while the source is down.
            let pidFile = "\(folder)/data/run/shard-\(source).pid"
            let pid = try #require(pid_t(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            Glibc.kill(pid, SIGKILL)
            try waitUntilExited(pid)
            let open = "\(folder)/open"
            _ = FileManager.default.createFile(atPath: open, contents: nil)
            let second = try admin.start("ledger/close", params: ["trace": "\(folder)/trace-2", "gate": open])
            let secondStatus = try admin.waitForRun(second)
            #expect(secondStatus["run"]?["state"]?.string == "succeeded" && secondStatus["run"]?["shard"]?.integer == Int64(target), "\(secondStatus.rendered())")

            // Back to the source while it is down, the first run's task still finishing there (so the run
            // stays on the target until it has ended); then the source comes back.
            let (backStatus, backOutput) = try ChaosTests.baton(["move", "ledger", "--to", String(source), "--config", config])
            #expect(backStatus == 0 && backOutput.contains("product ledger moves to shard \(source)"), "\(backOutput)")
            let (restartStatus, restartOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(restartStatus == 0, "\(restartOutput)")
            let third = try admin.start("ledger/close", params: ["trace": "\(folder)/trace-3", "gate": open])
            let thirdStatus = try admin.waitForRun(third)
            #expect(thirdStatus["run"]?["state"]?.string == "succeeded" && thirdStatus["run"]?["shard"]?.integer == Int64(source), "\(thirdStatus.rendered())")

            // The first run ends, each of its jobs run once, though the shard its first job finished on was
            // killed mid-job: that job's end went from the source to the target, and its second job ran on
            // whichever shard the run was on by then.
            _ = FileManager.default.createFile(atPath: gate, contents: nil)
            let firstStatus = try admin.waitForRun(first)
            #expect(firstStatus["run"]?["state"]?.string == "succeeded", "\(firstStatus.rendered())")
            #expect(DistributedJobTests.trace(trace).map { $0.joined(separator: " ") } == ["done", "after"])
            #expect(try product()["move"] == nil)

            // Both moves are in the audit log, under the admin's key.
            let history = try admin.call("history", .object([("product", .string("ledger"))])).body["actions"]?.array ?? []
            let moves = history.filter { $0["action"]?.string == "move" }
            #expect(moves.map { $0["actor"]?.string ?? "" } == ["admin", "admin"], "\(history)")
            #expect(moves.map { $0["options"]?.string ?? "" } == ["from shard \(source) to shard \(target)", "from shard \(target) to shard \(source)"])

            // A drain moves every product off a shard; an unknown shard is a usage error.
            let (drainStatus, drainOutput) = try ChaosTests.baton(["drain", String(source), "--config", config])
            #expect(drainStatus == 0 && drainOutput.contains("product ledger moves to shard \(target)"), "\(drainOutput)")
            #expect(try product()["shard"]?.integer == Int64(target))
            let (unknownStatus, unknownOutput) = try ChaosTests.baton(["drain", "9", "--config", config])
            #expect(unknownStatus == 2 && unknownOutput.contains("shard 9 is not one of the cluster's (1, 2)"), "\(unknownOutput)")
        }
    }

    /// Runs of the product queued on its shard, never handed out there (no worker serves that shard),
    /// follow it when it moves: each runs on the new shard, once, and the old shard drops the copies of
    /// their submissions sent to it again.
    @Test func runsThatHaveNotStartedFollowTheirProduct() throws {
        let onlyShard2 = { (text: String) in text.replacingOccurrences(of: "\"workers\": 2", with: "\"workers\": 2, \"shards\": [2]") }
        try Self.withCluster(edit: onlyShard2) { folder, config, admin in
            let flow = JSON.object([
                ("product", .string("ledger")), ("flow", .string("close")), ("params", .object([("trace", .string(""))])),
                ("jobs", .array([ChaosTests.job("a"), ChaosTests.job("b"), ChaosTests.job("c", after: ["a", "b"])])),
            ]).rendered()
            try admin.apply([flow])
            func shard() throws -> Int64 { try #require(admin.call("products", .object([])).body["products"]?.array?.first?["shard"]?.integer) }
            if try shard() != 1 { #expect(try ChaosTests.baton(["move", "ledger", "--to", "1", "--config", config]).0 == 0) }

            // Three runs wait on shard 1, which no worker serves.
            let trace = "\(folder)/trace"
            let runs = try (0..<3).map { _ in try admin.start("ledger/close", params: ["trace": trace]) }
            for run in runs {
                try waitUntil("run \(run)'s first jobs to be queued on shard 1") {
                    let jobs = try admin.call("status", .object([("run", .number(run))])).body["jobs"]?.array ?? []
                    return jobs.filter { $0["state"]?.string == "queued" }.count == 2
                }
            }

            let (moveStatus, moveOutput) = try ChaosTests.baton(["move", "ledger", "--to", "2", "--config", config])
            #expect(moveStatus == 0 && moveOutput.contains("3 runs asked to follow"), "\(moveOutput)")
            for run in runs {
                let status = try admin.waitForRun(run)
                #expect(status["run"]?["state"]?.string == "succeeded" && status["run"]?["shard"]?.integer == 2, "\(status.rendered())")
            }
            // Each job of each run ran once, on the first attempt.
            let lines = DistributedJobTests.trace(trace).map { $0.joined(separator: " ") }.sorted()
            #expect(lines == runs.flatMap { run in ["a", "b", "c"].map { "\(run) \($0) 1" } }.sorted())
            let log = try String(contentsOfFile: "\(folder)/data/logs/shard-1.log", encoding: .utf8)
            #expect(log.contains("handed runs over to a move of their product"), "\(log)")
            try waitUntil("the move to end") {
                try admin.call("products", .object([])).body["products"]?.array?.first?["move"] == nil
            }
        }
    }

    /// A run that has started moves at once, its running task and all: its first job runs on shard 1 when
    /// the product moves, and goes on there, on its worker; the rest of the run goes to shard 2. When the
    /// task ends, its end and result reach shard 2, which completes the first job with them; the second
    /// job (which needs a tag only shard 2's pool has) runs there and reads that result. Nothing runs twice.
    @Test func aRunningTaskFinishesWhereItIsAndItsResultReachesTheNewShard() throws {
        let pools = { (text: String) in
            text.replacingOccurrences(
                of: "\"workers\": 2", with: #""workers": 1, "shards": [1]}, {"name": "tagged", "slots": 4, "workers": 1, "shards": [2], "tags": ["x"]"#)
        }
        try Self.withCluster(edit: pools) { folder, config, admin in
            let first = #"touch "$BATON_PARAM_gate.began"; while [ ! -e "$BATON_PARAM_gate" ]; do sleep 0.01; done; "#
                + #"echo "$BATON_RUN first $BATON_ATTEMPT" >> "$BATON_PARAM_trace"; echo "first's output"; echo hello > "$BATON_RESULT""#
            let flow = JSON.object([
                ("product", .string("ledger")), ("flow", .string("close")), ("params", .object([("trace", .string("")), ("gate", .string(""))])),
                ("jobs", .array([
                    .object([("name", .string("first")), ("run", .string(first))]),
                    .object([
                        ("name", .string("second")), ("after", .array([.string("first")])), ("inputs", .array([.string("first")])), ("tags", .array([.string("x")])),
                        ("run", .string(#"echo "$BATON_RUN second $BATON_ATTEMPT $(cat "$BATON_INPUTS/first.0.0")" >> "$BATON_PARAM_trace""#)),
                    ]),
                ])),
            ]).rendered()
            try admin.apply([flow])
            func shard() throws -> Int64 { try #require(admin.call("products", .object([])).body["products"]?.array?.first?["shard"]?.integer) }
            if try shard() != 1 { #expect(try ChaosTests.baton(["move", "ledger", "--to", "1", "--config", config]).0 == 0) }

            let (trace, gate) = ("\(folder)/trace", "\(folder)/gate")
            let run = try admin.start("ledger/close", params: ["trace": trace, "gate": gate])
            try waitUntil("the first job to run") { FileManager.default.fileExists(atPath: "\(gate).began") }
            var seen = ""
            do {
                try waitUntil("shard 1 to say so") {
                    let body = try admin.call("status", .object([("run", .number(run))])).body
                    seen = body.rendered()
                    return body["jobs"]?.array?.first?["state"]?.string == "running"
                }
            } catch {
                print("status: \(seen)")
                throw error
            }
            // Moved while its first job runs: the run follows, its task finishing on shard 1.
            let (moveStatus, moveOutput) = try ChaosTests.baton(["move", "ledger", "--to", "2", "--config", config])
            #expect(moveStatus == 0 && moveOutput.contains("1 run asked to follow"), "\(moveOutput)")
            try waitUntil("the run to be on shard 2, its task finishing on shard 1") {
                let run = try admin.call("status", .object([("run", .number(run))])).body["run"]
                let product = try admin.call("products", .object([])).body["products"]?.array?.first
                return run?["shard"]?.integer == 2 && product?["move"]?["finishing"]?.rendered() == #"[{"shard":1,"open_runs":1}]"#
            }
            // The new shard lists the attempt as away, with what it cannot know (who runs it, since when) and
            // what has not happened (its exit) null.
            let attempts = try admin.call("attempts", .object([("run", .number(run)), ("job", .string("first"))])).body["attempts"]?.array ?? []
            #expect(attempts.count == 1 && attempts.first?["state"]?.string == "away", "\(attempts)")
            #expect(["worker", "started", "finished", "exit"].map { attempts.first?[$0]?.rendered() ?? "" } == [#""""#, "null", "null", "null"], "\(attempts)")
            // `logs --follow` waits for its end, and shows its output then.
            let (logsOut, logsErr) = ("\(folder)/logs.out", "\(folder)/logs.err")
            for file in [logsOut, logsErr] { _ = FileManager.default.createFile(atPath: file, contents: nil) }
            let logs = Process()
            logs.executableURL = URL(fileURLWithPath: CommandLineTests.baton)
            logs.arguments = ["logs", "--follow", String(run), "first", "--config", config]
            logs.standardOutput = FileHandle(forWritingAtPath: logsOut)
            logs.standardError = FileHandle(forWritingAtPath: logsErr)
            try logs.run()
            defer { if logs.isRunning { logs.terminate() } }
            try waitUntil("logs --follow to wait for the attempt away") {
                (try? String(contentsOfFile: logsErr, encoding: .utf8))?.contains("runs on the shard its run moved from; waiting for it to end") == true
            }
            #expect(logs.isRunning, "\((try? String(contentsOfFile: logsErr, encoding: .utf8)) ?? "")")
            _ = FileManager.default.createFile(atPath: gate, contents: nil)
            let status = try admin.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded" && status["run"]?["shard"]?.integer == 2, "\(status.rendered())")
            logs.waitUntilExit()
            #expect(logs.terminationStatus == 0)
            #expect(try String(contentsOfFile: logsOut, encoding: .utf8) == "first's output\n")
            #expect(DistributedJobTests.trace(trace).map { $0.joined(separator: " ") } == ["\(run) first 1", "\(run) second 1 hello"])
            let log = try String(contentsOfFile: "\(folder)/data/logs/shard-2.log", encoding: .utf8)
            #expect(log.contains("took over runs from a move of their product"), "\(log)")
            #expect(log.contains("applied the ends of tasks that finished on the shard their run came from tasks=1"), "\(log)")
            let sourceLog = try String(contentsOfFile: "\(folder)/data/logs/shard-1.log", encoding: .utf8)
            #expect(sourceLog.contains("tasks of runs handed over finished here"), "\(sourceLog)")
            try waitUntil("the move to end") {
                try admin.call("products", .object([])).body["products"]?.array?.first?["move"] == nil
            }
        }
    }

    /// A shard added to the cluster file of a running cluster starts with `baton up`, which restarts
    /// management, the orchestrator and the workers (they read the shards at their start); the shards
    /// running go on untouched, and a product moved onto the new shard runs there. Another `up` changes
    /// nothing.
    @Test func aShardAddedToARunningClusterTakesAProductByAMove() throws {
        try Self.withCluster { folder, config, admin in
            try admin.apply([#"{"product": "ledger", "flow": "close", "jobs": [{"name": "a", "run": "true"}]}"#])
            let shardPIDs = try [1, 2].map { try String(contentsOfFile: "\(folder)/data/run/shard-\($0).pid", encoding: .utf8) }

            // Shard 3 joins the file; `baton up` starts it and restarts the processes that read the shards.
            try Self.adding(shardsUpTo: 3, to: try String(contentsOfFile: config, encoding: .utf8)).write(toFile: config, atomically: true, encoding: .utf8)
            let (again, againOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(again == 0 && againOutput.contains("started shard-3"), "\(againOutput)")
            for name in ["management", "orchestrator", "worker-chaos-1", "worker-chaos-2"] {
                #expect(againOutput.contains("restarting \(name) (pid"), "\(againOutput)")
            }
            #expect(try [1, 2].map { try String(contentsOfFile: "\(folder)/data/run/shard-\($0).pid", encoding: .utf8) } == shardPIDs)
            let (still, stillOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(still == 0 && !stillOutput.contains("restarting") && !stillOutput.contains("started"), "\(stillOutput)")

            let restarted = try APIClient(cluster: try SecurityTests.load(config))
            let (moveStatus, moveOutput) = try ChaosTests.baton(["move", "ledger", "--to", "3", "--config", config])
            #expect(moveStatus == 0 && moveOutput.contains("product ledger moves to shard 3"), "\(moveOutput)")
            let run = try restarted.start("ledger/close")
            let status = try restarted.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded" && status["run"]?["shard"]?.integer == 3, "\(status.rendered())")
        }
    }

    /// Three products, all moved onto shard 1 of three, run different loads; `baton rebalance` plans to
    /// spread them by the load management measured, and `--apply` moves them.
    @Test func rebalancePlansFromMeasuredLoadAndAppliesThePlan() throws {
        try Self.withCluster(shards: 3) { _, config, admin in
            let jobs = (0..<5).map { #"{"name": "j\#($0)", "run": "true"}"# }.joined(separator: ", ")
            try admin.apply(["a", "b", "c"].map { #"{"product": "\#($0)", "flow": "load", "jobs": [\#(jobs)]}"# })
            func shards() throws -> [String: Int64] {
                let products = try admin.call("products", .object([])).body["products"]?.array ?? []
                return Dictionary(uniqueKeysWithValues: products.map { ($0["product"]?.string ?? "", $0["shard"]?.integer ?? 0) })
            }
            // With nothing measured, the three went one to a shard; all move onto shard 1.
            #expect(Set(try shards().values) == [1, 2, 3])
            for (product, shard) in try shards() where shard != 1 {
                #expect(try ChaosTests.baton(["move", product, "--to", "1", "--config", config]).0 == 0)
            }
            // a ends 30 jobs, b 20, c 10.
            var runs: [UInt64] = []
            for (product, count) in [("a", 6), ("b", 4), ("c", 2)] {
                for _ in 0..<count { runs.append(try admin.start("\(product)/load")) }
            }
            for run in runs { #expect(try admin.waitForRun(run)["run"]?["state"]?.string == "succeeded") }

            let (planStatus, planOutput) = try ChaosTests.baton(["rebalance", "--json", "--config", config])
            #expect(planStatus == 0, "\(planOutput)")
            let plan = try JSONParser.parse(String(planOutput[planOutput.firstIndex(of: "{")!...]))
            #expect(plan["by"]?.string == "load", "\(planOutput)")
            #expect(plan["plan"]?.array?.map { "\($0["product"]?.string ?? "") \($0["from"]?.integer ?? 0)->\($0["to"]?.integer ?? 0)" } == ["a 1->2", "b 1->3"], "\(planOutput)")
            #expect(try shards() == ["a": 1, "b": 1, "c": 1])

            let (applyStatus, applyOutput) = try ChaosTests.baton(["rebalance", "--apply", "--pin", "c", "--config", config])
            #expect(applyStatus == 0 && applyOutput.contains("(2/2) product b moves to shard 3"), "\(applyOutput)")
            #expect(try shards() == ["a": 2, "b": 3, "c": 1])
            let moved = try admin.waitForRun(try admin.start("b/load"))
            #expect(moved["run"]?["shard"]?.integer == 3 && moved["run"]?["state"]?.string == "succeeded")
            let (pinStatus, pinOutput) = try ChaosTests.baton(["rebalance", "--pin", "nothing", "--config", config])
            #expect(pinStatus == 2 && pinOutput.contains("--pin names no product of the cluster: nothing"), "\(pinOutput)")
        }
    }

    /// Found by an operator testing three shards: `baton drain 3` said "shard 3 takes no new runs", yet
    /// the next `apply` of a new product bound it to shard 3, the least loaded then, and `baton rebalance`
    /// planned moves back onto it. Management keeps the shard drained, across its own restart: no new
    /// product goes there, a move onto it is refused naming `baton undrain 3`, `rebalance` plans nothing
    /// onto it, and `products` says it is drained; `baton undrain 3` opens it again.
    @Test func aDrainedShardTakesNoNewProductNorMoveUntilUndrained() throws {
        try Self.withCluster(shards: 3) { folder, config, admin in
            func flow(_ product: String) -> String { #"{"product": "\#(product)", "flow": "f", "jobs": [{"name": "j", "run": "true"}]}"# }
            func shards() throws -> [String: Int64] {
                let products = try admin.call("products", .object([])).body["products"]?.array ?? []
                return Dictionary(uniqueKeysWithValues: products.map { ($0["product"]?.string ?? "", $0["shard"]?.integer ?? 0) })
            }
            try admin.apply(["a", "b", "c"].map(flow))
            #expect(Set(try shards().values) == [1, 2, 3])

            let (drainStatus, drainOutput) = try ChaosTests.baton(["drain", "3", "--config", config])
            #expect(drainStatus == 0 && drainOutput.contains("shard 3 is drained: no new product is bound to it"), "\(drainOutput)")
            #expect(drainOutput.contains("moves to shard"), "\(drainOutput)")
            #expect(!(try shards().values.contains(3)))
            let (listStatus, listOutput) = try ChaosTests.baton(["products", "--config", config])
            #expect(listStatus == 0 && listOutput.contains("shard 3 is drained: no new product is bound to it and none moves onto it (`baton undrain 3` opens it again)"), "\(listOutput)")

            // Shard 3 has no product now, and still takes none of two new ones.
            try admin.apply(["d", "e"].map(flow))
            let placed = try shards()
            #expect(!placed.values.contains(3), "\(placed)")
            let (moveStatus, moveOutput) = try ChaosTests.baton(["move", "d", "--to", "3", "--config", config])
            #expect(moveStatus == 4 && moveOutput.contains("move: shard 3 is drained: it takes no products; `baton undrain 3` opens it again"), "\(moveOutput)")
            // Five products on two shards, none on shard 3: the plan leaves shard 3 out.
            let (planStatus, planOutput) = try ChaosTests.baton(["rebalance", "--config", config])
            #expect(planStatus == 0 && planOutput.contains("shard 3 is drained: the plan moves nothing onto it"), "\(planOutput)")
            #expect(!planOutput.contains("-> 3"), "\(planOutput)")

            // Management restarted keeps it drained.
            let pidFile = "\(folder)/data/run/management.pid"
            let pid = try #require(pid_t(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            Glibc.kill(pid, SIGTERM)
            try waitUntilExited(pid)
            let (upStatus, upOutput) = try ChaosTests.baton(["up", "--config", config])
            #expect(upStatus == 0 && upOutput.contains("started management"), "\(upOutput)")
            let restarted = try APIClient(cluster: try SecurityTests.load(config))
            try restarted.apply([flow("f")])
            let after = try restarted.call("products", .object([])).body
            #expect(after["drained"]?.rendered() == "[3]", "\(after.rendered())")
            #expect(!(after["products"]?.array ?? []).contains { $0["shard"]?.integer == 3 }, "\(after.rendered())")

            // Opened again: the plan moves products onto it, and the audit log has both, under the admin's key.
            let (undrainStatus, undrainOutput) = try ChaosTests.baton(["undrain", "3", "--config", config])
            #expect(undrainStatus == 0 && undrainOutput.contains("shard 3 is open again"), "\(undrainOutput)")
            let (againStatus, againOutput) = try ChaosTests.baton(["rebalance", "--config", config])
            #expect(againStatus == 0 && againOutput.contains("-> 3"), "\(againOutput)")
            let (historyStatus, historyOutput) = try ChaosTests.baton(["history", "--actor", "admin", "--config", config])
            #expect(historyStatus == 0 && historyOutput.contains("drain") && historyOutput.contains("undrain"), "\(historyOutput)")
            let actions = try restarted.call("history", .object([("actor", .string("admin"))])).body["actions"]?.array ?? []
            #expect(actions.filter { $0["options"]?.string == "shard 3" }.map { $0["action"]?.string ?? "" } == ["drain", "undrain"], "\(actions)")
        }
    }

    /// Found by an operator: shard 3 was taken out of the cluster file while products were bound to it;
    /// `baton up` restarted management and the orchestrator without it, and every run of those products
    /// failed at once. `up` refuses such a file before it stops anything, naming the products and how to
    /// drain the shard, and the processes running go on; management started by hand refuses it too.
    /// Drained first, the shard is taken out, and every product runs.
    @Test func aShardProductsAreBoundToCannotBeTakenOutOfTheFileUntilDrained() throws {
        try Self.withCluster(shards: 3) { folder, config, admin in
            try admin.apply(["a", "b", "c"].map { #"{"product": "\#($0)", "flow": "f", "jobs": [{"name": "j", "run": "true"}]}"# })
            let onShard3 = try #require(try admin.call("products", .object([])).body["products"]?.array?.first { $0["shard"]?.integer == 3 }?["product"]?.string)
            // The same cluster without shard 3, in a file of its own (`down` at the end stops shard 3 by the first).
            var cluster = try #require(try JSONParser.parse(try String(contentsOfFile: config, encoding: .utf8)).members)
            let index = try #require(cluster.firstIndex { $0.key == "shards" })
            cluster[index].value = .array(Array((cluster[index].value.array ?? []).prefix(2)))
            let smaller = "\(folder)/cluster-2.json"
            try JSON.object(cluster.map { ($0.key, $0.value) }).rendered(pretty: true).write(toFile: smaller, atomically: true, encoding: .utf8)
            func pid(_ name: String) throws -> String { try String(contentsOfFile: "\(folder)/data/run/\(name).pid", encoding: .utf8) }
            let before = try ["management", "orchestrator"].map(pid)

            let (refused, refusal) = try ChaosTests.baton(["up", "--config", smaller])
            #expect(refused == 1 && refusal.contains("shard 3 is no longer in the cluster file, but 1 product is bound to it: \(onShard3)"), "\(refusal)")
            #expect(refusal.contains("`baton drain 3`") && refusal.contains("Nothing was started or stopped."), "\(refusal)")
            #expect(!refusal.contains("restarting"), "\(refusal)")
            #expect(try ["management", "orchestrator"].map(pid) == before)
            let run = try admin.start("\(onShard3)/f")
            #expect(try admin.waitForRun(run)["run"]?["state"]?.string == "succeeded")
            // Management started by hand with that file refuses it the same way (its lock is taken first:
            // stopped, then started again by `up` with the full file).
            let management = try #require(pid_t(try pid("management").trimmingCharacters(in: .whitespacesAndNewlines)))
            Glibc.kill(management, SIGTERM)
            try waitUntilExited(management)
            // (Under `timeout`: a management that took the file would serve until stopped.)
            let (alone, aloneOutput) = try runProgram("/usr/bin/timeout", ["30", CommandLineTests.baton, "management", "--config", smaller])
            #expect(alone == 1 && aloneOutput.contains("management cannot start: shard 3 is no longer in the cluster file"), "\(aloneOutput)")
            #expect(try ChaosTests.baton(["up", "--config", config]).0 == 0)

            // Drained, shard 3 can be taken out: `up` restarts what reads the shards, and every product runs.
            let (drained, drainOutput) = try ChaosTests.baton(["drain", "3", "--config", config])
            #expect(drained == 0, "\(drainOutput)")
            let (taken, takenOutput) = try ChaosTests.baton(["up", "--config", smaller])
            #expect(taken == 0 && takenOutput.contains("restarting management"), "\(takenOutput)")
            let restarted = try APIClient(cluster: try SecurityTests.load(smaller))
            for product in ["a", "b", "c"] {
                let status = try restarted.waitForRun(try restarted.start("\(product)/f"))
                #expect(status["run"]?["state"]?.string == "succeeded" && status["run"]?["shard"]?.integer != 3, "\(status.rendered())")
            }
        }
    }

    /// What a move cannot do is refused, naming why, and changes nothing.
    @Test func aMoveThatCannotBeIsRefusedClearly() throws {
        try Self.withCluster { _, config, admin in
            try admin.apply([#"{"product": "ledger", "flow": "close", "jobs": [{"name": "a", "run": "true"}]}"#])
            let shard = try #require(admin.call("products", .object([])).body["products"]?.array?.first?["shard"]?.integer)
            let cases: [([(String, JSON)], Status, String)] = [
                ([("product", .string("ledger")), ("to", .number(7))], .badRequest, "move: shard 7 is not one of the cluster's (1, 2)"),
                ([("product", .string("ledger")), ("to", .number(shard))], .conflict, "product ledger is already on shard \(shard)"),
                ([("product", .string("nothing")), ("to", .number(1))], .notFound, "unknown product \"nothing\""),
                ([("product", .string("ledger"))], .badRequest, "move needs \"to\": the ID of the shard to move to (1 to 65535)"),
            ]
            for (fields, status, says) in cases {
                let reply = try admin.call("move", .object(fields + [("actor", .string("alice"))]))
                #expect(reply.status == status && reply.errorText == says, "\(reply.status) \(reply.errorText)")
            }
            #expect(try admin.call("products", .object([])).body["products"]?.array?.first?["shard"]?.integer == shard)
            let (status, output) = try ChaosTests.baton(["move", "ledger", "--config", config])
            #expect(status == 2 && output.contains("give the shard to move to: --to SHARD"), "\(output)")
        }
    }
}
