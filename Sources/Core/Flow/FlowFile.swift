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
    public static let flowFields = ["product", "flow", "description", "params", "on_failure", "jobs"]
    /// The fields a job may have.
    public static let jobFields = [
        "name", "after", "run", "handler", "retries", "timeout", "backoff", "priority", "params", "type", "tags",
        "description", "on_failure",
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
    var reader = FieldReader()

    init(file: String) { self.file = file }

    /// The problems found, as flow problems of this file.
    var problems: [FlowProblem] {
        reader.issues.map { FlowProblem(file: file, position: $0.position, job: $0.subject, field: $0.field, message: $0.message) }
    }

    mutating func flow(_ root: JSON) -> FlowDefinition? {
        guard let object = root.members else {
            reader.report(root.position, "a flow file holds one JSON object, found \(root.kindDescription)")
            return nil
        }
        let fields = reader.members(of: object, allowed: FlowFile.flowFields, subject: nil)
        let product = reader.requiredName(fields["product"], field: "product", subject: nil, at: root.position)
        let flow = reader.requiredName(fields["flow"], field: "flow", subject: nil, at: root.position)
        let description = reader.optionalString(fields["description"], field: "description", subject: nil) ?? ""
        let params = fields["params"].flatMap { reader.parameters($0, subject: nil) }
        let onFailure = fields["on_failure"].flatMap { policy($0, subject: nil) }
        let jobs = jobList(fields["jobs"], at: root.position, flow: flow ?? "flow")
        guard let product, let flow, let jobs else { return nil }
        return FlowDefinition(
            product: product, flow: flow, description: description, params: params, onFailure: onFailure ?? .finishBranches,
            jobs: jobs)
    }

    mutating func policy(_ value: JSON, subject: String?) -> FailurePolicy? {
        guard let text = value.string, let policy = FailurePolicy(rawValue: text) else {
            let found = value.string.map { "\"\($0)\"" } ?? value.kindDescription
            reader.report(value.position, subject: subject, field: "on_failure", "expected \"finish-branches\" or \"fail-run\", found \(found)")
            return nil
        }
        return policy
    }

    // MARK: Jobs

    mutating func jobList(_ value: JSON?, at flowPosition: JSON.Position, flow: String) -> [JobDefinition]? {
        guard let value else {
            reader.report(flowPosition, field: "jobs", "missing: a flow needs at least one job")
            return nil
        }
        guard let elements = value.array else {
            reader.report(value.position, field: "jobs", "expected an array of jobs, found \(value.kindDescription)")
            return nil
        }
        if elements.isEmpty {
            reader.report(value.position, field: "jobs", "a flow needs at least one job")
            return nil
        }
        var jobs: [JobDefinition] = []
        var positions: [JSON.Position] = []
        var afterPositions: [JSON.Position] = []
        var complete = true
        for (offset, element) in elements.enumerated() {
            if let job = job(element, number: offset + 1, flow: flow) {
                jobs.append(job)
                positions.append(element.position)
                afterPositions.append(element["after"]?.position ?? element.position)
            } else {
                complete = false
            }
        }
        checkDependencies(jobs, positions: positions, afterPositions: afterPositions)
        return complete ? jobs : nil
    }

    mutating func job(_ element: JSON, number: Int, flow: String) -> JobDefinition? {
        guard let object = element.members else {
            reader.report(element.position, subject: "#\(number)", "expected a job object, found \(element.kindDescription)")
            return nil
        }
        // Name first, so that every later problem can name the job.
        let nameValue = object.first { $0.key == "name" }?.value
        let label = nameValue?.string.flatMap { Names.isValid($0) ? $0 : nil } ?? "#\(number)"
        let fields = reader.members(of: object, allowed: FlowFile.jobFields, subject: label)
        let jobName = reader.requiredName(fields["name"], field: "name", subject: label, at: element.position)

        let action: JobDefinition.Action?
        switch (fields["run"], fields["handler"]) {
        case (let run?, nil):
            action = reader.nonEmptyString(run, field: "run", subject: label).map(JobDefinition.Action.command)
        case (nil, let handler?):
            action = reader.name(handler, field: "handler", subject: label).map(JobDefinition.Action.handler)
        case (.some, .some):
            reader.report(element.position, subject: label, "give either \"run\" (a command) or \"handler\", not both")
            action = nil
        case (nil, nil):
            reader.report(element.position, subject: label, "missing \"run\" (a command) or \"handler\": a job must run something")
            action = nil
        }

        let after = fields["after"].flatMap { reader.nameList($0, field: "after", subject: label) } ?? []
        let retries = fields["retries"].flatMap { reader.integer($0, field: "retries", subject: label, in: 0...FlowFile.maximumRetries) }
        let timeout = fields["timeout"].flatMap { reader.duration($0, field: "timeout", subject: label, allowZero: false) }
        let backoff = fields["backoff"].flatMap { reader.duration($0, field: "backoff", subject: label, allowZero: true) }
        let priority = fields["priority"].flatMap { reader.integer($0, field: "priority", subject: label, in: FlowFile.priorities) }
        let params = fields["params"].flatMap { reader.parameters($0, subject: label) }
        let type = fields["type"].flatMap { reader.name($0, field: "type", subject: label) }
        let tags = fields["tags"].flatMap { reader.nameList($0, field: "tags", subject: label) } ?? []
        let description = reader.optionalString(fields["description"], field: "description", subject: label) ?? ""
        let onFailure = fields["on_failure"].flatMap { policy($0, subject: label) }

        guard let jobName, let action else { return nil }
        return JobDefinition(
            name: jobName, after: after, action: action, retries: retries ?? 0, timeout: timeout,
            backoff: backoff ?? JobDefinition.defaultBackoff, priority: priority ?? 0, params: params ?? [:],
            type: type, tags: tags, description: description, onFailure: onFailure)
    }

    /// Duplicate names, unknown and self dependencies, and cycles, across the whole flow.
    mutating func checkDependencies(_ jobs: [JobDefinition], positions: [JSON.Position], afterPositions: [JSON.Position]) {
        var firstLine: [String: Int] = [:]
        for (job, position) in zip(jobs, positions) {
            if let line = firstLine[job.name] {
                reader.report(position, subject: job.name, field: "name", "the name is already used by the job at line \(line)")
            } else {
                firstLine[job.name] = position.line
            }
        }
        let known = Set(jobs.map(\.name))
        for (job, afterPosition) in zip(jobs, afterPositions) {
            for dependency in job.after {
                if dependency == job.name {
                    reader.report(afterPosition, subject: job.name, field: "after", "a job cannot run after itself")
                } else if !known.contains(dependency) {
                    var message = "unknown job \"\(dependency)\""
                    if let suggestion = Names.suggestion(for: dependency, among: known) {
                        message += " (did you mean \"\(suggestion)\"?)"
                    }
                    reader.report(afterPosition, subject: job.name, field: "after", message)
                }
            }
        }
        let indexOf = Dictionary(jobs.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        for cycle in FlowGraph.cycles(names: jobs.map(\.name), after: jobs.map(\.after)) {
            let path = (cycle + [cycle[0]]).map { "\"\($0)\"" }.joined(separator: " → ")
            let position = positions[indexOf[cycle[0]]!]
            reader.report(position, subject: cycle[0], field: "after", "the jobs \(path) form a cycle, so none of them can start")
        }
    }

}

extension FlowDefinition {
    /// The flow as canonical JSON: the form stored and sent to the flow scheduler.
    /// `FlowFile.parse` reads it back to an equal definition.
    public var json: JSON {
        var members: [(String, JSON)] = [("product", .string(product)), ("flow", .string(flow))]
        if !description.isEmpty { members.append(("description", .string(description))) }
        if let params { members.append(("params", .strings(params))) }
        if onFailure != .finishBranches { members.append(("on_failure", .string(onFailure.rawValue))) }
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
        if let onFailure { members.append(("on_failure", .string(onFailure.rawValue))) }
        return .object(members)
    }
}
