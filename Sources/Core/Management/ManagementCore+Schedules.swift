import Wire

/// Schedules and calendars: what the timer asks for, and firing exactly once.
///
/// A timer decides *when* a firing is due; management decides *whether* it runs. Each scheduled flow
/// has a watermark, `since`: the last instant decided. A `fire` at or before it is answered as a
/// repeat and starts nothing, so two timers, a timer sending again after a lost reply, or a timer
/// restarted with an old view all start each run once. The watermark, the firing and the run it
/// starts are committed in one turn, before the timer hears of them.
extension ManagementCore {
    /// Parses a calendar file applied as `name`; or its problems, each naming its path, and line and
    /// column when the text is at fault.
    static func calendar(named name: String, text: String, path: String) -> (calendar: BusinessCalendar?, problems: [APIProblem]) {
        guard BuiltInCalendars.named(name) == nil else {
            return (nil, [APIProblem("\(path): \"\(name)\" is a built-in calendar and cannot be replaced; give the file another name")])
        }
        let checked = BusinessCalendar.check(text, name: name)
        return (checked.calendar, checked.problems.map { APIProblem("\(path):\($0.line):\($0.column): \($0.message)") })
    }

    /// Stores a calendar applied, as a new version if its text changed. Schedules on it are resolved again.
    mutating func store(_ calendar: BusinessCalendar, text: String, now: Timestamp) -> (record: CalendarRecord, changed: Bool) {
        let previous = calendars[calendar.name]
        if let previous, previous.text == text { return (previous, false) }
        let record = CalendarRecord(name: calendar.name, version: (previous?.version ?? 0) + 1, text: text, applied: now, calendar: calendar)
        calendars[calendar.name] = record
        turn.calendars.append(record)
        for (flow, definition) in scheduleDefinitions where definition.calendar == calendar.name {
            resolved[flow] = resolve(definition)
        }
        scheduleGeneration += 1
        return (record, true)
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
        guard let definition = validator.schedule(json, names: .unchecked, refusingNever: false) else { return }
        scheduleDefinitions[flow.qualifiedName] = definition
        resolved[flow.qualifiedName] = resolve(definition)
        if schedules[flow.qualifiedName] == nil { schedules[flow.qualifiedName] = ScheduleState(flow: flow.qualifiedName, since: flow.applied) }
    }

    // MARK: - For timers

    /// `schedules`: every schedule a timer fires, with the calendars they use. With `known`, the
    /// generation a timer already has, the reply says only whether anything changed.
    mutating func listSchedules(known: String?, for caller: Caller) {
        let generation = "\(scheduleEpoch)-\(scheduleGeneration)"
        if known == generation {
            reply(caller, .schedulesUnchanged(generation: generation))
            return
        }
        var used: [String: CalendarRecord] = [:]
        var list: [ManagementReply.ScheduledFlow] = []
        for (flow, definition) in scheduleDefinitions.sorted(by: { $0.key < $1.key }) {
            guard resolved[flow] != nil, let record = flows[flow], let state = schedules[flow] else { continue }
            if let name = definition.calendar, let calendar = calendars[name] { used[name] = calendar }
            list.append(ManagementReply.ScheduledFlow(flow: flow, version: record.version, definition: definition, since: state.since))
        }
        let usedCalendars = used.values.sorted { $0.name < $1.name }
        reply(caller, .schedules(generation: generation, schedules: list, calendars: usedCalendars))
    }

    /// `fire`: a timer says a firing of a flow is due. `run: false` records it, and every firing
    /// before it not yet decided, as missed.
    mutating func fire(_ request: FireRequest, for caller: Caller, now: Timestamp) {
        let flow = request.flow
        let milliseconds = request.instant.milliseconds
        guard let definition = scheduleDefinitions[flow], var state = schedules[flow], let record = flows[flow],
            let product = products[record.product]
        else {
            refuse(caller, .notFound, "\(flow) has no schedule")
            return
        }
        guard let schedule = resolved[flow] else {
            refuse(caller, .unavailable, "the schedule of \(flow) cannot be used: \(unresolvable(definition))")
            return
        }
        let instant = request.instant
        guard instant > state.since else {
            reply(caller, .firedBefore(since: state.since))
            return
        }
        guard instant.since(now) <= configuration.fireAhead else {
            refuse(
                caller, .invalid,
                "the firing at \(milliseconds) is \(instant.since(now) / 1000) s ahead of management's clock; is the timer's clock right?")
            return
        }
        guard let firing = schedule.next(after: instant.adding(milliseconds: -1)), firing.instant == instant else {
            refuse(
                caller, .conflict,
                "\(milliseconds) is not a firing of the schedule of \(flow) version \(record.version) (\(definition.summary))")
            return
        }
        // Every firing between the watermark and this one was passed over by the timer: missed.
        let missed = UInt64(schedule.count(after: state.since, through: instant.adding(milliseconds: -1), countLimit: Int.max))
        state.since = instant
        state.missed += missed
        var decided = FiringRecord(
            flow: flow, instant: instant, date: firing.businessDate.description, outcome: .missed, missedBefore: missed,
            timer: request.timer, time: now)
        if !request.run {
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
                decided.run = startRun(
                    of: record, on: product, params: scheduledParams(record, decided), key: Self.key(decided),
                    priority: scheduledPriority(of: record), now: now
                ).id
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
        reply(caller, .fired(decided, since: state.since))
    }

    /// The runs of a flow not yet final, oldest first.
    func runsGoing(of flow: String) -> [UInt64] {
        runs.values.filter { "\($0.product)/\($0.flow)" == flow && !$0.state.isFinal }.map(\.id).sorted()
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
        guard var waiting = queued[flow], !waiting.isEmpty, let record = flows[flow], let product = products[record.product] else { return }
        guard runsGoing(of: flow).isEmpty else { return }
        var firing = waiting.removeFirst()
        queued[flow] = waiting.isEmpty ? nil : waiting
        firing.outcome = .started
        firing.run = startRun(
            of: record, on: product, params: scheduledParams(record, firing), key: Self.key(firing),
            priority: scheduledPriority(of: record), now: now
        ).id
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
    mutating func showSchedule(of flow: String, next count: Int, for caller: Caller, now: Timestamp) {
        guard let record = flows[flow] else {
            refuse(caller, .notFound, "unknown flow \"\(flow)\" (flows: \(flows.keys.sorted().joined(separator: ", ")))")
            return
        }
        guard let definition = scheduleDefinitions[flow], let state = schedules[flow] else {
            let scheduled = scheduleDefinitions.keys.sorted()
            var message = "\(flow) has no schedule" + (scheduled.isEmpty ? " (no flow has one)" : " (scheduled flows: \(scheduled.joined(separator: ", ")))")
            // A schedule applied away leaves its firings: the last are said here, since no view shows them.
            if let recent = recentFirings[flow], !recent.isEmpty {
                let said = recent.suffix(5).reversed().map { firing in
                    "\(firing.instant.utcText) \(firing.outcome.rawValue)" + (firing.run > 0 ? " (run \(firing.run))" : "")
                }
                message += "; it had one, which last fired: " + said.joined(separator: ", ")
            }
            refuse(caller, .notFound, message)
            return
        }
        let zone = configuration.zones(definition.zone)
        let upcoming: ManagementReply.ScheduleView.Upcoming
        if let schedule = resolved[flow], let zone {
            var next: [Firing] = []
            var after = max(now, state.since)
            while next.count < count, let firing = schedule.next(after: after) {
                next.append(firing)
                after = firing.instant
            }
            upcoming = .firings(next, zone: zone)
        } else {
            upcoming = .stopped("\(unresolvable(definition)), so the schedule does not fire")
        }
        let view = ManagementReply.ScheduleView(
            record: record, definition: definition, state: state, queued: queued[flow] ?? [], recent: recentFirings[flow] ?? [],
            zone: zone, upcoming: upcoming)
        reply(caller, .schedule(view))
    }

    /// `calendars`: every calendar, the flows on it, and its next holidays from today (UTC).
    mutating func listCalendars(next count: Int, for caller: Caller, now: Timestamp) {
        let today = Zone.utc.date(of: now)
        let all = calendars.values.sorted { $0.name < $1.name }.map { ($0.name, $0.calendar, $0.version, $0.applied) }
            + BuiltInCalendars.all.map { ($0.name, $0, UInt32(0), Timestamp.zero) }
        let list = all.map { name, calendar, version, applied in
            ManagementReply.CalendarView(
                name: name, version: version, applied: applied, calendar: calendar,
                flows: scheduleDefinitions.filter { $0.value.calendar == name }.map(\.key).sorted(),
                next: calendar.holidays(from: today, limit: count))
        }
        reply(caller, .calendars(list))
    }
}
