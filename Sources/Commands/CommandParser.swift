/// Turns `baton`'s arguments into a `Command`: a pure function, so every rule of the command line is tested
/// without running anything.
public enum CommandParser {
    /// Parses the arguments after the program name.
    public static func parse(_ arguments: [String]) throws(UsageError) -> Command {
        guard let name = arguments.first else { return .help(topic: nil) }
        let rest = Array(arguments.dropFirst())
        switch name {
        case "-h", "--help", "help":
            guard let topic = rest.first else { return .help(topic: nil) }
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
            guard !arguments.operands.isEmpty else { throw UsageError("give at least one flow file", command: name) }
            return .validate(files: arguments.operands, json: arguments.flags.contains("--json"))
        default:
            var message = "unknown command \"\(name)\""
            if let suggestion = closest(to: name) { message += " (did you mean \"\(suggestion)\"?)" }
            throw UsageError(message)
        }
    }

    private static func noOperands(_ arguments: Arguments, command: String) throws(UsageError) {
        if let extra = arguments.operands.first { throw UsageError("unexpected argument \"\(extra)\"", command: command) }
    }

    private static func closest(to name: String) -> String? {
        Usage.commands.keys.sorted().min { editDistance(name, $0) < editDistance(name, $1) }
            .flatMap { editDistance(name, $0) <= 2 ? $0 : nil }
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
