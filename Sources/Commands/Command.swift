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
    /// Run the example flow on an embedded Baton and show what happened.
    case demo(file: String, data: String)
    /// Store flow files in a running Baton.
    case apply(files: [String], target: Target, json: Bool)
    /// Start a run of a flow.
    case start(flow: String, params: [String: String], key: String?, wait: Bool, json: Bool, target: Target)
    /// Show a run, or the runs in progress.
    case status(run: UInt64?, json: Bool, target: Target)
    /// List recent runs.
    case runs(flow: String?, limit: Int, json: Bool, target: Target)
    /// List the flows applied.
    case flows(json: Bool, target: Target)
}

/// Which running Baton a client command talks to.
public struct Target: Equatable, Sendable {
    /// The management API endpoint, if given with `--api` or `BATON_API`.
    public var api: String?
    /// The data folder of a `baton dev`, whose `api` file names its endpoint.
    public var data: String

    public init(api: String? = nil, data: String = ".baton") {
        self.api = api
        self.data = data
    }
}

/// The options of `baton dev`.
public struct DevOptions: Equatable, Sendable {
    public var data = ".baton"
    public var workers = 2
    public var slots = 4
    public var shards = 1
    /// The management API's TCP port on 127.0.0.1; 0 lets the system choose.
    public var port: UInt16 = 0
    public var quiet = false

    public init() {}
}
