/// What `baton-load fairness` was asked to do, read from its command line.
struct FairnessOptions {
    /// The cases to run, in the order of ``FairnessCase/all``.
    var cases: [FairnessCase]
    /// The smaller version: windows of about a second instead of three, for tests.
    var quick = false
    var json = false

    /// Whether the command line asks for the fairness benchmark: its first operand is `fairness`
    /// (the values of `baton-load`'s other options are not operands).
    static func isCommand(_ arguments: [String]) -> Bool {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("-") else { return argument == "fairness" }
            if LoadOptions.valued.contains(argument) || argument == "--case" { index += 1 }
        }
        return false
    }

    /// Reads the arguments after the program's name, `fairness` among them; nil when `--help` was asked for.
    static func parse(_ arguments: [String]) throws(LoadUsageError) -> FairnessOptions? {
        var options = FairnessOptions(cases: FairnessCase.all)
        var named: String?
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
            switch name {
            case "-h", "--help":
                return nil
            case "--quick", "--json":
                guard value == nil else { throw LoadUsageError("\(name) takes no value") }
                if name == "--quick" { options.quick = true } else { options.json = true }
            case "--case":
                if value == nil {
                    guard index < arguments.count else { throw LoadUsageError("--case needs the name of a case") }
                    value = arguments[index]
                    index += 1
                }
                guard named == nil else { throw LoadUsageError("--case given more than once") }
                named = value
            default:
                throw LoadUsageError("unknown option \(name) for fairness (it takes --case NAME, --quick and --json)")
            }
        }
        guard operands == ["fairness"] else {
            throw LoadUsageError("fairness takes no operand; unexpected \"\(operands.first { $0 != "fairness" } ?? "fairness")\"")
        }
        if let named {
            guard let found = FairnessCase.all.first(where: { $0.name == named }) else {
                throw LoadUsageError("unknown case \"\(named)\" (cases: \(FairnessCase.all.map(\.name).joined(separator: ", ")))")
            }
            options.cases = [found]
        }
        return options
    }

    static let help = """
        usage: baton-load fairness [--case NAME] [--quick] [--json]

        Fair dispatch on a fixed list of cases, each on an embedded cluster of its own (4 workers × 4
        slots, 1 shard unless the case says 2, no timer), each product's work one run of a flow whose
        one job has many partitions of the built-in `sleep` handler. Measures each product's share of
        WORKER TIME while every product still has work waiting: read back from the shards' stores
        once the cluster has stopped, each task's time from its hand-out (`started`) to its end
        (`finished`, or the cluster's stop while it ran), overlapped with the window from the first
        hand-out to the end of the first run to end.

        Cases:
        \(FairnessCase.all.map { "  " + $0.name.padding(toLength: 22, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n"))

        Options:
          --case NAME     run that case only
          --quick         a smaller version of each (windows of about 1 s instead of 3), for tests
          --json          print one JSON document instead of the table

        Shares are judged within 10% of what is expected (relative). The newcomer's slots before its
        first result must not pass its equal split. The flood's light product must be served within
        its starvation bound (10 × its own expected wait, worked out as the shard does from the rate
        of hand-outs, 1 s to 60 s) plus 150 ms: the guard looks every 100 ms, and a slot comes free
        within one of the floods' 50 ms tasks (tasks are not pre-empted); its wait is its task's
        hand-out less its job's queueing, each step of its chain queued when the one before ends.
        Exit status: 0 every case within its tolerance; 1 a case outside it, or a cluster that broke;
        2 the command line was wrong; 3 a cluster could not be started or refused a request.
        """
}
