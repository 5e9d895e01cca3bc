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
    /// The jobs in file order.
    public var jobs: [JobDefinition]

    public init(
        product: String, flow: String, description: String = "", params: [String: String]? = nil,
        onFailure: FailurePolicy = .finishBranches, jobs: [JobDefinition]
    ) {
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
}

/// What a job's final failure (no retries left, or cancelled) does to its run.
public enum FailurePolicy: String, Equatable, Sendable, CaseIterable {
    /// Skip what depends on the failed job and let independent branches run to their end; the run
    /// fails when nothing is left to run.
    case finishBranches = "finish-branches"
    /// Fail the run at once: skip every job not started, and cancel those queued or running.
    case failRun = "fail-run"
}

/// One job of a flow.
public struct JobDefinition: Equatable, Sendable {
    /// What a job runs.
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
    /// What the job runs.
    public var action: Action
    /// Attempts allowed after a failed one.
    public var retries: Int
    /// Each attempt's timeout in milliseconds; nil for none.
    public var timeout: Int64?
    /// The first retry's delay in milliseconds.
    public var backoff: Int64
    /// Higher runs first within the product.
    public var priority: Int
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

    public init(
        name: String, after: [String] = [], action: Action, retries: Int = 0, timeout: Int64? = nil,
        backoff: Int64 = JobDefinition.defaultBackoff, priority: Int = 0, params: [String: String] = [:],
        type: String? = nil, tags: [String] = [], description: String = "", onFailure: FailurePolicy? = nil
    ) {
        self.name = name
        self.after = after
        self.action = action
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

    /// The job type the shard accounts by: the declared one, else the handler's name, else `flow.job`.
    public func effectiveType(flow: String) -> String {
        if let type { return type }
        switch action {
        case .handler(let handler): return handler
        case .command: return "\(flow).\(name)"
        }
    }
}
