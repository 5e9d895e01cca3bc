public import Wire

/// Management's settings.
public struct ManagementConfiguration: Sendable {
    /// The shards products may be bound to: at least one, and fixed once management is configured.
    public let shards: [UInt32]
    /// How long to wait before sending again an operation the orchestrator has not answered.
    public var resend = ResendPolicy(initial: 2000, maximum: 30_000)
    /// How long `status` waits for the orchestrator.
    public var queryTimeout: Int64 = 5000
    /// How long the orchestrator may be silent before management fetches from it.
    public var silence: Int64 = 3000
    /// Final runs kept in memory for `runs`.
    public var finishedRunsInMemory = 1000
    /// How long a finished run is kept in the store (and its firings), and the audit log, in milliseconds:
    /// older ones are deleted, and a run deleted so is reported as older than the retention.
    public var retention = Defaults.retention
    public var auditRetention = Defaults.auditRetention
    /// Operator actions whose request IDs are kept in memory, so that one sent again applies once without
    /// reading the store; an older one is read from the store (``ManagementRecall``).
    public var auditInMemory = 1000
    /// Where time zones are found (the runtime reads the system's database); by default only UTC.
    public var zones: ZoneLookup = { $0 == "UTC" ? .utc : nil }
    /// How far ahead of management's clock a timer may fire, in milliseconds.
    public var fireAhead: Int64 = 60_000
    /// Firings of each flow kept in memory for `schedule`.
    public var recentFiringsInMemory = 20

    public init(shards: [UInt32]) {
        precondition(!shards.isEmpty, "management needs at least one shard")
        self.shards = shards
    }
}

/// What one turn of management produced.
public struct ManagementTurn: Sendable {
    public var products: [ProductRecord] = []
    public var flows: [FlowRecord] = []
    public var runs: [RunRecord] = []
    /// Operation requests to record as pending.
    public var operations: [OperationRequest] = []
    /// Operation requests answered.
    public var answered: [UInt64] = []
    public var counters: ManagementCounters?
    public var position: StreamPosition?
    /// Messages for the orchestrator, after the commit.
    public var toOrchestrator: [Message] = []
    /// API requests refused (403) because the caller's role may not make them: to count among the
    /// messages refused because of who sent them.
    public var refusedByRole = 0
    /// Replies to API clients, after the commit.
    public var replies: [(Peer, Message)] = []
    /// Operator actions to add to the audit log, and answered ones to update.
    public var audit: [AuditEntry] = []
    public var auditAnswers: [AuditEntry] = []
    /// `history` and `runs` requests, answered from the store after the commit.
    public var histories: [HistoryQuery] = []
    public var runLists: [RunListQuery] = []
    /// `flow` for a version before the latest, read from the store after the commit.
    public var flowReads: [FlowRead] = []
    /// Calendars applied, schedules changed or removed (by flow), and firings decided.
    public var calendars: [CalendarRecord] = []
    public var schedules: [ScheduleState] = []
    public var removedSchedules: [String] = []
    public var firings: [FiringRecord] = []
    /// The load buckets that changed, to store.
    public var load: [LoadMeter.Bucket] = []
    /// Shards drained (true) or opened again (false) by this turn, to store.
    public var drains: [UInt32: Bool] = [:]

    public init() {}

    /// Whether the turn has rows to commit.
    public var needsCommit: Bool {
        !products.isEmpty || !flows.isEmpty || !runs.isEmpty || !operations.isEmpty || !answered.isEmpty
            || counters != nil || position != nil || !audit.isEmpty || !auditAnswers.isEmpty || !calendars.isEmpty
            || !schedules.isEmpty || !removedSchedules.isEmpty || !firings.isEmpty || !load.isEmpty || !drains.isEmpty
    }
}

extension ManagementTurn: ServiceTurn {
    /// The messages to the orchestrator, then the replies to clients.
    public var deliveries: [Delivery] {
        toOrchestrator.map { Delivery($0, to: .orchestrator) } + replies.map { Delivery($0.1, to: .peer($0.0)) }
    }
}

/// What management's store holds, to resume from.
public struct ManagementSnapshot: Sendable {
    public var products: [ProductRecord] = []
    public var flows: [FlowRecord] = []
    public var runs: [RunRecord] = []
    public var pending: [OperationRequest] = []
    public var counters = ManagementCounters()
    public var position = StreamPosition(publisher: StreamNames.orchestrator, epoch: 0, sequence: 0)
    /// The most recent operator actions, oldest first.
    public var audit: [AuditEntry] = []
    public var calendars: [CalendarRecord] = []
    public var schedules: [ScheduleState] = []
    /// Firings waiting for a run to end, and the latest firings of each flow, oldest first.
    public var queuedFirings: [FiringRecord] = []
    /// The load buckets stored.
    public var load: [LoadMeter.Bucket] = []
    public var recentFirings: [FiringRecord] = []
    /// The shards an operator drained (`drain`): no new product is bound to them, and none moves onto them.
    public var drained: [UInt32] = []

    public init() {}
}
