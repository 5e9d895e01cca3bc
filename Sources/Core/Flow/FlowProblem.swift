/// One thing wrong with a flow file, located well enough to fix it without reading the rest.
public struct FlowProblem: Equatable, Sendable, CustomStringConvertible {
    /// The file's path as the user gave it.
    public var file: String
    /// Where in the file; `.none` when the problem has no single place.
    public var position: JSON.Position
    /// The job, by name, or `#n` (from 1) when it has no usable name; nil for the flow itself.
    public var job: String?
    /// The field, or nil when the problem is not about one field.
    public var field: String?
    /// What is wrong, and what would be right.
    public var message: String

    public init(file: String, position: JSON.Position, job: String? = nil, field: String? = nil, message: String) {
        self.file = file
        self.position = position
        self.job = job
        self.field = field
        self.message = message
    }

    /// `flows/eod.json:7:18: job "check": field "retries": expected a whole number from 0 to 100, found a string`
    public var description: String {
        var text = file
        if position != .none { text += ":\(position)" }
        text += ":"
        if let job { text += " job \(quoted(job)):" }
        if let field { text += " field \(quoted(field)):" }
        return text + " " + message
    }

    /// A name in quotes; a position (`#3`) or a subject already quoted (`"etl" step "load"`) as it is.
    private func quoted(_ name: String) -> String { name.hasPrefix("#") || name.hasPrefix("\"") ? name : "\"\(name)\"" }
}

/// A flow file that cannot be used, with every problem found in it.
public struct FlowFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The problems, in the order they appear in the file.
    public var problems: [FlowProblem]

    public init(problems: [FlowProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
