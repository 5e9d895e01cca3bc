public import Wire

/// What one turn of the orchestrator produced: rows to commit, then messages to send.
public struct OrchestratorTurn: Sendable {
    /// Runs created or changed.
    public var runs: [FlowRun] = []
    /// Which of them were created this turn: only these carry their definition to the store.
    public var newRuns: Set<UInt64> = []
    /// Job rows to write: jobs submitted or final this turn.
    public var jobs: [FlowRunJobRow] = []
    /// Stream positions that moved.
    public var positions: [StreamPosition] = []
    /// Operation answers to remember.
    public var answers: [(UInt64, OperationResult)] = []
    /// Run statuses to log and publish: as many RUN-UPDATES as keep each within
    /// ``JobUpdates/statusBudget``, numbered in sequence, all committed with the turn.
    public var updateMessages: [RunUpdates] = []
    /// Every run status of the turn as one RUN-UPDATES, with the first message's sequence; nil if none.
    /// For reading the statuses only: it is no message, and is never logged or published.
    public var updates: RunUpdates? {
        guard var all = updateMessages.first else { return nil }
        if updateMessages.count > 1 { all.updates = updateMessages.flatMap(\.updates) }
        return all
    }
    /// A heartbeat for the event stream.
    public var beacon: Beacon?
    /// Jobs to send to each shard.
    public var submits: [UInt32: [JobSpec]] = [:]
    /// Jobs failed instead of sent, because no shard would take them (``JobSpec/limitProblem``): to log.
    public var unsent: [JobStatus] = []
    /// Catch-up requests to each shard.
    public var fetches: [UInt32: Fetch] = [:]
    /// CONTROL requests to record as pending, those answered, and the CONTROLs to send after the commit.
    public var controls: [OrchestratorCore.PendingControl] = []
    public var answeredControls: [UInt64] = []
    public var controlSends: [(UInt32, Control)] = []
    /// The last CONTROL request ID, to store.
    public var lastControl: UInt64 = 0
    /// Products held (true) or released (false).
    public var holds: [String: Bool] = [:]
    /// Products moved, with their new shard.
    public var productShards: [String: UInt32] = [:]
    /// Take-overs to store (a value) or forget (nil), by run; and those to send.
    public var takeOvers: [UInt64: OrchestratorCore.PendingTakeOver?] = [:]
    public var takeOverSends: [OrchestratorCore.PendingTakeOver] = []
    /// Relays to store (a value) or forget (nil), by run; and the PARTITIONS-ENDED to send, by shard.
    public var relays: [UInt64: OrchestratorCore.Relay?] = [:]
    public var relaySends: [(UInt32, PartitionsEnded)] = []
    /// Management's questions, passed on to the shards asked.
    public var shardQuerySends: [(UInt32, ShardQuery)] = []
    /// Answers to peers of the `ops` ROUTER.
    public var replies: [(Peer, Message)] = []
    /// RUN-QUERYs for runs no longer in memory: answered from the store after the commit.
    public var storedQueries: [(Peer, RunQuery)] = []

    /// The most jobs in one SUBMIT: what a shard accepts (``Limits/submitJobs``).
    public static let submitBatch = Limits.submitJobs
    /// The most octets of jobs in one SUBMIT: any one job (at most ``Limits/jobSpec``) can join a batch
    /// that is not yet this full and stay within the frame limit.
    public static let submitBudget = 32 << 20

    /// Each shard's jobs in SUBMITs a shard accepts: at most ``submitBatch`` jobs, ``submitBudget`` octets,
    /// and ``Limits/submitPartitions`` partitions counting each job's largest step; a job alone in one is
    /// always within them.
    public static func batches(_ jobs: [JobSpec]) -> [[JobSpec]] {
        var batches: [[JobSpec]] = []
        var batch: [JobSpec] = []
        var size = 0
        var partitions = 0
        for job in jobs {
            let jobSize = job.encodedSize
            let jobPartitions = job.peakTasks
            if !batch.isEmpty
                && (batch.count == submitBatch || size + jobSize > submitBudget || partitions + jobPartitions > Limits.submitPartitions)
            {
                batches.append(batch)
                batch = []
                size = 0
                partitions = 0
            }
            batch.append(job)
            size += jobSize
            partitions += jobPartitions
        }
        if !batch.isEmpty { batches.append(batch) }
        return batches
    }

    public init() {}

    /// Whether the turn has rows to commit.
    public var needsCommit: Bool {
        !runs.isEmpty || !jobs.isEmpty || !positions.isEmpty || !answers.isEmpty || !updateMessages.isEmpty || !controls.isEmpty
            || !answeredControls.isEmpty || !holds.isEmpty || !productShards.isEmpty || !takeOvers.isEmpty
            || !relays.isEmpty
    }
}

/// A subscriber's durable position in a publisher's stream.
public struct StreamPosition: Equatable, Sendable {
    public var publisher: String
    public var epoch: UInt32
    public var sequence: UInt64

    public init(publisher: String, epoch: UInt32, sequence: UInt64) {
        self.publisher = publisher
        self.epoch = epoch
        self.sequence = sequence
    }
}

extension OrchestratorTurn: ServiceTurn {
    /// The beacon, then each shard's submissions (in SUBMITs within its limits, ``batches(_:)``), catch-up
    /// requests and CONTROLs, then the answers to management.
    public var deliveries: [Delivery] {
        var deliveries: [Delivery] = []
        if let beacon { deliveries.append(Delivery(.beacon(beacon), to: .stream)) }
        // A take-over goes before the submissions of its run's later jobs, which may read what it brings.
        for pending in takeOverSends { deliveries.append(Delivery(.takeOver(pending.takeOver), to: .submissions(shard: pending.shard))) }
        for (shard, jobs) in submits.sorted(by: { $0.key < $1.key }) {
            for batch in Self.batches(jobs) {
                deliveries.append(Delivery(.submit(Submit(jobs: batch)), to: .submissions(shard: shard)))
            }
        }
        for (shard, fetch) in fetches.sorted(by: { $0.key < $1.key }) { deliveries.append(Delivery(.fetch(fetch), to: .shard(shard))) }
        for (shard, control) in controlSends { deliveries.append(Delivery(.control(control), to: .shard(shard))) }
        for (shard, ended) in relaySends { deliveries.append(Delivery(.partitionsEnded(ended), to: .shard(shard))) }
        for (shard, query) in shardQuerySends { deliveries.append(Delivery(.shardQuery(query), to: .shard(shard))) }
        for (peer, message) in replies { deliveries.append(Delivery(message, to: .peer(peer))) }
        return deliveries
    }
}
