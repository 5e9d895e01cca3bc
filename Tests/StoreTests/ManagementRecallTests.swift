import Core
import Store
import Testing
import Wire

/// An action's request ID and a start's key keep their promise however long ago they were used: once
/// memory has let them go, management reads them back from its store before deciding.
@Suite struct ManagementRecallTests {
    static let now = Timestamp(milliseconds: 1_788_000_000_000)
    static let flow = #"{"product": "p", "flow": "f", "jobs": [{"name": "a", "run": "true"}]}"#

    /// Management's core and store, driven as its service drives them, with little kept in memory.
    struct Management {
        var core: ManagementCore
        let store: ManagementStore
        var request: UInt64 = 0
        /// The orchestrator's event stream, one update a message.
        var sequence: UInt64 = 0

        /// With `small`, little is kept in memory (2 audit entries, 1 finished run); else the defaults.
        init(path: String, small: Bool = true, shards: [UInt32] = [1]) throws {
            store = try ManagementStore(path: path, synchronous: .off)
            var configuration = ManagementConfiguration(shards: shards)
            if small {
                configuration.auditInMemory = 2
                configuration.finishedRunsInMemory = 1
            }
            core = ManagementCore(
                configuration: configuration,
                restoring: try small ? store.open(finishedRuns: 1, audit: 2) : store.open(), now: ManagementRecallTests.now)
        }

        /// Calls a method as the service does (recall, decide, commit) and answers at once, as the
        /// orchestrator would, what it sends on; returns the reply's status and body.
        mutating func call(_ method: String, _ body: JSON) throws -> (Status, JSON) {
            request += 1
            let read = ManagementAPI.read(APIRequest(request: request, method: method, body: body.rendered()))
            for recall in core.recallsNeeded(for: read) { core.recalled(try store.recall(recall)) }
            core.apiRequest(read, from: Peer([1]), now: ManagementRecallTests.now)
            var turn = core.finishTurn()
            try store.commit(turn)
            var replies = turn.replies
            for case .operationRequest(let operation) in turn.toOrchestrator {
                let status: Status = operation.action == .start ? .accepted : .ok
                core.orchestratorMessage(.operationResult(OperationResult(request: operation.request, status: status, detail: "done")), now: ManagementRecallTests.now)
                turn = core.finishTurn()
                try store.commit(turn)
                replies += turn.replies
            }
            guard case .apiReply(let reply)? = replies.first?.1 else { return (.internalError, .null) }
            return (reply.status, try JSONParser.parse(reply.body))
        }

        /// Applies ``ManagementRecallTests/flow``.
        mutating func applyFlow() throws {
            _ = try call("apply", .object([("files", .array([.object([("path", .string("f.json")), ("text", .string(ManagementRecallTests.flow))])]))]))
        }

        /// Applies the flow, starts run 1 of it, and has it succeed.
        mutating func endOneRun() throws {
            try applyFlow()
            _ = try call("start", .object([("flow", .string("p/f"))]))
            try finish(1)
        }

        /// The orchestrator reports run `run` succeeded.
        mutating func finish(_ run: UInt64) throws {
            sequence += 1
            let status = RunStatus(
                run: run, product: "p", flow: core.runs[run]?.flow ?? "f", state: .succeeded, jobs: 1, succeeded: 1, started: ManagementRecallTests.now.wire,
                finished: ManagementRecallTests.now.wire, time: ManagementRecallTests.now.wire)
            core.orchestratorMessage(.runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: sequence, updates: [status])), now: ManagementRecallTests.now)
            try store.commit(core.finishTurn())
        }
    }

    func action(_ method: String, _ request: String) -> JSON {
        .object([("product", .string("p")), ("actor", .string("ops")), ("request", .string(request))])
    }

    /// The load management measured (jobs ended a second, per product) survives its restart: a plan made
    /// just after one is made from it, not from product counts.
    @Test func theMeasuredLoadSurvivesARestart() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db", small: false)
            #expect(try management.call("apply", .object([("files", .array([.object([("path", .string("f.json")), ("text", .string(Self.flow))])]))])).0 == .ok)
            for _ in 0..<3 {
                let (status, body) = try management.call("start", .object([("flow", .string("p/f"))]))
                #expect(status.isSuccess)
                try management.finish(UInt64(body["run"]?.integer ?? 0))
            }
            let measured = management.core.load.rate(of: "p", now: Self.now.adding(milliseconds: 60_000))
            #expect(measured > 0)
            management.store.database.close()
            let again = try Management(path: "\(directory)/management.db", small: false)
            #expect(again.core.load.rate(of: "p", now: Self.now.adding(milliseconds: 60_000)) == measured)
            // Ten minutes on, it has left the window.
            #expect(again.core.load.rate(of: "p", now: Self.now.adding(milliseconds: 11 * 60_000)) == 0)
        }
    }

    @Test func anActionSentAgainLongAfterIsStillAppliedOnce() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db")
            #expect(try management.call("apply", .object([("files", .array([.object([("path", .string("f.json")), ("text", .string(Self.flow))])]))])).0 == .ok)
            let (first, firstBody) = try management.call("hold", action("hold", "hold-1"))
            #expect(first == .ok && firstBody["repeated"] == nil)
            // Two more actions push hold-1 out of memory.
            #expect(try management.call("release", action("release", "release-1")).0 == .ok)
            #expect(try management.call("hold", action("hold", "hold-2")).0 == .ok)
            let read = ManagementAPI.read(APIRequest(request: 0, method: "hold", body: action("hold", "hold-1").rendered()))
            #expect(management.core.recallsNeeded(for: read) == [.action(key: "hold-1")])
            let (again, againBody) = try management.call("hold", action("hold", "hold-1"))
            #expect(again == .ok && againBody["repeated"]?.bool == true, "\(againBody.rendered())")
            #expect(try management.store.history(run: 0, product: "p", limit: 10).filter { $0.method != "apply" }.map(\.key) == ["hold-1", "release-1", "hold-2"])
            // A page of the newest two, then the one before them from its cursor.
            let page = try management.store.history(run: 0, product: "p", limit: 2)
            #expect(page.map(\.key) == ["release-1", "hold-2"])
            #expect(try management.store.history(run: 0, product: "p", limit: 2, before: page[0].id).map(\.key).last == "hold-1")
            let reply = try JSONParser.parse(ManagementAPI.historyReply(page, limit: 2, request: 1).body)
            #expect(reply["next"]?.integer == Int64(page[0].id))
            // The same ID for another method is refused, as it would be from memory.
            let (misused, misusedBody) = try management.call("release", action("release", "hold-2x"))
            #expect(misused == .ok, "\(misusedBody.rendered())")
            _ = try management.call("hold", action("hold", "hold-3"))
            _ = try management.call("hold", action("hold", "hold-4"))
            let (wrong, wrongBody) = try management.call("hold", action("hold", "hold-2x"))
            #expect(wrong == .conflict && wrongBody["error"]?.string?.contains("was already used for release") == true, "\(wrongBody.rendered())")
            management.store.database.close()
        }
    }

    /// With management's defaults: 5,000 keyed runs start and end, memory keeps the last thousand, and
    /// the first key still finds its run, before and after a restart.
    @Test func theFirstOfFiveThousandKeysStillFindsItsRun() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db", small: false)
            try management.applyFlow()
            let start = { (key: String) in JSON.object([("flow", .string("p/f")), ("key", .string(key))]) }
            for index in 0..<5000 {
                let (status, body) = try management.call("start", start("day-\(index)"))
                #expect(status == .ok)
                try management.finish(UInt64(try #require(body["run"]?.integer)))
            }
            // Memory holds the last thousand of each, not five thousand.
            let held = management.core.inMemory
            #expect(held.runs == 1000 && held.keys == 1000 && held.actions == 1000, "\(held)")
            let (status, again) = try management.call("start", start("day-0"))
            #expect(status == .ok && again["run"]?.integer == 1 && again["repeated"]?.bool == true, "\(again.rendered())")
            management.store.database.close()
            var restarted = try Management(path: "\(directory)/management.db", small: false)
            restarted.request = 100_000
            let (_, afterRestart) = try restarted.call("start", start("day-0"))
            #expect(afterRestart["run"]?.integer == 1 && afterRestart["repeated"]?.bool == true, "\(afterRestart.rendered())")
            let (_, next) = try restarted.call("start", start("day-5000"))
            #expect(next["run"]?.integer == 5001, "no run was started for a repeated key")
            // 5,001 starts, each with its flow, answered: none is kept.
            let operations = try restarted.store.database.prepare("SELECT COUNT(*) FROM operations")
            #expect(try operations.step() && operations.int(0) == 0)
            operations.reset()
            restarted.store.database.close()
        }
    }

    /// `status` of a run no longer in memory is complete: its version, shard and entry moment come from
    /// the store, the rest from the orchestrator.
    @Test func theStatusOfAnOldRunIsComplete() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db")
            try management.applyFlow()
            for _ in 0..<3 {
                let (_, body) = try management.call("start", .object([("flow", .string("p/f"))]))
                try management.finish(UInt64(try #require(body["run"]?.integer)))
            }
            #expect(management.core.runs[1] == nil)
            let moment = try management.store.recall(.runID(1))
            guard case .run(let stored?) = moment else { Issue.record("run 1 is not in the store"); return }
            let read = ManagementAPI.read(APIRequest(request: 99, method: "status", body: #"{"run": 1}"#))
            #expect(management.core.recallsNeeded(for: read) == [.runID(1)])
            management.core.recalled(try management.store.recall(.runID(1)))
            management.core.apiRequest(read, from: Peer([1]), now: ManagementRecallTests.now)
            let asked = management.core.finishTurn()
            guard case .runQuery(let query)? = asked.toOrchestrator.first else { Issue.record("no RUN-QUERY"); return }
            let status = RunStatus(
                run: 1, product: "p", flow: "f", state: .succeeded, jobs: 1, succeeded: 1, started: ManagementRecallTests.now.wire,
                finished: ManagementRecallTests.now.wire, time: ManagementRecallTests.now.wire)
            management.core.orchestratorMessage(.runDetail(RunDetail(request: query.request, status: .ok, run: status, jobs: [])), now: ManagementRecallTests.now)
            guard case .apiReply(let reply)? = management.core.finishTurn().replies.first?.1 else { Issue.record("no reply"); return }
            let run = try JSONParser.parse(reply.body)["run"]
            #expect(run?["version"]?.integer == 1 && run?["shard"]?.integer == 1, "\(reply.body)")
            #expect(run?["moment"]?.integer == Int64(stored.moment) && stored.moment > 0)
            management.store.database.close()
        }
    }

    /// `runs` reads the store: every run it holds, filtered, newest first, page by page.
    @Test func runsArePagedFromTheStoreWithTheirFilters() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db")
            let other = Self.flow.replacingOccurrences(of: "\"flow\": \"f\"", with: "\"flow\": \"g\"")
            _ = try management.call("apply", .object([("files", .array([
                .object([("path", .string("f.json")), ("text", .string(Self.flow))]), .object([("path", .string("g.json")), ("text", .string(other))]),
            ]))]))
            for index in 0..<30 {
                let (_, body) = try management.call("start", .object([("flow", .string(index % 3 == 0 ? "p/g" : "p/f"))]))
                if index % 2 == 0 { try management.finish(UInt64(try #require(body["run"]?.integer))) }
            }
            // Runs 1, 4, ... 28 are of g; the even-numbered starts (odd run IDs) have succeeded.
            var seen: [UInt64] = []
            var before: UInt64?
            repeat {
                let listing = RunListing(product: "p", flow: "f", before: before, limit: 7)
                let found = try management.store.runs(listing)
                let reply = try JSONParser.parse(ManagementAPI.runsReply(found, listing: listing, request: 1).body)
                seen += (reply["runs"]?.array ?? []).compactMap { $0["run"]?.integer }.map(UInt64.init)
                before = reply["next"]?.integer.map(UInt64.init)
            } while before != nil
            #expect(seen == (1...30).reversed().filter { ($0 - 1) % 3 != 0 }.map(UInt64.init))
            let succeeded = try management.store.runs(RunListing(state: .succeeded, limit: 100)).map(\.id)
            #expect(succeeded == (1...30).reversed().filter { $0 % 2 == 1 }.map(UInt64.init))
            #expect(try management.store.runs(RunListing(flow: "g", state: .running, limit: 100)).map(\.id) == [28, 22, 16, 10, 4])
            management.store.database.close()
        }
    }

    /// Retention deletes finished runs older than it, a batch at a time, keeps those going and the audit
    /// log by its own; `status` of a deleted run says so.
    @Test func retentionDeletesWhatIsOlderAndStatusSaysSo() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db")
            try management.applyFlow()
            for index in 0..<5 {
                let (_, body) = try management.call("start", .object([("flow", .string("p/f"))]))
                if index < 4 { try management.finish(UInt64(try #require(body["run"]?.integer))) }
            }
            _ = try management.call("hold", action("hold", "hold-1"))
            let day: Int64 = 86_400_000
            let later = ManagementRecallTests.now.adding(milliseconds: 31 * day)
            // Runs 1–4 ended 31 days before `later`; run 5 is still going. Two a batch.
            #expect(try management.store.trim(now: later, retention: 30 * day, auditRetention: 400 * day, batch: 2) == (2, 0, 0))
            #expect(try management.store.trim(now: later, retention: 30 * day, auditRetention: 400 * day, batch: 2) == (2, 0, 0))
            #expect(try management.store.trim(now: later, retention: 30 * day, auditRetention: 400 * day, batch: 2) == (0, 0, 0))
            #expect(try management.store.runs(RunListing(limit: 10)).map(\.id) == [5])
            // The audit log has its own retention: the apply, the five starts and the hold.
            #expect(try management.store.trim(now: later, retention: 30 * day, auditRetention: 30 * day, batch: 100).audit == 7)

            let read = ManagementAPI.read(APIRequest(request: 99, method: "status", body: #"{"run": 2}"#))
            for recall in management.core.recallsNeeded(for: read) { management.core.recalled(try management.store.recall(recall)) }
            management.core.apiRequest(read, from: Peer([1]), now: later)
            guard case .apiReply(let reply)? = management.core.finishTurn().replies.first?.1 else { Issue.record("no reply"); return }
            #expect(reply.status == .gone)
            #expect(try JSONParser.parse(reply.body)["error"]?.string == "run 2 is older than the 30d retention: its record was deleted")

            // Run 4 ended last and was still in memory: deleted from the store, it is forgotten, and neither
            // `status` nor an action finds it there (a rerun of it once went to the orchestrator, which
            // wrote its jobs with no run to keep them).
            #expect(management.core.runs[4] != nil)
            management.core.forgetRuns(endedBefore: later.adding(milliseconds: -30 * day))
            #expect(management.core.runs[4] == nil && management.core.runs[5] != nil)
            for (method, body) in [("status", #"{"run": 4}"#), ("rerun", #"{"run": 4, "actor": "ops"}"#), ("pause", #"{"run": 2, "actor": "ops"}"#)] {
                let read = ManagementAPI.read(APIRequest(request: 100, method: method, body: body))
                for recall in management.core.recallsNeeded(for: read) { management.core.recalled(try management.store.recall(recall)) }
                management.core.apiRequest(read, from: Peer([1]), now: later)
                let turn = management.core.finishTurn()
                guard case .apiReply(let reply)? = turn.replies.first?.1 else { Issue.record("no reply to \(method)"); continue }
                #expect(reply.status == .gone && turn.toOrchestrator.isEmpty, "\(method)")
                let run = try #require(JSONParser.parse(body)["run"]?.integer)
                #expect(try JSONParser.parse(reply.body)["error"]?.string == "run \(run) is older than the 30d retention: its record was deleted")
            }
            // Run 5, still going, is acted on as ever.
            let pause = ManagementAPI.read(APIRequest(request: 101, method: "pause", body: #"{"run": 5, "actor": "ops"}"#))
            #expect(management.core.recallsNeeded(for: pause).isEmpty)
            management.core.apiRequest(pause, from: Peer([1]), now: later)
            #expect(management.core.finishTurn().toOrchestrator.count == 1)
            management.store.database.close()
        }
    }

    /// The orchestrator's retention may delete a run a moment before management's does: its 404 for an
    /// ended run past the retention is answered 410, as management's own deletion would be a moment later.
    /// A 404 of a run still in its retention stays a 404.
    @Test func theOrchestratorsDeletionOfARunPastRetentionIsAnswered410() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db", small: false)
            try management.endOneRun()
            let day: Int64 = 86_400_000
            func ask(_ method: String, _ body: String, at now: Timestamp, request: UInt64) throws -> (Status, String) {
                management.core.apiRequest(ManagementAPI.read(APIRequest(request: request, method: method, body: body)), from: Peer([1]), now: now)
                let sent = management.core.finishTurn()
                try management.store.commit(sent)
                for message in sent.toOrchestrator {
                    switch message {
                    case .operationRequest(let operation):
                        let result = OperationResult(request: operation.request, status: .notFound, detail: OrchestratorCore.unknownRun(operation.run))
                        management.core.orchestratorMessage(.operationResult(result), now: now)
                    case .runQuery(let query):
                        let detail = RunDetail(request: query.request, status: .notFound, run: RunStatus(run: query.run, product: "", flow: "", state: .failed, jobs: 0, started: 0, time: 0), jobs: [])
                        management.core.orchestratorMessage(.runDetail(detail), now: now)
                    default: continue
                    }
                }
                let answered = management.core.finishTurn()
                try management.store.commit(answered)
                guard case .apiReply(let reply)? = answered.replies.first?.1 else { return (.internalError, "no reply") }
                return (reply.status, try JSONParser.parse(reply.body)["error"]?.string ?? "")
            }
            let gone = "run 1 is older than the 30d retention: its record was deleted"
            let later = ManagementRecallTests.now.adding(milliseconds: 30 * day + 500)
            #expect(try ask("rerun", #"{"run": 1, "actor": "ops"}"#, at: later, request: 10) == (.gone, gone))
            #expect(try ask("status", #"{"run": 1}"#, at: later, request: 11) == (.gone, gone))
            // Within the retention, the orchestrator's 404 is passed on as it is.
            let sooner = ManagementRecallTests.now.adding(milliseconds: day)
            #expect(try ask("rerun", #"{"run": 1, "actor": "ops"}"#, at: sooner, request: 12) == (.notFound, "unknown run 1"))
            #expect(try ask("status", #"{"run": 1}"#, at: sooner, request: 13) == (.notFound, "unknown run 1"))
            management.store.database.close()
        }
    }

    /// Found by a review: a rerun of a run that ended just past the retention, accepted and sent, could be
    /// deleted and forgotten by retention before its answer, or after its answer and before the stream
    /// said the run runs again; the run then ran with no record in management. Retention keeps a run an
    /// action is pending on, and one reopened until the stream says so.
    @Test func retentionKeepsARunAnActionIsReopeningUntilTheStreamSaysSo() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db", small: false)
            try management.endOneRun()
            let day: Int64 = 86_400_000
            let later = ManagementRecallTests.now.adding(milliseconds: 31 * day)
            let cutoff = later.adding(milliseconds: -30 * day)
            func trimmed() throws -> Int {
                let deleted = try management.store.trim(
                    now: later, retention: 30 * day, auditRetention: 400 * day, keeping: management.core.runsRetentionKeeps).runs
                management.core.forgetRuns(endedBefore: cutoff)
                return deleted
            }
            // The rerun sent, not answered: kept.
            let read = ManagementAPI.read(APIRequest(request: 50, method: "rerun", body: #"{"run": 1, "actor": "ops"}"#))
            management.core.apiRequest(read, from: Peer([1]), now: later)
            let turn = management.core.finishTurn()
            try management.store.commit(turn)
            let sent = try #require(turn.toOrchestrator.compactMap { if case .operationRequest(let operation) = $0 { operation } else { nil } }.first)
            #expect(try trimmed() == 0 && management.core.runs[1] != nil)
            // Answered: kept until the stream says the run runs again.
            management.core.orchestratorMessage(.operationResult(OperationResult(request: sent.request, status: .ok, detail: "rerunning")), now: later)
            let answered = management.core.finishTurn()
            try management.store.commit(answered)
            // And it is read again at once: its change on the stream may be lost with a restart of the
            // orchestrator, after which only the runs held open are read again (the simulator, seed 12300).
            #expect(answered.toOrchestrator.contains { if case .runQuery(let query) = $0 { query.run == 1 } else { false } })
            #expect(try trimmed() == 0 && management.core.runs[1] != nil)
            management.sequence += 1
            let running = RunStatus(run: 1, product: "p", flow: "f", state: .running, jobs: 1, started: later.wire, time: later.wire)
            management.core.orchestratorMessage(.runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: management.sequence, updates: [running])), now: later)
            try management.store.commit(management.core.finishTurn())
            #expect(management.core.runsRetentionKeeps.isEmpty)
            #expect(try trimmed() == 0 && management.core.runs[1]?.state == .running, "running, it is not retention's")
            management.store.database.close()
        }
    }

    @Test func aStartKeyLongAfterItsRunEndedReturnsThatRun() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db")
            try management.applyFlow()
            let start = { (key: String) in JSON.object([("flow", .string("p/f")), ("key", .string(key))]) }
            let (_, first) = try management.call("start", start("eod-2026-08-28"))
            let run = try #require(first["run"]?.integer)
            try management.finish(UInt64(run))
            // Two newer runs end: the keyed one leaves memory.
            for key in ["other-1", "other-2"] {
                let (_, body) = try management.call("start", start(key))
                try management.finish(UInt64(try #require(body["run"]?.integer)))
            }
            #expect(management.core.runs[UInt64(run)] == nil)
            let (status, again) = try management.call("start", start("eod-2026-08-28"))
            #expect(status == .ok && again["run"]?.integer == run && again["repeated"]?.bool == true, "\(again.rendered())")
            let (_, next) = try management.call("start", start("other-3"))
            #expect(next["run"]?.integer == 4, "no run was started for the repeated key")
            management.store.database.close()
        }
    }

    /// A restart reads back every open run, however old, and only the newest finished ones, through the
    /// open runs' index (`INDEXED BY`: the read fails if a change of its term left the index unusable).
    @Test func aRestartReadsEveryOpenRunAndTheNewestFinished() throws {
        try withTemporaryDirectory { directory in
            var management = try Management(path: "\(directory)/management.db")
            try management.applyFlow()
            var runs: [UInt64] = []
            for _ in 0..<6 {
                let (_, body) = try management.call("start", .object([("flow", .string("p/f"))]))
                runs.append(UInt64(try #require(body["run"]?.integer)))
            }
            // Runs 2, 3 and 5 end; 1, 4 and 6 stay open.
            for index in [1, 2, 4] { try management.finish(runs[index]) }
            let one = try management.store.open(finishedRuns: 1).runs.map(\.id)
            #expect(one == [runs[0], runs[3], runs[4], runs[5]])
            let two = try management.store.open(finishedRuns: 2).runs.map(\.id)
            #expect(two == [runs[0], runs[2], runs[3], runs[4], runs[5]])
            management.store.database.close()
        }
    }
}
