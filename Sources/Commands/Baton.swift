import Wire

/// The `baton` program: parses the command line, runs the command, returns the exit status.
public enum Baton {
    /// Runs `baton` with `arguments` (without the program name), writing to `console`.
    public static func main(_ arguments: [String], console: any Console = StandardConsole()) -> ExitCode {
        let command: Command
        do {
            command = try CommandParser.parse(arguments)
        } catch {
            console.err("baton: \(error.message)")
            if let name = error.command, let usage = Usage.commands[name]?.text.split(separator: "\n").first {
                console.err(String(usage))
                console.err("Run \"baton \(name) --help\" for more.")
            } else {
                console.err("Run \"baton --help\" for usage.")
            }
            return .usage
        }
        return run(command, console: console)
    }

    /// Runs a parsed command.
    public static func run(_ command: Command, console: any Console) -> ExitCode {
        switch command {
        case .help(let topic):
            console.out(topic.flatMap { Usage.commands[$0]?.text } ?? Usage.general)
            return .success
        case .version:
            console.out("baton \(Usage.version) (protocol \(Message.version))")
            return .success
        case .validate(let files, let json):
            return Validate.run(files: files, json: json, console: console)
        }
    }
}
