import Core
import Foundation

/// The figures of one load run, worked out from what was observed, and their two renderings: a table
/// for people and one JSON object for programs.
struct LoadReport {
    /// Queue waits of a set of products.
    struct Row {
        var name: String
        /// Jobs seen queued at their shards.
        var jobs: Int
        /// Jobs handed to a worker; only these have a wait.
        var started: Int
        /// Queue waits in milliseconds, sorted.
        var waits: [Double]

        var p50: Double { percentile(0.5) }
        var p99: Double { percentile(0.99) }
        var max: Double { waits.last ?? 0 }
        /// The share of jobs with a wait of 0 ms: handed out in the shard turn that queued them, since
        /// a turn stamps all it does with one instant. Finer than the percentiles, which the
        /// millisecond timestamps round to whole milliseconds.
        var atOnce: Double { waits.isEmpty ? 0 : Double(waits.count { $0 <= 0 }) / Double(waits.count) }

        /// The nearest-rank percentile.
        func percentile(_ fraction: Double) -> Double {
            guard !waits.isEmpty else { return 0 }
            return waits[min(waits.count - 1, Int(Double(waits.count - 1) * fraction + 0.5))]
        }
    }

    /// Jain's index over the products' served shares in the submission window.
    struct FairnessFigures {
        /// Products with demand in the window: the n of the index.
        var products: Int
        /// Jobs started in the window, all products together.
        var served: Int
        /// J over x_i = served_i / fair share_i; nil when nothing was served.
        var index: Double?
        /// Products whose demand exceeded their max-min fair share.
        var backlogged: [String]
        /// Plain Jain over the backlogged products' jobs started; nil with fewer than two.
        var backloggedIndex: Double?
    }

    let options: LoadOptions
    let workload: Workload
    let observation: Observation
    let cluster: String
    /// Tasks per second the workers could run if every slot slept `--job-ms` at once; nil for noop jobs.
    let capacity: Double?
    let rows: [Row]
    let fairness: FairnessFigures

    init(options: LoadOptions, workload: Workload, observation: Observation, target: LoadTarget) {
        self.options = options
        self.workload = workload
        self.observation = observation
        cluster = target.summary
        capacity = options.jobMilliseconds > 0 && target.slots > 0 ? Double(target.slots) * 1000 / Double(options.jobMilliseconds) : nil
        rows = Self.rows(workload: workload, observation: observation, perProduct: options.perProduct)
        fairness = Self.fairness(workload: workload, observation: observation)
    }

    // MARK: - Figures

    /// Jobs finished from the first start to the end of the measurement.
    var finishedJobs: Int {
        observation.jobs.count(where: { $0.record.finished > 0 && (observation.begin...observation.end).contains($0.record.finished) })
    }

    /// The measured window, from the first start to the last job's end (or the drain's), in seconds.
    var elapsed: Double { Double(max(observation.end - observation.begin, 1)) / 1000 }

    var throughput: Double { Double(finishedJobs) / elapsed }

    /// Tasks of the jobs finished: a partitioned job finishes when all its partitions have succeeded.
    var finishedTasks: Int { finishedJobs * (workload.scenario == .partitioned ? workload.partitions : 1) }

    /// The submission window, from the first start to the last, in seconds.
    var submissionSeconds: Double { Double(observation.submissionEnd - observation.begin) / 1000 }

    var runsStarted: Int { observation.runsStarted.reduce(0, +) }

    /// Runs started per second while starting, from the first start to the last.
    var achievedRate: Double? {
        guard runsStarted > 1, observation.lastStart > observation.begin else { return nil }
        return Double(runsStarted - 1) / (Double(observation.lastStart - observation.begin) / 1000)
    }

    /// Tasks a run hands to workers: its jobs, or the partitions of its one job.
    var tasksPerRun: Int { workload.scenario == .partitioned ? workload.partitions : workload.jobsPerRun }

    private static func rows(workload: Workload, observation: Observation, perProduct: Bool) -> [Row] {
        var byProduct = Array(repeating: [Observation.Job](), count: workload.products.count)
        for job in observation.jobs { byProduct[job.product].append(job) }
        func row(_ name: String, _ jobs: [Observation.Job]) -> Row {
            let started = jobs.filter { $0.record.started > 0 && $0.record.queued > 0 }
            let waits = started.map { Double(Int64($0.record.started) - Int64($0.record.queued)) }.sorted()
            return Row(name: name, jobs: jobs.count, started: started.count, waits: waits)
        }
        var rows: [Row] = []
        if workload.scenario == .noisy {
            rows.append(row("\(workload.products[0]) (noisy)", byProduct[0]))
            rows.append(row("light (\(workload.products.count - 1) products)", byProduct[1...].flatMap { $0 }))
            if perProduct {
                for (index, name) in workload.products.enumerated().dropFirst() { rows.append(row(name, byProduct[index])) }
            }
        } else if perProduct || workload.products.count <= 8 {
            for (index, name) in workload.products.enumerated() { rows.append(row(name, byProduct[index])) }
        }
        if workload.products.count > 1 { rows.append(row("all", observation.jobs)) }
        return rows
    }

    /// Jain's index over served shares: each product's demand is its jobs queued in the submission
    /// window, its fair share of the jobs started in the window is max-min (water-filling: every
    /// product gets at most its demand, the rest is split equally among those that want more), and
    /// x_i is what it was served over that share.
    private static func fairness(workload: Workload, observation: Observation) -> FairnessFigures {
        let window = observation.begin...observation.submissionEnd
        var demand = Array(repeating: 0, count: workload.products.count)
        var served = Array(repeating: 0, count: workload.products.count)
        for job in observation.jobs {
            if job.record.queued > 0 && window.contains(job.record.queued) { demand[job.product] += 1 }
            if job.record.started > 0 && window.contains(job.record.started) { served[job.product] += 1 }
        }
        let total = served.reduce(0, +)
        let wanting = demand.indices.filter { demand[$0] > 0 }
        var share = Array(repeating: 0.0, count: workload.products.count)
        var left = Double(total)
        for (place, product) in wanting.sorted(by: { demand[$0] < demand[$1] }).enumerated() {
            share[product] = min(Double(demand[product]), left / Double(wanting.count - place))
            left -= share[product]
        }
        let backlogged = wanting.filter { Double(demand[$0]) > share[$0] + 0.5 }
        func jain(_ values: [Double]) -> Double? {
            let sum = values.reduce(0, +)
            let squares = values.reduce(0) { $0 + $1 * $1 }
            return squares > 0 ? sum * sum / (Double(values.count) * squares) : nil
        }
        let index = total > 0 ? jain(wanting.map { share[$0] > 0 ? Double(served[$0]) / share[$0] : 0 }) : nil
        return FairnessFigures(
            products: wanting.count, served: total, index: index, backlogged: backlogged.map { workload.products[$0] },
            backloggedIndex: backlogged.count >= 2 ? jain(backlogged.map { Double(served[$0]) }) : nil)
    }

    static let definition = """
        Jain's index J = (Σx)² / (n·Σx²) over the products with demand in the submission window, where \
        x_i = (jobs of product i started in the window) / (its max-min fair share of all jobs started in the \
        window), and demand = the jobs it queued in the window. 1 is perfectly fair, 1/n one product served alone.
        """

    // MARK: - Rendering

    var paceText: String {
        switch options.pace {
        case .rate(let rate): "open loop, \(rate.shortText) runs/s asked"
        case .concurrency(let open): "closed loop, \(open) runs open"
        }
    }

    var shapeText: String {
        let work = options.jobMilliseconds > 0 ? "sleeping \(options.jobMilliseconds) ms" : "noop"
        let shape: String
        switch workload.scenario {
        case .independent: shape = "\(workload.jobs) independent jobs per run"
        case .chains: shape = "a chain of \(workload.jobs) jobs per run"
        case .fanout: shape = "1 + \(workload.jobs) + 1 jobs per run (fan-out, fan-in)"
        case .partitioned: shape = "1 job of \(workload.partitions) partitions per run"
        case .noisy: shape = "1 job per run, 90% of the runs to \(workload.products[0])"
        }
        let products = workload.products.count == 1 ? "1 product" : "\(workload.products.count) products"
        return "\(shape), each \(work); \(products)"
    }

    /// The report as a table, with the notes a reader needs to trust or doubt it.
    var text: String {
        var lines: [String] = []
        lines.append("baton-load \(workload.scenario.rawValue): \(cluster)")
        lines.append("load: \(paceText); \(shapeText); at most \(options.runs) runs over \(options.duration.shortText) s")
        if let capacity {
            var line = String(format: "nominal capacity: %.0f tasks/s (slots × 1000 / job-ms)", capacity)
            if case .rate(let rate) = options.pace {
                let offered = rate * Double(tasksPerRun)
                line += String(format: "; offered %.0f tasks/s = %.0f%% of it", offered, offered / capacity * 100)
            }
            lines.append(line)
        }
        lines.append("")
        var runs = "runs         \(runsStarted) started"
        if let achievedRate { runs += String(format: " (%.1f/s over %.2f s)", achievedRate, Double(observation.lastStart - observation.begin) / 1000) }
        runs += ", \(observation.runsEnded) finished, \(observation.runsFailed) failed"
        if observation.runsStopped > 0 { runs += ", \(observation.runsStopped) stopped at the end" }
        lines.append(runs)
        lines.append(
            String(format: "throughput   %.1f jobs/s: %d jobs finished in %.2f s (first start → %@)", throughput, finishedJobs, elapsed,
                observation.drainedOut ? "end of the drain" : "last job finished"))
        if workload.scenario == .partitioned {
            lines.append(String(format: "             %.1f tasks/s: %d partitions each", Double(finishedTasks) / elapsed, workload.partitions))
        }
        lines.append("")
        let width = max(20, (rows.map(\.name.count).max() ?? 0) + 2)
        lines.append("PRODUCT".padding(toLength: width, withPad: " ", startingAt: 0) + "    JOBS  STARTED   WAIT p50     p99     max (ms)  AT ONCE")
        for row in rows {
            lines.append(
                row.name.padding(toLength: width, withPad: " ", startingAt: 0)
                    + String(format: "%8d %8d %10.0f %7.0f %7.0f %13.1f%%", row.jobs, row.started, row.p50, row.p99, row.max, row.atOnce * 100))
        }
        lines.append("")
        lines.append(String(format: "fairness over the submission window (%.2f s, first start → last start):", submissionSeconds))
        lines += Self.wrap(Self.definition, width: 100).map { "  " + $0 }
        if let index = fairness.index {
            let products = fairness.products == 1 ? "1 product" : "\(fairness.products) products"
            lines.append(String(format: "  J = %.3f over %@ (%d jobs started in the window)", index, products, fairness.served))
        } else {
            lines.append("  J = n/a: no job was started in the window")
        }
        if let plain = fairness.backloggedIndex {
            lines.append(String(format: "  plain Jain over the jobs started of the %d backlogged products: %.3f", fairness.backlogged.count, plain))
        } else {
            let which = fairness.backlogged.isEmpty ? "none" : fairness.backlogged.joined(separator: ", ")
            lines.append("  plain Jain over backlogged products: n/a, fewer than two backlogged (\(which))")
        }
        if let accuracy {
            lines.append("")
            lines += accuracy.lines
        }
        lines += warnings.map { "note: " + $0 }
        return lines.joined(separator: "\n")
    }

    /// The wait estimates held against the waits, when `--estimates` asked for them.
    var accuracy: EstimateAccuracy? {
        guard options.estimates else { return nil }
        let noisy = workload.scenario == .noisy
        return EstimateAccuracy(
            samples: observation.estimates, jobs: observation.jobs, products: workload.products,
            groupOf: { noisy ? ($0 == 0 ? "\(workload.products[0]) (noisy)" : "light") : "all" })
    }

    /// `text` in lines of at most `width` characters, broken between words.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// What may make the figures less than they seem.
    var warnings: [String] {
        var notes: [String] = []
        if observation.drainedOut {
            notes.append(
                "the drain (\(options.drain.shortText) s) ran out with \(runsStarted - observation.runsEnded) runs open; "
                    + "jobs not started have no wait in the figures, so the waits are understated")
        }
        if observation.missedEvents > 0 {
            notes.append("\(observation.missedEvents) messages of the shards' event streams never arrived: some jobs' statuses are missing")
        }
        if case .rate(let rate) = options.pace, let achievedRate, achievedRate < rate * 0.95 {
            notes.append(String(format: "runs were started at %.1f/s, below the %@/s asked", achievedRate, rate.shortText))
        }
        return notes
    }

    var json: JSON {
        func number(_ value: Double) -> JSON { JSON(.number(String(format: "%.3f", value))) }
        func optional(_ value: Double?) -> JSON { value.map(number) ?? .null }
        var pace: [(String, JSON)] = []
        switch options.pace {
        case .rate(let rate): pace = [("mode", .string("open")), ("rate", number(rate))]
        case .concurrency(let open): pace = [("mode", .string("closed")), ("concurrency", .number(open))]
        }
        return .object([
            ("scenario", .string(workload.scenario.rawValue)),
            ("cluster", .string(cluster)),
            ("pace", .object(pace)),
            ("shape", .object([
                ("jobs_per_run", .number(workload.jobsPerRun)), ("tasks_per_run", .number(tasksPerRun)),
                ("job_ms", .number(options.jobMilliseconds)), ("products", .number(workload.products.count)),
            ])),
            ("capacity_tasks_per_second", optional(capacity)),
            ("runs", .object([
                ("started", .number(runsStarted)), ("finished", .number(observation.runsEnded)),
                ("failed", .number(observation.runsFailed)), ("stopped", .number(observation.runsStopped)),
                ("start_rate", optional(achievedRate)),
            ])),
            ("elapsed_seconds", number(elapsed)),
            ("jobs_finished", .number(finishedJobs)),
            ("throughput_jobs_per_second", number(throughput)),
            ("throughput_tasks_per_second", number(Double(finishedTasks) / elapsed)),
            ("products", .array(rows.map { row in
                .object([
                    ("product", .string(row.name)), ("jobs", .number(row.jobs)), ("started", .number(row.started)),
                    ("wait_p50_ms", number(row.p50)), ("wait_p99_ms", number(row.p99)), ("wait_max_ms", number(row.max)),
                    ("at_once", number(row.atOnce)),
                ])
            })),
            ("fairness", .object([
                ("definition", .string(Self.definition)),
                ("window_seconds", number(submissionSeconds)),
                ("jain", optional(fairness.index)),
                ("products", .number(fairness.products)),
                ("jobs_started_in_window", .number(fairness.served)),
                ("backlogged", .array(fairness.backlogged.map { .string($0) })),
                ("backlogged_jain", optional(fairness.backloggedIndex)),
            ])),
            ("drained_out", .bool(observation.drainedOut)),
            ("missed_events", .number(observation.missedEvents)),
            ("estimates", accuracy.map { accuracy in
                .object([
                    ("groups", .array(accuracy.groups.map { group in
                        .object([
                            ("products", .string(group.name)), ("jobs", .number(group.count)), ("mean_wait_ms", number(group.meanWait)),
                            ("error_p50_ms", number(group.absolute(0.5))), ("error_p90_ms", number(group.absolute(0.9))),
                            ("error_p99_ms", number(group.absolute(0.99))), ("bias_ms", number(group.bias)), ("within", number(group.close)),
                        ])
                    })),
                    ("unmatched", .number(accuracy.unmatched)),
                ])
            } ?? .null),
            ("notes", .array(warnings.map { .string($0) })),
        ])
    }
}
