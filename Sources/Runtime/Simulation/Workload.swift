import Core
import Wire

/// What the operator does, drawn from the seed: applies flows of random shapes (partitions, retries, a
/// schedule that crosses a change of daylight-saving time), starts runs with idempotency keys, and acts
/// on them at random moments: stop, pause, resume, rerun, rerun-job, mark-succeeded, hold, release,
/// policy changes, moves of products between shards and run priorities. Every request carries its key or request ID and is sent again until answered, as a
/// careful client would. Once faults stop it resumes and releases everything, and at the end reads
/// every run back: each must have ended.
final class Workload {
    unowned let simulation: Simulation
    private var outbox: [APIRequest] = []
    private var pending: [UInt64: (request: APIRequest, sent: Int64, purpose: Purpose)] = [:]
    private var nextRequest: UInt64 = 0
    private var flows: [(name: String, product: String, jobs: [(name: String, after: [String])])] = []
    /// Runs started, by ID, with their flow; and by the key of the start that started each.
    private var runs: [UInt64: String] = [:]
    private var keys: [String: UInt64] = [:]
    /// Runs the operator ever paused, and products it ever held: all are resumed and released at the end,
    /// whatever the order in which its requests arrived.
    private var paused: Set<UInt64> = []
    private var held: Set<String> = []
    /// Products whose policy the operator set: their caps and rates are lifted when faults stop.
    private var policies: Set<String> = []
    private var starts = 0
    private var actions = 0
    private var applied = false
    /// When management answered the flows' apply, in virtual time.
    private var appliedAt: Int64 = 0
    /// When the flows' apply was first sent.
    private var applySent: Int64 = 0
    private var settling = false
    private var listing: [JSON]?
    /// How many runs were open at the last listing, and how often the time to heal was extended.
    private var openAtLastListing = Int.max
    private var extensions = 0
    private var listedAt: Int64 = 0
    /// How management's listing and the orchestrator's runs disagreed when the listing came, if they did.
    private var disagreement: String?
    private var stranded: UInt64?
    static let products = ["payments", "risk", "ledger"]
    /// The partitions of each backlog product's one run, and the weights set for them (confirmed answers
    /// outstanding).
    static let backlogPartitions = 240
    private var backlogWeights: [String: UInt32] = [:]

    enum Purpose: Equatable {
        case apply, start, action, pauseToStrand, listing
        case backlogApply, backlogPolicy(product: String, weight: UInt32)
    }

    /// How long a simulated attempt of `spec` runs, in milliseconds: up to 2.5 s, up to 0.8 s a partition;
    /// a backlog product's tasks by its number, so that products' costs differ (100–300, 100–600, 100–900).
    static func durations(of spec: TaskSpec) -> ClosedRange<Int64> {
        if spec.product.hasPrefix("backlog-"), let number = Int64(spec.product.dropFirst("backlog-".count)) {
            return 100...(300 * (1 + number % 3))
        }
        return 5...(spec.partitions > 1 ? 800 : 2_500)
    }

    init(simulation: Simulation) { self.simulation = simulation }

    // MARK: Flows

    /// Flows of 2 to 9 jobs, each after some of those before it, some partitioned, some with retries; one
    /// with a schedule every 5 minutes in Berlin, whose clocks change during the run, one daily at a
    /// local time the change skips or repeats, and one that fails its runs at once (`fail-run`).
    private func makeFlows() -> [String] {
        var files: [String] = []
        for number in 0..<5 {
            let product = Self.products[number % Self.products.count]
            let count = Int(simulation.pick(2...9))
            var jobs: [(name: String, after: [String])] = []
            var texts: [String] = []
            for index in 0..<count {
                let name = "j\(index)"
                var after: [String] = []
                for earlier in 0..<index where simulation.chance(0.35) { after.append("j\(earlier)") }
                var fields = [#""name": "\#(name)""#, #""handler": "sim""#, #""backoff": "200ms""#]
                if !after.isEmpty { fields.append(#""after": [\#(after.map { "\"\($0)\"" }.joined(separator: ", "))]"#) }
                if simulation.chance(0.3) { fields.append(#""partitions": \#(simulation.pick(2...12))"#) }
                fields.append(#""retries": \#(simulation.chance(0.7) ? simulation.pick(1...3) : 0)"#)
                texts.append("{" + fields.joined(separator: ", ") + "}")
                jobs.append((name, after))
            }
            let name = "f\(number)"
            let cron = number == 0 ? "*/5 * * * *" : number == 1 ? simulation.season.cron : nil
            let schedule = cron.map { #", "schedule": {"cron": "\#($0)", "zone": "Europe/Berlin"}"# } ?? ""
            // The last fails its runs at once: they end with jobs still active, whose ends may come after
            // a restart, when the run is out of memory, and a rerun asks the shard for them (report-job).
            let policy = number == 4 ? #", "on_failure": "fail-run""# : ""
            files.append(#"{"product": "\#(product)", "flow": "\#(name)"\#(schedule)\#(policy), "jobs": [\#(texts.joined(separator: ", "))]}"#)
            flows.append((name, product, jobs))
            simulation.checker.flows["\(product)/\(name)"] = Dictionary(uniqueKeysWithValues: jobs.map { ($0.name, $0.after) })
        }
        return files
    }

    // MARK: Requests

    func begin() {
        let files = makeFlows().enumerated().map { JSON.object([("path", .string("f\($0.offset).json")), ("text", .string($0.element))]) }
        applySent = simulation.queue.now
        call("apply", .object([("files", .array(files))]), .apply)
        simulation.queue.at(simulation.queue.now + 500) { [self] in tick() }
    }

    /// Now and then: a start, or an operator's action; requests unanswered for 10 s go again.
    private func tick() {
        let now = simulation.queue.now
        for (id, entry) in pending.sorted(by: { $0.key < $1.key }) where now - entry.sent >= 10_000 {
            pending[id] = nil
            call(entry.request.method, (try? JSONParser.parse(entry.request.body)) ?? .object([]), entry.purpose)
        }
        if applied && !settling {
            if simulation.chance(0.6) || runs.isEmpty { start() } else { act() }
            if simulation.options.planted == .strandRun && stranded == nil, let run = runs.keys.max() {
                stranded = run
                call("pause", .object([("run", .number(run)), ("request", .string("strand-\(run)")), ("actor", .string("simulator"))]), .pauseToStrand)
            }
        }
        simulation.queue.at(now + simulation.pick(300...3_000)) { [self] in tick() }
    }

    private func start() {
        starts += 1
        let flow = flows[Int(simulation.random.next() % UInt64(flows.count))]
        call("start", .object([("flow", .string("\(flow.product)/\(flow.name)")), ("key", .string("start-\(starts)"))]), .start)
    }

    /// An operator's action on a run or a product, chosen at random.
    private func act() {
        actions += 1
        let ids = runs.keys.sorted()
        let run = ids[Int(simulation.random.next() % UInt64(ids.count))]
        // The run the planted fault strands stays paused.
        if run == stranded { return start() }
        guard let flow = flows.first(where: { "\($0.product)/\($0.name)" == runs[run] }) else { return start() }
        let job = flow.jobs[Int(simulation.random.next() % UInt64(flow.jobs.count))].name
        let product = Self.products[Int(simulation.random.next() % UInt64(Self.products.count))]
        let base: [(String, JSON)] = [("run", .number(run)), ("request", .string("act-\(actions)")), ("actor", .string("simulator"))]
        switch simulation.random.next() % 10 {
        case 0: return call("stop", .object(base), .action)
        case 1:
            paused.insert(run)
            return call("pause", .object(base), .action)
        case 2: return call("resume", .object(base), .action)
        case 3: return call("rerun", .object(base + [("fresh", .bool(simulation.chance(0.3)))]), .action)
        case 4:
            return call(
                "rerun-job",
                .object(base + [("job", .string(job)), ("downstream", .bool(simulation.chance(0.5))), ("fresh", .bool(simulation.chance(0.3)))]),
                .action)
        case 5:
            return call("mark-succeeded", .object(base + [("job", .string(job))]), .action)
        case 6:
            held.insert(product)
            return call("hold", .object([("product", .string(product)), ("request", .string("act-\(actions)")), ("actor", .string("simulator"))]), .action)
        case 7:
            return call("release", .object([("product", .string(product)), ("request", .string("act-\(actions)")), ("actor", .string("simulator"))]), .action)
        case 9:
            let priority: JSON = simulation.chance(0.2) ? .string("urgent") : .number(simulation.pick(1...5))
            return call("set-priority", .object(base + [("priority", priority)]), .action)
        default:
            if simulation.chance(0.3) {
                // A move: the product's new runs go to the shard; its open ones finish where they are.
                let shard = simulation.pick(1...Int64(simulation.options.shards))
                return call(
                    "move",
                    .object([("product", .string(product)), ("request", .string("act-\(actions)")), ("actor", .string("simulator")), ("to", .number(shard))]),
                    .action)
            }
            // A weight, and now and then a cap on tasks running at once or a rate of tasks an hour (0: none).
            var policy: [(String, JSON)] = [("weight", .number(simulation.pick(1...5)))]
            if simulation.chance(0.3) { policy.append(("cap", .number(simulation.chance(0.5) ? 0 : simulation.pick(1...8)))) }
            if simulation.chance(0.2) { policy.append(("rate", .number(simulation.chance(0.5) ? 0 : simulation.pick(18_000...180_000)))) }
            policies.insert(product)
            return call(
                "set-policy",
                .object([("product", .string(product)), ("request", .string("act-\(actions)")), ("actor", .string("simulator"))] + policy),
                .action)
        }
    }

    private func call(_ method: String, _ body: JSON, _ purpose: Purpose) {
        nextRequest += 1
        let request = APIRequest(request: nextRequest, method: method, body: body.rendered())
        pending[nextRequest] = (request, simulation.queue.now, purpose)
        outbox.append(request)
        simulation.trace.add(simulation.queue.now, "operator: \(method) \(body.rendered())".prefix(160).description)
        simulation.turn(simulation.operatorIndex, after: 0)
    }

    func takeOutbox() -> [APIRequest] {
        defer { outbox = [] }
        return outbox
    }

    func replied(_ reply: APIReply) {
        guard let entry = pending.removeValue(forKey: reply.request) else { return }
        let body = (try? JSONParser.parse(reply.body)) ?? .object([])
        if !reply.status.isSuccess {
            simulation.trace.add(
                simulation.queue.now, "operator: \(entry.request.method) refused \(reply.status.rawValue): \(body["error"]?.string ?? reply.body)".prefix(200).description)
        }
        switch entry.purpose {
        case .apply:
            guard reply.status.isSuccess else {
                simulation.violated("management refused the simulator's flows: \(reply.body)")
                return
            }
            applied = true
            appliedAt = simulation.queue.now
        case .start:
            // A start refused (its product held, say) is an answer too; a run it started is remembered.
            if let run = body["run"]?.integer, runs[UInt64(run)] == nil {
                runs[UInt64(run)] = body["flow"]?.string ?? ""
                simulation.counts.runsStarted += 1
            }
            // A start sent again with its key is answered with the run it started the first time.
            if let run = body["run"]?.integer, let key = (try? JSONParser.parse(entry.request.body))?["key"]?.string,
                let first = keys.updateValue(UInt64(run), forKey: key), first != UInt64(run), !simulation.checker.relaxed
            {
                simulation.violated("the start with key \(key) started run \(first), and run \(run) when sent again")
            }
        case .action, .pauseToStrand:
            simulation.counts.operatorActions += 1
            let asked = (try? JSONParser.parse(entry.request.body)) ?? .object([])
            if entry.request.method == "move", reply.status.isSuccess, let product = asked["product"]?.string, let to = asked["to"]?.integer,
                let management = simulation.processes[0].service as? ManagementService
            {
                simulation.checker.moved(product, to: UInt32(to), lastRun: management.core.runs.keys.max() ?? 0)
            }
        case .backlogApply:
            guard reply.status.isSuccess else { return simulation.violated("management refused the backlog flows: \(reply.body)") }
            setBacklogWeights()
        case .backlogPolicy(let product, let weight):
            guard reply.status.isSuccess else { return simulation.violated("management refused \(product)'s weight: \(reply.body)") }
            backlogWeightSet(product, weight)
        case .listing:
            listing = body["runs"]?.array ?? []
            listedAt = simulation.queue.now
            disagreement = compareViews(listing ?? [])
            // Work released when faults stopped (runs paused and products held for minutes, the backlogs)
            // may take longer than the time to heal: while fewer runs are open at each listing, the run
            // goes on a minute more, ten times at most. A run that never ends stops the progress.
            let open = openRuns().count
            if open > 0, open < openAtLastListing, extensions < 10 {
                extensions += 1
                simulation.healEnd += 60_000
                simulation.trace.add(simulation.queue.now, "\(open) run\(open == 1 ? "" : "s") still open, fewer than before: a minute more to end them")
                simulation.queue.at(simulation.healEnd - 30_000) { [self] in call("runs", .object([("limit", .number(10_000))]), .listing) }
            }
            openAtLastListing = open
        }
    }

    /// Faults have stopped: resume every run and release every product, then read every run back
    /// before the end.
    func settle() {
        settling = true
        // The operator stops asking again what it asked before; what is still on its way arrives within
        // seconds, and is then resumed and released.
        pending = pending.filter { $0.value.purpose == .start }
        simulation.queue.at(simulation.queue.now + 20_000) { [self] in
            for run in paused.sorted() where run != stranded {
                call("resume", .object([("run", .number(run)), ("request", .string("settle-\(run)")), ("actor", .string("simulator"))]), .action)
            }
            for product in held.sorted() {
                call("release", .object([("product", .string(product)), ("request", .string("settle-\(product)")), ("actor", .string("simulator"))]), .action)
            }
            // Caps and rates lifted, so that every run can end in the time left.
            for product in policies.sorted() {
                call(
                    "set-policy",
                    .object([
                        ("product", .string(product)), ("request", .string("settle-policy-\(product)")), ("actor", .string("simulator")),
                        ("cap", .number(0)), ("rate", .number(0)),
                    ]), .action)
            }
        }
        if simulation.options.heal >= 180_000 {
            simulation.queue.at(simulation.queue.now + 25_000) { [self] in applyBacklog() }
        }
        let end = simulation.queue.now + simulation.options.heal - 30_000
        simulation.queue.at(end) { [self] in call("runs", .object([("limit", .number(10_000))]), .listing) }
    }

    // MARK: Backlogs

    /// Once faults stop: two products a shard (placed by product count), each with a flow of one job of
    /// many partitions, for ``FairnessCheck``, and a flow of one task of the same job type to measure its
    /// cost first. Their weights are set next; then each product runs its warm-up, then its backlog.
    private func applyBacklog() {
        simulation.checker.fairness.begin()
        var files: [JSON] = []
        for number in 1...(2 * simulation.options.shards) {
            for (flow, partitions) in [("warm-up", 1), ("backlog", Self.backlogPartitions)] {
                let text = #"{"product": "backlog-\#(number)", "flow": "\#(flow)", "jobs": [{"name": "p", "type": "load", "handler": "sim", "#
                    + #""partitions": \#(partitions), "retries": 5, "backoff": "200ms"}]}"#
                files.append(.object([("path", .string("backlog-\(number)-\(flow).json")), ("text", .string(text))]))
            }
        }
        call("apply", .object([("files", .array(files))]), .backlogApply)
    }

    /// The backlog flows are applied: each product's weight, 1 to 4.
    private func setBacklogWeights() {
        for number in 1...(2 * simulation.options.shards) {
            let product = "backlog-\(number)"
            let weight = UInt32(simulation.pick(1...4))
            backlogWeights[product] = weight
            call(
                "set-policy",
                .object([("product", .string(product)), ("request", .string("weight-\(product)")), ("actor", .string("simulator")), ("weight", .number(Int64(weight)))]),
                .backlogPolicy(product: product, weight: weight))
        }
    }

    /// A backlog product's weight is set; once all are, each product runs its warm-up, and five
    /// seconds later its backlog.
    private func backlogWeightSet(_ product: String, _ weight: UInt32) {
        simulation.checker.fairness.weights[product] = weight
        guard simulation.checker.fairness.weights.count == backlogWeights.count else { return }
        for (flow, delay) in [("warm-up", Int64(0)), ("backlog", 5_000)] {
            simulation.queue.at(simulation.queue.now + delay) { [self] in
                for product in backlogWeights.keys.sorted() {
                    call("start", .object([("flow", .string("\(product)/\(flow)")), ("key", .string("\(flow)-\(product)"))]), .start)
                }
            }
        }
    }

    /// Every run started has ended, as management's store says.
    func finalCheck() -> String? {
        guard let listing else { return "management never answered the last listing of runs" }
        if let disagreement { return disagreement }
        var states: [UInt64: String] = [:]
        for run in listing {
            if let id = run["run"]?.integer { states[UInt64(id)] = run["state"]?.string ?? "?" }
        }
        let final = ["succeeded", "failed", "stopped"]
        simulation.counts.runsEnded = states.values.filter { final.contains($0) }.count
        for (run, flow) in runs.sorted(by: { $0.key < $1.key }) where states[run] == nil {
            return "run \(run) of \(flow) is not in management's listing"
        }
        if let run = openRuns().first {
            let id = UInt64(run["run"]?.integer ?? 0)
            let after = (simulation.healEnd - simulation.start - simulation.options.duration) / 1000
            return "run \(id) of \(run["flow"]?.string ?? "?") never ended: it is still \(run["state"]?.string ?? "?") \(after) s after faults stopped"
                + jobsOf(id)
        }
        return scheduleCheck()
    }

    /// The runs of the last listing that have not ended: every run, the timers' too, but one started in
    /// the minute before the listing (a firing of the schedule).
    private func openRuns() -> [JSON] {
        let final = ["succeeded", "failed", "stopped"]
        return (listing ?? []).sorted(by: { ($0["run"]?.integer ?? 0) < ($1["run"]?.integer ?? 0) }).filter { run in
            !final.contains(run["state"]?.string ?? "?") && (run["started"]?.integer ?? 0) < listedAt - 60_000
        }
    }

    /// Management's state of each run is the orchestrator's, for every run whose state the orchestrator
    /// last changed 10 s or more before: its event stream carried every change to management, each
    /// message once and none missed for good, whatever was dropped, lost or crashed on the way.
    private func compareViews(_ listing: [JSON]) -> String? {
        guard let orchestrator = simulation.processes[1].service as? OrchestratorService else { return nil }
        let now = simulation.now(of: 1).milliseconds
        for run in listing.sorted(by: { ($0["run"]?.integer ?? 0) < ($1["run"]?.integer ?? 0) }) {
            let id = UInt64(run["run"]?.integer ?? 0)
            let query = RunQuery(request: 0, run: id)
            // A run that ended before the orchestrator last started is in its store, not its memory.
            guard let detail = orchestrator.core.detail(answering: query) ?? (try? OrchestratorService.storedDetail(query, store: orchestrator.store))
            else { continue }
            let state = run["state"]?.string ?? "?"
            if detail.status == .notFound {
                // A run the orchestrator lost with its last commits (a power loss under durability normal):
                // open at management, it ends failed, saying why; one that had ended there stays as it ended.
                if state == "failed" || (simulation.checker.relaxed && ["succeeded", "stopped"].contains(state)) { continue }
                return "management lists run \(id) as \(state), but the orchestrator has no such run"
            }
            let status = detail.run
            // After a power loss under durability normal, management may give a run's ID out again: the
            // orchestrator refuses that start (409), and management's run ends failed, taking none of the
            // other run's statuses. Two runs under one ID, not one run seen two ways.
            if simulation.checker.relaxed, state == "failed", run["detail"]?.string?.hasPrefix(ManagementCore.refusedStart) == true {
                continue
            }
            if simulation.checker.relaxed, let flow = run["flow"]?.string, flow != "\(status.product)/\(status.flow)" {
                if state == "failed" { continue }
                return "management lists run \(id) of \(flow) as \(state), but the orchestrator refused it: its run \(id) is of "
                    + "\(status.product)/\(status.flow)"
            }
            guard Int64(status.time) <= now - 10_000 else { continue }
            if state != status.state.name {
                return "management lists run \(id) as \(state), but the orchestrator has had it \(status.state.name) for "
                    + "\((now - Int64(status.time)) / 1000) s"
            }
        }
        return nil
    }

    /// The run's jobs as the orchestrator holds them, for a run that did not end.
    private func jobsOf(_ run: UInt64) -> String {
        guard let orchestrator = simulation.processes[1].service as? OrchestratorService,
            let detail = orchestrator.core.detail(answering: RunQuery(request: 0, run: run))
        else { return "" }
        let jobs = detail.jobs.map { "\($0.job) \($0.state) (generation \($0.generation), \($0.succeeded) of \($0.pending + $0.running + $0.succeeded + $0.failed) tasks)" }
        return "; its jobs: " + jobs.joined(separator: ", ")
    }

    /// Each instant of the scheduled flows' schedules, from their apply to two minutes before the end, was
    /// fired once (management records a firing once for its flow and instant, whichever timer sent it),
    /// and no other instant was: every 5 minutes for one, but in an hour that autumn repeats, and for the
    /// daily one the instants its season must fire at, worked out by hand (``Simulation/Season``).
    private func scheduleCheck() -> String? {
        guard let management = simulation.processes[0].service as? ManagementService else { return "management is not running at the end" }
        let last = simulation.queue.now - 120_000
        let every: Int64 = 300_000
        // What must fire counts from the apply's answer; what may, from its first sending (management may
        // have committed it, and a timer fired, before an answer lost to a crash came again).
        func fiveMinutes(after start: Int64) -> [Int64] {
            stride(from: (start / every + 1) * every, through: last, by: Int(every)).filter { !simulation.season.repeated.contains($0) }
        }
        let daily = simulation.season.firings
        let checks: [(flow: String, due: [Int64], allowed: [Int64])] = [
            ("\(Self.products[0])/f0", fiveMinutes(after: appliedAt), fiveMinutes(after: applySent)),
            ("\(Self.products[1 % Self.products.count])/f1", daily.filter { $0 > appliedAt && $0 <= last }, daily.filter { $0 > applySent }),
        ]
        for (flow, due, allowed) in checks {
            var fired: [Int64] = []
            do {
                let statement = try management.store.database.prepare("SELECT instant FROM firings WHERE flow = ?1 ORDER BY instant")
                statement.bind(1, flow)
                defer { statement.reset() }
                while try statement.step() { fired.append(statement.int64(0)) }
            } catch {
                return "management's store could not be read: \(error)"
            }
            simulation.counts.firings += fired.count
            func times(_ instants: [Int64]) -> String {
                instants.map { String(format: "%.0f s", Double($0 - simulation.start) / 1000) }.joined(separator: ", ")
            }
            let missing = due.filter { !fired.contains($0) }
            guard missing.isEmpty else { return "\(flow)'s schedule did not fire at \(times(missing)) (virtual time)" }
            let undue = fired.filter { $0 <= last && !allowed.contains($0) }
            guard undue.isEmpty else { return "\(flow)'s schedule fired at \(times(undue)) (virtual time), not an instant of its schedule" }
        }
        return nil
    }
}
