/// Reads flow files: JSON definitions of one product's flow, validated as a whole.
///
/// ```json
/// {"product": "payments", "flow": "end-of-day", "params": {"region": "north"},
///  "jobs": [
///    {"name": "extract", "run": "echo extracting $BATON_PARAM_region"},
///    {"name": "check",   "after": ["extract"], "run": "./check.sh", "retries": 2, "timeout": "30s"},
///    {"name": "load",    "after": ["extract"], "handler": "load-ledger"},
///    {"name": "report",  "after": ["check", "load"], "run": "echo done"}]}
/// ```
///
/// Validation reports every problem at once, each with the file, line and column, the job and the
/// field, so that a file with five mistakes takes one round to fix, not five. `docs/flows.md` is the
/// reference for every field.
public enum FlowFile {
    /// The fields a flow may have.
    public static let flowFields = ["product", "flow", "description", "params", "jobs"]
    /// The fields a job may have.
    public static let jobFields = [
        "name", "after", "run", "handler", "retries", "timeout", "backoff", "priority", "params", "type", "tags",
        "description",
    ]
    /// The most retries a job may declare.
    public static let maximumRetries = 100
    /// The range of priorities.
    public static let priorities = -1000...1000
    /// The longest timeout or backoff: 7 days, within a wire `number-4` of milliseconds.
    public static let maximumDuration: Int64 = 7 * 86_400_000

    /// Parses and validates one flow file.
    public static func parse(_ text: String, file: String) -> Result<FlowDefinition, FlowFileError> {
        let root: JSON
        do {
            root = try JSONParser.parse(text)
        } catch {
            let problem = FlowProblem(file: file, position: error.position, message: "invalid JSON: \(error.message)")
            return .failure(FlowFileError(problems: [problem]))
        }
        var validator = FlowValidator(file: file)
        let definition = validator.flow(root)
        if let definition, validator.problems.isEmpty { return .success(definition) }
        return .failure(FlowFileError(problems: validator.problems))
    }
}

/// Walks a parsed flow file, collecting problems instead of stopping at the first.
struct FlowValidator {
    let file: String
    var problems: [FlowProblem] = []

    init(file: String) { self.file = file }

    mutating func report(_ at: JSON.Position, job: String? = nil, field: String? = nil, _ message: String) {
        problems.append(FlowProblem(file: file, position: at, job: job, field: field, message: message))
    }

    /// The members of `object` by key, reporting repeated and unknown keys.
    mutating func members(of object: [JSON.Member], allowed: [String], job: String?) -> [String: JSON] {
        var byKey: [String: JSON] = [:]
        var firstPosition: [String: JSON.Position] = [:]
        for member in object {
            if let first = firstPosition[member.key] {
                report(member.keyPosition, job: job, field: member.key, "given twice (first at line \(first.line))")
                continue
            }
            firstPosition[member.key] = member.keyPosition
            guard allowed.contains(member.key) else {
                var message = "unknown field"
                if let suggestion = Names.suggestion(for: member.key, among: allowed) {
                    message += " (did you mean \"\(suggestion)\"?)"
                } else {
                    message += " (known fields: \(allowed.joined(separator: ", ")))"
                }
                report(member.keyPosition, job: job, field: member.key, message)
                continue
            }
            byKey[member.key] = member.value
        }
        return byKey
    }

    mutating func flow(_ root: JSON) -> FlowDefinition? {
        guard let object = root.members else {
            report(root.position, "a flow file holds one JSON object, found \(root.kindDescription)")
            return nil
        }
        let fields = members(of: object, allowed: FlowFile.flowFields, job: nil)
        let product = requiredName(fields["product"], field: "product", job: nil, at: root.position)
        let flow = requiredName(fields["flow"], field: "flow", job: nil, at: root.position)
        let description = optionalString(fields["description"], field: "description", job: nil) ?? ""
        let params = fields["params"].flatMap { parameters($0, job: nil) }
        let jobs = jobList(fields["jobs"], at: root.position, flow: flow ?? "flow")
        guard let product, let flow, let jobs else { return nil }
        return FlowDefinition(product: product, flow: flow, description: description, params: params, jobs: jobs)
    }

    // MARK: Jobs

    mutating func jobList(_ value: JSON?, at flowPosition: JSON.Position, flow: String) -> [JobDefinition]? {
        guard let value else {
            report(flowPosition, field: "jobs", "missing: a flow needs at least one job")
            return nil
        }
        guard let elements = value.array else {
            report(value.position, field: "jobs", "expected an array of jobs, found \(value.kindDescription)")
            return nil
        }
        if elements.isEmpty {
            report(value.position, field: "jobs", "a flow needs at least one job")
            return nil
        }
        var jobs: [JobDefinition] = []
        var positions: [JSON.Position] = []
        var complete = true
        for (offset, element) in elements.enumerated() {
            if let job = job(element, number: offset + 1, flow: flow) {
                jobs.append(job)
                positions.append(element.position)
            } else {
                complete = false
            }
        }
        checkDependencies(jobs, positions: positions, elements: elements)
        return complete ? jobs : nil
    }

    mutating func job(_ element: JSON, number: Int, flow: String) -> JobDefinition? {
        guard let object = element.members else {
            report(element.position, job: "#\(number)", "expected a job object, found \(element.kindDescription)")
            return nil
        }
        // Name first, so that every later problem can name the job.
        let nameValue = object.first { $0.key == "name" }?.value
        let label = nameValue?.string.flatMap { Names.isValid($0) ? $0 : nil } ?? "#\(number)"
        let fields = members(of: object, allowed: FlowFile.jobFields, job: label)
        let jobName = requiredName(fields["name"], field: "name", job: label, at: element.position)

        let action: JobDefinition.Action?
        switch (fields["run"], fields["handler"]) {
        case (let run?, nil):
            action = nonEmptyString(run, field: "run", job: label).map(JobDefinition.Action.command)
        case (nil, let handler?):
            action = self.name(handler, field: "handler", job: label).map(JobDefinition.Action.handler)
        case (.some, .some):
            report(element.position, job: label, "give either \"run\" (a command) or \"handler\", not both")
            action = nil
        case (nil, nil):
            report(element.position, job: label, "missing \"run\" (a command) or \"handler\": a job must run something")
            action = nil
        }

        let after = fields["after"].flatMap { nameList($0, field: "after", job: label) } ?? []
        let retries = fields["retries"].flatMap { integer($0, field: "retries", job: label, in: 0...FlowFile.maximumRetries) }
        let timeout = fields["timeout"].flatMap { duration($0, field: "timeout", job: label, allowZero: false) }
        let backoff = fields["backoff"].flatMap { duration($0, field: "backoff", job: label, allowZero: true) }
        let priority = fields["priority"].flatMap { integer($0, field: "priority", job: label, in: FlowFile.priorities) }
        let params = fields["params"].flatMap { parameters($0, job: label) }
        let type = fields["type"].flatMap { self.name($0, field: "type", job: label) }
        let tags = fields["tags"].flatMap { nameList($0, field: "tags", job: label) } ?? []
        let description = optionalString(fields["description"], field: "description", job: label) ?? ""

        guard let jobName, let action else { return nil }
        return JobDefinition(
            name: jobName, after: after, action: action, retries: retries ?? 0, timeout: timeout,
            backoff: backoff ?? JobDefinition.defaultBackoff, priority: priority ?? 0, params: params ?? [:],
            type: type, tags: tags, description: description)
    }

    /// Duplicate names, unknown and self dependencies, and cycles, across the whole flow.
    mutating func checkDependencies(_ jobs: [JobDefinition], positions: [JSON.Position], elements: [JSON]) {
        var firstLine: [String: Int] = [:]
        for (job, position) in zip(jobs, positions) {
            if let line = firstLine[job.name] {
                report(position, job: job.name, field: "name", "the name is already used by the job at line \(line)")
            } else {
                firstLine[job.name] = position.line
            }
        }
        let known = Set(jobs.map(\.name))
        for (job, position) in zip(jobs, positions) {
            let afterPosition = elements.first { $0.position == position }?["after"]?.position ?? position
            for dependency in job.after {
                if dependency == job.name {
                    report(afterPosition, job: job.name, field: "after", "a job cannot run after itself")
                } else if !known.contains(dependency) {
                    var message = "unknown job \"\(dependency)\""
                    if let suggestion = Names.suggestion(for: dependency, among: known) {
                        message += " (did you mean \"\(suggestion)\"?)"
                    }
                    report(afterPosition, job: job.name, field: "after", message)
                }
            }
        }
        for cycle in FlowGraph.cycles(names: jobs.map(\.name), after: jobs.map(\.after)) {
            let path = (cycle + [cycle[0]]).map { "\"\($0)\"" }.joined(separator: " → ")
            let position = positions[jobs.firstIndex { $0.name == cycle[0] }!]
            report(position, job: cycle[0], field: "after", "the jobs \(path) form a cycle, so none of them can start")
        }
    }

    // MARK: Field readers

    mutating func requiredName(_ value: JSON?, field: String, job: String?, at owner: JSON.Position) -> String? {
        guard let value else {
            report(owner, job: job, field: field, "missing")
            return nil
        }
        return name(value, field: field, job: job)
    }

    mutating func name(_ value: JSON, field: String, job: String?) -> String? {
        guard let text = value.string else {
            report(value.position, job: job, field: field, "expected a name in a string, found \(value.kindDescription)")
            return nil
        }
        guard Names.isValid(text) else {
            report(
                value.position, job: job, field: field,
                "\"\(text)\" is not a valid name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)")
            return nil
        }
        return text
    }

    mutating func nonEmptyString(_ value: JSON, field: String, job: String?) -> String? {
        guard let text = value.string else {
            report(value.position, job: job, field: field, "expected a string, found \(value.kindDescription)")
            return nil
        }
        guard !text.allSatisfy(\.isWhitespace) else {
            report(value.position, job: job, field: field, "must not be empty")
            return nil
        }
        return text
    }

    mutating func optionalString(_ value: JSON?, field: String, job: String?) -> String? {
        guard let value else { return nil }
        guard let text = value.string else {
            report(value.position, job: job, field: field, "expected a string, found \(value.kindDescription)")
            return nil
        }
        return text
    }

    mutating func integer(_ value: JSON, field: String, job: String?, in range: ClosedRange<Int>) -> Int? {
        guard let number = value.integer, let whole = Int(exactly: number), range.contains(whole) else {
            let found = value.integer.map { "\($0)" } ?? value.kindDescription
            report(
                value.position, job: job, field: field,
                "expected a whole number from \(range.lowerBound) to \(range.upperBound), found \(found)")
            return nil
        }
        return whole
    }

    mutating func duration(_ value: JSON, field: String, job: String?, allowZero: Bool) -> Int64? {
        guard let text = value.string else {
            report(
                value.position, job: job, field: field,
                "expected a duration in a string such as \"30s\", found \(value.kindDescription)")
            return nil
        }
        guard let milliseconds = DurationText.parse(text) else {
            report(
                value.position, job: job, field: field,
                "\"\(text)\" is not a duration (write e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\", \"2d\")")
            return nil
        }
        guard milliseconds > 0 || allowZero, milliseconds <= FlowFile.maximumDuration else {
            report(value.position, job: job, field: field, "\"\(text)\" is out of range (more than 0, at most 7d)")
            return nil
        }
        return milliseconds
    }

    mutating func nameList(_ value: JSON, field: String, job: String?) -> [String]? {
        guard let elements = value.array else {
            report(value.position, job: job, field: field, "expected an array of names, found \(value.kindDescription)")
            return nil
        }
        var names: [String] = []
        for element in elements {
            guard let name = name(element, field: field, job: job) else { continue }
            if names.contains(name) {
                report(element.position, job: job, field: field, "lists \"\(name)\" twice")
            } else {
                names.append(name)
            }
        }
        return names
    }

    /// Parameters: an object whose values are strings, numbers or Booleans, kept as text.
    mutating func parameters(_ value: JSON, job: String?) -> [String: String]? {
        guard let object = value.members else {
            report(value.position, job: job, field: "params", "expected an object of parameters, found \(value.kindDescription)")
            return nil
        }
        var params: [String: String] = [:]
        for member in object {
            let field = "params.\(member.key)"
            guard Names.isValidParameter(member.key) else {
                report(
                    member.keyPosition, job: job, field: field,
                    "not a valid parameter name (letters, digits and '_', not starting with a digit)")
                continue
            }
            if params[member.key] != nil {
                report(member.keyPosition, job: job, field: field, "given twice")
                continue
            }
            switch member.value.value {
            case .string(let text): params[member.key] = text
            case .number(let text): params[member.key] = text
            case .bool(let flag): params[member.key] = flag ? "true" : "false"
            default:
                report(
                    member.value.position, job: job, field: field,
                    "expected a string, number or Boolean, found \(member.value.kindDescription)")
            }
        }
        return params
    }
}

extension FlowDefinition {
    /// The flow as canonical JSON: the form stored and sent to the flow scheduler.
    /// `FlowFile.parse` reads it back to an equal definition.
    public var json: JSON {
        var members: [(String, JSON)] = [("product", .string(product)), ("flow", .string(flow))]
        if !description.isEmpty { members.append(("description", .string(description))) }
        if let params { members.append(("params", .strings(params))) }
        members.append(("jobs", .array(jobs.map(\.json))))
        return .object(members)
    }
}

extension JobDefinition {
    /// The job as canonical JSON, with defaults left out.
    public var json: JSON {
        var members: [(String, JSON)] = [("name", .string(name))]
        if !after.isEmpty { members.append(("after", .array(after.map(JSON.string)))) }
        switch action {
        case .command(let command): members.append(("run", .string(command)))
        case .handler(let handler): members.append(("handler", .string(handler)))
        }
        if retries != 0 { members.append(("retries", .number(retries))) }
        if let timeout { members.append(("timeout", .string(DurationText.format(timeout)))) }
        if backoff != JobDefinition.defaultBackoff { members.append(("backoff", .string(DurationText.format(backoff)))) }
        if priority != 0 { members.append(("priority", .number(priority))) }
        if !params.isEmpty { members.append(("params", JSON.strings(params))) }
        if let type { members.append(("type", .string(type))) }
        if !tags.isEmpty { members.append(("tags", .array(tags.map(JSON.string)))) }
        if !description.isEmpty { members.append(("description", .string(description))) }
        return .object(members)
    }
}
