import Wire

/// One product's flow: a DAG of jobs with parameters, as validated from a flow file.
public struct FlowDefinition: Equatable, Sendable {
    /// The product (tenant) that owns the flow.
    public var product: String
    /// The flow's name, unique within its product.
    public var flow: String
    /// What the flow does, in words.
    public var description: String
    /// Declared parameters and their defaults; nil when the flow declares none (any may be given).
    public var params: [String: String]?
    /// What a job's final failure does to the run, unless the job says otherwise.
    public var onFailure: FailurePolicy
    /// When the timer starts runs of it; nil for none.
    public var schedule: ScheduleDefinition?
    /// The fairness key its runs' tasks are shared under within the product; nil for the product's default key.
    public var fairness: FairnessKey?
    /// The jobs in file order.
    public var jobs: [JobDefinition]

    public init(
        product: String, flow: String, description: String = "", params: [String: String]? = nil,
        onFailure: FailurePolicy = .finishBranches, schedule: ScheduleDefinition? = nil, fairness: FairnessKey? = nil,
        jobs: [JobDefinition]
    ) {
        self.schedule = schedule
        self.fairness = fairness
        self.product = product
        self.flow = flow
        self.description = description
        self.params = params
        self.onFailure = onFailure
        self.jobs = jobs
    }

    /// The policy that applies when `job` fails for good.
    public func failurePolicy(of job: Int) -> FailurePolicy { jobs[job].onFailure ?? onFailure }

    /// `product/flow`, the name operators use.
    public var qualifiedName: String { "\(product)/\(flow)" }

    /// The fairness key of a run with `params`: the flow's key, or the run's value of the parameter the flow
    /// names (empty, the product's default key, when the run has none).
    public func fairnessKey(params: [String: String]) -> String {
        switch fairness {
        case nil: ""
        case .key(let key): key
        case .param(let name): String((params[name] ?? "").utf8.prefix(FairnessKey.maximumLength)) ?? ""
        }
    }
}

/// How a flow names the fairness key its runs' tasks are shared under, within their product.
public enum FairnessKey: Equatable, Sendable {
    /// The same key for every run of the flow.
    case key(String)
    /// Each run's value of this parameter.
    case param(String)

    /// The longest key, in octets.
    public static let maximumLength = 255
}

/// What a job's final failure (no retries left, or cancelled) does to its run.
public enum FailurePolicy: String, Equatable, Sendable, CaseIterable {
    /// Skip what depends on the failed job and let independent branches run to their end; the run
    /// fails when nothing is left to run.
    case finishBranches = "finish-branches"
    /// Fail the run at once: skip every job not started, and cancel those queued or running.
    case failRun = "fail-run"
}

/// One job of a flow: one or more steps, each split into partitions.
public struct JobDefinition: Equatable, Sendable {
    /// What a step runs.
    public enum Action: Equatable, Sendable {
        /// A command line, run by `/bin/sh -c` in a child process.
        case command(String)
        /// The name of a handler registered in a worker.
        case handler(String)
    }

    /// The job's name, unique in its flow.
    public var name: String
    /// The jobs that must succeed before this one starts.
    public var after: [String]
    /// The steps in order: a job without declared steps has one, named after the job.
    public var steps: [StepDefinition]
    /// Whether the file declared `steps` (rather than one `run` or `handler`).
    public var declaresSteps: Bool
    /// Upstream jobs whose results the first step receives.
    public var inputs: [String]
    /// Attempts allowed after a failed one, for each partition.
    public var retries: Int
    /// Each attempt's timeout in milliseconds; nil for none.
    public var timeout: Int64?
    /// The first retry's delay in milliseconds.
    public var backoff: Int64
    /// Higher runs first within the product, among tasks of runs of the same priority.
    public var priority: Int
    /// For a command job: the most of its tasks one worker receives at once, to run with one command; 0 for none.
    public var batch: Int
    /// The job's own parameters, merged over the run's.
    public var params: [String: String]
    /// The job type, for cost accounting and bulk claims; nil for the default.
    public var type: String?
    /// Capability tags a worker needs to run the job.
    public var tags: [String]
    /// What the job does, in words.
    public var description: String
    /// What its final failure does to the run; nil for the flow's policy.
    public var onFailure: FailurePolicy?

    /// The default delay before the first retry: one second.
    public static let defaultBackoff: Int64 = 1000

    /// A job of one step.
    public init(
        name: String, after: [String] = [], action: Action, partitions: Partitions = .count(1), inputs: [String] = [],
        retries: Int = 0, timeout: Int64? = nil, backoff: Int64 = JobDefinition.defaultBackoff, priority: Int = 0,
        params: [String: String] = [:], type: String? = nil, tags: [String] = [], description: String = "",
        onFailure: FailurePolicy? = nil, batch: Int = 0
    ) {
        self.init(
            name: name, after: after, steps: [StepDefinition(name: name, action: action, partitions: partitions)],
            declaresSteps: false, inputs: inputs, retries: retries, timeout: timeout, backoff: backoff, priority: priority,
            params: params, type: type, tags: tags, description: description, onFailure: onFailure, batch: batch)
    }

    /// A job of declared steps (or, with `declaresSteps` false, of the one step a `run` or `handler` makes).
    public init(
        name: String, after: [String] = [], steps: [StepDefinition], declaresSteps: Bool = true, inputs: [String] = [],
        retries: Int = 0, timeout: Int64? = nil, backoff: Int64 = JobDefinition.defaultBackoff, priority: Int = 0,
        params: [String: String] = [:], type: String? = nil, tags: [String] = [], description: String = "",
        onFailure: FailurePolicy? = nil, batch: Int = 0
    ) {
        precondition(!steps.isEmpty, "a job has at least one step")
        self.batch = batch
        self.name = name
        self.after = after
        self.steps = steps
        self.declaresSteps = declaresSteps
        self.inputs = inputs
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.priority = priority
        self.params = params
        self.type = type
        self.tags = tags
        self.description = description
        self.onFailure = onFailure
    }

    /// What the first step runs: for a job of one step, what the job runs.
    public var action: Action { steps[0].action }

    /// The job type the shard accounts by, within its product: the declared one, else `flow/job`. Two
    /// products' jobs never share a type's measured cost, whatever they are called.
    public func effectiveType(flow: String) -> String { type ?? "\(flow)/\(name)" }
}

/// One step of a job: what each of its partitions runs.
public struct StepDefinition: Equatable, Sendable {
    /// The step's name, unique in its job.
    public var name: String
    /// What each partition runs.
    public var action: JobDefinition.Action
    /// How the step is split.
    public var partitions: Partitions

    public init(name: String, action: JobDefinition.Action, partitions: Partitions = .count(1)) {
        self.name = name
        self.action = action
        self.partitions = partitions
    }
}

/// How a step is split: into a number of partitions, or one partition per key.
public enum Partitions: Equatable, Sendable {
    case count(Int)
    case keys([String])

    /// The number of partitions.
    public var count: Int {
        switch self {
        case .count(let count): count
        case .keys(let keys): keys.count
        }
    }

    /// The keys, or none when partitions are only counted.
    public var keys: [String] {
        if case .keys(let keys) = self { return keys }
        return []
    }

    /// The most partitions a step may have.
    public static let maximum = Limits.partitions
    /// The longest partition key, in octets.
    public static let maximumKey = Limits.partitionKey
}
