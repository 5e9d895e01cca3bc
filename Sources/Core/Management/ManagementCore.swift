public import Wire

/// Management's state machine: products and the shard each is bound to, versioned flows, and runs.
///
/// It answers the JSON methods of the management API (`docs/api.md`), turns operator actions into
/// OPERATION-REQUESTs for the orchestrator, and keeps each run's status from the orchestrator's
/// RUN-UPDATES.
///
/// Invariants:
/// - A request that changes anything is answered only after its change is committed.
/// - An operation request is committed before it is sent, and sent again until the orchestrator answers.
/// - A refused request (an invalid flow file, an unknown flow, an undeclared parameter) changes nothing.
/// - Run IDs and job entry moments only increase.
public struct ManagementCore: Sendable {
    public let configuration: ManagementConfiguration
    /// Products by name.
    public private(set) var products: [String: ProductRecord]
    /// The latest version of each flow, by `product/flow`.
    public private(set) var flows: [String: FlowRecord]
    /// Runs not final, and the most recent final ones.
    public private(set) var runs: [UInt64: RunRecord]
    /// The orchestrator's stream position.
    public private(set) var cursor: StreamCursor
    var counters: ManagementCounters
    private var runsByKey: [String: UInt64]
    private var pending: [UInt64: PendingOperation]
    private var queries: [UInt64: PendingQuery] = [:]
    /// Operator actions by their client's request ID (the most recent ``ManagementConfiguration/auditInMemory``),
    /// so that an action sent again is applied once.
    private var actions: [String: AuditEntry]
    private var actionOrder: [String]
    private var actionKeys: [UInt64: String] = [:]
    /// Clients waiting for the answer to an action, by operation request.
    private var waiting: [UInt64: [(peer: Peer, request: UInt64)]] = [:]
    private var finishedOrder: [UInt64] = []

    // What the current turn has produced.
    var turn = ManagementTurn()

    // Schedules (`ManagementCore+Schedules.swift`).
    /// Business calendars by name.
    public internal(set) var calendars: [String: CalendarRecord]
    /// Where each scheduled flow's schedule stands, by `product/flow`.
    public internal(set) var schedules: [String: ScheduleState]
    /// Each scheduled flow's schedule as its latest version declares it, and as resolved (nil when its zone cannot be found).
    var scheduleDefinitions: [String: ScheduleDefinition] = [:]
    var resolved: [String: Schedule] = [:]
    /// Firings waiting for runs going to end, by flow, oldest first.
    var queued: [String: [FiringRecord]]
    /// The latest firings of each flow, oldest first.
    var recentFirings: [String: [FiringRecord]]
    /// Changes whenever a schedule or a calendar does, so that a timer can ask whether its copy is current;
    /// with the time management started, since a restart counts from 0 again.
    var scheduleGeneration: UInt64 = 0
    let scheduleEpoch: Int64
    /// Whether queued firings may be able to start (after a restart).
    var drainQueues = true

    struct PendingOperation: Sendable {
        var request: OperationRequest
        var resendAt: Timestamp
        var delay: Int64
    }

    struct PendingQuery: Sendable {
        var peer: Peer
        var request: UInt64
        var deadline: Timestamp
    }

    public init(configuration: ManagementConfiguration, restoring snapshot: ManagementSnapshot, now: Timestamp) {
        self.configuration = configuration
        self.products = Dictionary(uniqueKeysWithValues: snapshot.products.map { ($0.name, $0) })
        self.flows = Dictionary(uniqueKeysWithValues: snapshot.flows.map { ($0.qualifiedName, $0) })
        self.runs = Dictionary(uniqueKeysWithValues: snapshot.runs.map { ($0.id, $0) })
        self.runsByKey = Dictionary(
            snapshot.runs.compactMap { run in run.key.isEmpty ? nil : (run.key, run.id) }, uniquingKeysWith: max)
        self.counters = snapshot.counters
        self.cursor = StreamCursor(
            publisher: "flow", epoch: snapshot.position.epoch, sequence: snapshot.position.sequence, now: now,
            silence: configuration.silence)
        // Operations never answered are sent again at once.
        self.pending = Dictionary(
            uniqueKeysWithValues: snapshot.pending.map {
                ($0.request, PendingOperation(request: $0, resendAt: now, delay: configuration.resendInitial))
            })
        finishedOrder = snapshot.runs.filter { $0.state.isFinal }.sorted { $0.id < $1.id }.map(\.id)
        actions = Dictionary(snapshot.audit.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
        actionOrder = snapshot.audit.map(\.key)
        for entry in snapshot.audit { actionKeys[entry.id] = entry.key }
        scheduleEpoch = now.milliseconds
        calendars = Dictionary(uniqueKeysWithValues: snapshot.calendars.map { ($0.name, $0) })
        schedules = Dictionary(uniqueKeysWithValues: snapshot.schedules.map { ($0.flow, $0) })
        queued = Dictionary(grouping: snapshot.queuedFirings, by: \.flow)
        recentFirings = Dictionary(grouping: snapshot.recentFirings, by: \.flow)
        for flow in flows.values { restoreSchedule(of: flow) }
    }

    // MARK: - The API

    /// Handles one API-REQUEST.
    public mutating func apiRequest(_ request: APIRequest, from peer: Peer, now: Timestamp) {
        let body: JSON
        do {
            body = request.body.isEmpty ? .object([]) : try JSONParser.parse(request.body)
        } catch {
            reply(peer, request.request, .badRequest, error: "the request body is not valid JSON: \(error)")
            return
        }
        guard body.members != nil else {
            reply(peer, request.request, .badRequest, error: "the request body must be a JSON object")
            return
        }
        switch request.method {
        case "apply": apply(body, peer: peer, request: request.request, now: now)
        case "start": start(body, peer: peer, request: request.request, now: now)
        case "status": status(body, peer: peer, request: request.request, now: now)
        case "runs": listRuns(body, peer: peer, request: request.request)
        case "flows": listFlows(peer: peer, request: request.request)
        case "products": listProducts(peer: peer, request: request.request)
        case let method where Self.operatorActions[method] != nil:
            act(method, Self.operatorActions[method]!, body, peer: peer, request: request.request, now: now)
        case "history": history(body, peer: peer, request: request.request)
        case "schedules": listSchedules(body, peer: peer, request: request.request)
        case "fire": fire(body, peer: peer, request: request.request, now: now)
        case "schedule": showSchedule(body, peer: peer, request: request.request, now: now)
        case "calendars": listCalendars(body, peer: peer, request: request.request, now: now)
        case "ping":
            reply(peer, request.request, .ok, .object([("service", .string("management")), ("protocol", .number(Message.version))]))
        default:
            reply(
                peer, request.request, .notFound,
                error: "unknown method \"\(request.method)\" (methods: \(Self.methods.joined(separator: ", ")))")
        }
    }

    /// The API's methods that are operator actions, and the operation each sends the orchestrator.
    static let operatorActions: [String: OperationAction] = [
        "stop": .stop, "pause": .pause, "resume": .resume, "rerun": .rerunFailed, "rerun-job": .rerunJob,
        "mark-succeeded": .markSucceeded, "hold": .hold, "release": .release, "set-policy": .setPolicy,
        "set-priority": .setPriority,
    ]

    /// The API's methods.
    public static let methods = [
        "apply", "start", "status", "runs", "flows", "products", "stop", "pause", "resume", "rerun", "rerun-job",
        "mark-succeeded", "hold", "release", "set-policy", "set-priority", "history", "schedule", "calendars", "schedules", "fire",
        "ping",
    ]

    mutating func reply(_ peer: Peer, _ request: UInt64, _ status: Status, _ body: JSON) {
        turn.replies.append((peer, .apiReply(APIReply(request: request, status: status, body: body.rendered()))))
    }

    mutating func reply(_ peer: Peer, _ request: UInt64, _ status: Status, error: String, problems: [String] = []) {
        var members: [(String, JSON)] = [("error", .string(error))]
        if !problems.isEmpty { members.append(("problems", .array(problems.map(JSON.string)))) }
        reply(peer, request, status, .object(members))
    }

    /// `apply`: validates every file first; stores them all, or none. A file with a `calendar` name is a
    /// business calendar; any other is a flow file. Calendars come first, so that flows may name those applied with them.
    private mutating func apply(_ body: JSON, peer: Peer, request: UInt64, now: Timestamp) {
        guard let files = body["files"]?.array, !files.isEmpty else {
            reply(peer, request, .badRequest, error: "apply needs \"files\": an array of {\"path\", \"text\"} (with \"calendar\": NAME for a calendar)")
            return
        }
        var problems: [String] = []
        var flowFiles: [(path: String, text: String)] = []
        var newCalendars: [BusinessCalendar] = []
        var calendarTexts: [String: String] = [:]
        for (index, file) in files.enumerated() {
            guard let text = file["text"]?.string else {
                problems.append("file #\(index + 1): missing \"text\"")
                continue
            }
            let path = file["path"]?.string ?? "file #\(index + 1)"
            guard let calendar = file["calendar"] else {
                flowFiles.append((path, text))
                continue
            }
            switch Self.calendar(named: calendar, text: text, path: path) {
            case .success(let parsed):
                if calendarTexts.updateValue(text, forKey: parsed.name) != nil {
                    problems.append("the calendar \(parsed.name) is defined by more than one of the files")
                }
                newCalendars.append(parsed)
            case .failure(let problem): problems.append(problem.message)
            }
        }
        let names = ScheduleNames(zones: configuration.zones, calendars: Set(calendars.keys).union(calendarTexts.keys))
        var definitions: [FlowDefinition] = []
        for (path, text) in flowFiles {
            switch FlowFile.parse(text, file: path, names: names) {
            case .success(let definition):
                // A run carries its definition to the orchestrator in one field of OPERATION-REQUEST.
                let size = definition.json.rendered().utf8.count
                if size > Limits.chunk {
                    problems.append("\(path): the flow is \(size >> 20) MiB as canonical JSON, more than the \(Limits.chunk >> 20) MiB a flow may be")
                } else {
                    definitions.append(definition)
                }
            case .failure(let error): problems += error.problems.map(\.description)
            }
        }
        var seen: [String: Int] = [:]
        for definition in definitions {
            seen[definition.qualifiedName, default: 0] += 1
            if seen[definition.qualifiedName] == 2 {
                problems.append("\(definition.qualifiedName) is defined by more than one of the files")
            }
        }
        guard problems.isEmpty else {
            reply(peer, request, .invalid, error: "nothing was applied: \(problems.count) problem\(problems.count == 1 ? "" : "s")", problems: problems)
            return
        }
        var calendarResults: [JSON] = []
        for calendar in newCalendars {
            let changed = store(calendar, text: calendarTexts[calendar.name]!, now: now)
            let record = calendars[calendar.name]!
            calendarResults.append(
                .object([
                    ("calendar", .string(record.name)), ("version", .number(record.version)), ("changed", .bool(changed)),
                    ("holidays", .number(record.calendar.holidays(from: CivilDate(year: 1, month: 1, day: 1), limit: Int.max).count)),
                ]))
        }
        var results: [JSON] = []
        for definition in definitions {
            let name = definition.qualifiedName
            if products[definition.product] == nil {
                let product = ProductRecord(name: definition.product, shard: leastLoadedShard(), created: now)
                products[product.name] = product
                turn.products.append(product)
            }
            let canonical = definition.json.rendered()
            let previous = flows[name]
            let changed = previous?.definition != canonical
            if changed {
                let record = FlowRecord(
                    product: definition.product, flow: definition.flow, version: (previous?.version ?? 0) + 1,
                    definition: canonical, params: definition.params, jobs: definition.jobs.count, applied: now,
                    schedule: definition.schedule?.json.rendered())
                flows[name] = record
                turn.flows.append(record)
                scheduleChanged(name, to: definition.schedule, now: now)
            }
            let record = flows[name]!
            var members: [(String, JSON)] = [
                ("flow", .string(name)), ("version", .number(record.version)), ("changed", .bool(changed)),
                ("jobs", .number(record.jobs)), ("shard", .number(products[definition.product]!.shard)),
            ]
            if let schedule = definition.schedule { members.append(("schedule", .string(schedule.summary))) }
            results.append(.object(members))
        }
        reply(peer, request, .ok, .object([("flows", .array(results)), ("calendars", .array(calendarResults))]))
    }

    private func leastLoadedShard() -> UInt32 {
        var load = Dictionary(uniqueKeysWithValues: configuration.shards.map { ($0, 0) })
        for product in products.values { load[product.shard, default: 0] += 1 }
        return configuration.shards.min { (load[$0]!, $0) < (load[$1]!, $1) }!
    }

    /// `start`: a new run of a flow, with its parameters checked against the flow's declaration.
    private mutating func start(_ body: JSON, peer: Peer, request: UInt64, now: Timestamp) {
        guard let name = body["flow"]?.string else {
            reply(peer, request, .badRequest, error: "start needs \"flow\": \"PRODUCT/FLOW\"")
            return
        }
        let key = body["key"]?.string ?? ""
        if !key.isEmpty, let existing = runsByKey[key], let run = runs[existing] {
            reply(peer, request, .ok, runJSON(run, repeated: true))
            return
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else {
            reply(peer, request, .badRequest, error: "\"\(name)\" is not PRODUCT/FLOW")
            return
        }
        guard products[parts[0]] != nil else {
            let known = products.keys.sorted()
            reply(
                peer, request, .notFound,
                error: "unknown product \"\(parts[0])\"" + (known.isEmpty ? " (no flows have been applied)" : " (products: \(known.joined(separator: ", ")))"))
            return
        }
        guard let flow = flows[name] else {
            let known = flows.values.filter { $0.product == parts[0] }.map(\.flow).sorted()
            reply(peer, request, .notFound, error: "unknown flow \"\(parts[1])\" of product \"\(parts[0])\" (its flows: \(known.joined(separator: ", ")))")
            return
        }
        var params = flow.params ?? [:]
        var problems: [String] = []
        for member in body["params"]?.members ?? [] {
            let value: String
            switch member.value.value {
            case .string(let text): value = text
            case .number(let text): value = text
            case .bool(let flag): value = flag ? "true" : "false"
            default:
                problems.append("parameter \"\(member.key)\": expected a string, number or Boolean")
                continue
            }
            if let declared = flow.params, declared[member.key] == nil {
                let names = declared.keys.sorted()
                problems.append(
                    "parameter \"\(member.key)\" is not declared by \(name)"
                        + (names.isEmpty ? " (it declares none)" : " (it declares: \(names.joined(separator: ", ")))"))
                continue
            }
            guard Names.isValidParameter(member.key) else {
                problems.append("parameter \"\(member.key)\": not a valid name (letters, digits and '_', not starting with a digit)")
                continue
            }
            params[member.key] = value
        }
        var priority = RunPriority.normal
        if let value = body["priority"] {
            switch Self.priority(value) {
            case .success(let given): priority = given
            case .failure(let problem): problems.append(problem.message)
            }
        }
        guard problems.isEmpty else {
            reply(peer, request, .invalid, error: "the run was not started", problems: problems)
            return
        }
        let run = startRun(of: flow, params: params, key: key, priority: priority, now: now)
        reply(peer, request, .ok, runJSON(run, repeated: false))
    }

    /// Records a new run of the latest version of `flow` and sends its start to the orchestrator.
    mutating func startRun(of flow: FlowRecord, params: [String: String], key: String, priority: UInt8, now: Timestamp) -> RunRecord {
        counters.lastRun += 1
        counters.lastMoment = max(counters.lastMoment + 1, UInt64(max(now.milliseconds, 0)) * 1000)
        counters.lastRequest += 1
        let run = RunRecord(
            id: counters.lastRun, product: flow.product, flow: flow.flow, version: flow.version,
            shard: products[flow.product]!.shard, moment: counters.lastMoment, params: params, key: key,
            state: .running, jobs: UInt32(flow.jobs), started: now, priority: priority)
        runs[run.id] = run
        if !key.isEmpty { runsByKey[key] = run.id }
        turn.runs.append(run)
        turn.counters = counters
        let operation = OperationRequest(
            request: counters.lastRequest, action: .start, run: run.id, product: run.product, flow: run.flow,
            version: run.version, shard: run.shard, moment: run.moment, params: params, definition: flow.definition,
            priority: priority)
        send(operation, now: now)
        return run
    }

    mutating func send(_ operation: OperationRequest, now: Timestamp) {
        pending[operation.request] = PendingOperation(
            request: operation, resendAt: now.adding(milliseconds: configuration.resendInitial),
            delay: configuration.resendInitial)
        turn.operations.append(operation)
        turn.toOrchestrator.append(.operationRequest(operation))
    }

    /// `status`: asks the orchestrator for the run's detail; the reply goes out when RUN-DETAIL arrives.
    private mutating func status(_ body: JSON, peer: Peer, request: UInt64, now: Timestamp) {
        guard let run = body["run"]?.integer, run > 0 else {
            reply(peer, request, .badRequest, error: "status needs \"run\": a run ID")
            return
        }
        counters.lastRequest += 1
        turn.counters = counters
        queries[counters.lastRequest] = PendingQuery(
            peer: peer, request: request, deadline: now.adding(milliseconds: configuration.queryTimeout))
        turn.toOrchestrator.append(.runQuery(RunQuery(request: counters.lastRequest, run: UInt64(run))))
    }

    private mutating func listRuns(_ body: JSON, peer: Peer, request: UInt64) {
        let limit = Int(body["limit"]?.integer ?? 20)
        let flow = body["flow"]?.string
        let selected = runs.values.filter { flow == nil || "\($0.product)/\($0.flow)" == flow }
            .sorted { $0.id > $1.id }.prefix(max(limit, 0))
        reply(peer, request, .ok, .object([("runs", .array(selected.map { runJSON($0, repeated: false) }))]))
    }

    private mutating func listFlows(peer: Peer, request: UInt64) {
        let list = flows.values.sorted { $0.qualifiedName < $1.qualifiedName }.map { flow in
            JSON.object([
                ("flow", .string(flow.qualifiedName)), ("version", .number(flow.version)), ("jobs", .number(flow.jobs)),
                ("shard", .number(products[flow.product]?.shard ?? 0)), ("applied", .number(flow.applied.milliseconds)),
            ])
        }
        reply(peer, request, .ok, .object([("flows", .array(list))]))
    }

    func runJSON(_ run: RunRecord, repeated: Bool) -> JSON {
        var members: [(String, JSON)] = [
            ("run", .number(run.id)), ("flow", .string("\(run.product)/\(run.flow)")), ("version", .number(run.version)),
            ("shard", .number(run.shard)), ("moment", .number(run.moment)), ("state", .string(run.state.name)),
            ("jobs", .number(run.jobs)), ("succeeded", .number(run.succeeded)), ("failed", .number(run.failed)),
            ("active", .number(run.active)), ("started", .number(run.started.milliseconds)),
            ("finished", .number(run.finished.milliseconds)), ("detail", .string(run.detail)),
            ("params", JSON.strings(run.params)), ("priority", Self.priorityJSON(run.priority)),
        ]
        if repeated { members.append(("repeated", .bool(true))) }
        return .object(members)
    }

    // MARK: - Operator actions

    /// An operator action: checked, recorded in the audit log with who asked and when, sent to the flow
    /// orchestrator, and answered when the orchestrator has applied (or refused) it. An action sent again with the
    /// same `request` ID is answered with the first one's outcome and applied once.
    private mutating func act(_ method: String, _ action: OperationAction, _ body: JSON, peer: Peer, request: UInt64, now: Timestamp) {
        let key = body["request"]?.string ?? ""
        if !key.isEmpty, let entry = actions[key] {
            guard entry.method == method else {
                reply(peer, request, .conflict, error: "request ID \"\(key)\" was already used for \(entry.method) at \(entry.time.milliseconds)")
                return
            }
            if entry.status == 0 {
                waiting[entry.id, default: []].append((peer, request))
            } else {
                reply(peer, request, Status(rawValue: entry.status), actionJSON(entry, repeated: true))
            }
            return
        }
        guard key.utf8.count <= 255 else {
            reply(peer, request, .badRequest, error: "\"request\" is at most 255 octets")
            return
        }
        let actor = body["actor"]?.string ?? ""
        guard !actor.isEmpty, actor.utf8.count <= 255 else {
            reply(peer, request, .badRequest, error: "\(method) needs \"actor\": who asks (1 to 255 octets), for the audit log")
            return
        }
        var operation = OperationRequest(request: 0, action: action, run: 0)
        var options: [String] = []
        if action == .hold || action == .release || action == .setPolicy {
            guard let product = body["product"]?.string else {
                reply(peer, request, .badRequest, error: "\(method) needs \"product\": a product's name")
                return
            }
            guard products[product] != nil else {
                reply(peer, request, .notFound, error: "unknown product \"\(product)\"")
                return
            }
            operation.product = product
            if action == .setPolicy {
                switch Self.policy(body, over: products[product]!.policy) {
                case .success(let policy):
                    operation.policy = policy
                    operation.shard = products[product]!.shard
                    options.append(policy.summary)
                case .failure(let problem):
                    reply(peer, request, .badRequest, error: "set-policy: \(problem.message)")
                    return
                }
            }
        } else {
            guard let run = body["run"]?.integer, run > 0 else {
                reply(peer, request, .badRequest, error: "\(method) needs \"run\": a run ID")
                return
            }
            guard UInt64(run) <= counters.lastRun else {
                reply(peer, request, .notFound, error: "unknown run \(run)")
                return
            }
            operation.run = UInt64(run)
            operation.product = runs[UInt64(run)]?.product ?? ""
        }
        if action == .rerunJob || action == .markSucceeded {
            guard let job = body["job"]?.string, !job.isEmpty else {
                reply(peer, request, .badRequest, error: "\(method) needs \"job\": the job's name")
                return
            }
            operation.job = job
        }
        if action == .setPriority {
            guard let value = body["priority"] else {
                reply(peer, request, .badRequest, error: "set-priority needs \"priority\": 1 (first) to 5, or \"urgent\"")
                return
            }
            switch Self.priority(value) {
            case .success(let priority):
                operation.priority = priority
                options.append("priority \(RunPriority.name(priority))")
            case .failure(let problem):
                reply(peer, request, .badRequest, error: "set-priority: \(problem.message)")
                return
            }
        }
        if action == .rerunJob && body["downstream"]?.bool == true { operation.options |= OperationRequest.downstream }
        let fresh = body["fresh"]?.bool == true
        if fresh {
            guard action == .rerunFailed || action == .rerunJob else {
                reply(peer, request, .badRequest, error: "\"fresh\" applies to rerun and rerun-job only")
                return
            }
            counters.lastMoment = max(counters.lastMoment + 1, UInt64(max(now.milliseconds, 0)) * 1000)
            operation.moment = counters.lastMoment
        }
        counters.lastRequest += 1
        operation.request = counters.lastRequest
        turn.counters = counters
        if operation.options & OperationRequest.downstream != 0 { options.append("downstream") }
        if fresh { options.append("fresh moment \(operation.moment)") }
        let entry = AuditEntry(
            id: operation.request, key: key.isEmpty ? "#\(operation.request)" : key, time: now, actor: actor, method: method,
            run: operation.run, product: operation.product, job: operation.job, options: options.joined(separator: ", "))
        remember(entry)
        turn.audit.append(entry)
        if action == .setPolicy {
            // Committed with the action, before the orchestrator hears of it.
            products[operation.product]!.policy = operation.policy
            turn.products.append(products[operation.product]!)
        }
        waiting[operation.request] = [(peer, request)]
        send(operation, now: now)
    }

    struct PolicyProblem: Error {
        var message: String
    }

    /// A run priority as the API gives it: 1 (first) to 5, as a number or a string, or `"urgent"`.
    static func priority(_ value: JSON) -> Result<UInt8, PolicyProblem> {
        let text = value.string ?? value.integer.map(String.init)
        guard let text, let priority = RunPriority.parse(text) else {
            return .failure(PolicyProblem(message: "\"priority\" takes 1 (first) to 5 (last), or \"urgent\", not \(value.rendered())"))
        }
        return .success(priority)
    }

    /// A run priority as the API shows it: 1 to 5, or `"urgent"`.
    static func priorityJSON(_ priority: UInt8) -> JSON {
        priority == RunPriority.urgent ? .string("urgent") : .number(Int(priority))
    }

    /// The policy a `set-policy` body asks for: the fields it gives over the `current` policy's.
    static func policy(_ body: JSON, over current: ProductPolicy) -> Result<ProductPolicy, PolicyProblem> {
        var policy = current
        let fields: [(String, WritableKeyPath<ProductPolicy, UInt32>, ClosedRange<Int64>)] = [
            ("weight", \.weight, Int64(ProductPolicy.weights.lowerBound)...Int64(ProductPolicy.weights.upperBound)),
            ("cap", \.cap, 0...Int64(UInt32.max)), ("rate", \.rate, 0...Int64(UInt32.max)), ("burst", \.burst, 0...Int64(UInt32.max)),
        ]
        var given = false
        for (name, path, range) in fields {
            guard let value = body[name] else { continue }
            guard let number = value.integer, range.contains(number) else {
                return .failure(PolicyProblem(message: "\"\(name)\" takes a whole number from \(range.lowerBound) to \(range.upperBound), not \(value.rendered())"))
            }
            policy[keyPath: path] = UInt32(number)
            given = true
        }
        if let value = body["priority_over_fairness"] {
            guard let flag = value.bool else {
                return .failure(PolicyProblem(message: "\"priority_over_fairness\" takes true or false, not \(value.rendered())"))
            }
            policy.priorityOverFairness = flag ? 1 : 0
            given = true
        }
        if let value = body["key_weights"] {
            // Given weights replace or add to those set; a weight of 1 removes a key's, 1 being every key's default.
            guard let members = value.members else {
                return .failure(PolicyProblem(message: "\"key_weights\" takes an object of fairness keys and weights, like {\"acme\": 3}"))
            }
            var weights = Dictionary(policy.keyWeights.map { ($0.key, $0.weight) }, uniquingKeysWith: { _, last in last })
            for member in members {
                guard !member.key.isEmpty, member.key.utf8.count <= FairnessKey.maximumLength else {
                    return .failure(PolicyProblem(message: "a fairness key is 1 to \(FairnessKey.maximumLength) octets, not \"\(member.key)\""))
                }
                guard let number = member.value.integer, ProductPolicy.weights.contains(UInt32(clamping: max(0, number))), number > 0 else {
                    return .failure(PolicyProblem(message: "the weight of key \"\(member.key)\" takes a whole number from 1 to 10000, not \(member.value.rendered())"))
                }
                weights[member.key] = number == 1 ? nil : UInt32(number)
            }
            guard weights.count <= ProductPolicy.keyWeightLimit else {
                return .failure(PolicyProblem(message: "at most \(ProductPolicy.keyWeightLimit) fairness keys may have a weight"))
            }
            policy.keyWeights = weights.keys.sorted().map { KeyWeight(key: $0, weight: weights[$0]!) }
            given = true
        }
        guard given else {
            return .failure(
                PolicyProblem(
                    message: "give at least one of \"weight\", \"cap\", \"rate\", \"burst\", \"priority_over_fairness\" and \"key_weights\""))
        }
        return .success(policy)
    }

    /// `products`: every product, its shard and its policy.
    private mutating func listProducts(peer: Peer, request: UInt64) {
        let list = products.values.sorted { $0.name < $1.name }.map { product in
            JSON.object([
                ("product", .string(product.name)), ("shard", .number(product.shard)), ("created", .number(product.created.milliseconds)),
                ("weight", .number(product.policy.weight)), ("cap", .number(product.policy.cap)), ("rate", .number(product.policy.rate)),
                ("burst", .number(product.policy.burst)), ("priority_over_fairness", .bool(product.policy.priorityOverFairness == 1)),
                ("key_weights", .object(product.policy.keyWeights.map { ($0.key, .number(Int($0.weight))) })),
                ("flows", .number(flows.values.filter { $0.product == product.name }.count)),
            ])
        }
        reply(peer, request, .ok, .object([("products", .array(list))]))
    }

    mutating func remember(_ entry: AuditEntry) {
        if actions.updateValue(entry, forKey: entry.key) == nil { actionOrder.append(entry.key) }
        actionKeys[entry.id] = entry.key
        while actionOrder.count > configuration.auditInMemory {
            if let forgotten = actions.removeValue(forKey: actionOrder.removeFirst()) { actionKeys[forgotten.id] = nil }
        }
    }

    /// The orchestrator's answer to an action: recorded with the action, and given to the clients waiting.
    private mutating func actionAnswered(_ operation: OperationRequest, _ result: OperationResult, now: Timestamp) {
        var entry = actionKeys[operation.request].flatMap { actions[$0] }
            ?? AuditEntry(id: operation.request, key: "#\(operation.request)", time: now, actor: "", method: operation.action.name,
                          run: operation.run, product: operation.product, job: operation.job, options: "")
        entry.status = result.status.rawValue == 0 ? 500 : result.status.rawValue
        entry.detail = result.detail
        entry.answered = now
        remember(entry)
        turn.auditAnswers.append(entry)
        if result.status.isSuccess, operation.moment != 0, var run = runs[operation.run] {
            run.moment = operation.moment
            runs[run.id] = run
            turn.runs.append(run)
        }
        if result.status.isSuccess, operation.action == .setPriority, var run = runs[operation.run] {
            run.priority = operation.priority
            runs[run.id] = run
            turn.runs.append(run)
        }
        for waiter in waiting.removeValue(forKey: operation.request) ?? [] {
            reply(waiter.peer, waiter.request, result.status, actionJSON(entry, repeated: false))
        }
    }

    func actionJSON(_ entry: AuditEntry, repeated: Bool) -> JSON {
        var members = entry.members
        // A refused action's reply carries the reason as `error`, like every refusal of the API.
        if entry.status != 0 && !Status(rawValue: entry.status).isSuccess { members.insert(("error", .string(entry.detail)), at: 0) }
        if repeated { members.append(("repeated", .bool(true))) }
        return .object(members)
    }

    /// `history`: the audit log of a run, or of a product; the runtime reads it from the store.
    private mutating func history(_ body: JSON, peer: Peer, request: UInt64) {
        let limit = Int(body["limit"]?.integer ?? 1000)
        if let run = body["run"]?.integer, run > 0 {
            turn.histories.append(HistoryQuery(peer: peer, request: request, run: UInt64(run), product: "", limit: limit))
        } else if let product = body["product"]?.string {
            turn.histories.append(HistoryQuery(peer: peer, request: request, run: 0, product: product, limit: limit))
        } else {
            reply(peer, request, .badRequest, error: "history needs \"run\": a run ID, or \"product\": a product's name")
        }
    }

    // MARK: - The orchestrator

    /// Handles a message from the orchestrator's `ops` ROUTER or its event stream.
    public mutating func orchestratorMessage(_ message: Message, now: Timestamp) {
        switch message {
        case .operationResult(let result):
            guard let operation = pending.removeValue(forKey: result.request) else { return }
            turn.answered.append(operation.request.request)
            if operation.request.action != .start {
                actionAnswered(operation.request, result, now: now)
                return
            }
            if !result.status.isSuccess, var run = runs[operation.request.run] {
                // The orchestrator refused to start the run: it will never report on it, so record why.
                run.state = .failed
                run.detail = "the orchestrator refused the run: \(result.detail)"
                run.finished = now
                runs[run.id] = run
                turn.runs.append(run)
                finishedOrder.append(run.id)
                startQueuedFiring(of: "\(run.product)/\(run.flow)", now: now)
            }
        case .runDetail(let detail):
            guard let query = queries.removeValue(forKey: detail.request) else { return }
            if detail.status == .notFound {
                reply(query.peer, query.request, .notFound, error: "unknown run \(detail.run.run)")
            } else {
                reply(query.peer, query.request, .ok, detailJSON(detail))
            }
        case .runUpdates(let updates):
            switch cursor.received(epoch: updates.epoch, sequence: updates.sequence, now: now) {
            case .apply:
                turn.position = StreamPosition(publisher: cursor.publisher, epoch: cursor.epoch, sequence: cursor.sequence)
                for status in updates.updates { apply(status, now: now) }
            case .ignore: break
            case .fetch(let after): turn.toOrchestrator.append(.fetch(Fetch(after: after, limit: 1000)))
            }
        case .beacon(let beacon):
            if case .fetch(let after) = cursor.beacon(epoch: beacon.epoch, sequence: beacon.sequence, now: now) {
                turn.toOrchestrator.append(.fetch(Fetch(after: after, limit: 1000)))
            }
        case .fetched(let fetched):
            switch cursor.fetched(status: fetched.status.rawValue, epoch: fetched.epoch, sequence: fetched.sequence, now: now) {
            case .upToDate, .resynchronise: break
            case .fetch(let after): turn.toOrchestrator.append(.fetch(Fetch(after: after, limit: 1000)))
            }
            turn.position = StreamPosition(publisher: cursor.publisher, epoch: cursor.epoch, sequence: cursor.sequence)
        default:
            break
        }
    }

    private mutating func apply(_ status: RunStatus, now: Timestamp) {
        guard var run = runs[status.run] else { return }
        guard !run.state.isFinal || Timestamp(wire: status.time) > run.updated else { return }
        run.state = status.state
        run.succeeded = status.succeeded
        run.failed = status.failed
        run.active = status.active
        run.finished = Timestamp(wire: status.finished)
        run.detail = status.detail
        run.updated = Timestamp(wire: status.time)
        runs[run.id] = run
        turn.runs.append(run)
        if run.state.isFinal {
            finishedOrder.append(run.id)
            startQueuedFiring(of: "\(run.product)/\(run.flow)", now: now)
        }
    }

    /// The JSON of `status`: `{"run": {...}, "jobs": [...]}`, the run in the shape `runs` lists it.
    func detailJSON(_ detail: RunDetail) -> JSON {
        let status = detail.run
        var run = runs[status.run] ?? RunRecord(
            id: status.run, product: status.product, flow: status.flow, version: 0, shard: 0, moment: 0, params: [:],
            state: status.state, jobs: status.jobs, started: Timestamp(wire: status.started))
        run.state = status.state
        run.succeeded = status.succeeded
        run.failed = status.failed
        run.active = status.active
        run.finished = Timestamp(wire: status.finished)
        run.detail = status.detail
        let jobs = detail.jobs.map { job in
            JSON.object([
                ("job", .string(job.job)), ("generation", .number(job.generation)), ("state", .string(job.state.name)),
                ("attempts", .number(job.attempts)),
                ("tasks", .object([
                    ("pending", .number(job.pending)), ("running", .number(job.running)),
                    ("succeeded", .number(job.succeeded)), ("failed", .number(job.failed)),
                ])),
                ("step", .number(job.step)), ("steps", .number(job.steps)), ("started", .number(job.started)),
                ("finished", .number(job.finished)), ("output", .string(job.output)), ("detail", .string(job.detail)),
            ])
        }
        return .object([("run", runJSON(run, repeated: false)), ("jobs", .array(jobs))])
    }

    // MARK: - Time and the end of a turn

    /// Resends unanswered operations, times out unanswered queries, fetches from a silent orchestrator.
    public mutating func tick(now: Timestamp) {
        if drainQueues {
            drainQueues = false
            for flow in queued.keys.sorted() { startQueuedFiring(of: flow, now: now) }
        }
        for id in pending.keys.sorted() where pending[id]!.resendAt <= now {
            let delay = pending[id]!.delay
            pending[id]!.delay = min(delay * 2, configuration.resendMaximum)
            pending[id]!.resendAt = now.adding(milliseconds: delay)
            turn.toOrchestrator.append(.operationRequest(pending[id]!.request))
        }
        for id in queries.keys.sorted() where queries[id]!.deadline <= now {
            let query = queries.removeValue(forKey: id)!
            reply(query.peer, query.request, .unavailable, error: "the orchestrator did not answer within \(configuration.queryTimeout / 1000) s")
        }
        if case .fetch(let after) = cursor.tick(now: now) { turn.toOrchestrator.append(.fetch(Fetch(after: after, limit: 1000))) }
    }

    /// The next time ``tick(now:)`` has something to do.
    public func nextDeadline() -> Timestamp {
        var next = cursor.nextDeadline
        for operation in pending.values { next = min(next, operation.resendAt) }
        for query in queries.values { next = min(next, query.deadline) }
        return next
    }

    /// Ends the turn: the rows to commit, then the messages to send.
    public mutating func finishTurn() -> ManagementTurn {
        while finishedOrder.count > configuration.finishedRunsInMemory {
            let id = finishedOrder.removeFirst()
            if let key = runs[id]?.key, !key.isEmpty { runsByKey[key] = nil }
            runs[id] = nil
        }
        defer { turn = ManagementTurn() }
        return turn
    }
}

/// Management's settings.
public struct ManagementConfiguration: Sendable {
    /// The shards products may be bound to.
    public var shards: [UInt32]
    /// The first and longest delay before an unanswered operation is sent again, in milliseconds.
    public var resendInitial: Int64 = 2000
    public var resendMaximum: Int64 = 30_000
    /// How long `status` waits for the orchestrator.
    public var queryTimeout: Int64 = 5000
    /// How long the orchestrator may be silent before management fetches from it.
    public var silence: Int64 = 3000
    /// Final runs kept in memory for `runs`.
    public var finishedRunsInMemory = 1000
    /// Operator actions whose request IDs are remembered, so that one sent again applies once.
    public var auditInMemory = 100_000
    /// Where time zones are found (the runtime reads the system's database); by default only UTC.
    public var zones: ZoneLookup = { $0 == "UTC" ? .utc : nil }
    /// How far ahead of management's clock a timer may fire, in milliseconds.
    public var fireAhead: Int64 = 60_000
    /// Firings of each flow kept in memory for `schedule`.
    public var recentFiringsInMemory = 20

    public init(shards: [UInt32]) {
        precondition(!shards.isEmpty, "management needs at least one shard")
        self.shards = shards
    }
}

/// What one turn of management produced.
public struct ManagementTurn: Sendable {
    public var products: [ProductRecord] = []
    public var flows: [FlowRecord] = []
    public var runs: [RunRecord] = []
    /// Operation requests to record as pending.
    public var operations: [OperationRequest] = []
    /// Operation requests answered.
    public var answered: [UInt64] = []
    public var counters: ManagementCounters?
    public var position: StreamPosition?
    /// Messages for the orchestrator, after the commit.
    public var toOrchestrator: [Message] = []
    /// Replies to API clients, after the commit.
    public var replies: [(Peer, Message)] = []
    /// Operator actions to add to the audit log, and answered ones to update.
    public var audit: [AuditEntry] = []
    public var auditAnswers: [AuditEntry] = []
    /// `history` requests, answered from the store after the commit.
    public var histories: [HistoryQuery] = []
    /// Calendars applied, schedules changed or removed (by flow), and firings decided.
    public var calendars: [CalendarRecord] = []
    public var schedules: [ScheduleState] = []
    public var removedSchedules: [String] = []
    public var firings: [FiringRecord] = []

    public init() {}

    /// Whether the turn has rows to commit.
    public var needsCommit: Bool {
        !products.isEmpty || !flows.isEmpty || !runs.isEmpty || !operations.isEmpty || !answered.isEmpty
            || counters != nil || position != nil || !audit.isEmpty || !auditAnswers.isEmpty || !calendars.isEmpty
            || !schedules.isEmpty || !removedSchedules.isEmpty || !firings.isEmpty
    }
}

/// What management's store holds, to resume from.
public struct ManagementSnapshot: Sendable {
    public var products: [ProductRecord] = []
    public var flows: [FlowRecord] = []
    public var runs: [RunRecord] = []
    public var pending: [OperationRequest] = []
    public var counters = ManagementCounters()
    public var position = StreamPosition(publisher: "flow", epoch: 0, sequence: 0)
    /// The most recent operator actions, oldest first.
    public var audit: [AuditEntry] = []
    public var calendars: [CalendarRecord] = []
    public var schedules: [ScheduleState] = []
    /// Firings waiting for a run to end, and the latest firings of each flow, oldest first.
    public var queuedFirings: [FiringRecord] = []
    public var recentFirings: [FiringRecord] = []

    public init() {}
}

/// One operator action in the audit log: who asked what, on which run or product, when, and how it ended.
public struct AuditEntry: Equatable, Sendable {
    /// The operation request that carried it.
    public var id: UInt64
    /// The client's request ID (`#` and the operation request when it gave none).
    public var key: String
    public var time: Timestamp
    public var actor: String
    /// The API method: stop, pause, resume, rerun, rerun-job, mark-succeeded, hold or release.
    public var method: String
    /// The run (0 for hold and release), its product, and the job for rerun-job and mark-succeeded.
    public var run: UInt64
    public var product: String
    public var job: String
    /// Options given, in words (`downstream`, `fresh moment N`).
    public var options: String
    /// The orchestrator's answer: 0 while waiting for it, else a status code and its detail.
    public var status: UInt16 = 0
    public var detail: String = ""
    public var answered: Timestamp = .zero

    public init(
        id: UInt64, key: String, time: Timestamp, actor: String, method: String, run: UInt64, product: String, job: String,
        options: String, status: UInt16 = 0, detail: String = "", answered: Timestamp = .zero
    ) {
        self.id = id
        self.key = key
        self.time = time
        self.actor = actor
        self.method = method
        self.run = run
        self.product = product
        self.job = job
        self.options = options
        self.status = status
        self.detail = detail
        self.answered = answered
    }

    /// How it ended, in a word: pending, done or refused.
    public var outcome: String { status == 0 ? "pending" : Status(rawValue: status).isSuccess ? "done" : "refused" }

    /// The entry as the API gives it.
    public var json: JSON { .object(members) }

    var members: [(String, JSON)] {
        [
            ("id", .number(id)), ("request", .string(key)), ("time", .number(time.milliseconds)), ("actor", .string(actor)),
            ("action", .string(method)), ("run", .number(run)), ("product", .string(product)), ("job", .string(job)),
            ("options", .string(options)), ("outcome", .string(outcome)), ("status", .number(status)),
            ("detail", .string(detail)), ("answered", .number(answered.milliseconds)),
        ]
    }
}

/// A `history` request, answered by the runtime from the store.
public struct HistoryQuery: Sendable {
    public var peer: Peer
    public var request: UInt64
    /// The run, or 0 for every action on `product`.
    public var run: UInt64
    public var product: String
    public var limit: Int
}

/// The counters management never lets go back.
public struct ManagementCounters: Equatable, Sendable {
    public var lastRun: UInt64 = 0
    public var lastMoment: UInt64 = 0
    public var lastRequest: UInt64 = 0

    public init(lastRun: UInt64 = 0, lastMoment: UInt64 = 0, lastRequest: UInt64 = 0) {
        self.lastRun = lastRun
        self.lastMoment = lastMoment
        self.lastRequest = lastRequest
    }
}

/// A product and the shard it is bound to.
public struct ProductRecord: Equatable, Sendable {
    public var name: String
    public var shard: UInt32
    public var created: Timestamp
    /// How its shard shares workers with it.
    public var policy: ProductPolicy

    public init(name: String, shard: UInt32, created: Timestamp, policy: ProductPolicy? = nil) {
        self.name = name
        self.shard = shard
        self.created = created
        self.policy = policy ?? ProductPolicy(product: name)
    }
}

/// The latest version of a flow.
public struct FlowRecord: Equatable, Sendable {
    public var product: String
    public var flow: String
    public var version: UInt32
    /// The definition as canonical JSON.
    public var definition: String
    /// Declared parameters with defaults; nil when the flow declares none.
    public var params: [String: String]?
    public var jobs: Int
    public var applied: Timestamp
    /// Its schedule as canonical JSON; nil for none.
    public var schedule: String?

    public init(
        product: String, flow: String, version: UInt32, definition: String, params: [String: String]?, jobs: Int,
        applied: Timestamp, schedule: String? = nil
    ) {
        self.schedule = schedule
        self.product = product
        self.flow = flow
        self.version = version
        self.definition = definition
        self.params = params
        self.jobs = jobs
        self.applied = applied
    }

    public var qualifiedName: String { "\(product)/\(flow)" }
}

/// A run as management records it.
public struct RunRecord: Equatable, Sendable {
    public var id: UInt64
    public var product: String
    public var flow: String
    public var version: UInt32
    public var shard: UInt32
    public var moment: UInt64
    public var params: [String: String]
    /// The client's idempotency key; empty if none.
    public var key: String
    public var state: RunState
    public var jobs: UInt32
    public var succeeded: UInt32
    public var failed: UInt32
    public var active: UInt32
    public var started: Timestamp
    public var finished: Timestamp
    public var detail: String
    /// The time of the last status applied.
    public var updated: Timestamp
    /// Its priority (``RunPriority``): 0 urgent, 1 (first) to 5.
    public var priority: UInt8

    public init(
        id: UInt64, product: String, flow: String, version: UInt32, shard: UInt32, moment: UInt64,
        params: [String: String], key: String = "", state: RunState, jobs: UInt32, succeeded: UInt32 = 0,
        failed: UInt32 = 0, active: UInt32 = 0, started: Timestamp, finished: Timestamp = .zero, detail: String = "",
        updated: Timestamp = .zero, priority: UInt8 = RunPriority.normal
    ) {
        self.priority = priority
        self.id = id
        self.product = product
        self.flow = flow
        self.version = version
        self.shard = shard
        self.moment = moment
        self.params = params
        self.key = key
        self.state = state
        self.jobs = jobs
        self.succeeded = succeeded
        self.failed = failed
        self.active = active
        self.started = started
        self.finished = finished
        self.detail = detail
        self.updated = updated
    }
}

extension ManagementTurn: ServiceTurn {
    /// The messages to the orchestrator, then the replies to clients.
    public var deliveries: [Delivery] {
        toOrchestrator.map { Delivery($0, to: .orchestrator) } + replies.map { Delivery($0.1, to: .peer($0.0)) }
    }
}
