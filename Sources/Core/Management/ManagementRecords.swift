public import Wire

/// One operator action in the audit log: who asked what, on which run or product, when, and how it ended.
public struct AuditEntry: Equatable, Sendable {
    /// The operation request that carried it.
    public var id: UInt64
    /// The client's request ID (`#` and the operation request when it gave none).
    public var key: String
    public var time: Timestamp
    public var actor: String
    /// The API method: stop, pause, resume, rerun, rerun-job, mark-succeeded, hold, release, set-policy, set-priority,
    /// move, drain or undrain; or start or apply, done at once.
    public var method: String
    /// The run (0 for actions on a product), its product (empty for drain and undrain), and the job for rerun-job and mark-succeeded.
    public var run: UInt64
    public var product: String
    public var job: String
    /// Options given, in words: `downstream`, `fresh moment N`, the policy or priority set, or why a timer stopped the run.
    public var options: String
    /// Beside an authenticated actor, the actor name the client gave if it was another (`claimed actor "bob"`).
    public var comment: String
    /// The orchestrator's answer: 0 while waiting for it, else a status code and its detail.
    public var status: UInt16 = 0
    public var detail: String = ""
    public var answered: Timestamp = .zero

    public init(
        id: UInt64, key: String, time: Timestamp, actor: String, method: String, run: UInt64, product: String, job: String,
        options: String, status: UInt16 = 0, detail: String = "", answered: Timestamp = .zero, comment: String = ""
    ) {
        self.id = id
        self.key = key
        self.time = time
        self.actor = actor
        self.method = method
        self.run = run
        self.product = product
        self.job = job
        self.options = options
        self.status = status
        self.detail = detail
        self.answered = answered
        self.comment = comment
    }

    /// How it ended, in a word: pending, done or refused.
    public var outcome: String { status == 0 ? "pending" : Status(rawValue: status).isSuccess ? "done" : "refused" }
}

/// A `history` request, answered by the runtime from the store.
public struct HistoryQuery: Sendable {
    public var peer: Peer
    public var request: UInt64
    /// The run, or 0 for every action on `product`, or for every action of `actor` when `product` is empty.
    public var run: UInt64
    public var product: String
    public var actor = ""
    public var limit: Int
    /// Only actions older than this one (by ID): the cursor of the page before.
    public var before: UInt64?
}

/// The counters management never lets go back.
public struct ManagementCounters: Equatable, Sendable {
    public var lastRun: UInt64 = 0
    public var lastMoment: UInt64 = 0
    public var lastRequest: UInt64 = 0

    public init(lastRun: UInt64 = 0, lastMoment: UInt64 = 0, lastRequest: UInt64 = 0) {
        self.lastRun = lastRun
        self.lastMoment = lastMoment
        self.lastRequest = lastRequest
    }
}

/// A product and the shard it is bound to.
public struct ProductRecord: Equatable, Sendable {
    public var name: String
    public var shard: UInt32
    public var created: Timestamp
    /// How its shard shares workers with it.
    public var policy: ProductPolicy
    /// Whether an operator holds it (`hold`), until `release`.
    public var held = false

    public init(name: String, shard: UInt32, created: Timestamp, policy: ProductPolicy? = nil) {
        self.name = name
        self.shard = shard
        self.created = created
        self.policy = policy ?? ProductPolicy(product: name)
    }
}

/// The latest version of a flow.
public struct FlowRecord: Equatable, Sendable {
    public var product: String
    public var flow: String
    public var version: UInt32
    /// The definition as canonical JSON.
    public var definition: String
    /// Declared parameters with defaults; nil when the flow declares none.
    public var params: [String: String]?
    public var jobs: Int
    public var applied: Timestamp
    /// Its schedule as canonical JSON; nil for none.
    public var schedule: String?

    public init(
        product: String, flow: String, version: UInt32, definition: String, params: [String: String]?, jobs: Int,
        applied: Timestamp, schedule: String? = nil
    ) {
        self.schedule = schedule
        self.product = product
        self.flow = flow
        self.version = version
        self.definition = definition
        self.params = params
        self.jobs = jobs
        self.applied = applied
    }

    public var qualifiedName: String { "\(product)/\(flow)" }
}

/// A run as management records it.
public struct RunRecord: Equatable, Sendable {
    public var id: UInt64
    public var product: String
    public var flow: String
    public var version: UInt32
    public var shard: UInt32
    public var moment: UInt64
    public var params: [String: String]
    /// The client's idempotency key; empty if none.
    public var key: String
    public var state: RunState
    public var jobs: UInt32
    public var succeeded: UInt32
    public var failed: UInt32
    public var active: UInt32
    public var started: Timestamp
    public var finished: Timestamp
    public var detail: String
    /// The time of the last status applied.
    public var updated: Timestamp
    /// Its priority (``RunPriority``): 0 urgent, 1 (first) to 5.
    public var priority: UInt8
    /// The shard a move handed it over from while tasks of it still finish there; 0 when none does.
    public var finishing: UInt32

    public init(
        id: UInt64, product: String, flow: String, version: UInt32, shard: UInt32, moment: UInt64,
        params: [String: String], key: String = "", state: RunState, jobs: UInt32, succeeded: UInt32 = 0,
        failed: UInt32 = 0, active: UInt32 = 0, started: Timestamp, finished: Timestamp = .zero, detail: String = "",
        updated: Timestamp = .zero, priority: UInt8 = RunPriority.normal, finishing: UInt32 = 0
    ) {
        self.priority = priority
        self.finishing = finishing
        self.id = id
        self.product = product
        self.flow = flow
        self.version = version
        self.shard = shard
        self.moment = moment
        self.params = params
        self.key = key
        self.state = state
        self.jobs = jobs
        self.succeeded = succeeded
        self.failed = failed
        self.active = active
        self.started = started
        self.finished = finished
        self.detail = detail
        self.updated = updated
    }
}
