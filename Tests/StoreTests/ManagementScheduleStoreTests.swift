import Core
import Store
import Testing
import Wire

/// Calendars, schedules and firings survive a restart of management: a firing decided before it is
/// still a repeat after it, and one queued before it starts after it.
@Suite struct ManagementScheduleStoreTests {
    static let start = Timestamp(milliseconds: 1_788_000_000_000)  // 2026-08-29T10:40:00Z

    struct Management {
        var core: ManagementCore
        let store: ManagementStore
        var now: Timestamp
        var request: UInt64 = 0

        init(path: String, now: Timestamp) throws {
            store = try ManagementStore(path: path)
            self.now = now
            core = ManagementCore(configuration: ManagementConfiguration(shards: [1]), restoring: try store.open(), now: now)
        }

        /// Calls a method, commits the turn as the service does, and returns the reply's status and body.
        mutating func call(_ method: String, _ body: JSON) throws -> (Status, JSON) {
            request += 1
            core.apiRequest(APIRequest(request: request, method: method, body: body.rendered()), from: Peer([1]), now: now)
            let turn = core.finishTurn()
            try store.commit(turn)
            guard case .apiReply(let reply)? = turn.replies.first?.1 else { return (.internalError, .null) }
            return (reply.status, try JSONParser.parse(reply.body))
        }

        mutating func finish(_ run: UInt64) throws {
            let record = core.runs[run]!
            let status = RunStatus(
                run: run, product: record.product, flow: record.flow, state: .succeeded, jobs: 1, succeeded: 1,
                started: record.started.wire, finished: now.wire, time: now.wire)
            core.orchestratorMessage(.runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: run, updates: [status])), now: now)
            try store.commit(core.finishTurn())
        }
    }

    @Test func schedulesCalendarsAndQueuedFiringsComeBackAfterARestart() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/management.db"
            let flow = #"{"product": "p", "flow": "f", "schedule": {"cron": "0 * * * *", "calendar": "bank", "overlap": "queue"}, "jobs": [{"name": "a", "run": "true"}]}"#
            let calendar = "weekend none\n2026-09-01 A holiday\n"
            let hour: Int64 = 3_600_000
            let first = Timestamp(milliseconds: (Self.start.milliseconds / hour + 1) * hour)
            do {
                var management = try Management(path: path, now: Self.start)
                let files = JSON.object([
                    ("files", .array([
                        .object([("path", .string("bank.cal")), ("text", .string(calendar)), ("calendar", .string("bank"))]),
                        .object([("path", .string("f.json")), ("text", .string(flow))]),
                    ]))
                ])
                let (applied, body) = try management.call("apply", files)
                #expect(applied == .ok, "\(body.rendered())")
                management.now = first
                let (fired, firedBody) = try management.call("fire", .object([("flow", .string("p/f")), ("instant", .number(first.milliseconds))]))
                #expect(fired == .ok && firedBody["outcome"]?.string == "started")
                management.now = first.adding(milliseconds: hour)
                let (queued, queuedBody) = try management.call(
                    "fire", .object([("flow", .string("p/f")), ("instant", .number(first.milliseconds + hour))]))
                #expect(queued == .ok && queuedBody["outcome"]?.string == "queued")
                management.store.database.close()
            }
            // Management restarts.
            var management = try Management(path: path, now: first.adding(milliseconds: hour + 1000))
            #expect(management.core.calendars["bank"]?.version == 1)
            #expect(management.core.calendars["bank"]?.calendar.holiday(on: CivilDate(year: 2026, month: 9, day: 1)) == "A holiday")
            #expect(management.core.schedules["p/f"]?.since == first.adding(milliseconds: hour))
            #expect(management.core.schedules["p/f"]?.fired == 1)
            let (again, againBody) = try management.call("fire", .object([("flow", .string("p/f")), ("instant", .number(first.milliseconds))]))
            #expect(again == .ok && againBody["repeated"]?.bool == true, "a firing decided before the restart is a repeat after it")
            let (_, schedule) = try management.call("schedule", .object([("flow", .string("p/f")), ("next", .number(2))]))
            #expect(schedule["queued"]?.array?.count == 1)
            #expect(schedule["recent"]?.array?.compactMap { $0["outcome"]?.string } == ["started", "queued"])
            // The run the first firing started ends: the queued firing starts.
            try management.finish(1)
            #expect(management.core.runs[2]?.key == "schedule:p/f@\(first.milliseconds + hour)")
            #expect(management.core.runs[2]?.params["business_date"] == "2026-08-29")
            let stored = try management.store.firings(of: "p/f", limit: 10)
            #expect(stored.map(\.outcome) == [.started, .started])
            #expect(stored.first?.run == 2)
            management.store.database.close()
        }
    }
}
