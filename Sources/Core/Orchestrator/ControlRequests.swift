public import Wire

extension OrchestratorCore {
    /// A CONTROL sent to a shard and not answered yet, as the store keeps it.
    public struct PendingControl: Equatable, Sendable {
        public var shard: UInt32
        public var control: Control

        public init(shard: UInt32, control: Control) {
            self.shard = shard
            self.control = control
        }
    }
}

/// The CONTROL requests the orchestrator sent to shards that no CONTROL-RESULT has answered yet. Each is
/// committed before it is sent, and sent again on the resend policy until answered; those restored from
/// the store are sent again at once, since whether they arrived is unknown.
struct ControlRequests: Sendable {
    /// The last request ID given.
    private(set) var last: UInt64
    private var pending: [UInt64: Pending]
    /// The runs a pending hand-over is about, with how many: asked of every run at every look.
    private var handingOverRuns: [UInt64: Int] = [:]
    // What the current turn has produced.
    private var new: [OrchestratorCore.PendingControl] = []
    private var answered: [UInt64] = []
    private var sends: [(UInt32, Control)] = []

    private struct Pending: Sendable {
        var sent: OrchestratorCore.PendingControl
        var resend: ResendSchedule
    }

    init(restoring controls: [OrchestratorCore.PendingControl], last: UInt64, now: Timestamp, policy: ResendPolicy) {
        self.last = last
        pending = Dictionary(
            controls.map { ($0.control.request, Pending(sent: $0, resend: ResendSchedule(dueAt: now, policy: policy))) },
            uniquingKeysWith: { first, _ in first })
        for sent in pending.values where sent.sent.control.action == .handOver { handingOverRuns[sent.sent.control.run, default: 0] += 1 }
    }

    /// Sends `control` to `shard` under the next request ID. It supersedes what is pending of the same
    /// setting (a run's pause, its priority, a product's policy): were the older one sent again after
    /// it, the shard would apply the older last, and a run resumed here could stay paused there for
    /// ever. (On one connection the older is always ahead of the newer, so a copy already sent is not.)
    mutating func send(_ control: Control, to shard: UInt32, now: Timestamp, policy: ResendPolicy) {
        var control = control
        withdraw(settingOf: control, at: shard)
        last += 1
        control.request = last
        let sent = OrchestratorCore.PendingControl(shard: shard, control: control)
        pending[last] = Pending(sent: sent, resend: ResendSchedule(sentAt: now, policy: policy))
        if control.action == .handOver { handingOverRuns[control.run, default: 0] += 1 }
        new.append(sent)
        sends.append((shard, control))
    }

    /// Drops what is pending of the setting `control` makes at `shard` (as answered, so the store forgets
    /// it too): a newer value made it stale, whether or not the newer one is sent.
    mutating func withdraw(settingOf control: Control, at shard: UInt32) {
        guard let setting = Self.setting(of: control) else { return }
        for (request, older) in pending.sorted(by: { $0.key < $1.key })
        where older.sent.shard == shard && Self.setting(of: older.sent.control) == setting {
            pending[request] = nil
            answered.append(request)
        }
    }

    /// What a control sets, if a later one of the same setting overrides it; nil for a cancel, which
    /// nothing overrides. A question asked again (report-job) stands for the one before.
    private static func setting(of control: Control) -> String? {
        switch control.action {
        case .pauseRun, .resumeRun: "pause \(control.run)"
        case .setPriority: "priority \(control.run)"
        case .setPolicy: "policy \(control.policy.product)"
        case .reportJob: "report \(control.run) \(control.generation) \(control.job)"
        case .cancelRun, .cancelJob, .handOver: nil
        }
    }

    /// Takes a CONTROL-RESULT: the request is answered, unless it was already. Returns what it answers
    /// the first time.
    @discardableResult
    mutating func answer(_ request: UInt64) -> OrchestratorCore.PendingControl? {
        guard let answered = pending.removeValue(forKey: request) else { return nil }
        self.answered.append(request)
        let control = answered.sent.control
        if control.action == .handOver, let count = handingOverRuns[control.run] {
            handingOverRuns[control.run] = count > 1 ? count - 1 : nil
        }
        return answered.sent
    }

    /// The jobs of `run` a report-job is pending for.
    func reportsPending(run: UInt64) -> Set<JobIdentity> {
        var jobs: Set<JobIdentity> = []
        for request in pending.values where request.sent.control.action == .reportJob && request.sent.control.run == run {
            jobs.insert(JobIdentity(reporting: request.sent.control))
        }
        return jobs
    }

    /// Whether a hand-over of `run` is sent and not answered.
    func handingOver(_ run: UInt64) -> Bool { handingOverRuns[run] != nil }

    /// Makes what is pending at `shard` due at once: the shard restarted, and whatever was on its way
    /// to it may be lost.
    mutating func expedite(shard: UInt32, now: Timestamp) {
        for request in pending.keys where pending[request]?.sent.shard == shard {
            pending.modifyIfPresent(request) { $0.resend.expedite(to: now) }
        }
    }

    /// Sends again, in request order, what is due.
    mutating func tick(now: Timestamp, policy: ResendPolicy) {
        guard !pending.isEmpty else { return }
        for request in pending.keys.sorted() {
            let again = pending.modifyIfPresent(request) { pending -> (UInt32, Control)? in
                guard pending.resend.isDue(at: now) else { return nil }
                pending.resend.resent(at: now, policy: policy)
                return (pending.sent.shard, pending.sent.control)
            }
            if let again = again ?? nil { sends.append(again) }
        }
    }

    /// When the first pending request is due again; nil with none pending.
    func nextDeadline() -> Timestamp? {
        var next: Timestamp?
        for request in pending.values { next = min(next ?? request.resend.due, request.resend.due) }
        return next
    }

    /// What the turn produced: requests to commit as pending, those answered, and the CONTROLs to send
    /// after the commit. The next turn starts afresh.
    mutating func takeTurn() -> (new: [OrchestratorCore.PendingControl], answered: [UInt64], sends: [(UInt32, Control)]) {
        defer {
            new = []
            answered = []
            sends = []
        }
        return (new, answered, sends)
    }
}

/// What the orchestrator keeps of its questions about the ends of jobs of ended runs (report-job), in
/// memory only: the jobs their shard said it has not, whose end will never come, and which an operator's
/// refused action names; and where the next question about each run starts, so that each action asks
/// about the jobs after those the last one asked about. At most ``limit`` of each: beyond, and after a
/// restart, they are forgotten, and the next action asks again from the run's first job.
struct MissedEnds: Sendable {
    static let limit = 10_000
    private var unknown: [JobIdentity: UInt32] = [:]
    private var next: [UInt64: Int] = [:]

    /// Notes a 404 to a report-job.
    mutating func unknown(_ control: Control, at shard: UInt32) {
        if unknown.count >= Self.limit { unknown = [:] }
        unknown[JobIdentity(reporting: control)] = shard
    }

    /// The shard that said it has no such job, if one did.
    func shard(of run: UInt64, job: FlowRunJob) -> UInt32? { unknown[JobIdentity(run: run, job: job.name, generation: job.generation)] }

    /// The index of the run's job the next question starts at.
    func start(of run: UInt64) -> Int { next[run] ?? 0 }

    mutating func asked(_ run: UInt64, upTo index: Int) {
        if next.count >= Self.limit { next = [:] }
        next[run] = index + 1
    }
}
