import Commands
import Testing

@Suite struct CommandParserTests {
    func parse(_ line: String) throws(UsageError) -> Command {
        try CommandParser.parse(line.split(separator: " ").map(String.init))
    }

    @Test func noArgumentsOrHelpAsksForTheGeneralUsage() throws {
        #expect(try parse("") == .help(topic: nil))
        #expect(try parse("--help") == .help(topic: nil))
        #expect(try parse("-h") == .help(topic: nil))
        #expect(try parse("help") == .help(topic: nil))
        #expect(try parse("help validate") == .help(topic: "validate"))
    }

    @Test func everyCommandAcceptsHelp() throws {
        for name in Usage.commands.keys where name != "help" {
            #expect(try parse("\(name) --help") == .help(topic: name))
            #expect(try parse("\(name) -h") == .help(topic: name))
        }
    }

    @Test func validateTakesFilesAndJSON() throws {
        #expect(try parse("validate a.json b.json") == .validate(files: ["a.json", "b.json"], json: false))
        #expect(try parse("validate --json a.json") == .validate(files: ["a.json"], json: true))
        #expect(try parse("validate a.json --json") == .validate(files: ["a.json"], json: true))
        #expect(try parse("validate -- --json") == .validate(files: ["--json"], json: false))
    }

    @Test func versionTakesNothing() throws {
        #expect(try parse("version") == .version)
        #expect(try parse("--version") == .version)
        #expect(throws: UsageError("unexpected argument \"x\"", command: "version")) { try parse("version x") }
    }

    @Test func mistakesAreUsageErrorsNamingWhatWasWrong() {
        #expect(throws: UsageError("give at least one flow file or calendar file", command: "validate")) { try parse("validate") }
        #expect(throws: UsageError("unknown option --jsn", command: "validate")) { try parse("validate --jsn a") }
        #expect(throws: UsageError("--json takes no value", command: "validate")) { try parse("validate --json=1 a") }
        #expect(throws: UsageError("unknown command \"validat\" (did you mean \"validate\"?)")) { try parse("validat") }
        #expect(throws: UsageError("unknown command \"frobnicate\"")) { try parse("frobnicate") }
        #expect(throws: UsageError("unknown command \"nope\"")) { try parse("help nope") }
    }
}

@Suite struct ServiceCommandParserTests {
    func parse(_ line: String, environment: [String: String] = [:]) throws(UsageError) -> Command {
        try CommandParser.parse(line.split(separator: " ").map(String.init), environment: environment)
    }

    @Test func devHasDefaultsAndCheckedNumbers() throws {
        #expect(try parse("dev") == .dev(DevOptions()))
        var options = DevOptions()
        options.data = "/tmp/b"
        options.workers = 3
        options.slots = 8
        options.shards = 2
        options.port = 7700
        options.quiet = true
        #expect(try parse("dev --data /tmp/b --workers 3 --slots=8 --shards 2 --port 7700 --quiet") == .dev(options))
        #expect(throws: UsageError("--workers takes a whole number from 0 to 64, not \"many\"", command: "dev")) {
            try parse("dev --workers many")
        }
        #expect(throws: UsageError("--slots takes a whole number from 1 to 1024, not \"0\"", command: "dev")) {
            try parse("dev --slots 0")
        }
    }

    @Test func startTakesParametersAKeyAndWait() throws {
        #expect(
            try parse("start payments/eod --param region=south --param day=2026-11-22 --key k --wait")
                == .start(flow: "payments/eod", params: ["region": "south", "day": "2026-11-22"], key: "k", priority: nil, wait: true, json: false, target: Target()))
        #expect(try parse("start p/f --param empty=") == .start(flow: "p/f", params: ["empty": ""], key: nil, priority: nil, wait: false, json: false, target: Target()))
        #expect(throws: UsageError("--param needs NAME=VALUE, got \"region\"", command: "start")) { try parse("start p/f --param region") }
        #expect(throws: UsageError("--param a given twice", command: "start")) { try parse("start p/f --param a=1 --param a=2") }
        #expect(throws: UsageError("\"eod\" is not PRODUCT/FLOW", command: "start")) { try parse("start eod") }
        #expect(throws: UsageError("give the flow to start, as PRODUCT/FLOW", command: "start")) { try parse("start") }
        // Found by an explorer: `--key ''` was taken as no key, two starts starting two runs.
        #expect(throws: UsageError("--key takes a key of 1 to 255 octets, not an empty one", command: "start")) {
            try CommandParser.parse(["start", "p/f", "--key", ""])
        }
    }

    @Test func benchTakesItsOpenLoopSecondsAndFullDurabilityByDefault() throws {
        guard case .bench(let defaults) = try parse("bench") else { Issue.record("not bench"); return }
        #expect(defaults.durability == "full")
        #expect(defaults.openLoop == 5)
        guard case .bench(let none) = try parse("bench --open-loop 0") else { Issue.record("not bench"); return }
        #expect(none.openLoop == 0)
        #expect(throws: UsageError.self) { try parse("bench --open-loop 601") }
        guard case .bench(let history) = try parse("bench --history 1000000") else { Issue.record("not bench"); return }
        #expect(history.history == 1_000_000)
    }

        @Test func theCommandsThatShowARunningBatonReadTheirOptions() throws {
        #expect(try parse("status 7 --watch") == .status(run: 7, jobs: nil, json: false, watch: true, target: Target()))
        #expect(throws: UsageError("--watch needs a run", command: "status")) { try parse("status --watch") }
        #expect(try parse("workers --shard 2 --json") == .workers(shard: 2, json: true, target: Target()))
        #expect(try parse("queue") == .queue(shard: nil, json: false, target: Target()))
        #expect(try parse("logs 7 load --attempt 2 --follow") == .logs(run: 7, job: "load", attempt: 2, follow: true, target: Target()))
        #expect(throws: UsageError("give a run and one of its jobs: baton logs RUN JOB", command: "logs")) { try parse("logs 7") }
        var recent = RunsQuery(state: "failed")
        recent.within = 3_600_000
        #expect(try parse("runs --state failed --since 1h") == .runs(recent, json: false, target: Target()))
        #expect(try parse("web --listen 127.0.0.1:9000 --data d") == .web(target: Target(data: "d"), listen: "127.0.0.1:9000"))
        #expect(throws: UsageError.self) { try parse("web --listen nowhere") }
        #expect(throws: UsageError.self) { try parse("dev --web 8700") }
    }

    @Test func clientCommandsFindTheirTarget() throws {
        #expect(try parse("status") == .status(run: nil, jobs: nil, json: false, watch: false, target: Target()))
        #expect(try parse("status 7 --json --data d") == .status(run: 7, jobs: nil, json: true, watch: false, target: Target(data: "d")))
        #expect(try parse("status", environment: ["BATON_API": "tcp://h:1"]) == .status(run: nil, jobs: nil, json: false, watch: false, target: Target(api: "tcp://h:1")))
        #expect(try parse("status --api tcp://x:2", environment: ["BATON_API": "tcp://h:1"]) == .status(run: nil, jobs: nil, json: false, watch: false, target: Target(api: "tcp://x:2")))
        #expect(throws: UsageError("\"seven\" is not a run ID", command: "status")) { try parse("status seven") }
        #expect(try parse("status 7 --jobs 50") == .status(run: 7, jobs: 50, json: false, watch: false, target: Target()))
        #expect(throws: UsageError("--jobs needs a run", command: "status")) { try parse("status --jobs 5") }
        #expect(try parse("runs --flow p/f --limit 5") == .runs(RunsQuery(flow: "p/f", limit: 5), json: false, target: Target()))
        #expect(
            try parse("runs --product p --state failed --before 40") == .runs(RunsQuery(product: "p", state: "failed", before: 40), json: false, target: Target()))
        #expect(try parse("apply a.json b.json --json") == .apply(files: ["a.json", "b.json"], target: Target(), json: true))
        #expect(try parse("flows") == .flows(limit: nil, after: nil, json: false, target: Target()))
        var soak = SoakBenchOptions()
        soak.duration = 3_600_000
        soak.retention = 300_000
        #expect(try parse("bench --soak 1h --retention 5m") == .soakBench(soak))
        #expect(throws: UsageError.self) { try parse("bench --soak soon") }
        #expect(throws: UsageError.self) { try parse("bench --retention 5m") }
        #expect(try parse("bench --recovery") == .recoveryBench(jobs: 1_000_000, longNames: false, keep: nil))
        #expect(try parse("bench --recovery --jobs 5000 --long-names --keep k") == .recoveryBench(jobs: 5000, longNames: true, keep: "k"))
        #expect(throws: UsageError("--long-names applies to --recovery only", command: "bench")) { try parse("bench --long-names") }
        #expect(try parse("flows --limit 10 --after p/f") == .flows(limit: 10, after: "p/f", json: false, target: Target()))
        #expect(try parse("demo") == .demo(file: "examples/payments-end-of-day.json", data: ".baton-demo"))
    }

    @Test func operatorActionsNameTheirRunJobOrProduct() throws {
        let target = Target(api: nil, config: nil, data: ".baton")
        func parse(_ line: String) throws(UsageError) -> Command {
            try CommandParser.parse(line.split(separator: " ").map(String.init), environment: ["USER": "alice"])
        }
        #expect(try parse("stop 42") == .act(OperatorAction(method: "stop", run: 42, actor: "alice"), target: target))
        var rerun = OperatorAction(method: "rerun-job", run: 42, job: "load", actor: "bob")
        rerun.downstream = true
        rerun.fresh = true
        rerun.request = "t-1"
        #expect(try parse("rerun 42 load --downstream --fresh --actor bob --request t-1") == .act(rerun, target: target))
        #expect(try parse("rerun 42") == .act(OperatorAction(method: "rerun", run: 42, actor: "alice"), target: target))
        #expect(try parse("hold payments") == .act(OperatorAction(method: "hold", product: "payments", actor: "alice"), target: target))
        #expect(try parse("mark-succeeded 7 check") == .act(OperatorAction(method: "mark-succeeded", run: 7, job: "check", actor: "alice"), target: target))
        #expect(try parse("history 7") == .history(run: 7, product: nil, actor: nil, json: false, target: target))
        #expect(try parse("history --product payments") == .history(run: nil, product: "payments", actor: nil, json: false, target: target))
        #expect(try parse("history --actor alice") == .history(run: nil, product: nil, actor: "alice", json: false, target: target))
        #expect(
            try parse("history 7 --limit 5 --before 90")
                == .history(run: 7, product: nil, actor: nil, page: HistoryPage(limit: 5, before: 90), json: false, target: target))
        #expect(throws: UsageError("--downstream needs a JOB to rerun", command: "rerun")) { try parse("rerun 42 --downstream") }
        #expect(throws: UsageError("give RUN JOB", command: "mark-succeeded")) { try parse("mark-succeeded 42") }
        #expect(throws: UsageError("\"x\" is not a run ID", command: "stop")) { try parse("stop x") }
        #expect(throws: UsageError("unknown option --fresh", command: "stop")) { try parse("stop 4 --fresh") }
        #expect(throws: UsageError("give one RUN, or --product PRODUCT, or --actor NAME", command: "history")) { try parse("history") }
    }

    @Test func drainAndUndrainTakeOneShard() throws {
        let target = Target(api: nil, config: nil, data: ".baton")
        func parse(_ line: String) throws(UsageError) -> Command {
            try CommandParser.parse(line.split(separator: " ").map(String.init), environment: ["USER": "alice"])
        }
        #expect(try parse("drain 3") == .drain(shard: 3, actor: "alice", json: false, target: target))
        #expect(try parse("undrain 3 --actor bob --json") == .undrain(shard: 3, actor: "bob", json: true, target: target))
        #expect(throws: UsageError("give one shard", command: "undrain")) { try parse("undrain") }
        #expect(throws: UsageError("give one shard", command: "undrain")) { try parse("undrain 1 2") }
        #expect(throws: UsageError("\"0\" is not a shard ID (1 to 65535)", command: "undrain")) { try parse("undrain 0") }
        #expect(throws: UsageError("unknown option --to", command: "drain")) { try parse("drain 1 --to 2") }
    }

    @Test func policyTakesAProductAndTheFieldsToChange() throws {
        let target = Target(api: nil, config: nil, data: ".baton")
        func parse(_ line: String) throws(UsageError) -> Command {
            try CommandParser.parse(line.split(separator: " ").map(String.init), environment: ["USER": "alice"])
        }
        var policy = OperatorAction(method: "set-policy", product: "payments", actor: "alice")
        policy.policy = ["weight": 3, "cap": 20, "rate": 36_000, "burst": 5]
        #expect(try parse("policy payments --weight 3 --cap 20 --rate 10/s --burst 5") == .act(policy, target: target))
        policy.policy = ["rate": 120]
        #expect(try parse("policy payments --rate 2/m") == .act(policy, target: target))
        policy.policy = ["rate": 0]
        #expect(try parse("policy payments --rate 0") == .act(policy, target: target))
        #expect(throws: UsageError("give at least one of --weight, --cap, --rate, --burst, --priority-over-fairness, --fairness-first and --key-weight", command: "policy")) {
            try parse("policy payments")
        }
        var rule = OperatorAction(method: "set-policy", product: "payments", actor: "alice")
        rule.priorityOverFairness = true
        rule.keyWeights = ["acme": 3, "a=b": 2]
        #expect(try parse("policy payments --priority-over-fairness --key-weight acme=3 --key-weight a=b=2") == .act(rule, target: target))
        rule.priorityOverFairness = false
        rule.keyWeights = [:]
        #expect(try parse("policy payments --fairness-first") == .act(rule, target: target))
        #expect(throws: UsageError("give --priority-over-fairness or --fairness-first, not both", command: "policy")) {
            try parse("policy payments --priority-over-fairness --fairness-first")
        }
        #expect(throws: UsageError("--key-weight takes KEY=WEIGHT, a weight from 1 to 10000, not \"acme=0\"", command: "policy")) {
            try parse("policy payments --key-weight acme=0")
        }
        var urgent = OperatorAction(method: "set-priority", run: 42, actor: "alice")
        urgent.priority = 0
        #expect(try parse("priority 42 urgent") == .act(urgent, target: target))
        urgent.priority = 1
        #expect(try parse("priority 42 1") == .act(urgent, target: target))
        #expect(throws: UsageError("a priority is 1 (first) to 5 (last), or urgent, not \"6\"", command: "priority")) { try parse("priority 42 6") }
        #expect(throws: UsageError("give RUN and a priority: 1 (first) to 5, or urgent", command: "priority")) { try parse("priority 42") }
        #expect(try parse("start p/f --priority urgent") == .start(flow: "p/f", params: [:], key: nil, priority: 0, wait: false, json: false, target: Target()))
        #expect(throws: UsageError("a priority is 1 (first) to 5 (last), or urgent, not \"0\"", command: "start")) { try parse("start p/f --priority 0") }
        #expect(throws: UsageError("give one product", command: "policy")) { try parse("policy --cap 2") }
        #expect(throws: UsageError("--weight takes a whole number from 1 to 10000, not \"0\"", command: "policy")) {
            try parse("policy payments --weight 0")
        }
        #expect(throws: UsageError("--rate takes N/s, N/m or N/h (tasks per second, minute or hour), or 0 for none, not \"5/d\"", command: "policy")) {
            try parse("policy payments --rate 5/d")
        }
        #expect(try parse("products --json") == .products(limit: nil, after: nil, json: true, target: target))
    }

    @Test func scheduleTakesAFlowAndCalendarsNothing() throws {
        let target = Target(api: nil, config: nil, data: ".baton")
        func parse(_ line: String) throws(UsageError) -> Command { try CommandParser.parse(line.split(separator: " ").map(String.init)) }
        #expect(try parse("schedule payments/close") == .schedule(flow: "payments/close", next: 10, json: false, target: target))
        #expect(try parse("schedule payments/close --next 3 --json") == .schedule(flow: "payments/close", next: 3, json: true, target: target))
        #expect(throws: UsageError("give the flow, as PRODUCT/FLOW", command: "schedule")) { try parse("schedule") }
        #expect(throws: UsageError("\"close\" is not PRODUCT/FLOW", command: "schedule")) { try parse("schedule close") }
        #expect(throws: UsageError("--next takes a whole number from 0 to 1000, not \"2000\"", command: "schedule")) {
            try parse("schedule payments/close --next 2000")
        }
        #expect(try parse("calendars") == .calendars(next: 3, json: false, target: target))
        #expect(try parse("calendars --next 10 --json") == .calendars(next: 10, json: true, target: target))
        #expect(throws: UsageError("unexpected argument \"uk\"", command: "calendars")) { try parse("calendars uk") }
    }

    @Test func benchSelectionHasItsOwnOptions() throws {
        var options = SelectionBenchOptions()
        options.products = 500
        options.fairness = .fifo
        #expect(try parse("bench --selection --products 500 --fairness fifo") == .selectionBench(options))
        #expect(throws: UsageError("--products applies to --selection only", command: "bench")) { try parse("bench --products 5") }
        #expect(throws: UsageError("--fairness takes fair or fifo, not \"lifo\"", command: "bench")) { try parse("bench --selection --fairness lifo") }
    }
}
