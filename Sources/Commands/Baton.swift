import Wire

/// The `baton` program: parses the command line, runs the command, returns the exit status.
public enum Baton {
    /// Runs `baton` with `arguments` (without the program name), writing to `console`.
    public static func main(
        _ arguments: [String], environment: [String: String] = [:], console: any Console = StandardConsole()
    ) -> ExitCode {
        var arguments = arguments
        if let old = arguments.first, let new = CommandParser.renamed[old] {
            console.err("baton: warning: `baton \(old)` is now `baton \(new)`; the old name will stop working in the next release")
            arguments[0] = new
        }
        let command: Command
        do {
            command = try CommandParser.parse(arguments, environment: environment)
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
        default:
            do {
                return try runService(command, console: console)
            } catch {
                console.err("baton: \(error.message)")
                return error.code
            }
        }
    }

    private static func runService(_ command: Command, console: any Console) throws(CommandFailure) -> ExitCode {
        switch command {
        case .dev(let options): try Dev.run(options, console: console)
        case .web(let target, let listen): try Web.run(target: target, listen: listen, console: console)
        case .demo(let file, let data): try Demo.run(file: file, data: data, console: console)
        case .apply(let files, let target, let json): try ClientCommands.apply(files: files, target: target, json: json, console: console)
        case .start(let flow, let params, let key, let priority, let wait, let json, let target):
            try ClientCommands.start(
                flow: flow, params: params, key: key, priority: priority, wait: wait, json: json, target: target, console: console)
        case .status(let run, let jobs, let json, let watch, let target):
            try ClientCommands.status(run: run, jobs: jobs, json: json, watch: watch, target: target, console: console)
        case .workers(let shard, let json, let target): try ClusterCommands.workers(shard: shard, json: json, target: target, console: console)
        case .queue(let shard, let json, let target): try ClusterCommands.queue(shard: shard, json: json, target: target, console: console)
        case .logs(let run, let job, let attempt, let follow, let target):
            try LogsCommand.run(run: run, job: job, attempt: attempt, follow: follow, target: target, console: console)
        case .runs(let query, let json, let target): try ClientCommands.runs(query, json: json, target: target, console: console)
        case .flows(let limit, let after, let json, let target):
            try ClientCommands.flows(limit: limit, after: after, json: json, target: target, console: console)
        case .serve(let role, let config): try Serve.run(role, config: config, console: console)
        case .up(let config): try Up.up(config: config, console: console)
        case .down(let config): try Up.down(config: config, console: console)
        case .keys(let command): try Keys.run(command, console: console)
        case .bench(let options): try Bench.run(options, console: console)
        case .selectionBench(let options): SelectionBench.run(options, console: console)
        case .listingBench(let options): try ListingBench.run(options, console: console)
        case .moveBench(let partitions, let oneJob, let keep): try MoveBench.run(partitions: partitions, oneJob: oneJob, keep: keep, console: console)
        case .recoveryBench(let jobs, let longNames, let keep):
            try RecoveryBench.run(jobs: jobs, longNames: longNames, keep: keep, console: console)
        case .soakBench(let options): try SoakBench.run(options, console: console)
        case .simulate(let options): try Simulate.run(options, console: console)
        case .act(let action, let target): try ClientCommands.act(action, target: target, console: console)
        case .products(let limit, let after, let json, let target):
            try ClientCommands.products(limit: limit, after: after, json: json, target: target, console: console)
        case .rebalance(let apply, let tolerance, let pinned, let actor, let json, let target):
            try Rebalance.run(apply: apply, tolerance: tolerance, pinned: pinned, actor: actor, json: json, target: target, console: console)
        case .drain(let shard, let actor, let json, let target):
            try ClientCommands.drain(shard: shard, actor: actor, json: json, target: target, console: console)
        case .undrain(let shard, let actor, let json, let target):
            try ClientCommands.undrain(shard: shard, actor: actor, json: json, target: target, console: console)
        case .history(let run, let product, let actor, let page, let json, let target):
            try ClientCommands.history(run: run, product: product, actor: actor, page: page, json: json, target: target, console: console)
        case .schedule(let flow, let next, let json, let target):
            try ClientCommands.schedule(flow: flow, next: next, json: json, target: target, console: console)
        case .calendars(let next, let json, let target): try ClientCommands.calendars(next: next, json: json, target: target, console: console)
        case .help, .version, .validate: preconditionFailure("handled by run(_:console:)")
        }
    }
}
