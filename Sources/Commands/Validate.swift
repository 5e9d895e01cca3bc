import Core
import Foundation
import Runtime

/// `baton validate`: checks flow files and calendar files, printing every problem of every file.
/// A schedule's time zone is checked against this machine's database; calendar names are checked by `apply`.
enum Validate {
    static func run(files: [String], json: Bool, console: any Console) -> ExitCode {
        var allValid = true
        for file in files {
            if let calendar = CalendarFiles.name(of: file) {
                if !validateCalendar(file, name: calendar, json: json, console: console) { allValid = false }
                continue
            }
            let result: Result<FlowDefinition, FlowFileError> =
                switch TextFile.read(file) {
                case .success(let text): FlowFile.parse(text, file: file, names: ScheduleNames(zones: SystemZones.shared.lookup))
                case .failure(let unreadable): .failure(FlowFileError(problems: [FlowProblem(file: file, position: .none, message: "\(unreadable)")]))
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

    /// Checks one calendar file; returns whether it is valid.
    static func validateCalendar(_ file: String, name: String, json: Bool, console: any Console) -> Bool {
        var calendar: BusinessCalendar?
        var problems: [CalendarFileProblem] = []
        if !Names.isValid(name) {
            problems = [CalendarFileProblem(message: "\"\(name)\" is not a calendar name (1 to 64 letters, digits, '.', '_' or '-')")]
        } else if BuiltInCalendars.named(name) != nil {
            problems = [CalendarFileProblem(message: "\"\(name)\" is a built-in calendar and cannot be replaced; give the file another name")]
        } else {
            switch TextFile.read(file) {
            case .success(let text):
                let checked = BusinessCalendar.check(text, name: name)
                calendar = checked.calendar
                problems = checked.problems.map { CalendarFileProblem(line: $0.line, column: $0.column, message: $0.message) }
            case .failure(let unreadable):
                problems = [CalendarFileProblem(message: "\(unreadable)")]
            }
        }
        let location = { (problem: CalendarFileProblem) in problem.line > 0 ? "\(file):\(problem.line):\(problem.column)" : file }
        switch calendar {
        case let calendar?:
            let holidays = calendar.holidays(from: CivilDate(year: 1, month: 1, day: 1), limit: Int.max).count
            if json {
                console.out(
                    JSON.object([
                        ("file", .string(file)), ("valid", .bool(true)), ("calendar", .string(name)), ("holidays", .number(holidays)),
                        ("problems", .array([])),
                    ]).rendered())
            } else {
                console.out("ok    \(file): calendar \(name), \(holidays) holiday\(holidays == 1 ? "" : "s")")
            }
            return true
        case nil:
            if json {
                let items = problems.map { problem in
                    JSON.object([
                        ("line", .number(problem.line)), ("column", .number(problem.column)), ("message", .string(problem.message)),
                        ("text", .string("\(location(problem)): \(problem.message)")),
                    ])
                }
                console.out(
                    JSON.object([("file", .string(file)), ("valid", .bool(false)), ("calendar", .string(name)), ("problems", .array(items))]).rendered())
            } else {
                console.out("FAIL  \(file): \(problems.count) problem\(problems.count == 1 ? "" : "s")")
                for problem in problems { console.err("\(location(problem)): \(problem.message)") }
            }
            return false
        }
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

/// A calendar file's problem, with its line and column (0 when it has none).
struct CalendarFileProblem {
    var line = 0
    var column = 0
    var message: String
}
