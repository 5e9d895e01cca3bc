public import Wire

/// An orchestrator's settings.
public struct OrchestratorConfiguration: Sendable {
    /// The shards it submits to and subscribes to.
    public var shards: [UInt32]
    /// The name it publishes under.
    public var publisher = StreamNames.orchestrator
    /// How long a submission, or a CONTROL, waits to be sent again while its shard has not answered:
    /// from 10 s, doubling, up to 60 s. A shard's restart resends submissions at once; this is the safety
    /// net for a connection lost without one.
    public var resend = ResendPolicy(initial: 10_000, maximum: 60_000)
    /// The most jobs sent again in one turn, whatever sends them again (a restart's releases, a shard's
    /// lost stream, the resend policy); those left go in the turns after, with whatever else has arrived
    /// answered between. Each costs its spec built and encoded, a few microseconds.
    public var resendsPerTurn = 10_000
    /// The most octets of statuses in one RUN-UPDATES (``JobUpdates/statusBudget``); a turn that changed
    /// more sends several.
    public var statusBudget = JobUpdates.statusBudget
    /// How long it may be idle before it sends BEACON.
    public var beaconInterval: Int64 = 1000
    /// How often, at most, a run whose job counts changed (and nothing else) is published, in
    /// milliseconds. A change of a run's state is published at once.
    public var progressInterval: Int64 = 200
    /// How long a shard's stream position may go unstored while its events change nothing durable.
    public var positionInterval: Int64 = 1000
    /// How long a shard may be silent before the orchestrator fetches from it.
    public var silence: Int64 = 3000
    /// The most messages asked for in one FETCH.
    public var fetchLimit: UInt32 = 1000
    /// Final runs kept in memory for RUN-QUERY; older ones are read from the store.
    public var finishedRunsInMemory = 1000
    /// How long a cancelled attempt may take to stop before it is killed, in milliseconds.
    public var cancelGrace: UInt32 = 5000

    public init(shards: [UInt32]) { self.shards = shards }
}

/// What an orchestrator's store holds, to resume from.
public struct OrchestratorSnapshot: Sendable {
    /// Runs not final (and recent final ones).
    public var runs: [FlowRun]
    /// The newest runs that ended with a job still active, whose shards are asked for those jobs' ends.
    public var endedRuns: [FlowRun] = []
    /// Each shard's stream position.
    public var positions: [UInt32: (epoch: UInt32, sequence: UInt64)]
    /// Answers given to operation requests.
    public var answered: [UInt64: OperationResult]
    /// The last RUN-UPDATES sequence.
    public var sequence: UInt64
    /// CONTROL requests not answered, and the last request ID used.
    public var controls: [OrchestratorCore.PendingControl]
    public var lastControl: UInt64
    /// Products an operator held.
    public var heldProducts: Set<String> = []
    /// The shard each moved product was last moved to.
    public var productShards: [String: UInt32] = [:]
    /// Take-overs sent and not yet complete, by run.
    public var takeOvers: [UInt64: OrchestratorCore.PendingTakeOver] = [:]
    /// Runs whose tasks finishing on their old shard have their ends relayed, by run.
    public var relays: [UInt64: OrchestratorCore.Relay] = [:]

    public init(
        runs: [FlowRun] = [], positions: [UInt32: (epoch: UInt32, sequence: UInt64)] = [:],
        answered: [UInt64: OperationResult] = [:], sequence: UInt64 = 0, controls: [OrchestratorCore.PendingControl] = [],
        lastControl: UInt64 = 0
    ) {
        self.runs = runs
        self.positions = positions
        self.answered = answered
        self.sequence = sequence
        self.controls = controls
        self.lastControl = lastControl
    }
}
