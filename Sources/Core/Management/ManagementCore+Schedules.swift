import Wire

/// Schedules and calendars: what the timer asks for, and firing exactly once.
///
/// A timer decides *when* a firing is due; management decides *whether* it runs. Each scheduled flow
/// has a watermark, `since`: the last instant decided. A `fire` at or before it is answered as a
/// repeat and starts nothing, so two timers, a timer sending again after a lost reply, or a timer
/// restarted with an old view all start each run once. The watermark, the firing and the run it
/// starts are committed in one turn, before the timer hears of them.
extension ManagementCore {
    /// Why a calendar file was refused: its path, and line and column when the text is at fault.
    struct CalendarRefusal: Error {
        var message: String
    }

    /// Parses a calendar file applied as `name`.
    static func calendar(named value: JSON, text: String, path: String) -> Result<BusinessCalendar, CalendarRefusal> {
        guard let name = value.string, Names.isValid(name) else {
            return .failure(CalendarRefusal(message: "\(path): \"calendar\" must be a name (1 to 64 letters, digits, '.', '_' or '-'), not \(value.rendered())"))
        }
        guard BuiltInCalendars.named(name) == nil else {
            return .failure(CalendarRefusal(message: "\(path): \"\(name)\" is a built-in calendar and cannot be replaced; give the file another name"))
        }
        do {
            return .success(try BusinessCalendar.parse(text, name: name))
        } catch {
            return .failure(CalendarRefusal(message: "\(path):\(error.line):\(error.column): \(error.message)"))
        }
    }

    /// Stores a calendar applied; returns whether it changed. Schedules on it are resolved again.
    mutating func store(_ calendar: BusinessCalendar, text: String, now: Timestamp) -> Bool {
        let previous = calendars[calendar.name]
        guard previous?.text != text else { return false }
        let record = CalendarRecord(name: calendar.name, version: (previous?.version ?? 0) + 1, text: text, applied: now, calendar: calendar)
        calendars[calendar.name] = record
        turn.calendars.append(record)
        for (flow, definition) in scheduleDefinitions where definition.calendar == calendar.name {
            resolved[flow] = resolve(definition)
        }
        scheduleGeneration += 1
        return true
    }

    /// A schedule with its zone and calendar found; nil when either cannot be.
    func resolve(_ definition: ScheduleDefinition) -> Schedule? {
        guard let zone = configuration.zones(definition.zone) else { return nil }
        var calendar: BusinessCalendar?
        if let name = definition.calendar {
            guard let found = calendars[name]?.calendar ?? BuiltInCalendars.named(name) else { return nil }
            calendar = found
        }
        return definition.schedule(zone: zone, calendar: calendar)
    }

    /// Why a schedule cannot be resolved.
    func unresolvable(_ definition: ScheduleDefinition) -> String {
        configuration.zones(definition.zone) == nil
            ? "time zone \"\(definition.zone)\" is not found in this machine's time zone database"
            : "calendar \"\(definition.calendar ?? "")\" cannot be read"
    }

    /// A flow's new version has `definition` as its schedule: a schedule new or changed starts now, and
    /// firings queued under the old one are skipped.
    mutating func scheduleChanged(_ flow: String, to definition: ScheduleDefinition?, now: Timestamp) {
        let previous = scheduleDefinitions[flow]
        guard previous != definition else { return }
        scheduleGeneration += 1
        for var firing in queued.removeValue(forKey: flow) ?? [] {
            firing.outcome = .skipped
            firing.detail = "the flow's schedule changed while it waited"
            keepFiring(firing)
            schedules[flow]?.skipped += 1
        }
        guard let definition else {
            scheduleDefinitions[flow] = nil
            resolved[flow] = nil
            schedules[flow] = nil
            turn.removedSchedules.append(flow)
            return
        }
        scheduleDefinitions[flow] = definition
        resolved[flow] = resolve(definition)
        var state = schedules[flow] ?? ScheduleState(flow: flow, since: now)
        state.since = max(state.since, now)
        schedules[flow] = state
        turn.schedules.append(state)
    }

    /// Reads a stored flow's schedule back at start.
    mutating func restoreSchedule(of flow: FlowRecord) {
        guard let text = flow.schedule, let json = try? JSONParser.parse(text) else { return }
        var validator = FlowValidator(file: flow.qualifiedName, names: .unchecked)
        guard let definition = validator.schedule(json, names: .unchecked) else { return }
        scheduleDefinitions[flow.qualifiedName] = definition
        resolved[flow.qualifiedName] = resolve(definition)
        if schedules[flow.qualifiedName] == nil { schedules[flow.qualifiedName] = ScheduleState(flow: flow.qualifiedName, since: flow.applied) }
    }

    // MARK: - For timers

    /// `schedules`: every schedule a timer fires, with the calendars they use. With `known`, the
    /// generation a timer already has, the reply says only whether anything changed.
    mutating func listSchedules(_ body: JSON, peer: Peer, request: UInt64) {
        let generation = "\(scheduleEpoch)-\(scheduleGeneration)"
        if body["known"]?.string == generation {
            reply(peer, request, .ok, .object([("generation", .string(generation)), ("unchanged", .bool(true))]))
            return
        }
        var used: Set<String> = []
        var list: [JSON] = []
        for flow in scheduleDefinitions.keys.sorted() {
            let definition = scheduleDefinitions[flow]!
            guard resolved[flow] != nil, let record = flows[flow], let state = schedules[flow] else { continue }
            if let calendar = definition.calendar, calendars[calendar] != nil { used.insert(calendar) }
            list.append(
                .object([
                    ("flow", .string(flow)), ("version", .number(record.version)), ("schedule", definition.json),
                    ("since", .number(state.since.milliseconds)),
                ]))
        }
        let calendarList = used.sorted().map { name in
            JSON.object([("calendar", .string(name)), ("version", .number(calendars[name]!.version)), ("text", .string(calendars[name]!.text))])
        }
        reply(
            peer, request, .ok,
            .object([("generation", .string(generation)), ("schedules", .array(list)), ("calendars", .array(calendarList))]))
    }

    /// `fire`: a timer says a firing of a flow is due. `run: false` records it, and every firing
    /// before it not yet decided, as missed.
    mutating func fire(_ body: JSON, peer: Peer, request: UInt64, now: Timestamp) {
        guard let flow = body["flow"]?.string, let milliseconds = body["instant"]?.integer else {
            reply(peer, request, .badRequest, error: "fire needs \"flow\": \"PRODUCT/FLOW\" and \"instant\": the firing's time in milliseconds")
            return
        }
        guard body["run"] == nil || body["run"]?.bool != nil else {
            reply(peer, request, .badRequest, error: "\"run\" is true (start a run) or false (record the firing as missed), not \(body["run"]!.rendered())")
            return
        }
        let run = body["run"]?.bool ?? true
        let timer = body["timer"]?.string ?? ""
        guard timer.utf8.count <= 255 else {
            reply(peer, request, .badRequest, error: "\"timer\" is at most 255 octets")
            return
        }
        guard let definition = scheduleDefinitions[flow], var state = schedules[flow], let record = flows[flow] else {
            reply(peer, request, .notFound, error: "\(flow) has no schedule")
            return
        }
        guard let schedule = resolved[flow] else {
            reply(peer, request, .unavailable, error: "the schedule of \(flow) cannot be used: \(unresolvable(definition))")
            return
        }
        let instant = Timestamp(milliseconds: milliseconds)
        guard instant > state.since else {
            reply(peer, request, .ok, .object([("repeated", .bool(true)), ("since", .number(state.since.milliseconds))]))
            return
        }
        guard instant.since(now) <= configuration.fireAhead else {
            reply(
                peer, request, .invalid,
                error: "the firing at \(milliseconds) is \(instant.since(now) / 1000) s ahead of management's clock; is the timer's clock right?")
            return
        }
        guard let firing = schedule.next(after: instant.adding(milliseconds: -1)), firing.instant == instant else {
            reply(
                peer, request, .conflict,
                error: "\(milliseconds) is not a firing of the schedule of \(flow) version \(record.version) (\(definition.summary))",
                problems: [])
            return
        }
        // Every firing between the watermark and this one was passed over by the timer: missed.
        let missed = UInt64(schedule.count(after: state.since, through: instant.adding(milliseconds: -1), countLimit: Int.max))
        state.since = instant
        state.missed += missed
        var decided = FiringRecord(
            flow: flow, instant: instant, date: firing.businessDate.description, outcome: .missed, missedBefore: missed, timer: timer,
            time: now)
        if !run {
            state.missed += 1
        } else {
            let going = runsGoing(of: flow)
            let waiting = queued[flow]?.count ?? 0
            switch (definition.overlap, going.first) {
            case (.queue, _) where waiting > 0:
                // Behind the firings already waiting, in order, whether or not a run is going.
                if waiting < ScheduleDefinition.queueLimit {
                    decided.outcome = .queued
                    decided.detail = "waits for the firings queued before it"
                } else {
                    decided.outcome = .skipped
                    decided.detail = "\(ScheduleDefinition.queueLimit) firings were already waiting"
                }
            case (.allow, _), (_, nil):
                decided.outcome = .started
            case (.skip, let first?):
                decided.outcome = .skipped
                decided.detail = going.count == 1 ? "run \(first) was still going" : "runs \(Self.list(going)) were still going"
            case (.queue, _):
                decided.outcome = .queued
                decided.detail = "waits for run\(going.count == 1 ? "" : "s") \(Self.list(going)) to end"
            case (.replace, _):
                for id in going { stopForReplacement(id, by: decided, now: now) }
                decided.outcome = .started
                decided.detail = "replaced run\(going.count == 1 ? "" : "s") \(Self.list(going))"
            }
            switch decided.outcome {
            case .started:
                decided.run = startRun(of: record, params: scheduledParams(record, decided), key: Self.key(decided), priority: scheduledPriority(of: record), now: now).id
                state.fired += 1
            case .skipped: state.skipped += 1
            case .queued: queued[flow, default: []].append(decided)
            case .missed: break
            }
        }
        schedules[flow] = state
        turn.schedules.append(state)
        keepFiring(decided)
        if decided.outcome == .queued { startQueuedFiring(of: flow, now: now) }
        var members: [(String, JSON)] = [("outcome", .string(decided.outcome.rawValue)), ("date", .string(decided.date))]
        if decided.run != 0 { members.append(("run", .number(decided.run))) }
        members += [("missed", .number(missed)), ("since", .number(state.since.milliseconds)), ("detail", .string(decided.detail))]
        reply(peer, request, .ok, .object(members))
    }

    /// The runs of a flow not yet final, oldest first.
    func runsGoing(of flow: String) -> [UInt64] {
        runs.values.filter { "\($0.product)/\($0.flow)" == flow && !$0.state.isFinal }.map(\.id).sorted()
    }

    /// A request's `next`: how many to list, 0 to 1000, or nil when it is refused (the reply is sent).
    mutating func listLength(_ body: JSON, default value: Int64, peer: Peer, request: UInt64) -> Int? {
        let count = body["next"].map { $0.integer ?? -1 } ?? value
        guard (0...1000).contains(count) else {
            reply(peer, request, .badRequest, error: "\"next\" takes a whole number from 0 to 1000, not \(body["next"]!.rendered())")
            return nil
        }
        return Int(count)
    }

    /// The idempotency key of the run a firing starts.
    static func key(_ firing: FiringRecord) -> String { "schedule:\(firing.flow)@\(firing.instant.milliseconds)" }

    static func list(_ runs: [UInt64]) -> String { runs.map(String.init).joined(separator: ", ") }

    /// A scheduled run's parameters: the flow's defaults, and its business date as `business_date`.
    func scheduledParams(_ flow: FlowRecord, _ firing: FiringRecord) -> [String: String] {
        var params = flow.params ?? [:]
        params["business_date"] = firing.date
        return params
    }

    /// The priority of the runs a flow's schedule starts.
    func scheduledPriority(of flow: FlowRecord) -> UInt8 {
        UInt8(clamping: scheduleDefinitions[flow.qualifiedName]?.priority ?? Int(RunPriority.normal))
    }

    /// Stops a run that a firing of overlap `replace` replaces, recorded in the audit log as the timer's action.
    mutating func stopForReplacement(_ run: UInt64, by firing: FiringRecord, now: Timestamp) {
        counters.lastRequest += 1
        turn.counters = counters
        let operation = OperationRequest(request: counters.lastRequest, action: .stop, run: run, product: runs[run]?.product ?? "")
        let entry = AuditEntry(
            id: operation.request, key: "#\(operation.request)", time: now, actor: firing.timer.isEmpty ? "timer" : "timer \(firing.timer)",
            method: "stop", run: run, product: operation.product, job: "",
            options: "replaced by the firing of \(firing.flow) at \(firing.instant.milliseconds)")
        remember(entry)
        turn.audit.append(entry)
        send(operation, now: now)
    }

    /// Starts the oldest firing a flow has queued, once no run of it is going.
    mutating func startQueuedFiring(of flow: String, now: Timestamp) {
        guard var waiting = queued[flow], !waiting.isEmpty, let record = flows[flow] else { return }
        guard runsGoing(of: flow).isEmpty else { return }
        var firing = waiting.removeFirst()
        queued[flow] = waiting.isEmpty ? nil : waiting
        firing.outcome = .started
        firing.run = startRun(of: record, params: scheduledParams(record, firing), key: Self.key(firing), priority: scheduledPriority(of: record), now: now).id
        firing.detail = firing.detail.isEmpty ? "started after waiting" : firing.detail + "; started when they had ended"
        if var state = schedules[flow] {
            state.fired += 1
            schedules[flow] = state
            turn.schedules.append(state)
        }
        keepFiring(firing)
    }

    /// Records a firing decided, and keeps the latest of its flow.
    mutating func keepFiring(_ firing: FiringRecord) {
        turn.firings.append(firing)
        var recent = recentFirings[firing.flow] ?? []
        recent.removeAll { $0.instant == firing.instant }
        recent.append(firing)
        if recent.count > configuration.recentFiringsInMemory { recent.removeFirst(recent.count - configuration.recentFiringsInMemory) }
        recentFirings[firing.flow] = recent
    }

    // MARK: - For operators

    /// `schedule`: a flow's schedule, where it stands, its next firings with their business dates, and its latest ones.
    mutating func showSchedule(_ body: JSON, peer: Peer, request: UInt64, now: Timestamp) {
        guard let flow = body["flow"]?.string else {
            reply(peer, request, .badRequest, error: "schedule needs \"flow\": \"PRODUCT/FLOW\"")
            return
        }
        guard let count = listLength(body, default: 10, peer: peer, request: request) else { return }
        guard let record = flows[flow] else {
            reply(peer, request, .notFound, error: "unknown flow \"\(flow)\" (flows: \(flows.keys.sorted().joined(separator: ", ")))")
            return
        }
        guard let definition = scheduleDefinitions[flow], let state = schedules[flow] else {
            let scheduled = scheduleDefinitions.keys.sorted()
            reply(
                peer, request, .notFound,
                error: "\(flow) has no schedule" + (scheduled.isEmpty ? " (no flow has one)" : " (scheduled flows: \(scheduled.joined(separator: ", ")))"))
            return
        }
        let zone = configuration.zones(definition.zone)
        var members: [(String, JSON)] = [
            ("flow", .string(flow)), ("version", .number(record.version)), ("schedule", definition.json),
            ("summary", .string(definition.summary)), ("since", .number(state.since.milliseconds)), ("fired", .number(state.fired)),
            ("missed", .number(state.missed)), ("skipped", .number(state.skipped)),
            ("queued", .array((queued[flow] ?? []).map { $0.json(zone: zone) })),
            ("recent", .array((recentFirings[flow] ?? []).map { $0.json(zone: zone) })),
        ]
        if let schedule = resolved[flow], let zone = zone {
            var next: [JSON] = []
            var after = max(now, state.since)
            while next.count < count, let firing = schedule.next(after: after) {
                next.append(
                    .object([
                        ("instant", .number(firing.instant.milliseconds)), ("local", .string(zone.localDescription(firing.instant))),
                        ("date", .string(firing.businessDate.description)),
                    ]))
                after = firing.instant
            }
            members.append(("next", .array(next)))
        } else {
            members.append(("error", .string("\(unresolvable(definition)), so the schedule does not fire")))
        }
        reply(peer, request, .ok, .object(members))
    }

    /// `calendars`: every calendar, the flows on it, and its next holidays from today (UTC).
    mutating func listCalendars(_ body: JSON, peer: Peer, request: UInt64, now: Timestamp) {
        guard let count = listLength(body, default: 3, peer: peer, request: request) else { return }
        let today = Zone.utc.date(of: now)
        let all = calendars.values.sorted { $0.name < $1.name }.map { ($0.name, $0.calendar, $0.version, $0.applied) }
            + BuiltInCalendars.all.map { ($0.name, $0, UInt32(0), Timestamp.zero) }
        let list = all.map { name, calendar, version, applied in
            let users = scheduleDefinitions.filter { $0.value.calendar == name }.map(\.key).sorted()
            let next = calendar.holidays(from: today, limit: count).map { holiday in
                JSON.object([("date", .string(holiday.date.description)), ("name", .string(holiday.name))])
            }
            return JSON.object([
                ("calendar", .string(name)), ("version", .number(version)), ("applied", .number(applied.milliseconds)),
                ("built_in", .bool(version == 0)), ("weekend", .array(calendar.weekend.map { .string(Self.weekdayNames[$0]) })),
                ("first", .string(calendar.firstDate?.description ?? "")), ("last", .string(calendar.lastDate?.description ?? "")),
                ("flows", .array(users.map(JSON.string))), ("next", .array(next)),
            ])
        }
        reply(peer, request, .ok, .object([("calendars", .array(list))]))
    }

    static let weekdayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
}
