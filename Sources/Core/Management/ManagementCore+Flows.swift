import Wire

/// Flows and products: `apply` stores versioned flows and calendars and binds each new product to a shard;
/// `flows` and `products` list them.
extension ManagementCore {
    /// `apply`: validates every file first; stores them all, or none. Calendars come first, so that flows may
    /// name those applied with them.
    mutating func apply(_ request: ApplyRequest, by key: APICaller?, for caller: Caller, now: Timestamp) {
        var problems: [String] = []
        var flowFiles: [(path: String, text: String)] = []
        var newCalendars: [(calendar: BusinessCalendar, text: String)] = []
        var calendarFiles: [String: [String]] = [:]
        for file in request.files {
            switch file {
            case .unreadable(let problem):
                problems.append(problem.message)
            case .flow(let path, let text):
                flowFiles.append((path, text))
            case .calendar(let name, let path, let text):
                let checked = Self.calendar(named: name, text: text, path: path)
                problems += checked.problems.map(\.message)
                if let parsed = checked.calendar {
                    calendarFiles[parsed.name, default: []].append(path)
                    newCalendars.append((parsed, text))
                }
            }
        }
        // A name defined twice, with every file that defines it.
        for (name, paths) in calendarFiles.sorted(by: { $0.key < $1.key }) where paths.count > 1 {
            problems.append("the calendar \(name) is defined by more than one of the files: \(paths.joined(separator: ", "))")
        }
        let names = ScheduleNames(zones: configuration.zones, calendars: Set(calendars.keys).union(calendarFiles.keys))
        var definitions: [FlowDefinition] = []
        var flowFilesByName: [String: [String]] = [:]
        for (path, text) in flowFiles {
            switch FlowFile.parse(text, file: path, names: names) {
            case .success(let definition):
                // A run carries its definition to the orchestrator in one field of OPERATION-REQUEST.
                let size = definition.json.rendered().utf8.count
                if size > Limits.chunk {
                    problems.append("\(path): the flow is \(size >> 20) MiB as canonical JSON, more than the \(Limits.chunk >> 20) MiB a flow may be")
                } else {
                    definitions.append(definition)
                    flowFilesByName[definition.qualifiedName, default: []].append(path)
                }
            case .failure(let error): problems += error.problems.map(\.description)
            }
        }
        for definition in definitions where flowFilesByName[definition.qualifiedName]?.count ?? 0 > 1 {
            let paths = flowFilesByName.removeValue(forKey: definition.qualifiedName)!
            problems.append("\(definition.qualifiedName) is defined by more than one of the files: \(paths.joined(separator: ", "))")
        }
        guard problems.isEmpty else {
            refuse(caller, .invalid, "nothing was applied: \(problems.count) problem\(problems.count == 1 ? "" : "s")", problems: problems)
            return
        }
        let newProducts = Set(definitions.map(\.product).filter { products[$0] == nil }).sorted()
        if !newProducts.isEmpty, leastLoadedShard(now: now) == nil {
            let shards = configuration.shards.map(String.init).joined(separator: ", ")
            refuse(
                caller, .conflict,
                "nothing was applied: every shard is drained (\(shards)), so no shard takes the new product\(newProducts.count == 1 ? "" : "s") "
                    + "\(newProducts.joined(separator: ", ")); `baton undrain SHARD` opens one again")
            return
        }
        let appliedCalendars = newCalendars.map { calendar, text in
            let (record, changed) = store(calendar, text: text, now: now)
            return ManagementReply.AppliedCalendar(record: record, changed: changed)
        }
        let appliedFlows = definitions.map { store($0, now: now) }
        // What changed is audited: a flow's version defines the commands its runs will run.
        for applied in appliedFlows where applied.changed {
            audit("apply", product: applied.record.product, options: "flow \(applied.record.flow) version \(applied.record.version)", by: key, now: now)
        }
        for applied in appliedCalendars where applied.changed {
            audit("apply", options: "calendar \(applied.record.name) version \(applied.record.version)", by: key, now: now)
        }
        reply(caller, .applied(flows: appliedFlows, calendars: appliedCalendars))
    }

    /// Stores a flow validated, as a new version if it changed, and binds its product to a shard if it is new.
    private mutating func store(_ definition: FlowDefinition, now: Timestamp) -> ManagementReply.AppliedFlow {
        let product: ProductRecord
        if let known = products[definition.product] {
            product = known
        } else {
            // `apply` refused the files first when every shard is drained.
            guard let shard = leastLoadedShard(now: now) else { preconditionFailure("a new product with every shard drained") }
            product = ProductRecord(name: definition.product, shard: shard, created: now)
            products[product.name] = product
            productNames.added()
            turn.products.append(product)
        }
        let canonical = definition.json.rendered()
        let record: FlowRecord
        let changed: Bool
        if let previous = flows[definition.qualifiedName], previous.definition == canonical {
            record = previous
            changed = false
        } else {
            record = FlowRecord(
                product: definition.product, flow: definition.flow, version: (flows[definition.qualifiedName]?.version ?? 0) + 1,
                definition: canonical, params: definition.params, jobs: definition.jobs.count, applied: now,
                schedule: definition.schedule?.json.rendered())
            changed = true
            if flows[record.qualifiedName] == nil {
                flowNames.added()
                flowCounts[record.product, default: 0] += 1
            }
            flows[record.qualifiedName] = record
            turn.flows.append(record)
            scheduleChanged(record.qualifiedName, to: definition.schedule, now: now)
        }
        return ManagementReply.AppliedFlow(record: record, changed: changed, shard: product.shard, schedule: definition.schedule?.summary)
    }

    /// The shard not drained whose products ended the fewest jobs a second over the last 10 minutes
    /// (``LoadMeter``), then the one with the fewest products, then the lowest; nil when every shard is
    /// drained (`apply` refuses a new product then). A product with no load measured yet (one just
    /// applied) counts as the mean of those measured: else a batch of new products, adding nothing, all
    /// went to the shard least loaded when it came (found by an operator: 520 of 520 on one shard).
    private func leastLoadedShard(now: Timestamp) -> UInt32? {
        let rates = products.values.map { ($0.shard, load.rate(of: $0.name, now: now)) }
        let measured = rates.filter { $0.1 > 0 }
        let typical = measured.isEmpty ? 0 : measured.reduce(0) { $0 + $1.1 } / Double(measured.count)
        var jobs: [UInt32: Double] = [:]
        var count: [UInt32: Int] = [:]
        for (shard, rate) in rates {
            jobs[shard, default: 0] += rate > 0 ? rate : typical
            count[shard, default: 0] += 1
        }
        let ranked = configuration.shards.filter { !drained.contains($0) }.map { (jobs[$0, default: 0], count[$0, default: 0], $0) }
        return ranked.min(by: <)?.2
    }

    /// `flows`: the latest version of every flow.
    mutating func listFlows(_ page: Page, for caller: Caller) {
        let (names, next) = flowNames.page(of: flows.keys, after: page.after, limit: page.limit)
        let list = names.compactMap { flows[$0] }.map { (flow: $0, shard: products[$0.product]?.shard ?? 0) }
        reply(caller, .flows(list, next: next))
    }

    /// `products`: a page of the products, each with its shard, its policy, its count of flows, its load
    /// and its move, if one is going on.
    mutating func listProducts(_ page: Page, for caller: Caller, now: Timestamp) {
        let (names, next) = productNames.page(of: products.keys, after: page.after, limit: page.limit)
        let moves = self.moves(of: Set(names))
        let list = names.compactMap { products[$0] }.map {
            (product: $0, flows: flowCounts[$0.name] ?? 0, load: load.rate(of: $0.name, now: now), move: moves[$0.name])
        }
        reply(caller, .products(list, shards: configuration.shards, drained: configuration.shards.filter(drained.contains), next: next))
    }

    /// The moves going on among `names`: a move asked and not yet answered, and open runs of a product on
    /// shards other than its own, which they finish on, or with tasks still finishing on one.
    func moves(of names: Set<String>) -> [String: ProductMove] {
        var moves: [String: ProductMove] = [:]
        for name in names {
            if let pending = pendingMoves[name] { moves[name] = ProductMove(to: pending.shard) }
        }
        for run in runs.values where !run.state.isFinal && names.contains(run.product) {
            guard let product = products[run.product] else { continue }
            if run.shard != product.shard {
                moves[run.product, default: ProductMove()].finishing[run.shard, default: 0] += 1
            } else if run.finishing != 0 && run.finishing != product.shard {
                moves[run.product, default: ProductMove()].finishing[run.finishing, default: 0] += 1
            }
        }
        return moves
    }
}

/// A product's move as `products` shows it: asked and not yet answered (`to`), or answered with runs
/// still open on the shards it left (`finishing`, open runs by shard).
public struct ProductMove: Equatable, Sendable {
    public var to: UInt32?
    public var finishing: [UInt32: Int] = [:]

    public init(to: UInt32? = nil) { self.to = to }
}

/// `flow`: a version of a flow (its latest unless one is named), read from the store when it is not the latest.
public struct FlowRead: Sendable {
    public var peer: Peer
    public var request: UInt64
    public var product: String
    public var flow: String
    public var version: UInt32
    /// The flow's latest version and its shard, for the reply.
    public var latest: UInt32
    public var shard: UInt32
}

extension ManagementCore {
    /// `flow`: the definition of a flow's version, with its jobs and what each runs after, for the
    /// dashboard's drawing; the latest from memory, an earlier one from the store after the commit.
    mutating func showFlow(_ name: String, version: UInt32?, for caller: Caller) {
        guard let record = flows[name] else { return refuse(caller, .notFound, "unknown flow \"\(name)\"") }
        let shard = products[record.product]?.shard ?? 0
        guard let version, version != record.version else {
            return reply(caller, .flow(record, latest: record.version, shard: shard))
        }
        guard version >= 1, version < record.version else {
            return refuse(caller, .notFound, "\(name) has versions 1 to \(record.version), not \(version)")
        }
        turn.flowReads.append(
            FlowRead(peer: caller.peer, request: caller.request, product: record.product, flow: record.flow, version: version, latest: record.version, shard: shard))
    }
}
