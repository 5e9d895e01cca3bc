import Core

/// What `baton-load` was asked to do, read from its command line.
struct LoadOptions {
    /// Where the cluster under load comes from.
    enum Target: Equatable {
        /// A cluster started in this process, in a temporary folder removed afterwards.
        case embedded(shards: Int, workers: Int, slots: Int, fairness: Fairness, headroom: Int)
        /// A running cluster, described by the cluster file at this path.
        case cluster(file: String)
    }

    /// How runs are started.
    enum Pace: Equatable {
        /// Open loop: this many runs per second, at a steady pace, whether or not earlier runs ended.
        case rate(Double)
        /// Closed loop: a new run as soon as one of this many open runs ends.
        case concurrency(Int)
    }

    var scenario: Scenario
    var target = Target.embedded(shards: 1, workers: 4, slots: 8, fairness: .fair, headroom: 0)
    var pace = Pace.concurrency(16)
    /// The most runs to start.
    var runs = 1000
    /// Seconds after the first start at which no more runs are started.
    var duration = 10.0
    /// Seconds to wait, once starting has stopped, for the open runs to end.
    var drain = 30.0
    /// Jobs of a flow (`independent`, `chains`), or parallel jobs of the fan-out.
    var jobs = 10
    /// Partitions of the one job of `partitioned`.
    var partitions = 100
    /// Products the runs are spread over: `load-1` … `load-N`.
    var products = 1
    /// How long each job (each partition) sleeps at its worker; 0 for the `noop` handler.
    var jobMilliseconds = 5
    var json = false
    /// List every product in the report, not only the noisy one and the light ones together.
    var perProduct = false
    /// Under `noisy`, the light products alone: their tenth of the runs, at a tenth of the rate.
    var lightOnly = false
    /// Under `noisy`, a cap on the noisy product's running tasks, set through management first.
    var noisyCap: Int?
    /// Where to write the queue-wait plot, if anywhere.
    var svg: String?
    /// Ask the shards' wait estimates while the load runs, and hold them against the waits that happened.
    var estimates = false
}

/// A command line `baton-load` cannot run, and why; printed with a pointer to `--help`, exit status 2.
struct LoadUsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension LoadOptions {
    static let flags: Set<String> = ["--embedded", "--json", "--per-product", "--light-only", "--estimates", "--help"]
    static let valued: Set<String> = [
        "--shards", "--workers", "--slots", "--fairness", "--cluster", "--rate", "--concurrency", "--runs", "--duration",
        "--drain", "--jobs", "--partitions", "--products", "--job-ms", "--svg", "--noisy-cap", "--headroom",
    ]
    /// Options that shape the embedded cluster, and so mean nothing with `--cluster`.
    static let embeddedOnly = ["--shards", "--workers", "--slots", "--fairness", "--headroom"]

    /// Reads the arguments after the program's name; nil when `--help` was asked for.
    static func parse(_ arguments: [String]) throws(LoadUsageError) -> LoadOptions? {
        var given: [String: String] = [:]
        var flags: Set<String> = []
        var operands: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("-") else {
                operands.append(argument)
                continue
            }
            var name = argument
            var value: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            if name == "-h" { name = "--help" }
            if Self.flags.contains(name) {
                guard value == nil else { throw LoadUsageError("\(name) takes no value") }
                flags.insert(name)
            } else if valued.contains(name) {
                if value == nil {
                    guard index < arguments.count else { throw LoadUsageError("\(name) needs a value") }
                    value = arguments[index]
                    index += 1
                }
                guard given[name] == nil else { throw LoadUsageError("\(name) given more than once") }
                given[name] = value
            } else {
                throw LoadUsageError("unknown option \(name)")
            }
        }
        if flags.contains("--help") { return nil }

        let names = (Scenario.allCases.map(\.rawValue) + ["fairness"]).joined(separator: ", ")
        guard let first = operands.first else { throw LoadUsageError("name a scenario: \(names)") }
        guard operands.count == 1 else { throw LoadUsageError("one scenario only; unexpected \"\(operands[1])\"") }
        guard let scenario = Scenario(rawValue: first) else {
            throw LoadUsageError("unknown scenario \"\(first)\" (scenarios: \(names))")
        }
        var options = LoadOptions(scenario: scenario)
        options.products = scenario == .noisy ? 50 : 1

        func integer(_ name: String, _ range: ClosedRange<Int>) throws(LoadUsageError) -> Int? {
            guard let text = given[name] else { return nil }
            guard let number = Int(text), range.contains(number) else {
                throw LoadUsageError("\(name) takes a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
            }
            return number
        }
        func seconds(_ name: String, _ range: ClosedRange<Double>) throws(LoadUsageError) -> Double? {
            guard let text = given[name] else { return nil }
            guard let number = Double(text), number.isFinite, range.contains(number) else {
                throw LoadUsageError("\(name) takes a number from \(range.lowerBound.shortText) to \(range.upperBound.shortText), not \"\(text)\"")
            }
            return number
        }

        if let file = given["--cluster"] {
            guard !flags.contains("--embedded") else { throw LoadUsageError("--embedded and --cluster exclude each other") }
            if let option = embeddedOnly.first(where: { given[$0] != nil }) {
                throw LoadUsageError("\(option) shapes the embedded cluster; a --cluster file describes its own")
            }
            guard !file.isEmpty else { throw LoadUsageError("--cluster needs the path of a cluster file") }
            options.target = .cluster(file: file)
        } else {
            var fairness = Fairness.fair
            if let text = given["--fairness"] {
                guard let mode = Fairness(rawValue: text) else {
                    throw LoadUsageError("--fairness takes \(Fairness.allCases.map(\.rawValue).joined(separator: " or ")), not \"\(text)\"")
                }
                fairness = mode
            }
            let headroom = try integer("--headroom", 0...100_000) ?? 0
            if fairness == .fifo && headroom > 0 { throw LoadUsageError("--headroom applies to --fairness fair only") }
            options.target = .embedded(
                shards: try integer("--shards", 1...64) ?? 1, workers: try integer("--workers", 1...256) ?? 4,
                slots: try integer("--slots", 1...10_000) ?? 8, fairness: fairness, headroom: headroom)
        }

        switch (given["--rate"], given["--concurrency"]) {
        case (.some, .some): throw LoadUsageError("--rate (open loop) and --concurrency (closed loop) exclude each other")
        case (.some, nil): options.pace = .rate(try seconds("--rate", 0.01...1_000_000)!)
        case (nil, .some): options.pace = .concurrency(try integer("--concurrency", 1...1_000_000)!)
        case (nil, nil): break
        }
        options.runs = try integer("--runs", 1...10_000_000) ?? options.runs
        options.duration = try seconds("--duration", 0.1...3600) ?? options.duration
        options.drain = try seconds("--drain", 0...3600) ?? options.drain
        options.jobs = try integer("--jobs", 1...10_000) ?? options.jobs
        options.partitions = try integer("--partitions", 1...1_000_000) ?? options.partitions
        options.products = try integer("--products", 1...10_000) ?? options.products
        options.jobMilliseconds = try integer("--job-ms", 0...3_600_000) ?? options.jobMilliseconds
        if let cap = try integer("--noisy-cap", 1...1_000_000) {
            guard scenario == .noisy else { throw LoadUsageError("--noisy-cap applies to noisy") }
            options.noisyCap = cap
        }
        if flags.contains("--light-only") {
            guard scenario == .noisy else { throw LoadUsageError("--light-only applies to noisy") }
            // The light products' arrivals as in the full scenario, without the noisy product's.
            options.lightOnly = true
            if case .rate(let rate) = options.pace { options.pace = .rate(max(0.01, rate / 10)) }
            options.runs = max(1, options.runs / 10)
        }
        if scenario == .noisy && options.products < 2 {
            throw LoadUsageError("noisy needs --products 2 or more: the noisy one and at least one light one")
        }
        if given["--jobs"] != nil && ![.independent, .chains, .fanout].contains(scenario) {
            throw LoadUsageError("--jobs applies to independent, chains and fanout; \(scenario.rawValue) has \(scenario == .noisy ? "one job per run" : "one job of --partitions partitions")")
        }
        if given["--partitions"] != nil && scenario != .partitioned {
            throw LoadUsageError("--partitions applies to the partitioned scenario only")
        }
        if let path = given["--svg"] {
            guard !path.isEmpty else { throw LoadUsageError("--svg needs the path of the file to write") }
            options.svg = path
        }
        options.json = flags.contains("--json")
        options.perProduct = flags.contains("--per-product")
        options.estimates = flags.contains("--estimates")
        return options
    }

    static let help = """
        usage: baton-load SCENARIO [options]
               baton-load fairness [--case NAME] [--quick] [--json]

        Puts a Baton cluster under load and measures it, as any client would: it applies one flow per
        product and starts runs through the management API, and watches every shard's event stream
        (JOB-UPDATES) for when each job was queued at its shard, handed to a worker, and finished.
        Queue wait of a job = started - queued (the shard's own timestamps).

        Scenarios (every job sleeps --job-ms at its worker with the `sleep` handler, or runs `noop`
        when --job-ms is 0):
          independent   flows of --jobs independent jobs
          chains        one chain of --jobs jobs, each after the one before
          fanout        one job, then --jobs parallel jobs after it, then one job after all of them
          partitioned   one job of --partitions partitions
          noisy         the noisy neighbour: --products products of equal weight, each run one job;
                        load-1 (the noisy one) starts 90% of the runs, the others share the remaining
                        10% in turn. Give it a --rate above the cluster's capacity
                        (workers x slots x 1000 / job-ms jobs per second) so that the noisy product
                        backs up, and compare --fairness fair with --fairness fifo. With
                        --light-only, only the light products' tenth of the runs is started,
                        at a tenth of --rate (and --runs): the light products alone, the
                        baseline their waits under the noisy one are compared with.
          fairness      not a load but a benchmark of fair dispatch: a fixed list of cases
                        (weights, costs, a newcomer, shards, a flood, keys, priorities), each
                        on an embedded cluster of its own, each product's share of worker time
                        against what it should get; `baton-load fairness --help` lists them.
                        It takes only --case NAME, --quick and --json.
        Products are named load-1 ... load-N; runs go to them in turn (noisy: as above).

        The cluster (one of):
          --embedded            start one in this process, in a temporary folder removed afterwards
                                (the default), shaped by:
            --shards N            shards (default 1)
            --workers N           workers (default 4)
            --slots N             slots per worker (default 8)
            --fairness MODE       how the shards choose among products with work waiting: fair
                                  (weighted fair share, the default) or fifo (the baseline: one
                                  queue by arrival, fairness off)
            --headroom N          free slots each shard holds back for products under their
                                  fair share (default 0): a product at or over its share takes a
                                  slot only while more than N are free, so that a light product
                                  finds one at once (the shard option "headroom")
          --cluster FILE        a running cluster, described by its cluster file; its workers must
                                offer the built-in `sleep` and `noop` handlers (every `baton worker`
                                does). Its shards' clocks and this machine's should agree. With
                                keys, the load speaks with the key folder's admin key.

        The load (one of; closed loop with --concurrency 16 when neither is given):
          --rate R              open loop: start R runs per second at a steady pace, whether or not
                                earlier runs have ended
          --concurrency C       closed loop: keep C runs open, starting one as soon as one ends
        Always bounded:
          --runs N              start at most N runs (default 1000)
          --duration SECONDS    stop starting runs this long after the first start (default 10)
          --drain SECONDS       then wait at most this long for the open runs to end (default 30)

        Shape of the runs:
          --jobs J              jobs of independent and chains; parallel jobs of fanout (default 10)
          --partitions P        partitions of the partitioned job (default 100)
          --products N          products to spread the runs over (default 1; 50 for noisy)
          --job-ms MS           how long each job sleeps at its worker, 0 for noop (default 5)
          --light-only          noisy only: the light products alone (see noisy above)
          --noisy-cap N         noisy only: first cap the noisy product's running tasks at N
                                (`set-policy` through management), leaving slots for the others

        The report (a table on standard output):
          --json                print it as one JSON object instead
          --per-product         list every product: without it, noisy shows the noisy product and
                                the light ones together, and other scenarios list each product
                                only when there are at most 8
          --svg FILE            also write an SVG plot of queue wait over time: x is when a job was
                                queued (seconds from the first start), y its wait in milliseconds,
                                one line per product (the p99 of each time slice)
          --estimates           ask the shards every 200 ms when a task of each product queued then
                                would start (the API's queue), and hold each job's wait against the
                                estimate asked last before it was queued: error p50 / p90 / p99,
                                bias, and the share within max(100 ms, 25% of the wait)

        What the report measures:
          throughput      jobs finished per second from the first start until the last job
                          finished (or the drain ran out); runs started and finished.
          queue wait      per product, p50 / p99 / max of started - queued, over the jobs that
                          were handed to a worker. The shard stamps both in milliseconds, each
                          turn of it with the one instant the turn began, so a wait is a whole
                          number of them; AT ONCE is the share of jobs with a wait of 0: handed
                          out in the shard turn that queued them.
          fairness        Jain's index over the products' served share during the submission
                          window (from the first start to the last): for each product i with
                          demand, x_i = (its jobs started in the window) / (its max-min fair share
                          of all jobs started in the window), where the max-min fair share gives
                          each product at most its demand (its jobs queued in the window) and
                          splits the rest equally among the others; J = (sum x)^2 / (n * sum x^2).
                          1 is perfectly fair; 1/n is one product taking all. Also plain Jain over
                          the jobs started of the backlogged products (those whose demand exceeded
                          their fair share), when there are at least two. Each shard shares its own
                          queue; with several shards the index also shows how evenly they are loaded.

        A run counts as ended when every job of it has reached a final state at its shard, or as
        soon as one of its jobs fails (its successors never reach a shard). Against a --cluster, the
        runs still open when the drain runs out are stopped, so that no backlog is left behind.

        Exit status: 0 measured; 1 some job failed, or the cluster failed; 2 the command line was
        wrong; 3 the cluster could not be started or reached, or refused a request.
        """
}

extension Double {
    /// The number without a fractional part when it has none: `10` rather than `10.0`.
    var shortText: String { rounded() == self && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
