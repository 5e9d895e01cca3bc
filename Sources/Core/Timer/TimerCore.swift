public import Wire

/// The timer's state machine: which firings are due, and what to ask management about them.
///
/// The timer keeps a copy of every schedule (from management's `schedules`, asked again every
/// `refresh`), and for each the last instant management has decided (`since`). When a firing is
/// due it sends `fire`, one at a time per flow, again on the `resend` policy until answered;
/// management decides and answers with its watermark. Management, not the timer, is what makes a
/// firing happen once, so any number of timers may run.
///
/// Firings missed while no timer ran (or management did not answer) are those more than `grace`
/// older than now; the schedule's `catch_up` says which of them run:
/// - `none`: none; firings within the grace still run.
/// - `latest`: only the most recent firing due runs.
/// - `all`: every one in order, but at most `max_catch_up` of the late ones (the most recent).
/// Management counts and records the firings not run.
public struct TimerCore: Sendable {
    public struct Settings: Sendable {
        /// The timer's name, recorded with each firing.
        public var name: String
        /// How often to ask management whether schedules changed, in milliseconds.
        public var refresh: Int64 = 5000
        /// How late a firing may be and still count as on time, in milliseconds.
        public var grace = Defaults.timerGrace
        /// How long to wait for management's answer before asking again: every 5 s.
        public var resend = ResendPolicy.every(5000)
        /// Where time zones are found.
        public var zones: ZoneLookup

        public init(name: String, zones: @escaping ZoneLookup) {
            self.name = name
            self.zones = zones
        }
    }

    /// One flow's schedule as the timer has it.
    struct Entry: Sendable {
        var definition: ScheduleDefinition
        var schedule: Schedule
        var since: Timestamp
        /// The first firing after `since`, if any.
        var next: Firing?
        var outstanding: Outstanding?
        /// Set after management said the timer's copy is stale: wait for the next `schedules`.
        var stale = false

        mutating func advance(to instant: Timestamp) {
            guard instant > since else { return }
            since = instant
            next = schedule.next(after: since)
        }
    }

    /// A request sent to management and not answered yet.
    struct Outstanding: Sendable {
        var request: UInt64
        var body: JSON
        var resend: ResendSchedule
    }

    public let settings: Settings
    var entries: [String: Entry] = [:]
    var generation: String?
    var listing: Outstanding?
    var nextRefresh = Timestamp.zero
    var lastRequest: UInt64
    /// Flows whose schedule the timer cannot use, with why: reported once per change.
    var unusable: [String: String] = [:]
    /// Whether management has left a request unanswered past `resend`, and not answered since.
    var silent = false
    var turn = TimerTurn()

    public init(settings: Settings, firstRequest: UInt64 = 1) {
        self.settings = settings
        lastRequest = firstRequest &- 1
    }

    /// How many schedules the timer fires.
    public var scheduleCount: Int { entries.count }

    /// Sends what is due at `now`: a `schedules` refresh, firings, and requests not answered in time.
    public mutating func tick(now: Timestamp) {
        if var listing, listing.resend.isDue(at: now) {
            noteSilence()
            listing.resend.resent(at: now, policy: settings.resend)
            self.listing = listing
            turn.requests.append(TimerRequest(id: listing.request, method: "schedules", body: listing.body))
        } else if listing == nil, nextRefresh <= now {
            let body = JSON.object(generation.map { [("known", .string($0))] } ?? [])
            let request = nextID()
            listing = Outstanding(request: request, body: body, resend: ResendSchedule(sentAt: now, policy: settings.resend))
            turn.requests.append(TimerRequest(id: request, method: "schedules", body: body))
        }
        for (flow, entry) in entries.sorted(by: { $0.key < $1.key }) {
            var entry = entry
            if var outstanding = entry.outstanding {
                guard outstanding.resend.isDue(at: now) else { continue }
                noteSilence()
                outstanding.resend.resent(at: now, policy: settings.resend)
                // While management did not answer, the firing may have become late: decided again, as
                // catch_up says, rather than sent as first decided.
                if let (firing, run) = decide(entry, now: now), fireBody(flow, firing, run) != outstanding.body {
                    outstanding = Outstanding(request: nextID(), body: fireBody(flow, firing, run), resend: outstanding.resend)
                }
                entry.outstanding = outstanding
                turn.requests.append(TimerRequest(id: outstanding.request, method: "fire", body: outstanding.body))
            } else if !entry.stale, let next = entry.next, next.instant <= now, let (firing, run) = decide(entry, now: now) {
                let body = fireBody(flow, firing, run)
                let request = nextID()
                entry.outstanding = Outstanding(request: request, body: body, resend: ResendSchedule(sentAt: now, policy: settings.resend))
                turn.requests.append(TimerRequest(id: request, method: "fire", body: body))
            }
            entries[flow] = entry
        }
    }

    func fireBody(_ flow: String, _ firing: Firing, _ run: Bool) -> JSON {
        .object([
            ("flow", .string(flow)), ("instant", .number(firing.instant.milliseconds)), ("run", .bool(run)),
            ("timer", .string(settings.name)),
        ])
    }

    /// The firing to send for a flow with firings due, and whether it should run (false: record it, and those before, as missed).
    func decide(_ entry: Entry, now: Timestamp) -> (Firing, Bool)? {
        guard let first = entry.next, first.instant <= now else { return nil }
        let cutoff = now.adding(milliseconds: -settings.grace)
        if first.instant >= cutoff { return (first, true) }
        // The first firing due is late: the timer or management was down.
        switch entry.definition.catchUp {
        case .none:
            if let onTime = entry.schedule.next(after: max(entry.since, cutoff.adding(milliseconds: -1))), onTime.instant <= now {
                return (onTime, true)
            }
            return Self.last(of: entry.schedule, after: entry.since, through: now).map { ($0, false) }
        case .latest:
            return Self.last(of: entry.schedule, after: entry.since, through: now).map { ($0, true) }
        case .all:
            let late = entry.schedule.count(after: entry.since, through: cutoff.adding(milliseconds: -1), countLimit: Int.max)
            let excess = late - entry.definition.maximumCatchUp
            guard excess > 0 else { return (first, true) }
            // Record the oldest `excess` as missed, then run the rest in order.
            var firing = first
            for _ in 1..<excess {
                guard let following = entry.schedule.next(after: firing.instant) else { break }
                firing = following
            }
            return (firing, false)
        }
    }

    /// The last firing in (after, through], found by looking back in growing windows.
    static func last(of schedule: Schedule, after: Timestamp, through: Timestamp) -> Firing? {
        var window: Int64 = 60_000
        while true {
            let start = max(after, through.adding(milliseconds: -window))
            if var found = schedule.next(after: start), found.instant <= through {
                while let following = schedule.next(after: found.instant), following.instant <= through { found = following }
                return found
            }
            if start == after { return nil }
            window = window > Int64.max / 8 ? Int64.max / 2 : window * 4
        }
    }

    /// A request is sent again: management did not answer it in time.
    mutating func noteSilence() {
        guard !silent else { return }
        silent = true
        turn.events.append(.silent)
    }

    /// Handles management's answer to a request.
    public mutating func reply(request: UInt64, status: Status, body: JSON, now: Timestamp) {
        if silent {
            silent = false
            turn.events.append(.answers)
        }
        if let listing, listing.request == request {
            self.listing = nil
            nextRefresh = now.adding(milliseconds: settings.refresh)
            guard status.isSuccess else {
                turn.events.append(.refused(flow: nil, status: status, message: body["error"]?.string ?? "status \(status.rawValue)"))
                return
            }
            received(schedules: body)
            return
        }
        guard let (flow, found) = entries.first(where: { $0.value.outstanding?.request == request }), let sent = found.outstanding else { return }
        var entry = found
        let instant = Timestamp(milliseconds: sent.body["instant"]?.integer ?? 0)
        let run = sent.body["run"]?.bool ?? true
        entry.outstanding = nil
        defer { entries[flow] = entry }
        switch status {
        case .ok:
            if let since = body["since"]?.integer { entry.advance(to: Timestamp(milliseconds: since)) }
            if body["repeated"]?.bool == true {
                turn.events.append(.repeated(flow: flow, instant: instant))
            } else {
                turn.events.append(
                    .fired(
                        flow: flow, instant: instant, run: run, outcome: body["outcome"]?.string ?? "",
                        runID: body["run"]?.integer.flatMap(UInt64.init(exactly:)) ?? 0, date: body["date"]?.string ?? "",
                        missed: body["missed"]?.integer.flatMap(UInt64.init(exactly:)) ?? 0, detail: body["detail"]?.string ?? ""))
            }
        case .notFound, .conflict:
            // The timer's copy is older than management's: fire nothing of this flow until a fresh
            // one comes, at the next refresh.
            entry.stale = true
            generation = nil
            turn.events.append(.refused(flow: flow, status: status, message: body["error"]?.string ?? ""))
        default:
            // Ask again after `resend`: a clock ahead, management unable to use the schedule for now.
            entry.outstanding = Outstanding(request: sent.request, body: sent.body, resend: ResendSchedule(sentAt: now, policy: settings.resend))
            turn.events.append(.refused(flow: flow, status: status, message: body["error"]?.string ?? ""))
        }
    }

    /// Takes in management's list of schedules.
    mutating func received(schedules body: JSON) {
        let generation = body["generation"]?.string
        if body["unchanged"]?.bool == true {
            // The copy the timer asked with is current; but if it has since found its copy stale, ask for all.
            if self.generation == nil { nextRefresh = .zero }
            return
        }
        var calendars: [String: BusinessCalendar] = [:]
        for item in body["calendars"]?.array ?? [] {
            guard let name = item["calendar"]?.string, let text = item["text"]?.string else { continue }
            calendars[name] = try? BusinessCalendar.parse(text, name: name)
        }
        var seen: Set<String> = []
        var problems: [String: String] = [:]
        for item in body["schedules"]?.array ?? [] {
            guard let flow = item["flow"]?.string, let json = item["schedule"] else { continue }
            seen.insert(flow)
            let since = Timestamp(milliseconds: item["since"]?.integer ?? 0)
            var validator = FlowValidator(file: flow, names: .unchecked)
            guard let definition = validator.schedule(json, names: .unchecked) else {
                problems[flow] = validator.problems.map(\.message).joined(separator: "; ")
                continue
            }
            // Rebuilt every time, since a calendar it uses may have changed while the flow did not.
            guard let zone = settings.zones(definition.zone) else {
                problems[flow] = "time zone \"\(definition.zone)\" is not in this machine's time zone database"
                continue
            }
            var calendar: BusinessCalendar?
            if let name = definition.calendar {
                guard let found = calendars[name] ?? BuiltInCalendars.named(name) else {
                    problems[flow] = "calendar \"\(name)\" was not sent, or cannot be read"
                    continue
                }
                calendar = found
            }
            let schedule = definition.schedule(zone: zone, calendar: calendar)
            var entry = Entry(definition: definition, schedule: schedule, since: max(since, entries[flow]?.since ?? since))
            entry.next = schedule.next(after: entry.since)
            entry.outstanding = entries[flow]?.outstanding
            entries[flow] = entry
        }
        for flow in entries.keys where !seen.contains(flow) || problems[flow] != nil { entries[flow] = nil }
        for (flow, problem) in problems where unusable[flow] != problem { turn.events.append(.unusable(flow: flow, reason: problem)) }
        unusable = problems
        if generation != self.generation { turn.events.append(.schedules(count: entries.count, generation: generation ?? "")) }
        self.generation = generation
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        var deadline = listing?.resend.due ?? nextRefresh
        for entry in entries.values {
            if let outstanding = entry.outstanding {
                deadline = min(deadline, outstanding.resend.due)
            } else if !entry.stale, let next = entry.next {
                deadline = min(deadline, next.instant)
            }
        }
        return deadline
    }

    /// Ends the turn: the requests to send and what to log.
    public mutating func finishTurn() -> TimerTurn {
        defer { turn = TimerTurn() }
        return turn
    }

    mutating func nextID() -> UInt64 {
        lastRequest &+= 1
        return lastRequest
    }
}

/// A request for management's API.
public struct TimerRequest: Sendable, Equatable {
    public var id: UInt64
    public var method: String
    public var body: JSON
}

/// What happened, for the timer's log.
public enum TimerEvent: Sendable, Equatable {
    /// Management decided a firing: started a run, queued or skipped it, or recorded it as missed.
    case fired(flow: String, instant: Timestamp, run: Bool, outcome: String, runID: UInt64, date: String, missed: UInt64, detail: String)
    /// Another timer, or an earlier request, had decided it already.
    case repeated(flow: String, instant: Timestamp)
    case refused(flow: String?, status: Status, message: String)
    /// A schedule the timer cannot use.
    case unusable(flow: String, reason: String)
    /// A new list of schedules.
    case schedules(count: Int, generation: String)
    /// Management did not answer in time; the timer asks again.
    case silent
    /// Management answers again.
    case answers
}

/// What one turn of the timer produced.
public struct TimerTurn: Sendable {
    public var requests: [TimerRequest] = []
    public var events: [TimerEvent] = []

    public init() {}
}

extension TimerTurn: ServiceTurn {
    /// A timer commits nothing: what it decided, management commits.
    public var needsCommit: Bool { false }

    /// The API requests to management.
    public var deliveries: [Delivery] {
        requests.map { Delivery(.apiRequest(APIRequest(request: $0.id, method: $0.method, body: $0.body.rendered())), to: .management) }
    }
}
