import Core
import HTTP
import Wire
import Runtime

/// Turns `baton`'s arguments into a `Command`: a pure function, so every rule of the command line is tested
/// without running anything. `environment` supplies `BATON_API`.
public enum CommandParser {
    /// Commands renamed in this release, by their old names, which still work with a warning.
    public static let renamed = ["manager": "management", "flow": "orchestrator"]

    /// Parses the arguments after the program name.
    public static func parse(_ arguments: [String], environment: [String: String] = [:]) throws(UsageError) -> Command {
        guard let name = arguments.first else { return .help(topic: nil) }
        let rest = Array(arguments.dropFirst())
        let targetOptions: Set<String> = ["--api", "--data", "--config", "--identity"]
        func target(_ arguments: Arguments) throws(UsageError) -> Target {
            let api = try arguments.single("--api", command: name)
            let config = try arguments.single("--config", command: name)
            let data = try arguments.single("--data", command: name)
            if [api, config, data].compactMap({ $0 }).count > 1 {
                throw UsageError("give one of --api, --config and --data", command: name)
            }
            // An explicit choice wins over the environment; BATON_API over BATON_CONFIG.
            let explicit = api != nil || config != nil || data != nil
            return Target(
                api: api ?? (explicit ? nil : environment["BATON_API"]),
                config: config ?? (explicit || environment["BATON_API"] != nil ? nil : environment["BATON_CONFIG"]),
                data: data ?? ".baton", identity: try arguments.single("--identity", command: name) ?? environment["BATON_IDENTITY"])
        }
        /// Who acts, for the audit log.
        func actor(_ arguments: Arguments, command: String) throws(UsageError) -> String {
            let actor = try arguments.single("--actor", command: command) ?? environment["BATON_ACTOR"] ?? environment["USER"] ?? environment["LOGNAME"] ?? "unknown"
            guard !actor.isEmpty, actor.utf8.count <= 255 else { throw UsageError("--actor takes 1 to 255 characters", command: command) }
            return actor
        }
        func clusterFile(_ arguments: Arguments) throws(UsageError) -> String {
            guard let file = try arguments.single("--config", command: name) ?? environment["BATON_CONFIG"] else {
                throw UsageError("give the cluster file with --config FILE (or BATON_CONFIG)", command: name)
            }
            return file
        }
        switch name {
        case "-h", "--help", "help":
            guard let asked = rest.first else { return .help(topic: nil) }
            let topic = renamed[asked] ?? asked
            guard Usage.commands[topic] != nil else { throw UsageError("unknown command \"\(topic)\"") }
            return .help(topic: topic)
        case "-V", "--version", "version":
            let arguments = try Arguments(rest, command: "version", flags: ["--help"], options: [])
            if arguments.flags.contains("--help") { return .help(topic: "version") }
            try noOperands(arguments, command: "version")
            return .version
        case "validate":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: [])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard !arguments.operands.isEmpty else { throw UsageError("give at least one flow file or calendar file", command: name) }
            return .validate(files: arguments.operands, json: arguments.flags.contains("--json"))
        case "dev":
            let arguments = try Arguments(
                rest, command: name, flags: ["--help", "--quiet", "--no-web"], options: ["--data", "--workers", "--slots", "--shards", "--port", "--config", "--web"])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            var options = DevOptions()
            if let config = try arguments.single("--config", command: name) {
                if let shape = ["--data", "--workers", "--slots", "--shards", "--port"].first(where: { arguments.options[$0] != nil }) {
                    throw UsageError("\(shape) does not go with --config: the cluster file says where data goes and what runs", command: name)
                }
                options.config = config
            }
            options.data = try arguments.single("--data", command: name) ?? options.data
            options.workers = try number(arguments, "--workers", in: 0...64, command: name) ?? options.workers
            options.slots = try number(arguments, "--slots", in: 1...1024, command: name) ?? options.slots
            options.shards = try number(arguments, "--shards", in: 1...64, command: name) ?? options.shards
            options.port = UInt16(try number(arguments, "--port", in: 0...65535, command: name) ?? 0)
            options.quiet = arguments.flags.contains("--quiet")
            if let web = try arguments.single("--web", command: name) {
                guard !arguments.flags.contains("--no-web") else { throw UsageError("--web and --no-web do not go together", command: name) }
                do {
                    _ = try HTTPServer.Configuration(address: web)
                } catch {
                    throw UsageError("--web: \(error)", command: name)
                }
                options.web = web
                options.webGiven = true
            }
            if arguments.flags.contains("--no-web") { options.web = nil }
            return .dev(options)
        case "web":
            let arguments = try Arguments(rest, command: name, flags: ["--help"], options: targetOptions.union(["--listen"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            let listen = try arguments.single("--listen", command: name) ?? Web.defaultListen
            do {
                _ = try HTTPServer.Configuration(address: listen)
            } catch {
                throw UsageError("--listen: \(error)", command: name)
            }
            return .web(target: try target(arguments), listen: listen)
        case "demo":
            let arguments = try Arguments(rest, command: name, flags: ["--help"], options: ["--data"])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count <= 1 else { throw UsageError("give at most one flow file", command: name) }
            return .demo(
                file: arguments.operands.first ?? "examples/payments-end-of-day.json",
                data: try arguments.single("--data", command: name) ?? ".baton-demo")
        case "apply":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions)
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard !arguments.operands.isEmpty else { throw UsageError("give at least one flow file or calendar file", command: name) }
            return .apply(files: arguments.operands, target: try target(arguments), json: arguments.flags.contains("--json"))
        case "start":
            let arguments = try Arguments(
                rest, command: name, flags: ["--help", "--wait", "--json"], options: targetOptions.union(["--param", "--key", "--priority"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count == 1, let flow = arguments.operands.first else {
                throw UsageError(arguments.operands.isEmpty ? "give the flow to start, as PRODUCT/FLOW" : "give one flow", command: name)
            }
            guard flow.split(separator: "/", omittingEmptySubsequences: false).count == 2 else {
                throw UsageError("\"\(flow)\" is not PRODUCT/FLOW", command: name)
            }
            var params: [String: String] = [:]
            for pair in arguments.options["--param"] ?? [] {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw UsageError("--param needs NAME=VALUE, got \"\(pair)\"", command: name)
                }
                let key = String(pair[..<equals])
                guard params[key] == nil else { throw UsageError("--param \(key) given twice", command: name) }
                params[key] = String(pair[pair.index(after: equals)...])
            }
            let key = try arguments.single("--key", command: name)
            // Management refuses an empty key, which would be no key: two starts under it, two runs.
            if key?.isEmpty == true { throw UsageError("--key takes a key of 1 to 255 octets, not an empty one", command: name) }
            return .start(
                flow: flow, params: params, key: key,
                priority: try priority(arguments.single("--priority", command: name), command: name),
                wait: arguments.flags.contains("--wait"), json: arguments.flags.contains("--json"), target: try target(arguments))
        case "status":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json", "--watch"], options: targetOptions.union(["--jobs"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count <= 1 else { throw UsageError("give at most one run", command: name) }
            let jobs = try number(arguments, "--jobs", in: 0...Int(UInt32.max), command: name)
            var run: UInt64?
            if let text = arguments.operands.first {
                guard let value = UInt64(text), value > 0 else { throw UsageError("\"\(text)\" is not a run ID", command: name) }
                run = value
            }
            if jobs != nil && run == nil { throw UsageError("--jobs needs a run", command: name) }
            let watch = arguments.flags.contains("--watch")
            if watch && run == nil { throw UsageError("--watch needs a run", command: name) }
            if watch && arguments.flags.contains("--json") { throw UsageError("--watch shows changes as they come; --json gives one document: choose one", command: name) }
            return .status(run: run, jobs: jobs, json: arguments.flags.contains("--json"), watch: watch, target: try target(arguments))
        case "workers", "queue":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--shard"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            let shard = try number(arguments, "--shard", in: 1...65535, command: name).map(UInt32.init)
            let json = arguments.flags.contains("--json")
            return name == "workers" ? .workers(shard: shard, json: json, target: try target(arguments)) : .queue(shard: shard, json: json, target: try target(arguments))
        case "logs":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--follow"], options: targetOptions.union(["--attempt"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count == 2, let run = UInt64(arguments.operands[0]), run > 0 else {
                throw UsageError("give a run and one of its jobs: baton logs RUN JOB", command: name)
            }
            let attempt = try number(arguments, "--attempt", in: 1...65535, command: name)
            return .logs(run: run, job: arguments.operands[1], attempt: attempt, follow: arguments.flags.contains("--follow"), target: try target(arguments))
        case "runs":
            let arguments = try Arguments(
                rest, command: name, flags: ["--help", "--json"],
                options: targetOptions.union(["--flow", "--product", "--state", "--before", "--limit", "--since"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            let query = RunsQuery(
                product: try arguments.single("--product", command: name), flow: try arguments.single("--flow", command: name),
                state: try arguments.single("--state", command: name),
                before: try number(arguments, "--before", in: 1...Int.max, command: name).map(UInt64.init),
                limit: try number(arguments, "--limit", in: 1...10_000, command: name) ?? 20)
            var runs = query
            if let since = try arguments.single("--since", command: name) {
                guard let span = DurationText.parse(since), span > 0 else {
                    throw UsageError("--since takes how far back, such as 30m, 1h or 7d, not \"\(since)\"", command: name)
                }
                runs.within = span
            }
            return .runs(runs, json: arguments.flags.contains("--json"), target: try target(arguments))
        case "flows":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--limit", "--after"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            return .flows(
                limit: try number(arguments, "--limit", in: 1...10_000, command: name), after: try arguments.single("--after", command: name),
                json: arguments.flags.contains("--json"), target: try target(arguments))
        case "products":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--limit", "--after"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            return .products(
                limit: try number(arguments, "--limit", in: 1...10_000, command: name), after: try arguments.single("--after", command: name),
                json: arguments.flags.contains("--json"), target: try target(arguments))
        case "policy":
            let arguments = try Arguments(
                rest, command: name, flags: ["--help", "--json", "--priority-over-fairness", "--fairness-first"],
                options: targetOptions.union(["--request", "--actor", "--weight", "--cap", "--rate", "--burst", "--key-weight"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count == 1, let product = arguments.operands.first else { throw UsageError("give one product", command: name) }
            var action = OperatorAction(method: "set-policy", product: product, actor: try actor(arguments, command: name))
            if let weight = try number(arguments, "--weight", in: 1...10_000, command: name) { action.policy["weight"] = UInt64(weight) }
            if let cap = try number(arguments, "--cap", in: 0...Int(UInt32.max), command: name) { action.policy["cap"] = UInt64(cap) }
            if let burst = try number(arguments, "--burst", in: 0...Int(UInt32.max), command: name) { action.policy["burst"] = UInt64(burst) }
            if let rate = try arguments.single("--rate", command: name) { action.policy["rate"] = try Self.hourlyRate(rate, command: name) }
            switch (arguments.flags.contains("--priority-over-fairness"), arguments.flags.contains("--fairness-first")) {
            case (true, true): throw UsageError("give --priority-over-fairness or --fairness-first, not both", command: name)
            case (true, false): action.priorityOverFairness = true
            case (false, true): action.priorityOverFairness = false
            case (false, false): break
            }
            for pair in arguments.options["--key-weight"] ?? [] {
                guard let equals = pair.lastIndex(of: "="), equals != pair.startIndex,
                    let weight = UInt64(pair[pair.index(after: equals)...]), (1...10_000).contains(weight)
                else {
                    throw UsageError("--key-weight takes KEY=WEIGHT, a weight from 1 to 10000, not \"\(pair)\"", command: name)
                }
                action.keyWeights[String(pair[..<equals])] = weight
            }
            guard !action.policy.isEmpty || action.priorityOverFairness != nil || !action.keyWeights.isEmpty else {
                throw UsageError(
                    "give at least one of --weight, --cap, --rate, --burst, --priority-over-fairness, --fairness-first and --key-weight",
                    command: name)
            }
            action.request = try arguments.single("--request", command: name)
            action.json = arguments.flags.contains("--json")
            return .act(action, target: try target(arguments))
        case "simulate":
            let arguments = try Arguments(
                rest, command: name, flags: ["--help", "--verbose"], options: ["--seed", "--seeds", "--duration", "--heal", "--plant", "--keep", "--watch", "--durability"])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            var options = SimulateOptions()
            if let text = try arguments.single("--seed", command: name) {
                guard let seed = UInt64(text) else { throw UsageError("--seed takes a whole number, not \"\(text)\"", command: name) }
                options.seed = seed
            }
            options.seeds = try number(arguments, "--seeds", in: 1...10_000_000, command: name) ?? 1
            guard options.seed <= UInt64.max - UInt64(options.seeds) else {
                throw UsageError("--seed \(options.seed) with --seeds \(options.seeds) goes past the last seed, \(UInt64.max)", command: name)
            }
            for (option, path) in [("--duration", \SimulateOptions.duration), ("--heal", \SimulateOptions.heal)] {
                guard let text = try arguments.single(option, command: name) else { continue }
                guard let value = DurationText.parse(text), value >= 60_000 else {
                    throw UsageError("\(option) takes a duration of a minute or more, such as 8m, not \"\(text)\"", command: name)
                }
                options[keyPath: path] = value
            }
            options.planted = try arguments.single("--plant", command: name)
            if let durability = try arguments.single("--durability", command: name) {
                guard ["normal", "full"].contains(durability) else {
                    throw UsageError("--durability takes normal or full, not \"\(durability)\"", command: name)
                }
                options.durability = durability
            }
            options.verbose = arguments.flags.contains("--verbose")
            options.keep = try arguments.single("--keep", command: name)
            options.watch = try arguments.single("--watch", command: name)
            return .simulate(options)
        case "bench":
            let arguments = try Arguments(
                rest, command: name, flags: ["--help", "--selection", "--listings", "--move", "--one-job", "--recovery", "--long-names"],
                options: [
                    "--jobs", "--runs", "--chains", "--length", "--partitions", "--shards", "--workers", "--slots", "--durability", "--keep",
                    "--security", "--rounds", "--open-loop", "--history",
                    "--products", "--backlog", "--batch", "--requests", "--fairness", "--headroom", "--flows", "--starts", "--soak",
                    "--retention",
                ])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            if arguments.flags.contains("--long-names") && !arguments.flags.contains("--recovery") {
                throw UsageError("--long-names applies to --recovery only", command: name)
            }
            if let soak = try arguments.single("--soak", command: name) {
                var options = SoakBenchOptions()
                guard let duration = DurationText.parse(soak), duration > 0 else {
                    throw UsageError("--soak takes a duration such as 10m or 1h, not \"\(soak)\"", command: name)
                }
                options.duration = duration
                if let text = try arguments.single("--retention", command: name) {
                    guard let retention = DurationText.parse(text), retention > 0 else {
                        throw UsageError("--retention takes a duration such as 2m, not \"\(text)\"", command: name)
                    }
                    options.retention = retention
                }
                options.runs = try number(arguments, "--runs", in: 1...1000, command: name) ?? options.runs
                options.jobs = try number(arguments, "--jobs", in: 1...100_000, command: name) ?? options.jobs
                options.keep = try arguments.single("--keep", command: name)
                return .soakBench(options)
            }
            if arguments.flags.contains("--recovery") {
                let jobs = try number(arguments, "--jobs", in: 1...100_000_000, command: name) ?? 1_000_000
                return .recoveryBench(
                    jobs: jobs, longNames: arguments.flags.contains("--long-names"), keep: try arguments.single("--keep", command: name))
            }
            if arguments.flags.contains("--move") {
                let partitions = try number(arguments, "--partitions", in: 1...1_000_000, command: name) ?? 100_000
                return .moveBench(partitions: partitions, oneJob: arguments.flags.contains("--one-job"), keep: try arguments.single("--keep", command: name))
            }
            if arguments.flags.contains("--listings") {
                var options = ListingBenchOptions()
                options.products = try number(arguments, "--products", in: 1...1_000_000, command: name) ?? options.products
                options.flows = try number(arguments, "--flows", in: 1...10_000_000, command: name) ?? options.flows
                options.runs = try number(arguments, "--runs", in: 0...1_000_000, command: name) ?? options.runs
                options.starts = try number(arguments, "--starts", in: 1...100_000, command: name) ?? options.starts
                options.keep = try arguments.single("--keep", command: name)
                return .listingBench(options)
            }
            if arguments.flags.contains("--selection") {
                var options = SelectionBenchOptions()
                options.products = try number(arguments, "--products", in: 1...1_000_000, command: name) ?? options.products
                options.backlog = try number(arguments, "--backlog", in: 1...10_000, command: name) ?? options.backlog
                options.batch = try number(arguments, "--batch", in: 1...100_000, command: name) ?? options.batch
                options.requests = try number(arguments, "--requests", in: 1...10_000_000, command: name) ?? options.requests
                options.headroom = try number(arguments, "--headroom", in: 0...100_000, command: name)
                if let text = try arguments.single("--fairness", command: name) {
                    guard let fairness = Fairness(rawValue: text) else {
                        throw UsageError("--fairness takes fair or fifo, not \"\(text)\"", command: name)
                    }
                    options.fairness = fairness
                }
                return .selectionBench(options)
            }
            for option in ["--products", "--backlog", "--batch", "--requests", "--fairness", "--headroom"] where try arguments.single(option, command: name) != nil {
                throw UsageError("\(option) applies to --selection only", command: name)
            }
            for option in ["--flows", "--starts"] where try arguments.single(option, command: name) != nil {
                throw UsageError("\(option) applies to --listings only", command: name)
            }
            if try arguments.single("--retention", command: name) != nil { throw UsageError("--retention applies to --soak only", command: name) }
            var options = BenchOptions()
            options.jobs = try number(arguments, "--jobs", in: 1...100_000_000, command: name) ?? options.jobs
            options.runs = try number(arguments, "--runs", in: 1...10_000, command: name) ?? options.runs
            options.chains = try number(arguments, "--chains", in: 1...10_000, command: name) ?? options.chains
            options.length = try number(arguments, "--length", in: 2...10_000, command: name) ?? options.length
            options.partitions = try number(arguments, "--partitions", in: 0...1_000_000, command: name) ?? options.partitions
            options.openLoop = try number(arguments, "--open-loop", in: 0...600, command: name) ?? options.openLoop
            options.history = try number(arguments, "--history", in: 0...10_000_000, command: name) ?? options.history
            options.shards = try number(arguments, "--shards", in: 1...64, command: name) ?? options.shards
            options.workers = try number(arguments, "--workers", in: 1...256, command: name) ?? options.workers
            options.slots = try number(arguments, "--slots", in: 1...1024, command: name) ?? options.slots
            if let durability = try arguments.single("--durability", command: name) {
                guard ["off", "normal", "full"].contains(durability) else {
                    throw UsageError("--durability takes off, normal or full, not \"\(durability)\"", command: name)
                }
                options.durability = durability
            }
            if let security = try arguments.single("--security", command: name) {
                guard let compared = BenchOptions.Compared(rawValue: security) else {
                    throw UsageError("--security takes none, keys or both, not \"\(security)\"", command: name)
                }
                options.security = compared
            }
            options.rounds = try number(arguments, "--rounds", in: 1...100, command: name) ?? options.rounds
            options.keep = try arguments.single("--keep", command: name)
            return .bench(options)
        case "stop", "pause", "resume", "rerun", "mark-succeeded", "hold", "release":
            let flags: Set<String> = name == "rerun" ? ["--help", "--json", "--downstream", "--fresh"] : ["--help", "--json"]
            let arguments = try Arguments(rest, command: name, flags: flags, options: targetOptions.union(["--request", "--actor"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            let actor = try actor(arguments, command: name)
            var action: OperatorAction
            if name == "hold" || name == "release" {
                guard arguments.operands.count == 1, let product = arguments.operands.first else {
                    throw UsageError("give one product", command: name)
                }
                action = OperatorAction(method: name, product: product, actor: actor)
            } else {
                let operands = name == "mark-succeeded" ? 2...2 : name == "rerun" ? 1...2 : 1...1
                guard operands.contains(arguments.operands.count), let first = arguments.operands.first else {
                    let shape = name == "mark-succeeded" ? "RUN JOB" : name == "rerun" ? "RUN [JOB]" : "RUN"
                    throw UsageError("give \(shape)", command: name)
                }
                guard let run = UInt64(first), run > 0 else { throw UsageError("\"\(first)\" is not a run ID", command: name) }
                let job = arguments.operands.count > 1 ? arguments.operands[1] : nil
                action = OperatorAction(method: name == "rerun" && job != nil ? "rerun-job" : name, run: run, job: job, actor: actor)
                action.downstream = arguments.flags.contains("--downstream")
                action.fresh = arguments.flags.contains("--fresh")
                if action.downstream && job == nil { throw UsageError("--downstream needs a JOB to rerun", command: name) }
            }
            action.request = try arguments.single("--request", command: name)
            action.json = arguments.flags.contains("--json")
            return .act(action, target: try target(arguments))
        case "move":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--to", "--request", "--actor"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count == 1, let product = arguments.operands.first else { throw UsageError("give one product", command: name) }
            guard let to = try number(arguments, "--to", in: 1...Int(UInt16.max), command: name) else {
                throw UsageError("give the shard to move to: --to SHARD", command: name)
            }
            var action = OperatorAction(method: "move", product: product, actor: try actor(arguments, command: name))
            action.to = UInt32(to)
            action.request = try arguments.single("--request", command: name)
            action.json = arguments.flags.contains("--json")
            return .act(action, target: try target(arguments))
        case "rebalance":
            let arguments = try Arguments(
                rest, command: name, flags: ["--help", "--json", "--plan", "--apply"], options: targetOptions.union(["--tolerance", "--pin", "--actor"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.isEmpty else { throw UsageError("takes no operands: give --plan or --apply", command: name) }
            guard !(arguments.flags.contains("--plan") && arguments.flags.contains("--apply")) else {
                throw UsageError("give --plan or --apply, not both", command: name)
            }
            let tolerance = try number(arguments, "--tolerance", in: 1...100, command: name) ?? 10
            let pinned = Set(arguments.options["--pin"] ?? [])
            return .rebalance(
                apply: arguments.flags.contains("--apply"), tolerance: Double(tolerance) / 100, pinned: pinned,
                actor: try actor(arguments, command: name), json: arguments.flags.contains("--json"), target: try target(arguments))
        case "drain", "undrain":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--actor"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count == 1, let text = arguments.operands.first else { throw UsageError("give one shard", command: name) }
            guard let shard = UInt32(text), (1...UInt32(UInt16.max)).contains(shard) else {
                throw UsageError("\"\(text)\" is not a shard ID (1 to 65535)", command: name)
            }
            let (actor, json, target) = (try actor(arguments, command: name), arguments.flags.contains("--json"), try target(arguments))
            return name == "drain"
                ? .drain(shard: shard, actor: actor, json: json, target: target) : .undrain(shard: shard, actor: actor, json: json, target: target)
        case "priority":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--request", "--actor"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count == 2 else { throw UsageError("give RUN and a priority: 1 (first) to 5, or urgent", command: name) }
            guard let run = UInt64(arguments.operands[0]), run > 0 else {
                throw UsageError("\"\(arguments.operands[0])\" is not a run ID", command: name)
            }
            var action = OperatorAction(method: "set-priority", run: run, actor: try actor(arguments, command: name))
            action.priority = try priority(arguments.operands[1], command: name)
            action.request = try arguments.single("--request", command: name)
            action.json = arguments.flags.contains("--json")
            return .act(action, target: try target(arguments))
        case "history":
            let arguments = try Arguments(
                rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--product", "--actor", "--limit", "--before"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            let page = HistoryPage(
                limit: try number(arguments, "--limit", in: 1...10_000, command: name),
                before: try number(arguments, "--before", in: 1...Int.max, command: name).map(UInt64.init))
            let product = try arguments.single("--product", command: name)
            let actor = try arguments.single("--actor", command: name)
            guard arguments.operands.count + (product == nil ? 0 : 1) + (actor == nil ? 0 : 1) == 1 else {
                throw UsageError("give one RUN, or --product PRODUCT, or --actor NAME", command: name)
            }
            var run: UInt64?
            if let text = arguments.operands.first {
                guard let value = UInt64(text), value > 0 else { throw UsageError("\"\(text)\" is not a run ID", command: name) }
                run = value
            }
            return .history(
                run: run, product: product, actor: actor, page: page, json: arguments.flags.contains("--json"), target: try target(arguments))
        case "schedule":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--next"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            guard arguments.operands.count == 1, let flow = arguments.operands.first else {
                throw UsageError(arguments.operands.isEmpty ? "give the flow, as PRODUCT/FLOW" : "give one flow", command: name)
            }
            guard flow.split(separator: "/", omittingEmptySubsequences: false).count == 2 else {
                throw UsageError("\"\(flow)\" is not PRODUCT/FLOW", command: name)
            }
            return .schedule(
                flow: flow, next: try number(arguments, "--next", in: 0...1000, command: name) ?? 10,
                json: arguments.flags.contains("--json"), target: try target(arguments))
        case "calendars":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: targetOptions.union(["--next"]))
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            return .calendars(
                next: try number(arguments, "--next", in: 0...1000, command: name) ?? 3, json: arguments.flags.contains("--json"),
                target: try target(arguments))
        case "timer":
            let arguments = try Arguments(rest, command: name, flags: ["--help"], options: ["--config", "--index"])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            let index = try number(arguments, "--index", in: 1...65535, command: name) ?? 1
            return .serve(.timer(index: index), config: try clusterFile(arguments))
        case "management", "orchestrator", "up", "down":
            let arguments = try Arguments(rest, command: name, flags: ["--help"], options: ["--config"])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            let file = try clusterFile(arguments)
            switch name {
            case "management": return .serve(.management, config: file)
            case "orchestrator": return .serve(.orchestrator, config: file)
            case "up": return .up(config: file)
            default: return .down(config: file)
            }
        case "keys":
            let arguments = try Arguments(rest, command: name, flags: ["--help", "--json"], options: ["--config", "--dir", "--role"])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            func folder() throws(UsageError) -> KeyFolder {
                let directory = try arguments.single("--dir", command: name)
                let config = try arguments.single("--config", command: name) ?? (directory == nil ? environment["BATON_CONFIG"] : nil)
                if directory != nil && config != nil { throw UsageError("give one of --dir and --config", command: name) }
                if let directory { return .directory(directory) }
                if let config { return .cluster(config) }
                throw UsageError("give the key folder with --dir DIR, or a cluster file with --config FILE", command: name)
            }
            switch arguments.operands.first {
            case "new":
                guard arguments.operands.count == 2 else { throw UsageError("give the key's name: baton keys new NAME", command: name) }
                var role: KeyRole?
                if let text = try arguments.single("--role", command: name) {
                    guard let given = KeyRole(rawValue: text) else {
                        throw UsageError("--role takes one of \(KeyRole.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"", command: name)
                    }
                    role = given
                }
                return .keys(.new(name: arguments.operands[1], role: role, folder: try folder()))
            case "list":
                guard arguments.operands.count == 1 else { throw UsageError("unexpected argument \"\(arguments.operands[1])\"", command: name) }
                return .keys(.list(folder: try folder(), json: arguments.flags.contains("--json")))
            case "reload":
                guard arguments.operands.count == 1 else { throw UsageError("unexpected argument \"\(arguments.operands[1])\"", command: name) }
                return .keys(.reload(config: try clusterFile(arguments)))
            default:
                throw UsageError(arguments.operands.first.map { "unknown keys command \"\($0)\" (new, list, reload)" } ?? "give new, list or reload", command: name)
            }
        case "shard":
            let arguments = try Arguments(rest, command: name, flags: ["--help"], options: ["--config", "--id"])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            guard let id = try number(arguments, "--id", in: 1...65535, command: name) else {
                throw UsageError("give the shard's ID with --id N", command: name)
            }
            return .serve(.shard(id: UInt32(id)), config: try clusterFile(arguments))
        case "worker":
            let arguments = try Arguments(rest, command: name, flags: ["--help"], options: ["--config", "--pool", "--index"])
            if arguments.flags.contains("--help") { return .help(topic: name) }
            try noOperands(arguments, command: name)
            let index = try number(arguments, "--index", in: 1...65535, command: name) ?? 1
            return .serve(.worker(pool: try arguments.single("--pool", command: name), index: index), config: try clusterFile(arguments))
        default:
            var message = "unknown command \"\(name)\""
            if let suggestion = closest(to: name) { message += " (did you mean \"\(suggestion)\"?)" }
            throw UsageError(message)
        }
    }

    private static func noOperands(_ arguments: Arguments, command: String) throws(UsageError) {
        if let extra = arguments.operands.first { throw UsageError("unexpected argument \"\(extra)\"", command: command) }
    }

    private static func number(_ arguments: Arguments, _ option: String, in range: ClosedRange<Int>, command: String) throws(UsageError) -> Int? {
        guard let text = try arguments.single(option, command: command) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError("\(option) takes a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"", command: command)
        }
        return value
    }

    /// A run priority: `1` (first) to `5`, or `urgent`; nil when not given.
    private static func priority(_ text: String?, command: String) throws(UsageError) -> UInt8? {
        guard let text else { return nil }
        guard let priority = RunPriority.parse(text) else {
            throw UsageError("a priority is 1 (first) to 5 (last), or urgent, not \"\(text)\"", command: command)
        }
        return priority
    }

    /// A rate as `N/s`, `N/m` or `N/h`, in tasks per hour; `0` for no limit.
    static func hourlyRate(_ text: String, command: String) throws(UsageError) -> UInt64 {
        if text == "0" { return 0 }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let per: [Substring: UInt64] = ["s": 3600, "m": 60, "h": 1]
        guard parts.count == 2, let count = UInt64(parts[0]), let factor = per[parts[1]] else {
            throw UsageError("--rate takes N/s, N/m or N/h (tasks per second, minute or hour), or 0 for none, not \"\(text)\"", command: command)
        }
        let (hourly, overflow) = count.multipliedReportingOverflow(by: factor)
        guard !overflow, hourly <= UInt64(UInt32.max) else {
            throw UsageError("--rate \(text) is over the most a rate may be, \(UInt32.max)/h", command: command)
        }
        return hourly
    }

    private static func closest(to name: String) -> String? {
        Names.suggestion(for: name, among: Usage.commands.keys.sorted())
    }
}
