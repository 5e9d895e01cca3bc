public import Wire

/// An answer of management's core, before it is JSON.
enum ManagementReply {
    case refused(APIRefusal)
    case applied(flows: [AppliedFlow], calendars: [AppliedCalendar])
    /// `start`: the run, whether it was started before under the request's key, and whether its product
    /// is held (the run waits until the product is released).
    case run(RunRecord, repeated: Bool, held: Bool = false)
    /// `status`: the run as the orchestrator reports it now, and a page of its jobs from position `first`.
    case runDetail(RunRecord, jobs: [JobStatus], first: UInt32)
    /// `status` of a run the orchestrator holds nothing of, its start refused: management's record, without jobs.
    case runRecord(RunRecord)
    case runs([RunRecord], next: UInt64?)
    case flows([(flow: FlowRecord, shard: UInt32)], next: String?)
    /// `products`: a page of them, the cluster's shards, and those drained.
    case products([(product: ProductRecord, flows: Int, load: Double, move: ProductMove?)], shards: [UInt32], drained: [UInt32], next: String?)
    /// An operator action, answered with the orchestrator's status.
    case action(AuditEntry, status: Status, repeated: Bool)
    /// `history`: a page of actions, oldest first, and the cursor of the page before it if there may be one.
    case history([AuditEntry], next: UInt64?)
    case schedules(generation: String, schedules: [ScheduledFlow], calendars: [CalendarRecord])
    /// `schedules` when the timer's copy is current.
    case schedulesUnchanged(generation: String)
    /// `fire`: the firing as decided, and the flow's watermark after it.
    case fired(FiringRecord, since: Timestamp)
    /// `fire` for a firing decided before.
    case firedBefore(since: Timestamp)
    case schedule(ScheduleView)
    case calendars([CalendarView])
    /// What shards answered (`workers`, `queue`, `waits`): one shard's answer alone, or every shard's
    /// with those that did not answer.
    /// `flow`: a version of a flow, with the flow's latest version and its product's shard.
    case flow(FlowRecord, latest: UInt32, shard: UInt32)
    case shardAnswers(kind: String, single: Bool, answers: [(UInt32, JSON)], failures: [(UInt32, Status, String)])
    case pong
    /// `keys`: the keys management trusts, by name; nil in a cluster without keys.
    case keys([TrustedKey]?)

    /// A flow stored by `apply`.
    struct AppliedFlow {
        var record: FlowRecord
        var changed: Bool
        var shard: UInt32
        /// Its schedule in a line, if it has one.
        var schedule: String?
    }

    /// A calendar stored by `apply`.
    struct AppliedCalendar {
        var record: CalendarRecord
        var changed: Bool
    }

    /// A schedule as a timer fires it.
    struct ScheduledFlow {
        var flow: String
        var version: UInt32
        var definition: ScheduleDefinition
        var since: Timestamp
    }

    /// A flow's schedule as `schedule` shows it.
    struct ScheduleView {
        /// What comes next: the firings after now, or why there are none.
        enum Upcoming {
            case firings([Firing], zone: Zone)
            case stopped(String)
        }

        var record: FlowRecord
        var definition: ScheduleDefinition
        var state: ScheduleState
        var queued: [FiringRecord]
        var recent: [FiringRecord]
        /// The schedule's zone, if it can be found, for local times.
        var zone: Zone?
        var upcoming: Upcoming
    }

    /// A calendar as `calendars` shows it; a built-in one has version 0.
    struct CalendarView {
        var name: String
        var version: UInt32
        var applied: Timestamp
        var calendar: BusinessCalendar
        /// The flows whose schedules use it.
        var flows: [String]
        var next: [(date: CivilDate, name: String)]
    }
}

extension ManagementAPI {
    /// `runs`' reply, which the runtime reads from the store as committed: `runs` holds one more than the
    /// page when there is a next, whose cursor is the last of the page.
    public static func runsReply(_ runs: [RunRecord], listing: RunListing, request: UInt64) -> APIReply {
        let page = Array(runs.prefix(listing.limit))
        return reply(.runs(page, next: runs.count > listing.limit ? page.last?.id : nil), request: request)
    }

    /// `history`'s reply, which the runtime reads from the audit log as committed.
    /// The reply to `history`: a page of `limit` actions at most; when it is full, its oldest is the
    /// cursor of the page before it.
    /// The reply to `flow` for a version read from the store, or 404 if the store has none.
    public static func flowReply(_ record: FlowRecord?, read: FlowRead) -> APIReply {
        guard let record else {
            return reply(.refused(APIRefusal(.notFound, "\(read.product)/\(read.flow) has no version \(read.version)")), request: read.request)
        }
        return reply(.flow(record, latest: read.latest, shard: read.shard), request: read.request)
    }

    public static func historyReply(_ entries: [AuditEntry], limit: Int, request: UInt64) -> APIReply {
        reply(.history(entries, next: entries.count >= limit ? entries.first?.id : nil), request: request)
    }

    /// The API-REPLY of a reply; one whose body would be over the limit of API-REPLY's `body` is a 413
    /// that names the limit instead, never a frame the client cannot read.
    static func reply(_ reply: ManagementReply, request: UInt64) -> APIReply {
        let (status, body) = json(reply)
        let text = body.rendered()
        guard text.utf8.count <= Limits.chunk else {
            let error = "the reply would be \(text.utf8.count) octets, more than the \(Limits.chunk) an API reply may carry: ask for less"
            return APIReply(request: request, status: .tooLarge, body: JSON.object([("error", .string(error))]).rendered())
        }
        return APIReply(request: request, status: status, body: text)
    }

    static func json(_ reply: ManagementReply) -> (Status, JSON) {
        switch reply {
        case .refused(let refusal):
            var members: [(String, JSON)] = [("error", .string(refusal.error))]
            if !refusal.problems.isEmpty { members.append(("problems", .array(refusal.problems.map(JSON.string)))) }
            return (refusal.status, .object(members))
        case .applied(let flows, let calendars):
            let flowList = flows.map { applied in
                var members: [(String, JSON)] = [
                    ("flow", .string(applied.record.qualifiedName)), ("version", .number(applied.record.version)),
                    ("changed", .bool(applied.changed)), ("jobs", .number(applied.record.jobs)), ("shard", .number(applied.shard)),
                ]
                if let schedule = applied.schedule { members.append(("schedule", .string(schedule))) }
                return JSON.object(members)
            }
            let calendarList = calendars.map { applied in
                let holidays = applied.record.calendar.holidays(from: CivilDate(year: 1, month: 1, day: 1), limit: Int.max).count
                return JSON.object([
                    ("calendar", .string(applied.record.name)), ("version", .number(applied.record.version)),
                    ("changed", .bool(applied.changed)), ("holidays", .number(holidays)),
                ])
            }
            return (.ok, .object([("flows", .array(flowList)), ("calendars", .array(calendarList))]))
        case .run(let run, let repeated, let held):
            return (.ok, json(run, repeated: repeated, held: held))
        case .runDetail(let run, let jobs, let first):
            // The position of the next page's first job, while there are more.
            let next = Int(first) + jobs.count
            let more: [(String, JSON)] = next < Int(run.jobs) ? [("next", .number(next))] : []
            return (.ok, .object([("run", json(run, repeated: false)), ("jobs", .array(jobs.map(json)))] + more))
        case .runRecord(let run):
            return (.ok, .object([("run", json(run, repeated: false)), ("jobs", .array([]))]))
        case .flow(let record, let latest, let shard):
            let definition = (try? JSONParser.parse(record.definition)) ?? .string(record.definition)
            let schedule = record.schedule.flatMap { try? JSONParser.parse($0) } ?? .null
            return (.ok, .object([
                ("flow", .string(record.qualifiedName)), ("version", .number(record.version)), ("latest", .number(latest)),
                ("shard", .number(shard)), ("jobs", .number(record.jobs)), ("applied", .number(record.applied.milliseconds)),
                ("definition", definition), ("schedule", schedule),
            ]))
        case .shardAnswers(_, let single, let answers, let failures):
            if single, let answer = answers.first { return (.ok, answer.1) }
            let unanswered = failures.map { JSON.object([("shard", .number($0.0)), ("status", .number($0.1.rawValue)), ("error", .string($0.2))]) }
            return (.ok, .object([("shards", .array(answers.map(\.1))), ("unanswered", .array(unanswered))]))
        case .runs(let runs, let next):
            return (.ok, .object([("runs", .array(runs.map { json($0, repeated: false) }))] + (next.map { [("next", .number($0))] } ?? [])))
        case .flows(let flows, let next):
            let list = flows.map { flow, shard in
                JSON.object([
                    ("flow", .string(flow.qualifiedName)), ("version", .number(flow.version)), ("jobs", .number(flow.jobs)),
                    ("shard", .number(shard)), ("applied", .number(flow.applied.milliseconds)),
                ])
            }
            return (.ok, .object([("flows", .array(list))] + (next.map { [("next", .string($0))] } ?? [])))
        case .products(let products, let shards, let drained, let next):
            let list = products.map { product, flows, load, move in
                var members: [(String, JSON)] = [
                    ("product", .string(product.name)), ("shard", .number(product.shard)), ("created", .number(product.created.milliseconds)),
                    ("weight", .number(product.policy.weight)), ("cap", .number(product.policy.cap)), ("rate", .number(product.policy.rate)),
                    ("burst", .number(product.policy.burst)), ("priority_over_fairness", .bool(product.policy.priorityOverFairness == 1)),
                    ("key_weights", .object(product.policy.keyWeights.map { ($0.key, .number(Int($0.weight))) })),
                    ("flows", .number(flows)), ("load", JSON.hundredths(load)), ("held", .bool(product.held)),
                ]
                if let move {
                    var fields: [(String, JSON)] = [("phase", .string(move.to != nil ? "requested" : "finishing"))]
                    if let to = move.to { fields.append(("to", .number(to))) }
                    let finishing = move.finishing.sorted { $0.key < $1.key }.map { JSON.object([("shard", .number($0.key)), ("open_runs", .number($0.value))]) }
                    fields.append(("finishing", .array(finishing)))
                    members.append(("move", .object(fields)))
                }
                return JSON.object(members)
            }
            return (
                .ok,
                .object(
                    [("products", .array(list)), ("shards", .array(shards.map { .number($0) })), ("drained", .array(drained.map { .number($0) }))]
                        + (next.map { [("next", .string($0))] } ?? []))
            )
        case .action(let entry, let status, let repeated):
            var members = self.members(entry)
            // A refused action's reply carries the reason as `error`, like every refusal of the API.
            if entry.status != 0 && !Status(rawValue: entry.status).isSuccess { members.insert(("error", .string(entry.detail)), at: 0) }
            if repeated { members.append(("repeated", .bool(true))) }
            return (status, .object(members))
        case .history(let entries, let next):
            return (.ok, .object([("actions", .array(entries.map { .object(members($0)) }))] + (next.map { [("next", .number($0))] } ?? [])))
        case .schedules(let generation, let schedules, let calendars):
            let list = schedules.map { scheduled in
                JSON.object([
                    ("flow", .string(scheduled.flow)), ("version", .number(scheduled.version)), ("schedule", scheduled.definition.json),
                    ("since", .number(scheduled.since.milliseconds)),
                ])
            }
            let calendarList = calendars.map { calendar in
                JSON.object([("calendar", .string(calendar.name)), ("version", .number(calendar.version)), ("text", .string(calendar.text))])
            }
            return (.ok, .object([("generation", .string(generation)), ("schedules", .array(list)), ("calendars", .array(calendarList))]))
        case .schedulesUnchanged(let generation):
            return (.ok, .object([("generation", .string(generation)), ("unchanged", .bool(true))]))
        case .fired(let firing, let since):
            var members: [(String, JSON)] = [("outcome", .string(firing.outcome.rawValue)), ("date", .string(firing.date))]
            if firing.run != 0 { members.append(("run", .number(firing.run))) }
            members += [("missed", .number(firing.missedBefore)), ("since", .number(since.milliseconds)), ("detail", .string(firing.detail))]
            return (.ok, .object(members))
        case .firedBefore(let since):
            return (.ok, .object([("repeated", .bool(true)), ("since", .number(since.milliseconds))]))
        case .schedule(let view):
            return (.ok, json(view))
        case .calendars(let calendars):
            return (.ok, .object([("calendars", .array(calendars.map(json)))]))
        case .pong:
            return (.ok, .object([("service", .string("management")), ("protocol", .number(Message.version))]))
        case .keys(let keys):
            let list = (keys ?? []).map { JSON.object([("name", .string($0.name)), ("role", .string($0.role)), ("fingerprint", .string($0.fingerprint))]) }
            return (.ok, .object([("security", .string(keys == nil ? "none" : "keys")), ("keys", .array(list))]))
        }
    }

    /// A run, as `runs` lists it and `start` answers it.
    static func json(_ run: RunRecord, repeated: Bool, held: Bool = false) -> JSON {
        var members: [(String, JSON)] = [
            ("run", .number(run.id)), ("flow", .string("\(run.product)/\(run.flow)")), ("version", .number(run.version)),
            ("shard", .number(run.shard)), ("moment", .number(run.moment)), ("state", .string(run.state.name)),
            ("jobs", .number(run.jobs)), ("succeeded", .number(run.succeeded)), ("failed", .number(run.failed)),
            ("active", .number(run.active)), ("started", time(run.started.milliseconds)),
            ("finished", time(run.finished.milliseconds)), ("detail", .string(run.detail)),
            ("params", JSON.strings(run.params)), ("priority", priorityJSON(run.priority)),
        ]
        if repeated { members.append(("repeated", .bool(true))) }
        if held { members.append(("held", .bool(true))) }
        return .object(members)
    }

    /// A run priority as the API shows it: 1 to 5, or `"urgent"`.
    static func priorityJSON(_ priority: UInt8) -> JSON {
        priority == RunPriority.urgent ? .string("urgent") : .number(Int(priority))
    }

    static func json(_ job: JobStatus) -> JSON {
        .object([
            ("job", .string(job.job)), ("generation", .number(job.generation)), ("state", .string(job.state.name)),
            ("attempts", .number(job.attempts)),
            ("tasks", .object([
                ("pending", .number(job.pending)), ("running", .number(job.running)),
                ("succeeded", .number(job.succeeded)), ("failed", .number(job.failed)),
            ])),
            ("step", .number(job.step)), ("steps", .number(job.steps)), ("started", time(Int64(job.started))),
            ("finished", time(Int64(job.finished))), ("output", .string(job.output)), ("detail", .string(job.detail)),
        ])
    }

    /// An instant in milliseconds since the epoch; null when it has not happened (0).
    static func time(_ milliseconds: Int64) -> JSON { milliseconds == 0 ? .null : .number(milliseconds) }

    /// An operator action, as the audit log holds it.
    static func members(_ entry: AuditEntry) -> [(String, JSON)] {
        [
            ("id", .number(entry.id)), ("request", .string(entry.key)), ("time", .number(entry.time.milliseconds)),
            ("actor", .string(entry.actor)), ("action", .string(entry.method)), ("run", .number(entry.run)),
            ("product", .string(entry.product)), ("job", .string(entry.job)), ("options", .string(entry.options)),
            ("outcome", .string(entry.outcome)), ("status", .number(entry.status)), ("detail", .string(entry.detail)),
            ("answered", .number(entry.answered.milliseconds)), ("comment", .string(entry.comment)),
        ]
    }

    static func json(_ view: ManagementReply.ScheduleView) -> JSON {
        let flow = view.record.qualifiedName
        var members: [(String, JSON)] = [
            ("flow", .string(flow)), ("version", .number(view.record.version)), ("schedule", view.definition.json),
            ("summary", .string(view.definition.summary)), ("since", .number(view.state.since.milliseconds)),
            ("fired", .number(view.state.fired)), ("missed", .number(view.state.missed)), ("skipped", .number(view.state.skipped)),
            ("queued", .array(view.queued.map { json($0, zone: view.zone) })),
            ("recent", .array(view.recent.map { json($0, zone: view.zone) })),
        ]
        switch view.upcoming {
        case .firings(let firings, let zone):
            let next = firings.map { firing in
                JSON.object([
                    ("instant", .number(firing.instant.milliseconds)), ("local", .string(zone.localDescription(firing.instant))),
                    ("date", .string(firing.businessDate.description)),
                ])
            }
            members.append(("next", .array(next)))
        case .stopped(let reason):
            members.append(("error", .string(reason)))
        }
        return .object(members)
    }

    /// A firing decided, with its local time when the schedule's zone is known.
    static func json(_ firing: FiringRecord, zone: Zone?) -> JSON {
        var members: [(String, JSON)] = [("instant", .number(firing.instant.milliseconds))]
        if let zone { members.append(("local", .string(zone.localDescription(firing.instant)))) }
        members += [
            ("date", .string(firing.date)), ("outcome", .string(firing.outcome.rawValue)), ("run", .number(firing.run)),
            ("missed_before", .number(firing.missedBefore)), ("timer", .string(firing.timer)), ("time", .number(firing.time.milliseconds)),
            ("detail", .string(firing.detail)),
        ]
        return .object(members)
    }

    static func json(_ view: ManagementReply.CalendarView) -> JSON {
        let next = view.next.map { holiday in JSON.object([("date", .string(holiday.date.description)), ("name", .string(holiday.name))]) }
        return .object([
            ("calendar", .string(view.name)), ("version", .number(view.version)), ("applied", .number(view.applied.milliseconds)),
            ("built_in", .bool(view.version == 0)), ("weekend", .array(view.calendar.weekend.map { .string(weekdayNames[$0]) })),
            ("first", .string(view.calendar.firstDate?.description ?? "")), ("last", .string(view.calendar.lastDate?.description ?? "")),
            ("flows", .array(view.flows.map(JSON.string))), ("next", .array(next)),
        ])
    }

    static let weekdayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
}

