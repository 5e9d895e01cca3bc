import Wire

/// What a shard counts as its turns go, for `/metrics`: each task's wait in the queue and its run time,
/// per product, and the tasks taken back from workers and retried. Counted in ``ShardCore/move(_:to:now:)``,
/// where every task changes state; it decides nothing.
public struct ShardMeter: Sendable {
    /// Per product, by the fair queue's index of it.
    var queueWait: [Histogram] = []
    var runTime: [Histogram] = []
    /// Tasks that left `running`, by how: succeeded, failed, retrying, lost (taken back), cancelled.
    var ended = [Int](repeating: 0, count: 8)
    var takenBack = 0
    var retries = 0
    /// Recent hand-outs, for waits and estimates.
    var window = WaitWindow()

    mutating func leased(product: Int32, waited milliseconds: Int64, now: Timestamp) {
        grow(to: Int(product))
        queueWait[Int(product)].observe(Double(max(0, milliseconds)) / 1000)
        window.leased(at: now.milliseconds, product: product, waited: max(0, milliseconds))
    }

    mutating func ended(product: Int32, ran milliseconds: Int64, as state: TaskState) {
        grow(to: Int(product))
        runTime[Int(product)].observe(Double(max(0, milliseconds)) / 1000)
        ended[Int(state.rawValue)] += 1
    }

    private mutating func grow(to product: Int) {
        while queueWait.count <= product {
            queueWait.append(.durations)
            runTime.append(.durations)
        }
    }
}

extension ShardCore {
    /// The most products a shard names in its metrics' labels; the rest (after these, by name) are
    /// summed under `product="_other"`, so that a shard's series stay bounded however many products it serves.
    public static let productLabelLimit = 500

    /// The shard's figures: jobs and tasks by state, each product's queue and running tasks, waits and run
    /// times, workers and their slots (`docs/metrics.md`).
    public func metrics(into metrics: inout Metrics, now: Timestamp) {
        var jobStates: [JobState: Int] = [:]
        var taskStates: [TaskState: Int] = [:]
        var queued: [String: Int] = [:]
        var running: [String: Int] = [:]
        // Each job read in place, its product's figures added up until the product changes (a run's jobs lie
        // together): copied out and hashed a job, a scrape held a shard of a million jobs for two thirds of a second.
        var jobCounts = [Int](repeating: 0, count: Int(UInt8.max) + 1)
        var taskCounts = [Int](repeating: 0, count: TaskState.allCases.count)
        var last: (product: String, queued: Int, running: Int)?
        for position in 0..<jobs.count {
            jobCounts[Int(jobs[at: position]!.state.rawValue)] += 1
            let counts = jobs[at: position]!.counts
            for (index, state) in TaskState.allCases.enumerated() { taskCounts[index] += Int(counts[state]) }
            if last?.product != jobs[at: position]!.spec.product {
                if let last {
                    queued[last.product, default: 0] += last.queued
                    running[last.product, default: 0] += last.running
                }
                last = (jobs[at: position]!.spec.product, 0, 0)
            }
            last!.queued += Int(counts.pending)
            last!.running += Int(counts.running)
        }
        if let last {
            queued[last.product, default: 0] += last.queued
            running[last.product, default: 0] += last.running
        }
        for state in JobState.allCases where jobCounts[Int(state.rawValue)] > 0 { jobStates[state] = jobCounts[Int(state.rawValue)] }
        for (index, state) in TaskState.allCases.enumerated() { taskStates[state] = taskCounts[index] }
        for state in JobState.allCases where ![.waiting, .submitted].contains(state) {
            metrics.gauge("baton_shard_jobs", "Jobs the shard holds, by state (final ones only until the turn that ends them is reported).", jobStates[state] ?? 0, .init("state", Self.name(state)))
        }
        for state in TaskState.allCases {
            metrics.gauge("baton_shard_tasks", "Tasks (partitions) of the jobs the shard holds, by state.", taskStates[state] ?? 0, .init("state", Self.name(state)))
        }
        // Every product with work or figures here, the first by name labelled, the rest summed.
        // A FIFO shard has one queue for every product: its waits and run times are all products' together.
        let names = queue.products.map { $0.name.isEmpty ? "_all" : $0.name }
        let all = Set(names).union(queued.keys)
        let labelled = Set(all.sorted().prefix(Self.productLabelLimit))
        func label(_ product: String) -> String { labelled.contains(product) ? product : "_other" }
        var depth: [String: Int] = [:]
        var busy: [String: Int] = [:]
        for product in all { depth[label(product)] = 0 }
        for (product, count) in queued { depth[label(product), default: 0] += count }
        for (product, count) in running { busy[label(product), default: 0] += count }
        metrics.declare("baton_shard_queued_tasks", .gauge, "Tasks waiting for a worker, by product: the queue's depth.")
        metrics.declare("baton_shard_running_tasks", .gauge, "Tasks leased to workers, by product.")
        for product in depth.keys.sorted() {
            metrics.gauge("baton_shard_queued_tasks", "", depth[product]!, .init("product", product))
            metrics.gauge("baton_shard_running_tasks", "", busy[product] ?? 0, .init("product", product))
        }
        var waits: [String: Histogram] = [:]
        var runs: [String: Histogram] = [:]
        for (index, histogram) in meter.queueWait.enumerated() where index < names.count {
            waits[label(names[index]), default: .durations].add(histogram)
            runs[label(names[index]), default: .durations].add(meter.runTime[index])
        }
        // When a task queued now would start, for each product named (the API's `queue`); none when
        // nothing says (no worker for it, every slot busy and none freed lately).
        metrics.declare("baton_shard_estimated_wait_seconds", .gauge, "When a task of the product queued now should start, from the shard's recent hand-outs (US9268605).")
        let basis = estimateBasis(now: now)
        for product in labelled.sorted() {
            if let milliseconds = productEstimate(product, basis: basis, now: now).milliseconds {
                metrics.gauge("baton_shard_estimated_wait_seconds", "", Double(milliseconds) / 1000, .init("product", product))
            }
        }
        metrics.declare("baton_shard_queue_wait_seconds", .histogram, "How long each task waited, from ready (queued, or due after a backoff) to leased, by product.")
        metrics.declare("baton_shard_task_run_seconds", .histogram, "How long each attempt ran, from leased to its end, by product.")
        for product in waits.keys.sorted() {
            metrics.histogram("baton_shard_queue_wait_seconds", "", waits[product]!, .init("product", product))
            metrics.histogram("baton_shard_task_run_seconds", "", runs[product]!, .init("product", product))
        }
        metrics.declare("baton_shard_attempts_ended_total", .counter, "Attempts that stopped running, by how they ended.")
        for (state, name) in [(TaskState.succeeded, "succeeded"), (.failed, "failed"), (.retrying, "retrying"), (.pending, "lost"), (.cancelled, "cancelled")] {
            metrics.counter("baton_shard_attempts_ended_total", "", meter.ended[Int(state.rawValue)], .init("outcome", name))
        }
        metrics.counter("baton_shard_leases_taken_back_total", "Leases taken back from workers that went silent, restarted or did not return after a restart of the shard.", meter.takenBack)
        metrics.counter("baton_shard_retries_total", "Failed attempts that will run again after their backoff.", meter.retries)
        metrics.gauge("baton_shard_workers", "Workers registered with the shard.", workers.count)
        metrics.gauge("baton_shard_worker_credit", "Slots the shard's workers have offered and not yet been given work for.", workers.credit)
        metrics.gauge("baton_shard_leases", "Tasks leased to workers (slots busy).", workers.leaseCount)
        metrics.gauge("baton_shard_paused_runs", "Runs an operator paused, whose tasks the shard holds back.", controls.paused.count)
    }

    static func name(_ state: JobState) -> String { state.name }
    static func name(_ state: TaskState) -> String { String(describing: state) }
}
