import Core
import Testing
import Wire

/// Timers and management wired together in memory, with a clock the test moves.
struct TimerWorld {
    var management: ManagementHarness
    var timers: [TimerCore]
    /// Every firing management decided, and every run it started, in order.
    var firings: [FiringRecord] = []
    var started: [RunRecord] = []
    var toOrchestrator: [Message] = []
    var events: [[TimerEvent]]
    /// While true, management answers nothing: requests are lost.
    var managementDown = false

    init(timers count: Int = 1, start: String = "2026-03-02T00:00:00Z", grace: Int64 = 60_000) {
        var configuration = ManagementConfiguration(shards: [1])
        configuration.zones = { try? TZdata.zone($0) }
        management = ManagementHarness(shards: [1])
        management.now = TimerWorld.instant(start)
        management.core = ManagementCore(configuration: configuration, restoring: ManagementSnapshot(), now: management.now)
        timers = (0..<count).map { index in
            var settings = TimerCore.Settings(name: "timer-\(index + 1)", zones: { try? TZdata.zone($0) })
            settings.grace = grace
            // Schedules change only when a test applies them; asking every hour keeps a simulated week quick.
            settings.refresh = 3_600_000
            return TimerCore(settings: settings, firstRequest: UInt64(index + 1) << 32)
        }
        events = Array(repeating: [], count: count)
    }

    var now: Timestamp { management.now }

    /// `2026-03-02T18:30:00Z` as an instant.
    static func instant(_ text: String) -> Timestamp {
        let date = CivilDate(String(text.prefix(10)))!
        let clock = text.dropFirst(11).prefix(8).split(separator: ":").map { Int64($0)! }
        let seconds = Int64(date.daysSinceEpoch) * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2]
        return Timestamp(milliseconds: seconds * 1000)
    }

    /// Applies files (flow JSON, or `(name, text)` calendars) and expects success.
    mutating func apply(_ flows: [String], calendars: [(String, String)] = []) -> JSON {
        var files = calendars.map { JSON.object([("path", .string("\($0.0).cal")), ("text", .string($0.1)), ("calendar", .string($0.0))]) }
        files += flows.enumerated().map { JSON.object([("path", .string("f\($0.offset).json")), ("text", .string($0.element))]) }
        let (turn, reply, body) = management.call("apply", JSON.object([("files", .array(files))]).rendered())
        take(turn)
        #expect(reply.status == .ok, "\(body.rendered())")
        return body
    }

    mutating func take(_ turn: ManagementTurn) {
        firings += turn.firings
        started += turn.runs.filter { $0.state == .running && !started.map(\.id).contains($0.id) }
        toOrchestrator += turn.toOrchestrator
    }

    /// Lets the timers in `running` work, as they would, until `end`: every deadline they set is met.
    mutating func run(until end: Timestamp, timers running: [Int]? = nil) {
        let active = running ?? Array(timers.indices)
        var steps = 0
        while true {
            exchange(active)
            let next = active.map { timers[$0].nextDeadline() }.min()!
            guard next <= end else { break }
            management.now = max(management.now, next)
            steps += 1
            precondition(steps < 1_000_000, "the timers never settle")
        }
        management.now = max(management.now, end)
        exchange(active)
    }

    /// Ticks the timers and carries requests and replies until nothing more is said.
    mutating func exchange(_ active: [Int]) {
        for _ in 0..<10_000 {
            var said = false
            for index in active {
                timers[index].tick(now: now)
                let turn = timers[index].finishTurn()
                events[index] += turn.events
                for request in turn.requests where !managementDown {
                    said = true
                    management.core.apiRequest(
                        APIRequest(request: request.id, method: request.method, body: request.body.rendered()), from: Peer([UInt8(index)]),
                        now: now)
                    let reply = management.core.finishTurn()
                    take(reply)
                    for (_, message) in reply.replies {
                        guard case .apiReply(let answer) = message else { continue }
                        timers[index].reply(request: answer.request, status: answer.status, body: (try? JSONParser.parse(answer.body)) ?? .null, now: now)
                    }
                }
            }
            if !said { return }
        }
        Issue.record("the timers and management never stopped talking")
    }

    /// Ends a run, as the orchestrator would report it.
    mutating func finish(_ run: UInt64) {
        let record = management.core.runs[run]!
        let status = RunStatus(
            run: run, product: record.product, flow: record.flow, state: .succeeded, jobs: 1, succeeded: 1,
            started: record.started.wire, finished: now.wire, time: now.wire)
        management.core.orchestratorMessage(.runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: UInt64(run), updates: [status])), now: now)
        take(management.core.finishTurn())
    }

    static func flow(_ schedule: String, name: String = "eod") -> String {
        #"{"product": "payments", "flow": "\#(name)", "schedule": \#(schedule), "jobs": [{"name": "a", "run": "true"}]}"#
    }

    /// The runs started, as their business dates and the minutes (UTC) they were started at.
    var startedDates: [String] { started.map { $0.params["business_date"] ?? "-" } }
}

@Suite struct TimerTests {
    @Test func twoTimersStartEachFiringOnce() {
        var world = TimerWorld(timers: 2)
        _ = world.apply([TimerWorld.flow(#"{"cron": "*/5 * * * *"}"#)])
        world.run(until: world.now.adding(milliseconds: 3_600_000))
        // 12 firings in the hour, each decided once and each starting one run, whichever timer asked first.
        #expect(world.started.count == 12)
        #expect(Set(world.started.map(\.key)).count == 12)
        #expect(world.firings.count == 12)
        #expect(world.firings.allSatisfy { $0.outcome == .started && $0.missedBefore == 0 })
        let repeats = world.events.flatMap { $0 }.filter { if case .repeated = $0 { true } else { false } }
        #expect(repeats.count == 12, "the other timer's request for each firing is answered as a repeat")
        let state = world.management.core.schedules["payments/eod"]!
        #expect(state.fired == 12 && state.missed == 0)
        #expect(state.since == world.now)
    }

    @Test func aRunGetsItsBusinessDateInTheSchedulesZone() throws {
        var world = TimerWorld(start: "2026-03-02T00:00:00Z")
        // 18:30 in Shanghai (UTC+8, no daylight saving) is 10:30 UTC.
        _ = world.apply([TimerWorld.flow(#"{"cron": "30 18 * * *", "zone": "Asia/Shanghai"}"#)])
        world.run(until: TimerWorld.instant("2026-03-04T12:00:00Z"))
        #expect(world.startedDates == ["2026-03-02", "2026-03-03", "2026-03-04"])
        #expect(world.started.map(\.started) == ["2026-03-02", "2026-03-03", "2026-03-04"].map { TimerWorld.instant("\($0)T10:30:00Z") })
    }

    @Test func holidaysShiftToTheNextBusinessDayAndTheRunSaysWhichDay() {
        var world = TimerWorld(start: "2026-04-30T00:00:00Z")
        let calendar = "2026-05-01 Labour Day\n2026-05-04..2026-05-05 Golden Week\n"
        _ = world.apply(
            [TimerWorld.flow(#"{"cron": "0 9 * * *", "calendar": "cn", "on_holiday": "next"}"#)], calendars: [("cn", calendar)])
        world.run(until: TimerWorld.instant("2026-05-08T00:00:00Z"))
        // Fri 1 May (holiday), Sat 2, Sun 3, Mon 4 and Tue 5 (holidays) all move to Wed 6: one run.
        #expect(world.startedDates == ["2026-04-30", "2026-05-06", "2026-05-07"])
    }

    @Test func daylightSavingFiresOnceInBothHemispheres() {
        // London: clocks go forward at 01:00 GMT on 29 March 2026 and back at 02:00 BST on 25 October.
        var london = TimerWorld(start: "2026-03-27T12:00:00Z")
        _ = london.apply([TimerWorld.flow(#"{"cron": "30 1 * * *", "zone": "Europe/London"}"#)])
        london.run(until: TimerWorld.instant("2026-03-30T12:00:00Z"))
        // 01:30 does not exist on the 29th: it fires once, at 02:00 BST (01:00 UTC), the end of the gap.
        #expect(london.started.map(\.started) == ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"].map(TimerWorld.instant))
        #expect(london.startedDates == ["2026-03-28", "2026-03-29", "2026-03-30"])
        var autumn = TimerWorld(start: "2026-10-24T12:00:00Z")
        _ = autumn.apply([TimerWorld.flow(#"{"cron": "30 1 * * *", "zone": "Europe/London"}"#)])
        autumn.run(until: TimerWorld.instant("2026-10-26T12:00:00Z"))
        // 01:30 happens twice on the 25th (BST, then GMT): it fires once, the first time.
        #expect(autumn.started.map(\.started) == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"].map(TimerWorld.instant))

        // Sydney: clocks go back at 03:00 AEDT on 5 April 2026 and forward at 02:00 AEST on 4 October.
        var sydney = TimerWorld(start: "2026-04-03T12:00:00Z")
        _ = sydney.apply([TimerWorld.flow(#"{"cron": "30 2 * * *", "zone": "Australia/Sydney"}"#)])
        sydney.run(until: TimerWorld.instant("2026-04-06T12:00:00Z"))
        // 02:30 on the 5th is first AEDT (15:30 UTC on the 4th), then AEST: once, the first.
        #expect(sydney.started.map(\.started) == ["2026-04-03T15:30:00Z", "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"].map(TimerWorld.instant))
        #expect(sydney.startedDates == ["2026-04-04", "2026-04-05", "2026-04-06"])
        var spring = TimerWorld(start: "2026-10-02T12:00:00Z")
        _ = spring.apply([TimerWorld.flow(#"{"cron": "30 2 * * *", "zone": "Australia/Sydney"}"#)])
        spring.run(until: TimerWorld.instant("2026-10-04T12:00:00Z"))
        // 02:30 on the 4th does not exist: it fires at 03:00 AEDT (16:00 UTC on the 3rd).
        #expect(spring.started.map(\.started) == ["2026-10-02T16:30:00Z", "2026-10-03T16:00:00Z"].map(TimerWorld.instant))
    }

    // MARK: Catch-up after downtime

    /// 12 firings (every 5 minutes) fall in an hour when no timer runs; the timer is back 2 minutes after the last.
    func downtime(_ catchUp: String) -> TimerWorld {
        var world = TimerWorld()
        _ = world.apply([TimerWorld.flow(#"{"cron": "*/5 * * * *", \#(catchUp)}"#)])
        world.run(until: world.now.adding(milliseconds: 60_000))
        world.started = []
        world.firings = []
        world.management.now = world.now.adding(milliseconds: 3_600_000 + 60_000)
        world.run(until: world.now)
        return world
    }

    @Test func catchUpNoneRunsNothingMissedAndCountsIt() {
        let world = downtime(#""catch_up": "none""#)
        #expect(world.started.isEmpty)
        #expect(world.firings.map(\.outcome) == [.missed])
        let state = world.management.core.schedules["payments/eod"]!
        #expect(state.missed == 12 && state.fired == 0)
    }

    @Test func catchUpLatestRunsOnlyTheLatest() {
        let world = downtime(#""catch_up": "latest""#)
        #expect(world.started.count == 1)
        #expect(world.firings.map(\.outcome) == [.started])
        #expect(world.firings.first?.missedBefore == 11)
        #expect(world.firings.first?.instant == TimerWorld.instant("2026-03-02T01:00:00Z"))
    }

    @Test func catchUpAllRunsAtMostItsMaximumInOrder() {
        let world = downtime(#""catch_up": "all", "max_catch_up": 3"#)
        #expect(world.started.count == 3)
        #expect(world.firings.map(\.outcome) == [.missed, .started, .started, .started])
        #expect(Array(world.firings.map(\.instant).dropFirst()) == ["00:50", "00:55", "01:00"].map { TimerWorld.instant("2026-03-02T\($0):00Z") })
        let state = world.management.core.schedules["payments/eod"]!
        #expect(state.missed == 9 && state.fired == 3)
    }

    @Test func catchUpAllUnderItsMaximumRunsEveryMissedFiring() {
        let world = downtime(#""catch_up": "all", "max_catch_up": 100"#)
        #expect(world.started.count == 12)
        #expect(world.management.core.schedules["payments/eod"]!.missed == 0)
    }

    @Test func aFiringWithinTheGraceIsOnTimeAfterAShortOutage() {
        var world = TimerWorld()
        _ = world.apply([TimerWorld.flow(#"{"cron": "*/5 * * * *", "catch_up": "none"}"#)])
        world.management.now = world.now.adding(milliseconds: 5 * 60_000 + 40_000)
        world.run(until: world.now)
        #expect(world.started.count == 1, "40 s late is within the 60 s grace")
    }

    @Test func firingsLateBecauseManagementDidNotAnswerFollowCatchUp() {
        var world = TimerWorld()
        _ = world.apply([TimerWorld.flow(#"{"cron": "0 * * * *", "catch_up": "latest"}"#)])
        world.run(until: TimerWorld.instant("2026-03-02T00:30:00Z"))
        // Management answers nothing for three hours; the timer keeps asking.
        world.managementDown = true
        world.run(until: TimerWorld.instant("2026-03-02T03:30:00Z"))
        world.managementDown = false
        world.run(until: TimerWorld.instant("2026-03-02T03:40:00Z"))
        // Only the latest of the firings at 01:00, 02:00 and 03:00 runs, not the first one asked about.
        #expect(world.firings.map(\.instant) == [TimerWorld.instant("2026-03-02T03:00:00Z")])
        #expect(world.firings.first?.missedBefore == 2)
        #expect(world.events[0].contains(.silent) && world.events[0].contains(.answers))
    }

    @Test func anUnansweredRequestIsSentAgainOnTheResendPolicy() {
        func sends(_ policy: ResendPolicy) -> [Int64] {
            var settings = TimerCore.Settings(name: "timer", zones: { try? TZdata.zone($0) })
            settings.resend = policy
            var timer = TimerCore(settings: settings)
            let start = Timestamp(milliseconds: 1_000_000)
            var now = start
            var times: [Int64] = []
            while times.count < 5 {
                timer.tick(now: now)
                if !timer.finishTurn().requests.isEmpty { times.append(now.since(start)) }
                now = timer.nextDeadline()
            }
            return times
        }
        // Management never answers `schedules`: asked again every 5 s by default.
        #expect(sends(TimerCore.Settings(name: "timer", zones: { _ in nil }).resend) == [0, 5000, 10_000, 15_000, 20_000])
        #expect(sends(ResendPolicy(initial: 1000, maximum: 4000)) == [0, 1000, 3000, 7000, 11_000])
    }

    @Test func aCalendarChangedUnderARunningTimerIsFollowed() {
        var world = TimerWorld(start: "2026-05-04T00:00:00Z")
        _ = world.apply(
            [TimerWorld.flow(#"{"cron": "0 9 * * *", "calendar": "bank"}"#)], calendars: [("bank", "2026-12-25 Christmas Day\n")])
        world.run(until: TimerWorld.instant("2026-05-05T00:00:00Z"))
        // Tuesday 5 May becomes a holiday after the timer has its copy of the schedule.
        _ = world.apply([], calendars: [("bank", "2026-05-05 A new holiday\n2026-12-25 Christmas Day\n")])
        world.run(until: TimerWorld.instant("2026-05-07T00:00:00Z"))
        #expect(world.startedDates == ["2026-05-04", "2026-05-06"])
        #expect(!world.firings.contains { $0.date == "2026-05-05" })
    }

    @Test func firingsQueuedUnderAScheduleThatChangesAreSkipped() {
        var world = overlap("queue")
        #expect(world.firings.last?.outcome == .queued)
        _ = world.apply([TimerWorld.flow(#"{"cron": "*/10 * * * *", "overlap": "queue"}"#)])
        #expect(world.firings.last?.outcome == .skipped)
        #expect(world.firings.last?.detail == "the flow's schedule changed while it waited")
        world.finish(1)
        #expect(world.started.count == 1, "nothing queued is left to start")
    }

    // MARK: Overlap

    /// A flow fired every minute whose first run is still going at the second firing.
    func overlap(_ policy: String) -> TimerWorld {
        var world = TimerWorld()
        _ = world.apply([TimerWorld.flow(#"{"cron": "* * * * *", "overlap": "\#(policy)"}"#)])
        world.run(until: world.now.adding(milliseconds: 60_000))
        #expect(world.started.count == 1)
        world.run(until: world.now.adding(milliseconds: 60_000))
        return world
    }

    @Test func overlapAllowStartsAnotherRun() {
        let world = overlap("allow")
        #expect(world.started.count == 2)
    }

    @Test func overlapSkipStartsNothingAndSaysWhy() {
        let world = overlap("skip")
        #expect(world.started.count == 1)
        #expect(world.firings.last?.outcome == .skipped)
        #expect(world.firings.last?.detail == "run 1 was still going")
        #expect(world.management.core.schedules["payments/eod"]!.skipped == 1)
    }

    @Test func overlapQueueStartsTheFiringWhenTheRunEnds() {
        var world = overlap("queue")
        #expect(world.started.count == 1)
        #expect(world.firings.last?.outcome == .queued)
        world.finish(1)
        #expect(world.started.count == 2)
        #expect(world.firings.last?.outcome == .started)
        #expect(world.started.last?.params["business_date"] == "2026-03-02")
        #expect(world.started.last?.key == "schedule:payments/eod@\(TimerWorld.instant("2026-03-02T00:02:00Z").milliseconds)")
    }

    @Test func overlapReplaceStopsTheRunGoingAndStartsAnother() {
        let world = overlap("replace")
        #expect(world.started.count == 2)
        let stops = world.toOrchestrator.compactMap { message -> OperationRequest? in
            guard case .operationRequest(let operation) = message, operation.action == .stop else { return nil }
            return operation
        }
        #expect(stops.map(\.run) == [1])
        #expect(world.firings.last?.detail == "replaced run 1")
    }

    // MARK: What management refuses

    @Test func managementRefusesFiringsThatAreNotTheSchedules() {
        var world = TimerWorld()
        _ = world.apply([TimerWorld.flow(#"{"cron": "0 * * * *"}"#)])
        let due = TimerWorld.instant("2026-03-02T01:00:00Z")
        world.management.now = due
        let (_, offSchedule, body) = world.management.call("fire", #"{"flow": "payments/eod", "instant": \#(due.milliseconds + 60_000)}"#)
        #expect(offSchedule.status == .conflict)
        #expect(body["error"]?.string?.contains("is not a firing of the schedule of payments/eod") == true)
        let ahead = due.adding(milliseconds: 3_600_000).milliseconds
        let (_, early, earlyBody) = world.management.call("fire", #"{"flow": "payments/eod", "instant": \#(ahead)}"#)
        #expect(early.status == .invalid)
        #expect(earlyBody["error"]?.string?.contains("ahead of management's clock") == true)
        let (_, unknown, _) = world.management.call("fire", #"{"flow": "payments/none", "instant": \#(due.milliseconds)}"#)
        #expect(unknown.status == .notFound)
        let (_, fired, firedBody) = world.management.call("fire", #"{"flow": "payments/eod", "instant": \#(due.milliseconds)}"#)
        #expect(fired.status == .ok && firedBody["outcome"]?.string == "started")
        let (_, again, againBody) = world.management.call("fire", #"{"flow": "payments/eod", "instant": \#(due.milliseconds)}"#)
        #expect(again.status == .ok && againBody["repeated"]?.bool == true)
    }

    @Test func aScheduleAppliedOrChangedStartsFromNow() {
        var world = TimerWorld()
        _ = world.apply([TimerWorld.flow(#"{"cron": "0 * * * *", "catch_up": "all", "max_catch_up": 100}"#)])
        world.management.now = world.now.adding(milliseconds: 5 * 3_600_000)
        // Changed while no timer ran: the firings of the old schedule are not caught up.
        _ = world.apply([TimerWorld.flow(#"{"cron": "30 * * * *", "catch_up": "all", "max_catch_up": 100}"#)])
        world.run(until: world.now.adding(milliseconds: 3_600_000))
        #expect(world.started.count == 1)
        #expect(world.firings.first?.instant == TimerWorld.instant("2026-03-02T05:30:00Z"))
    }

    @Test func applyRefusesAnUnknownZoneCalendarAndABadCronWithWhere() {
        var world = TimerWorld()
        let file = """
            {"product": "p", "flow": "f", "schedule": {"cron": "30 25 * * *", "zone": "Mars/Olympus", "calendar": "nope"},
             "jobs": [{"name": "a", "run": "true"}]}
            """
        let (turn, reply, body) = world.management.call(
            "apply", JSON.object([("files", .array([.object([("path", .string("f.json")), ("text", .string(file))])]))]).rendered())
        #expect(reply.status == .invalid)
        #expect(!turn.needsCommit)
        let problems = body["problems"]?.array?.compactMap(\.string) ?? []
        #expect(problems.contains { $0.hasPrefix("f.json:1:56: field \"schedule.cron\": \"30 25 * * *\": column 4 (hour)") }, "\(problems)")
        #expect(problems.contains { $0.contains("unknown time zone \"Mars/Olympus\"") })
        #expect(problems.contains { $0.contains("unknown calendar \"nope\" (calendars: weekdays)") })
        // "localtime" is a file of the zone database, each machine's own zone: not a zone a schedule can name.
        let local = file.replacingOccurrences(of: "Mars/Olympus", with: "localtime").replacingOccurrences(of: "30 25", with: "30 18")
            .replacingOccurrences(of: #", "calendar": "nope""#, with: "")
        let (_, _, localBody) = world.management.call(
            "apply", JSON.object([("files", .array([.object([("path", .string("f.json")), ("text", .string(local))])]))]).rendered())
        #expect(localBody["problems"]?.array?.compactMap(\.string).contains { $0.contains(#""localtime" is not a time zone of its own"#) } == true, "\(localBody.rendered())")
    }

    @Test func applyRefusesAMalformedCalendarWithItsLine() {
        var world = TimerWorld()
        let files = JSON.object([
            ("files", .array([.object([("path", .string("cn.cal")), ("text", .string("2026-01-01 New Year\n2026-02-30 Nope\n")), ("calendar", .string("cn"))])]))
        ])
        let (turn, reply, body) = world.management.call("apply", files.rendered())
        #expect(reply.status == .invalid)
        #expect(!turn.needsCommit)
        #expect(body["problems"]?.array?.first?.string?.hasPrefix("cn.cal:2:1: ") == true, "\(body.rendered())")
    }

    /// Found by an operator: a schedule applied away hid its past firings, `schedule` answering only that
    /// the flow has none. It says so still, with the last firings it had.
    @Test func aScheduleAppliedAwaySaysItsLastFirings() {
        var world = TimerWorld()
        _ = world.apply([TimerWorld.flow(#"{"cron": "0 * * * *"}"#)])
        world.run(until: world.now.adding(milliseconds: 2 * 3_600_000 + 60_000))
        #expect(world.started.count == 2)
        _ = world.apply([#"{"product": "payments", "flow": "eod", "jobs": [{"name": "a", "run": "true"}]}"#])
        let (_, reply, body) = world.management.call("schedule", #"{"flow": "payments/eod"}"#)
        #expect(reply.status == .notFound)
        let firings = world.firings.reversed().map { "\($0.instant.utcText) started (run \($0.run))" }.joined(separator: ", ")
        #expect(body["error"]?.string == "payments/eod has no schedule (no flow has one); it had one, which last fired: \(firings)")
        // Past the retention, its firings are deleted, and no longer named.
        world.management.core.forgetRuns(endedBefore: world.now.adding(milliseconds: 1))
        let (_, _, later) = world.management.call("schedule", #"{"flow": "payments/eod"}"#)
        #expect(later["error"]?.string == "payments/eod has no schedule (no flow has one)")
    }

    @Test func scheduleListsTheNextFiringsWithTheirBusinessDates() {
        var world = TimerWorld(start: "2026-12-23T00:00:00Z")
        _ = world.apply(
            [TimerWorld.flow(#"{"cron": "0 18 * * *", "zone": "Europe/London", "calendar": "uk", "on_holiday": "previous"}"#)],
            calendars: [("uk", "2026-12-25 Christmas Day\n2026-12-28 Boxing Day (substitute)\n")])
        let (_, reply, body) = world.management.call("schedule", #"{"flow": "payments/eod", "next": 4}"#)
        #expect(reply.status == .ok)
        let next = body["next"]?.array ?? []
        // Wed 23, Thu 24 (and Fri 25, moved back onto it), then Sat 26 and Sun 27 and Mon 28 move back to Thu 24 as well,
        // so the next after the 24th is Tue 29.
        #expect(next.compactMap { $0["date"]?.string } == ["2026-12-23", "2026-12-24", "2026-12-29", "2026-12-30"])
        #expect(next.first?["local"]?.string == "2026-12-23 18:00:00 +00:00")
        let (_, calendars, list) = world.management.call("calendars", #"{"next": 1}"#)
        #expect(calendars.status == .ok)
        let uk = list["calendars"]?.array?.first { $0["calendar"]?.string == "uk" }
        #expect(uk?["flows"]?.array?.first?.string == "payments/eod")
        #expect(uk?["next"]?.array?.first?["name"]?.string == "Christmas Day")
    }
}
