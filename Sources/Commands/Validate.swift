import Core
import Foundation

/// `baton validate`: checks flow files, printing every problem of every file.
enum Validate {
    static func run(files: [String], json: Bool, console: any Console) -> ExitCode {
        var allValid = true
        for file in files {
            let result: Result<FlowDefinition, FlowFileError>
            do {
                let text = try String(contentsOfFile: file, encoding: .utf8)
                result = FlowFile.parse(text, file: file)
            } catch {
                let reason = (error as? CocoaError)?.code == .fileReadNoSuchFile ? "no such file" : "cannot read it as UTF-8 text"
                result = .failure(FlowFileError(problems: [FlowProblem(file: file, position: .none, message: reason)]))
            }
            if case .failure = result { allValid = false }
            if json {
                console.out(report(file: file, result).rendered())
                continue
            }
            switch result {
            case .success(let flow):
                console.out("ok    \(file): \(flow.qualifiedName), \(flow.jobs.count) job\(flow.jobs.count == 1 ? "" : "s")")
            case .failure(let error):
                let count = error.problems.count
                console.out("FAIL  \(file): \(count) problem\(count == 1 ? "" : "s")")
                for problem in error.problems { console.err(problem.description) }
            }
        }
        return allValid ? .success : .failure
    }

    static func report(file: String, _ result: Result<FlowDefinition, FlowFileError>) -> JSON {
        switch result {
        case .success(let flow):
            return .object([
                ("file", .string(file)), ("valid", .bool(true)), ("product", .string(flow.product)),
                ("flow", .string(flow.flow)), ("jobs", .number(flow.jobs.count)), ("problems", .array([])),
            ])
        case .failure(let error):
            let problems = error.problems.map { problem in
                JSON.object([
                    ("line", .number(problem.position.line)), ("column", .number(problem.position.column)),
                    ("job", problem.job.map(JSON.string) ?? .null), ("field", problem.field.map(JSON.string) ?? .null),
                    ("message", .string(problem.message)), ("text", .string(problem.description)),
                ])
            }
            return .object([("file", .string(file)), ("valid", .bool(false)), ("problems", .array(problems))])
        }
    }
}
