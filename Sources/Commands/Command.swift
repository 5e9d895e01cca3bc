import Core
public import Runtime

/// One invocation of `baton`, parsed from its arguments and ready to run.
public enum Command: Equatable, Sendable {
    /// Print the general usage, or one command's.
    case help(topic: String?)
    /// Print the version.
    case version
    /// Check flow files without a server.
    case validate(files: [String], json: Bool)
    /// Run every service in this process.
    case dev(DevOptions)
    /// `baton web`: the dashboard, at `listen`.
    case web(target: Target, listen: String)
    /// Run the example flow on an embedded Baton and show what happened.
    case demo(file: String, data: String)
    /// Store flow files in a running Baton.
    case apply(files: [String], target: Target, json: Bool)
    /// Start a run of a flow, at a priority (``RunPriority``; nil for the default).
    case start(flow: String, params: [String: String], key: String?, priority: UInt8?, wait: Bool, json: Bool, target: Target)
    /// Show a run, or the runs in progress.
    /// `jobs`: show at most this many of the run's jobs (all when nil).
    case status(run: UInt64?, jobs: Int?, json: Bool, watch: Bool, target: Target)
    /// `baton workers` and `baton queue`: what shards hold now, of one shard or all.
    case workers(shard: UInt32?, json: Bool, target: Target)
    case queue(shard: UInt32?, json: Bool, target: Target)
    /// `baton logs`: an attempt's output.
    case logs(run: UInt64, job: String, attempt: Int?, follow: Bool, target: Target)
    /// List recent runs.
    case runs(RunsQuery, json: Bool, target: Target)
    /// List the flows applied.
    case flows(limit: Int?, after: String?, json: Bool, target: Target)
    /// Run one service of a cluster in this process.
    case serve(ServiceRole, config: String)
    /// Start every service of a cluster as background processes on this machine.
    case up(config: String)
    /// Stop the processes `up` started.
    case down(config: String)
    /// Make, list, or have a running cluster read again, its keys.
    case keys(KeysCommand)
    /// Measure throughput and flow-step latency on a cluster of separate processes.
    case bench(BenchOptions)
    /// Measure the shard's selection of tasks for a worker request, in-process.
    case selectionBench(SelectionBenchOptions)
    case listingBench(ListingBenchOptions)
    /// `bench --move`: a product with a backlog moves between shards while others run.
    case moveBench(partitions: Int, oneJob: Bool, keep: String?)
    /// `bench --recovery`: a shard restarts with a deep queue.
    case recoveryBench(jobs: Int, longNames: Bool, keep: String?)
    case soakBench(SoakBenchOptions)
    /// Run the whole cluster in one thread and virtual time, with faults from seeds, checking invariants.
    case simulate(SimulateOptions)
    /// An operator action on a run or a product: stop, pause, resume, rerun, rerun-job, mark-succeeded,
    /// set-priority, hold, release, set-policy.
    case act(OperatorAction, target: Target)
    /// List the products with their shards and policies.
    case products(limit: Int?, after: String?, json: Bool, target: Target)
    /// `drain SHARD`: marks the shard drained, then moves every product off it, each to the shard not
    /// drained with the least load then.
    case drain(shard: UInt32, actor: String, json: Bool, target: Target)
    /// `undrain SHARD`: opens a drained shard again to new products and moves.
    case undrain(shard: UInt32, actor: String, json: Bool, target: Target)
    /// `rebalance`: plans moves from measured load, and with `apply` makes them.
    case rebalance(apply: Bool, tolerance: Double, pinned: Set<String>, actor: String, json: Bool, target: Target)
    /// Show the audit log of a run or a product.
    case history(run: UInt64?, product: String?, actor: String?, page: HistoryPage = HistoryPage(), json: Bool, target: Target)
    /// Show a flow's schedule: its next firings with their business dates, and its latest ones.
    case schedule(flow: String, next: Int, json: Bool, target: Target)
    /// List the business calendars with their next holidays.
    case calendars(next: Int, json: Bool, target: Target)
}

/// An operator action as the command line gives it.
public struct OperatorAction: Equatable, Sendable {
    /// The API method.
    public var method: String
    /// The run, for actions on a run; the product, for hold, release and set-policy.
    public var run: UInt64?
    public var product: String?
    /// The job, for rerun-job and mark-succeeded.
    public var job: String?
    public var downstream = false
    public var fresh = false
    /// For set-policy: the fields to change (`weight`, `cap`, `rate` per hour, `burst`), whether the
    /// product's priorities count before fairness, and fairness keys' weights.
    public var policy: [String: UInt64] = [:]
    public var priorityOverFairness: Bool?
    public var keyWeights: [String: UInt64] = [:]
    /// For set-priority: the run's new priority (``RunPriority``).
    public var priority: UInt8?
    /// For move: the shard the product moves to.
    public var to: UInt32?
    /// The request ID that makes a repeated action apply once; nil to make one up.
    public var request: String?
    /// Who acts, for the audit log.
    public var actor: String
    public var json = false

    public init(method: String, run: UInt64? = nil, product: String? = nil, job: String? = nil, actor: String) {
        self.method = method
        self.run = run
        self.product = product
        self.job = job
        self.actor = actor
    }
}

/// Which running Baton a client command talks to.
public struct Target: Equatable, Sendable {
    /// The management API endpoint, if given with `--api` or `BATON_API`.
    public var api: String?
    /// A cluster file, whose management API to use, if given with `--config` or `BATON_CONFIG`.
    public var config: String?
    /// The data folder of a `baton dev`, whose `api` file names its endpoint.
    public var data: String
    /// The secret key file to speak with, in a cluster with keys (`--identity`, `BATON_IDENTITY`); the
    /// cluster's local admin key if nil.
    public var identity: String?

    public init(api: String? = nil, config: String? = nil, data: String = ".baton", identity: String? = nil) {
        self.api = api
        self.config = config
        self.data = data
        self.identity = identity
    }
}

/// What `baton keys` does.
public enum KeysCommand: Equatable, Sendable {
    /// Makes a key pair NAME.key and NAME.secret in a folder (a cluster file's, or `--dir`).
    case new(name: String, role: KeyRole?, folder: KeyFolder)
    /// Lists the public keys of a folder.
    case list(folder: KeyFolder, json: Bool)
    /// Has the running processes of a cluster read their keys again (SIGHUP).
    case reload(config: String)
}

/// Where `baton keys` finds a key folder: given, or the one a cluster file names.
public enum KeyFolder: Equatable, Sendable {
    case directory(String)
    case cluster(String)
}

/// The options of `baton dev`.
public struct DevOptions: Equatable, Sendable {
    public var data = ".baton"
    public var workers = 2
    public var slots = Defaults.slots
    public var shards = 1
    /// A cluster file to run whole, instead of the shape above.
    public var config: String?
    /// The management API's TCP port on 127.0.0.1; 0 lets the system choose.
    public var port: UInt16 = 0
    public var quiet = false
    /// Where the dashboard and `/metrics` are served; nil for nowhere (`--no-web`).
    public var web: String? = DevOptions.defaultWeb
    /// Whether `web` was given: a default address that is taken falls back to any free port, a given one fails.
    public var webGiven = false

    public static let defaultWeb = "127.0.0.1:8700"

    public init() {}
}

/// `baton runs`: which runs to list, newest first.
public struct RunsQuery: Equatable, Sendable {
    public var product: String?
    public var flow: String?
    public var state: String?
    /// Runs started in the last this many milliseconds (`--since 1h`).
    public var within: Int64?
    /// The cursor: runs older than this one.
    public var before: UInt64?
    public var limit = 20

    public init(product: String? = nil, flow: String? = nil, state: String? = nil, before: UInt64? = nil, limit: Int = 20) {
        self.product = product
        self.flow = flow
        self.state = state
        self.before = before
        self.limit = limit
    }
}

/// Which page of the audit log `history` shows: the newest `limit` actions (nil for the default), older
/// than `before` if given.
public struct HistoryPage: Equatable, Sendable {
    public var limit: Int?
    public var before: UInt64?

    public init(limit: Int? = nil, before: UInt64? = nil) {
        self.limit = limit
        self.before = before
    }
}
