public import Wire

/// Questions about what the shard holds now (SHARD-QUERY), answered after the turn's commit with the
/// turn's end state: its workers, its queue by product with waits and estimates, and why a run's jobs wait.
///
/// The estimates follow US9268605: from the sliding window of recent hand-outs (``WaitWindow``), a
/// product's tasks start at the rate it has been served, or at its fair fraction of the shard's rate if
/// that is more (a product that just arrived), bounded by its cap and rate limit. The k-th of its
/// queued tasks starts in about k / that rate.
extension ShardCore {
    /// Takes a question, answered at the end of the turn.
    /// `counters` are the service's own figures, added to the `queue` answer (malformed frames, refusals).
    public mutating func queried(_ query: ShardQuery, from peer: Peer, counters: [(String, Int)] = []) {
        queries.append((peer, query, counters))
    }

    /// The answers to this turn's questions, for ``finishTurn(now:)``.
    mutating func answerQueries(now: Timestamp) {
        for (peer, query, counters) in queries { outbox.append((peer, .shardAnswer(answer(query, counters: counters, now: now)))) }
        queries = []
    }

    public func answer(_ query: ShardQuery, counters: [(String, Int)] = [], now: Timestamp) -> ShardAnswer {
        func reply(_ status: Status, _ body: JSON) -> ShardAnswer {
            ShardAnswer(request: query.request, shard: configuration.shard, status: status, body: body.rendered())
        }
        let arguments: JSON
        do {
            arguments = try JSONParser.parse(query.body)
        } catch {
            return reply(.badRequest, .object(["error": .string("the \(query.kind) query's arguments are not JSON: \(error.message)")]))
        }
        switch query.kind {
        case "workers":
            return reply(.ok, workersAnswer(now: now))
        case "queue":
            var queue = queueAnswer(now: now)
            if case .object(var members) = queue.value {
                members += counters.map { JSON.Member(key: $0.0, value: .number($0.1)) }
                queue = JSON(.object(members))
            }
            return reply(.ok, queue)
        case "waits":
            guard let run = arguments["run"]?.integer, run > 0 else {
                return reply(.badRequest, .object(["error": .string("the waits query needs \"run\", a run ID")]))
            }
            return reply(.ok, waitsAnswer(run: UInt64(run), now: now))
        default:
            return reply(.notFound, .object(["error": .string("a shard answers workers, queue, waits and attempts, not \"\(query.kind)\"")]))
        }
    }

    // MARK: - Workers

    /// Each registered worker: its name, key, credit, the tasks it holds, what it runs, when it was last heard.
    func workersAnswer(now: Timestamp) -> JSON {
        let list: [JSON] = workers.registered.sorted { $0.name < $1.name }.map { worker in
            let leases = worker.leases.sorted().prefix(100).compactMap { id -> JSON? in
                guard let task = tasks[id] else { return nil }
                return .object([
                    ("run", .number(task.job.run)), ("job", .string(task.job.job)), ("partition", .number(task.partition)),
                    ("attempt", .number(task.attempt)), ("started", .number(task.started.milliseconds)),
                ])
            }
            return .object([
                ("name", .string(worker.name)), ("key", worker.key.map(JSON.string) ?? .null),
                ("credit", .number(worker.credit)), ("leases", .number(worker.leases.count)), ("tasks", .array(leases)),
                ("commands", .bool(worker.capabilities.commands)), ("handlers", .array(worker.capabilities.handlers.sorted().map(JSON.string))),
                ("tags", .array(worker.capabilities.tags.sorted().map(JSON.string))), ("heartbeat", .number(worker.heartbeat)),
                ("heard", .number(worker.lastHeard.milliseconds)),
            ])
        }
        return .object([
            ("shard", .number(configuration.shard)), ("workers", .array(list)), ("orphaned_leases", .number(workers.orphanCount)),
        ])
    }

    // MARK: - Queue

    /// What each product has here, and the shard's figures.
    struct ProductLoad {
        var pending = 0
        var running = 0
        var retrying = 0
        var paused = 0
        /// Of `pending`, the tasks of jobs no registered worker can run (their job's wait note says why),
        /// and one such why: they want no slot, and nothing says when they could start.
        var stranded = 0
        var strandedWhy = ""

        mutating func add(_ counts: TaskCounts, paused isPaused: Bool, stranded why: String = "") {
            if isPaused { paused += Int(counts.pending) } else { pending += Int(counts.pending) }
            if !isPaused, !why.isEmpty {
                stranded += Int(counts.pending)
                strandedWhy = why
            }
            running += Int(counts.running)
            retrying += Int(counts.retrying)
        }

        mutating func add(_ other: ProductLoad) {
            pending += other.pending
            running += other.running
            retrying += other.retrying
            paused += other.paused
            stranded += other.stranded
            if !other.strandedWhy.isEmpty { strandedWhy = other.strandedWhy }
        }
    }

    func productLoads() -> [String: ProductLoad] {
        var loads: [String: ProductLoad] = [:]
        // A deep queue is read whole each time this is asked: each job in place, in the order the jobs lie,
        // not copied out (a copy retains every reference in it). A run's jobs go in together, so a product's
        // lie together as a rule: each is added to the last product's load, which goes into the table when
        // the product changes, rather than hashed a job.
        var last: (product: String, load: ProductLoad)?
        let checkPauses = !controls.paused.isEmpty
        for position in 0..<jobs.count where !jobs[at: position]!.finishing && !jobs[at: position]!.state.isFinal {
            if last?.product != jobs[at: position]!.spec.product {
                if let last { loads[last.product, default: ProductLoad()].add(last.load) }
                last = (jobs[at: position]!.spec.product, ProductLoad())
            }
            let paused = checkPauses && controls.paused.contains(jobs[at: position]!.spec.run)
            last!.load.add(jobs[at: position]!.counts, paused: paused, stranded: jobs[at: position]!.waitNote)
        }
        if let last { loads[last.product, default: ProductLoad()].add(last.load) }
        return loads
    }

    /// Each product's share of the worker slots in use, by weight, water-filled: a product that wants
    /// less than its share (its running and pending tasks, within its cap) leaves the rest to the others.
    func fairShares(_ loads: [String: ProductLoad], slots: Int) -> [String: Double] { waterFill(loads, slots: slots).shares }

    /// ``fairShares(_:slots:)``, and the level the filling stopped at: the slots each unit of weight of a
    /// product that wants more gets (infinity when every product has what it wants, and slots are left).
    func waterFill(_ loads: [String: ProductLoad], slots: Int) -> (shares: [String: Double], level: Double) {
        var wanted: [String: Double] = [:]
        var weights: [String: Double] = [:]
        // Tasks no worker can run want no slot (found by an operator: a product stranded on a shard without
        // its tagged workers had a fair share of 100%, and the others none).
        for (product, load) in loads where load.pending - load.stranded + load.running > 0 {
            var want = Double(load.pending - load.stranded + load.running)
            let policy = policy(of: product)
            if policy.cap > 0 { want = min(want, Double(policy.cap)) }
            wanted[product] = want
            weights[product] = Double(max(1, policy.weight))
        }
        var shares: [String: Double] = [:]
        var left = Double(max(slots, 0))
        var open = Set(wanted.keys)
        var level = Double.infinity
        while !open.isEmpty, left > 0 {
            let total = open.reduce(0.0) { $0 + weights[$1]! }
            let satisfied = open.filter { wanted[$0]! - (shares[$0] ?? 0) <= left * weights[$0]! / total }
            if satisfied.isEmpty {
                for product in open { shares[product, default: 0] += left * weights[product]! / total }
                level = left / total
                left = 0
                break
            }
            for product in satisfied {
                let give = wanted[product]! - (shares[product] ?? 0)
                shares[product, default: 0] += give
                left -= give
                open.remove(product)
            }
        }
        // Slots ran out with products still wanting more, and no level found: none is left for a newcomer.
        if !open.isEmpty && level == .infinity { level = 0 }
        let total = Double(max(slots, 1))
        return (shares.mapValues { $0 / total }, level)
    }

    func policy(of product: String) -> ProductPolicy {
        guard let index = queue.index[queue.queueOwner(product)] else { return ProductPolicy(product: product) }
        return queue.products[Int(index)].policy
    }

    /// What every estimate of one answer, or of one scrape, is made from: read once, in one pass over
    /// the jobs and one over the window of hand-outs, however many products are estimated.
    struct EstimateBasis {
        var loads: [String: ProductLoad]
        /// Tasks waiting, of every product.
        var waiting: Int
        /// The workers' slots: leased and offered.
        var slots: Int
        var shares: [String: Double]
        /// The slots a unit of weight gets at the water level (``waterFill(_:slots:)``).
        var level: Double
        /// Hand-outs per millisecond over the last minute: the shard's, and each product's by its queue index.
        var shardRate: Double
        var rates: [Int32: Double]
        var registered: [WorkerRegistry.Worker]
    }

    func estimateBasis(now: Timestamp) -> EstimateBasis {
        let loads = productLoads()
        let slots = workers.leaseCount + workers.credit
        let (shares, level) = waterFill(loads, slots: slots)
        let rates = meter.window.rates(now: now.milliseconds)
        return EstimateBasis(
            loads: loads, waiting: loads.values.reduce(0) { $0 + $1.pending }, slots: slots, shares: shares, level: level,
            shardRate: rates.shard, rates: rates.byProduct, registered: workers.registered)
    }

    /// The shard's queue by product: tasks pending, running and retrying, the share served against the
    /// fair share, recent waits, and the estimated wait of a task queued now.
    func queueAnswer(now: Timestamp) -> JSON {
        let basis = estimateBasis(now: now)
        let loads = basis.loads
        let slots = basis.slots
        let shares = basis.shares
        let waitsByProduct = meter.window.waitsByProduct(now: now.milliseconds)
        let running = max(1, loads.values.reduce(0) { $0 + $1.running })
        var names = Set(loads.keys)
        for product in queue.products where !product.name.isEmpty { names.insert(product.name) }
        let products: [JSON] = names.sorted().map { product in
            let load = loads[product] ?? ProductLoad()
            let policy = policy(of: product)
            let index = queue.index[queue.queueOwner(product)]
            let waits = index.flatMap { waitsByProduct[$0] } ?? []
            // In FIFO a new task waits behind every product's; fairly, behind its own product's.
            let estimate = productEstimate(product, basis: basis, now: now)
            return .object([
                ("product", .string(product)), ("weight", .number(policy.weight)), ("cap", .number(policy.cap)), ("rate", .number(policy.rate)),
                ("pending", .number(load.pending)), ("paused", .number(load.paused)), ("running", .number(load.running)),
                ("retrying", .number(load.retrying)),
                ("served_share", .hundredths(Double(load.running) / Double(running))), ("fair_share", .hundredths(shares[product] ?? 0)),
                ("starts_per_minute", .number(Int64(((index.flatMap { basis.rates[$0] } ?? 0) * 60_000).rounded()))),
                ("wait_p50", waits.percentile(0.5).map(JSON.number) ?? .null), ("wait_p99", waits.percentile(0.99).map(JSON.number) ?? .null),
                ("estimate", estimate.milliseconds.map(JSON.number) ?? .null), ("why", .string(estimate.reason)),
                ("starving", .bool(queue.isStarving(product))),
            ])
        }
        return .object([
            ("shard", .number(configuration.shard)), ("workers", .number(workers.count)), ("slots", .number(slots)),
            ("busy", .number(workers.leaseCount)), ("pending", .number(basis.waiting)),
            ("paused_runs", .number(controls.paused.count)),
            ("starts_per_minute", .number(Int64((basis.shardRate * 60_000).rounded()))), ("products", .array(products)),
        ])
    }

    // MARK: - Why a run's jobs wait

    /// The run's jobs held here that are not running every task: for each, its pending tasks, why they
    /// wait, and when the first should start.
    func waitsAnswer(run: UInt64, now: Timestamp) -> JSON {
        let basis = estimateBasis(now: now)
        let waiting = held(run: run).filter { !$0.state.isFinal && !$0.finishing }
        // The pending tasks that go before a job's (of its product; of every product in FIFO): more urgent,
        // or as urgent and queued earlier. Counted for every job of the run in one pass over the shard's
        // jobs, each read in place: the run's waiting jobs' places, sorted, cut each line into buckets, and
        // every other queued job adds its pending tasks to the bucket its place falls in. Sorting every
        // queued job, or copying each out, held the shard's loop for a second and more at a million.
        typealias Place = (UInt8, Int16, Int64, Int64)
        func place(_ job: borrowing ShardJob) -> Place { (job.spec.runPriority, -job.spec.priority, job.queued.milliseconds, job.id) }
        func line(_ job: ShardJob) -> String { queue.isFair ? job.spec.product : "" }
        // The lines the run waits in, each with its jobs' places in order, and the pending tasks before each.
        var lineOf: [String: Int] = [:]
        var places: [[Place]] = []
        var before: [[Int]] = []
        for job in waiting where job.counts.pending > 0 {
            let index = lineOf[line(job)] ?? places.count
            if index == places.count {
                lineOf[line(job)] = index
                places.append([])
            }
            places[index].append(place(job))
        }
        for index in places.indices {
            places[index].sort { $0 < $1 }
            before.append(Array(repeating: 0, count: places[index].count + 1))
        }
        /// How many of `places` come before `place`.
        func rank(of place: Place, in places: [Place]) -> Int {
            var low = 0
            var high = places.count
            while low < high {
                let middle = (low + high) / 2
                if places[middle] < place { low = middle + 1 } else { high = middle }
            }
            return low
        }
        if !places.isEmpty {
            // The line of the job before, found again only when the product changes (a run's jobs lie together).
            var current: (key: String, line: Int?)?
            let checkPauses = !controls.paused.isEmpty
            for position in 0..<jobs.count {
                let pending = jobs[at: position]!.counts.pending
                guard pending > 0, !jobs[at: position]!.finishing else { continue }
                if checkPauses && controls.paused.contains(jobs[at: position]!.spec.run) { continue }
                let key = queue.isFair ? jobs[at: position]!.spec.product : ""
                if current?.key != key { current = (key, lineOf[key]) }
                guard let index = current!.line else { continue }
                let mine = place(jobs[at: position]!)
                var bucket = rank(of: mine, in: places[index])
                // One of the run's own goes before those after it, not before itself.
                if bucket < places[index].count && places[index][bucket] == mine { bucket += 1 }
                before[index][bucket] += Int(pending)
            }
            for index in before.indices {
                for bucket in before[index].indices.dropFirst() { before[index][bucket] += before[index][bucket - 1] }
            }
        }
        func ahead(of job: ShardJob) -> Int {
            guard let index = lineOf[line(job)] else { return 0 }
            return before[index][rank(of: place(job), in: places[index])]
        }
        let list: [JSON] = waiting.map { job in
            var members: [(String, JSON)] = [
                ("job", .string(job.spec.job)), ("state", .string(job.state.name)), ("pending", .number(job.counts.pending)),
                ("running", .number(job.counts.running)), ("retrying", .number(job.counts.retrying)),
            ]
            let reason: String
            var estimate: Int64?
            if job.counts.pending == 0 && job.counts.retrying == 0 {
                reason = job.counts.running > 0 ? "running" : "nothing waiting"
            } else if job.counts.pending == 0 {
                let due = job.tasks.compactMap { tasks[$0] }.filter { $0.state == .retrying }.map(\.due).min() ?? now
                estimate = max(0, due.since(now))
                reason = "retrying after its backoff"
            } else {
                let found = estimateWait(
                    product: job.spec.product, position: ahead(of: job) + 1, requirement: job.requirement, run: run, basis: basis, now: now)
                estimate = found.milliseconds
                reason = found.reason
            }
            members.append(("estimate", estimate.map(JSON.number) ?? .null))
            members.append(("why", .string(reason)))
            return .object(members)
        }
        return .object([("shard", .number(configuration.shard)), ("run", .number(run)), ("jobs", .array(list))])
    }

    static func noWorker(_ shard: UInt32) -> String { "no worker is registered with shard \(shard)" }

    /// Why none of the `registered` workers can run a task of `requirement`; nil when one can.
    static func whyNoWorkerRuns(_ requirement: Requirement, of registered: [WorkerRegistry.Worker], shard: UInt32) -> String? {
        if registered.isEmpty { return noWorker(shard) }
        if registered.contains(where: { $0.capabilities.satisfy(requirement) }) { return nil }
        if requirement.kind == .handler, !registered.contains(where: { $0.capabilities.handlers.contains(requirement.handler) }) {
            return "no worker offers the handler \"\(requirement.handler)\""
        }
        if !requirement.tags.isEmpty { return "no worker has all the tags \(requirement.tags.joined(separator: ", "))" }
        return requirement.batched ? "no worker runs command batches" : "no worker runs commands"
    }

    /// A queued job that no registered worker can run says why in its status (`detail`), so that the
    /// event stream tells it as `status` does; the note goes once a worker that can run it registers,
    /// or it runs. Returns whether it changed the job. Why each requirement cannot run is worked out once
    /// until workers come or go.
    mutating func noteWhyItWaits(_ job: inout ShardJob) -> Bool {
        let note = waitNote(requirement: job.requirement, state: job.state, run: job.spec.run)
        guard job.waitNote != note else { return false }
        job.waitNote = note
        if note.isEmpty { noted.remove(job.id) } else { noted.insert(job.id) }
        return true
    }

    /// The note a job of `requirement`, in `state`, of `run`, has now: why no registered worker can run it
    /// (empty when one can, or when it is not queued, or its run is paused).
    mutating func waitNote(requirement: Requirement, state: JobState, run: UInt64) -> String {
        guard state == .queued && !controls.paused.contains(run) else { return "" }
        if unrunnable.membership != workers.membership { unrunnable = (workers.membership, [:]) }
        if let known = unrunnable.reasons[requirement] { return known ?? "" }
        let reason = Self.whyNoWorkerRuns(requirement, of: workers.registered, shard: configuration.shard)
        unrunnable.reasons[requirement] = reason
        return reason ?? ""
    }

    /// When a task of `product` queued now should start, and why it waits: behind its product's tasks (or,
    /// FIFO, every task). A product whose every queued task waits for a worker that is not there has no
    /// estimate, but that why (found by an operator: "in about 2.4s" for tasks no worker of the shard had
    /// the tags for).
    func productEstimate(_ product: String, basis: EstimateBasis, now: Timestamp) -> (milliseconds: Int64?, reason: String) {
        let load = basis.loads[product] ?? ProductLoad()
        if load.pending > 0 && load.stranded == load.pending { return (nil, load.strandedWhy) }
        let ahead = queue.isFair ? load.pending : basis.waiting
        return estimateWait(product: product, position: ahead + 1, requirement: nil, basis: basis, now: now)
    }

    /// When the task at `position` among `product`'s queued tasks (1 for the next) should start, in
    /// milliseconds from now, and why it waits; no estimate when nothing says when it could start.
    func estimateWait(
        product: String, position: Int, requirement: Requirement?, run: UInt64? = nil, basis: EstimateBasis, now: Timestamp
    ) -> (milliseconds: Int64?, reason: String) {
        if let run, controls.paused.contains(run) { return (nil, "the run is paused") }
        if basis.registered.isEmpty { return (nil, Self.noWorker(configuration.shard)) }
        if let requirement, let reason = Self.whyNoWorkerRuns(requirement, of: basis.registered, shard: configuration.shard) {
            return (nil, reason)
        }
        let policy = policy(of: product)
        let index = queue.index[queue.queueOwner(product)]
        let state = index.map { queue.products[Int($0)].state }
        let capped = policy.cap > 0 && state == .capped
        let throttled = policy.rate > 0 && state == .throttled
        // Free slots enough for every task waiting ahead of it, of any product: it goes out at once.
        if workers.credit > 0, !capped, !throttled, basis.waiting < workers.credit, position <= workers.credit {
            return (0, "a worker has a free slot")
        }
        // Per millisecond, over the last minute: this product's rate, or its fair fraction of the shard's,
        // whichever is more. A product with no demand yet would get what a unit of weight gets at the
        // water level, for its one task.
        var rate = index.flatMap { basis.rates[$0] } ?? 0
        let shardRate = basis.shardRate
        var underShare = 0
        if queue.isFair {
            let slots = Double(max(basis.slots, 1))
            let share = basis.shares[product] ?? min(1, basis.level * Double(max(1, policy.weight))) / slots
            rate = max(rate, shardRate * share)
            // Tasks of a product under its fair share of the slots take the next slots that free, at the
            // shard's pace; beyond it, they go at the product's own pace.
            underShare = max(0, Int((share * slots).rounded(.down)) - (basis.loads[product]?.running ?? 0))
        } else {
            rate = max(rate, shardRate)
        }
        let whose = queue.isFair ? " of product \(product)" : " in the shard's one queue"
        var reason = position <= 1 ? "next\(whose) to be handed out" : "behind \(position - 1) task\(position == 2 ? "" : "s")\(whose)"
        if capped { reason = "product \(product) is at its cap of \(policy.cap) running task\(policy.cap == 1 ? "" : "s")" }
        if policy.cap > 0, let index, meter.runTime.indices.contains(Int(index)), meter.runTime[Int(index)].count > 0 {
            let meanRun = meter.runTime[Int(index)].sum / Double(meter.runTime[Int(index)].count) * 1000
            if meanRun > 0 { rate = min(rate == 0 ? .infinity : rate, Double(policy.cap) / meanRun) }
        }
        if policy.rate > 0 {
            rate = min(rate == 0 ? .infinity : rate, Double(policy.rate) / 3_600_000)
            if throttled { reason = "product \(product) is at its rate limit of \(policy.rate) an hour" }
        }
        var milliseconds: Double?
        if underShare > 0, shardRate > 0, !capped, !throttled {
            let early = min(position, underShare)
            milliseconds = Double(early) / shardRate
            if position > early { milliseconds = rate > 0 && rate.isFinite ? milliseconds! + Double(position - early) / rate : nil }
        } else if rate > 0, rate.isFinite {
            milliseconds = Double(position) / rate
        }
        if let milliseconds {
            // Beyond a year the recent rate says nothing useful, and a number that large would not fit.
            guard milliseconds < Self.longestEstimate else { return (nil, reason + ", at a rate that would take more than a year") }
            return (Int64(milliseconds.rounded()), reason)
        }
        if workers.credit > 0 { return (0, "a worker has a free slot") }
        return (nil, "all \(workers.leaseCount) slots are busy, and none has been freed in the last minute")
    }

    /// The longest estimate given, in milliseconds: a year.
    static let longestEstimate = 365.0 * 86_400_000
}
