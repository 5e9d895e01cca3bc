import Wire

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
    public static let flowFields = ["product", "flow", "description", "params", "on_failure", "schedule", "fairness", "jobs"]
    /// The fields a job may have.
    public static let jobFields = [
        "name", "after", "run", "handler", "partitions", "steps", "inputs", "retries", "timeout", "backoff", "priority",
        "params", "type", "tags", "description", "on_failure", "batch",
    ]
    /// The fields a step may have.
    public static let stepFields = ["name", "run", "handler", "partitions"]
    /// The most steps a job may declare.
    public static let maximumSteps = Limits.steps
    /// The longest command line (`run`), in octets.
    public static let maximumCommand = Limits.action
    /// The most octets a job may take as a shard receives it, without its parameters, product, flow and
    /// fairness key: 14 MiB, leaving room for them within ``Limits/jobSpec``. A job's steps, their commands
    /// and partition keys make it up (the job's partition keys count once for each step they split).
    public static let maximumJobSize = 14 << 20
    /// The most retries a job may declare.
    public static let maximumRetries = 100
    /// The range of priorities.
    public static let priorities = -1000...1000
    /// The longest timeout or backoff: 7 days, within a wire `number-4` of milliseconds.
    public static let maximumDuration: Int64 = 7 * 86_400_000

    /// Parses and validates one flow file; a schedule's zone and calendar are checked against `names`.
    ///
    /// With `checkingLimits` false, what keeps a run carriable (the sizes of commands, jobs and parameters,
    /// see `docs/flows.md`, "Limits") is not checked: for a definition read back from a store, which was
    /// valid when it was applied and must still read back. The orchestrator checks every job it makes of
    /// one (``JobSpec/limitProblem``), and fails a job no shard would take.
    public static func parse(
        _ text: String, file: String, names: ScheduleNames = .unchecked, checkingLimits: Bool = true
    ) -> Result<FlowDefinition, FlowFileError> {
        let root: JSON
        do {
            root = try JSONParser.parse(text)
        } catch {
            let problem = FlowProblem(file: file, position: error.position, message: "invalid JSON: \(error.message)")
            return .failure(FlowFileError(problems: [problem]))
        }
        var validator = FlowValidator(file: file, names: names, checkingLimits: checkingLimits)
        let definition = validator.flow(root)
        if let definition, validator.problems.isEmpty { return .success(definition) }
        return .failure(FlowFileError(problems: validator.problems))
    }
}

/// Walks a parsed flow file, collecting problems instead of stopping at the first.
struct FlowValidator {
    let file: String
    let names: ScheduleNames
    /// Whether the sizes that keep a run carriable are checked (``FlowFile/parse(_:file:names:checkingLimits:)``).
    let checkingLimits: Bool
    var reader = FieldReader()

    init(file: String, names: ScheduleNames, checkingLimits: Bool = true) {
        self.file = file
        self.names = names
        self.checkingLimits = checkingLimits
    }

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
        let schedule = fields["schedule"].flatMap { self.schedule($0, names: names) }
        let fairness = fields["fairness"].flatMap { self.fairness($0, params: params) }
        if checkingLimits, let params, let value = fields["params"] {
            checkDefaults(params, at: value.position, scheduled: schedule != nil)
        }
        let jobs = jobList(fields["jobs"], at: root.position, flow: flow ?? "flow")
        guard let product, let flow, let jobs, fields["schedule"] == nil || schedule != nil, fields["fairness"] == nil || fairness != nil
        else { return nil }
        return FlowDefinition(
            product: product, flow: flow, description: description, params: params, onFailure: onFailure ?? .finishBranches,
            schedule: schedule, fairness: fairness, jobs: jobs)
    }

    /// `fairness`: `{"key": "K"}`, every run under the key K, or `{"param": "P"}`, each run under its
    /// value of the parameter P (one the flow declares, when it declares any).
    mutating func fairness(_ value: JSON, params: [String: String]?) -> FairnessKey? {
        guard let object = value.members else {
            reader.report(value.position, field: "fairness", "expected {\"key\": \"...\"} or {\"param\": \"...\"}, found \(value.kindDescription)")
            return nil
        }
        let fields = reader.members(of: object, allowed: ["key", "param"], subject: nil)
        switch (fields["key"], fields["param"]) {
        case (let key?, nil):
            guard let text = reader.nonEmptyString(key, field: "fairness.key", subject: nil) else { return nil }
            guard text.utf8.count <= FairnessKey.maximumLength else {
                reader.report(key.position, field: "fairness.key", "a key is at most \(FairnessKey.maximumLength) octets, found \(text.utf8.count)")
                return nil
            }
            return .key(text)
        case (nil, let param?):
            guard let name = param.string, Names.isValidParameter(name) else {
                reader.report(param.position, field: "fairness.param", "expected a parameter's name (letters, digits and '_', not starting with a digit), found \(param.string.map { "\"\($0)\"" } ?? param.kindDescription)")
                return nil
            }
            if let params, params[name] == nil {
                let declared = params.keys.sorted().joined(separator: ", ")
                reader.report(param.position, field: "fairness.param", "\"\(name)\" is not a declared parameter (declared: \(declared.isEmpty ? "none" : declared))")
                return nil
            }
            return .param(name)
        case (.some, .some):
            reader.report(value.position, field: "fairness", "give either \"key\" or \"param\", not both")
            return nil
        case (nil, nil):
            reader.report(value.position, field: "fairness", "missing \"key\" (a fixed key) or \"param\" (the parameter whose value is the key)")
            return nil
        }
    }

    /// The flow's declared parameters, which every run starts from: within a run's limits, with room for
    /// `business_date` when the timer starts its runs.
    mutating func checkDefaults(_ params: [String: String], at position: JSON.Position, scheduled: Bool) {
        var size = Limits.size(ofParameters: params)
        if scheduled && params["business_date"] == nil { size += ParameterLimits.businessDate }
        for (name, value) in params.sorted(by: { $0.key < $1.key }) where value.utf8.count > ParameterLimits.value {
            reader.report(
                position, subject: nil, field: "params.\(name)",
                "\(value.utf8.count) octets, more than the \(ParameterLimits.value) a parameter's value may be")
        }
        if size > ParameterLimits.run {
            reader.report(
                position, subject: nil, field: "params",
                "the defaults take \(size) octets (names and values\(scheduled ? ", with business_date" : "")), more than the \(ParameterLimits.run) a run's parameters may")
        }
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

        let partitions = fields["partitions"].flatMap { self.partitions($0, subject: label) }
        // What the steps take as a shard receives them, the job's keys counted once per step they split
        // (and added up once, however many steps share them).
        let sharedKeys = partitions.map(Self.keysSize) ?? 0
        var stepsSize = 0
        var steps: [StepDefinition]?
        if let declared = fields["steps"] {
            if fields["run"] != nil || fields["handler"] != nil {
                reader.report(declared.position, subject: label, field: "steps", "give either \"steps\" or one \"run\" or \"handler\", not both")
            }
            steps = stepList(declared, job: label, partitions: partitions, sharedKeys: sharedKeys, size: &stepsSize)
        } else {
            let action = self.action(run: fields["run"], handler: fields["handler"], at: element.position, subject: label)
            if let jobName, let action {
                steps = [StepDefinition(name: jobName, action: action, partitions: partitions ?? .count(1))]
                stepsSize = Self.stepSize(name: jobName, action: action, keys: sharedKeys)
            }
        }

        let after = fields["after"].flatMap { reader.nameList($0, field: "after", subject: label) } ?? []
        let inputs = fields["inputs"].flatMap { reader.nameList($0, field: "inputs", subject: label) } ?? []
        let retries = fields["retries"].flatMap { reader.integer($0, field: "retries", subject: label, in: 0...FlowFile.maximumRetries) }
        let timeout = fields["timeout"].flatMap { reader.duration($0, field: "timeout", subject: label, allowZero: false, maximum: FlowFile.maximumDuration) }
        let backoff = fields["backoff"].flatMap { reader.duration($0, field: "backoff", subject: label, allowZero: true, maximum: FlowFile.maximumDuration) }
        let priority = fields["priority"].flatMap { reader.integer($0, field: "priority", subject: label, in: FlowFile.priorities) }
        let params = fields["params"].flatMap { reader.parameters($0, subject: label) }
        if checkingLimits, let params, let value = fields["params"], Limits.size(ofParameters: params) > ParameterLimits.job {
            reader.report(
                value.position, subject: label, field: "params",
                "\(Limits.size(ofParameters: params)) octets (names and values), more than the \(ParameterLimits.job) a job's own parameters may take")
        }
        let type = fields["type"].flatMap { reader.name($0, field: "type", subject: label) }
        let tags = fields["tags"].flatMap { reader.nameList($0, field: "tags", subject: label) } ?? []
        let description = reader.optionalString(fields["description"], field: "description", subject: label) ?? ""
        let onFailure = fields["on_failure"].flatMap { policy($0, subject: label) }
        let batch = fields["batch"].flatMap { reader.integer($0, field: "batch", subject: label, in: 2...Int(JobSpec.batchLimit)) }
        if let value = fields["batch"], let steps, steps.contains(where: { if case .handler = $0.action { true } else { false } }) {
            reader.report(
                value.position, subject: label, field: "batch",
                "applies to command jobs (\"run\") only: a handler takes sets with registerSet in its worker")
        }

        if checkingLimits, steps != nil {
            let lists = (tags + inputs).reduce(0) { $0 + 4 + $1.utf8.count }
            let size = JobSpec.minimumSize + label.utf8.count + (type?.utf8.count ?? 0) + lists + stepsSize
            if size > FlowFile.maximumJobSize {
                reader.report(
                    element.position, subject: label, field: fields["steps"] == nil ? "partitions" : "steps",
                    "the job takes \(size) octets as a shard receives it (its steps, each with its command and partition keys), more than the \(FlowFile.maximumJobSize) a job may")
            }
        }

        guard let jobName, let steps, fields["batch"] == nil || batch != nil else { return nil }
        return JobDefinition(
            name: jobName, after: after, steps: steps, declaresSteps: fields["steps"] != nil, inputs: inputs,
            retries: retries ?? 0, timeout: timeout, backoff: backoff ?? JobDefinition.defaultBackoff, priority: priority ?? 0,
            params: params ?? [:], type: type, tags: tags, description: description, onFailure: onFailure, batch: batch ?? 0)
    }

    /// Exactly one of `run` (a command) and `handler`.
    mutating func action(run: JSON?, handler: JSON?, at position: JSON.Position, subject: String) -> JobDefinition.Action? {
        switch (run, handler) {
        case (let run?, nil):
            guard let command = reader.nonEmptyString(run, field: "run", subject: subject) else { return nil }
            guard !checkingLimits || command.utf8.count <= FlowFile.maximumCommand else {
                reader.report(
                    run.position, subject: subject, field: "run",
                    "the command is \(command.utf8.count) octets, more than the \(FlowFile.maximumCommand) a command line may be")
                return nil
            }
            return .command(command)
        case (nil, let handler?):
            return reader.name(handler, field: "handler", subject: subject).map(JobDefinition.Action.handler)
        case (.some, .some):
            reader.report(position, subject: subject, "give either \"run\" (a command) or \"handler\", not both")
            return nil
        case (nil, nil):
            reader.report(position, subject: subject, "missing \"run\" (a command) or \"handler\": a job must run something")
            return nil
        }
    }

    /// `partitions`: a count from 1, or a list of distinct keys.
    mutating func partitions(_ value: JSON, subject: String) -> Partitions? {
        if let elements = value.array {
            guard !elements.isEmpty else {
                reader.report(value.position, subject: subject, field: "partitions", "a list of partition keys must not be empty")
                return nil
            }
            guard elements.count <= Partitions.maximum else {
                reader.report(value.position, subject: subject, field: "partitions", "\(elements.count) keys, more than the \(Partitions.maximum) a step may have")
                return nil
            }
            var keys: [String] = []
            var seen: [String: Int] = [:]
            var valid = true
            for (index, element) in elements.enumerated() {
                guard let key = element.string, !key.isEmpty, key.utf8.count <= Partitions.maximumKey else {
                    let found = element.string.map { $0.isEmpty ? "an empty string" : "a key of \($0.utf8.count) octets" } ?? element.kindDescription
                    reader.report(
                        element.position, subject: subject, field: "partitions",
                        "a partition key is a non-empty string of at most \(Partitions.maximumKey) octets, found \(found)")
                    valid = false
                    continue
                }
                if let first = seen[key] {
                    reader.report(element.position, subject: subject, field: "partitions", "the key \"\(key)\" is listed twice (at \(first + 1) and \(index + 1))")
                    valid = false
                }
                seen[key] = seen[key] ?? index
                keys.append(key)
            }
            return valid ? .keys(keys) : nil
        }
        return reader.integer(value, field: "partitions", subject: subject, in: 1...Partitions.maximum).map(Partitions.count)
    }

    /// The octets a step's partition keys take as a shard receives them.
    static func keysSize(_ partitions: Partitions) -> Int { partitions.keys.reduce(0) { $0 + 4 + $1.utf8.count } }

    /// The octets a step takes as a shard receives it, with keys of `keys` octets.
    static func stepSize(name: String, action: JobDefinition.Action, keys: Int) -> Int {
        let text: String
        switch action {
        case .command(let command): text = command
        case .handler(let handler): text = handler
        }
        return StepSpec.minimumSize + name.utf8.count + text.utf8.count + keys
    }

    /// `steps`: a non-empty array of steps with distinct names. `size` adds up what they take as a shard
    /// receives them, those without partitions of their own splitting by the job's, of `sharedKeys` octets.
    mutating func stepList(_ value: JSON, job: String, partitions: Partitions?, sharedKeys: Int, size: inout Int) -> [StepDefinition]? {
        guard let elements = value.array else {
            reader.report(value.position, subject: job, field: "steps", "expected an array of steps, found \(value.kindDescription)")
            return nil
        }
        guard !elements.isEmpty else {
            reader.report(value.position, subject: job, field: "steps", "a job's steps must not be empty: give at least one, or a \"run\" or \"handler\" instead")
            return nil
        }
        guard elements.count <= FlowFile.maximumSteps else {
            reader.report(value.position, subject: job, field: "steps", "\(elements.count) steps, more than the \(FlowFile.maximumSteps) a job may have")
            return nil
        }
        var steps: [StepDefinition] = []
        var complete = true
        var lines: [String: Int] = [:]
        for (offset, element) in elements.enumerated() {
            guard let object = element.members else {
                reader.report(element.position, subject: job, field: "steps", "expected a step object, found \(element.kindDescription)")
                complete = false
                continue
            }
            let nameValue = object.first { $0.key == "name" }?.value
            // Reported as `job "etl" step "load"`: a subject that starts with a quote is shown as it is.
            let jobLabel = job.hasPrefix("#") ? job : "\"\(job)\""
            let label = "\(jobLabel) step " + (nameValue?.string.flatMap { Names.isValid($0) ? "\"\($0)\"" : nil } ?? "#\(offset + 1)")
            let fields = reader.members(of: object, allowed: FlowFile.stepFields, subject: label)
            let name = reader.requiredName(fields["name"], field: "name", subject: label, at: element.position)
            let action = self.action(run: fields["run"], handler: fields["handler"], at: element.position, subject: label)
            let stepPartitions = fields["partitions"].flatMap { self.partitions($0, subject: label) }
            if let name {
                if let line = lines[name] {
                    reader.report(element.position, subject: label, field: "name", "the name is already used by the step at line \(line)")
                    complete = false
                }
                lines[name] = lines[name] ?? element.position.line
            }
            guard let name, let action, fields["partitions"] == nil || stepPartitions != nil else {
                complete = false
                continue
            }
            steps.append(StepDefinition(name: name, action: action, partitions: stepPartitions ?? partitions ?? .count(1)))
            size += Self.stepSize(name: name, action: action, keys: stepPartitions.map(Self.keysSize) ?? sharedKeys)
        }
        return complete ? steps : nil
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
        let cycles = FlowGraph.cycles(names: jobs.map(\.name), after: jobs.map(\.after))
        for cycle in cycles {
            let path = (cycle + [cycle[0]]).map { "\"\($0)\"" }.joined(separator: " → ")
            let position = positions[indexOf[cycle[0]]!]
            reader.report(position, subject: cycle[0], field: "after", "the jobs \(path) form a cycle, so none of them can start")
        }
        // A job's inputs are results of jobs that have ended before it starts: those it runs after.
        guard cycles.isEmpty else { return }
        for (job, position) in zip(jobs, positions) where !job.inputs.isEmpty {
            var upstream: Set<String> = []
            var stack = job.after
            while let next = stack.popLast() {
                guard upstream.insert(next).inserted, let index = indexOf[next] else { continue }
                stack += jobs[index].after
            }
            for input in job.inputs where !upstream.contains(input) {
                let message = known.contains(input)
                    ? "\"\(input)\" does not run before \"\(job.name)\": a job's inputs are results of jobs it runs after, directly or not"
                    : "unknown job \"\(input)\"" + (Names.suggestion(for: input, among: known).map { " (did you mean \"\($0)\"?)" } ?? "")
                reader.report(position, subject: job.name, field: "inputs", message)
            }
        }
    }

}

extension FlowDefinition {
    /// The flow as canonical JSON: the form stored and sent to the orchestrator.
    /// `FlowFile.parse` reads it back to an equal definition.
    public var json: JSON {
        var members: [(String, JSON)] = [("product", .string(product)), ("flow", .string(flow))]
        if !description.isEmpty { members.append(("description", .string(description))) }
        if let params { members.append(("params", .strings(params))) }
        if onFailure != .finishBranches { members.append(("on_failure", .string(onFailure.rawValue))) }
        if let schedule { members.append(("schedule", schedule.json)) }
        switch fairness {
        case nil: break
        case .key(let key): members.append(("fairness", .object([("key", .string(key))])))
        case .param(let name): members.append(("fairness", .object([("param", .string(name))])))
        }
        members.append(("jobs", .array(jobs.map(\.json))))
        return .object(members)
    }
}

extension JobDefinition {
    /// The job as canonical JSON, with defaults left out.
    public var json: JSON {
        var members: [(String, JSON)] = [("name", .string(name))]
        if !after.isEmpty { members.append(("after", .array(after.map(JSON.string)))) }
        if declaresSteps {
            members.append(("steps", .array(steps.map(\.json))))
        } else {
            members += steps[0].actionAndPartitions
        }
        if !inputs.isEmpty { members.append(("inputs", .array(inputs.map(JSON.string)))) }
        if retries != 0 { members.append(("retries", .number(retries))) }
        if let timeout { members.append(("timeout", .string(DurationText.format(timeout)))) }
        if backoff != JobDefinition.defaultBackoff { members.append(("backoff", .string(DurationText.format(backoff)))) }
        if priority != 0 { members.append(("priority", .number(priority))) }
        if !params.isEmpty { members.append(("params", JSON.strings(params))) }
        if let type { members.append(("type", .string(type))) }
        if !tags.isEmpty { members.append(("tags", .array(tags.map(JSON.string)))) }
        if !description.isEmpty { members.append(("description", .string(description))) }
        if let onFailure { members.append(("on_failure", .string(onFailure.rawValue))) }
        if batch > 1 { members.append(("batch", .number(batch))) }
        return .object(members)
    }
}

extension StepDefinition {
    /// The step as canonical JSON.
    public var json: JSON { .object([("name", .string(name))] + actionAndPartitions) }

    /// `run` or `handler`, and `partitions` unless there is one.
    var actionAndPartitions: [(String, JSON)] {
        var members: [(String, JSON)] = []
        switch action {
        case .command(let command): members.append(("run", .string(command)))
        case .handler(let handler): members.append(("handler", .string(handler)))
        }
        switch partitions {
        case .count(1): break
        case .count(let count): members.append(("partitions", .number(count)))
        case .keys(let keys): members.append(("partitions", .array(keys.map(JSON.string))))
        }
        return members
    }
}
