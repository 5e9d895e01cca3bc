public import Wire

/// One job of a run as the orchestrator tracks it.
public struct FlowRunJob: Equatable, Sendable {
    /// The job's name.
    public var name: String
    /// Its state, from the orchestrator's view.
    public var state: JobState
    /// 0, one more per rerun.
    public var generation: UInt32
    /// Whether the shard reported any status for the current generation.
    public var accepted: Bool
    /// When it is due to be sent again while not accepted, and the wait after that; nil before it is
    /// first submitted.
    public var resend: ResendSchedule?
    /// The last status the shard reported.
    public var status: JobStatus?
    /// Why the job is in its state, when the orchestrator decided it (skipped jobs).
    public var detail: String
    /// Whether the current generation reruns from where the last one stopped: steps and partitions that
    /// completed are not run again.
    public var resume: Bool
    /// Whether the store holds a row of the job. A job's first release writes none: its row is written
    /// when it ends (or when anything else about it changes), and counts the release then. A restart
    /// finds it without a row, waiting with its predecessors succeeded, and releases it again; its shard
    /// answers that SUBMIT with the job's status, as it does any job sent again.
    public var stored = false
    /// Released while it had no row: the release is counted when its row is written.
    public var releaseUnstored = false
    /// Submitted but not yet sent: released by a resume, and waiting for its turn to go
    /// (``OrchestratorCore/releaseInTurns(_:jobs:now:unsent:)``). Its shard has never seen it, so a stop or a
    /// run failed at once skips it as it does a job still waiting. Not stored: a restart sends every
    /// submitted job again, as if it might have gone.
    public var unsent = false

    public init(
        name: String, state: JobState = .waiting, generation: UInt32 = 0, accepted: Bool = false,
        status: JobStatus? = nil, detail: String = "", resume: Bool = false
    ) {
        self.resume = resume
        self.name = name
        self.state = state
        self.generation = generation
        self.accepted = accepted
        self.status = status
        self.detail = detail
    }
}

/// A job row for the store: the job, where it belongs, and what happened to it this turn.
public struct FlowRunJobRow: Equatable, Sendable {
    public var run: UInt64
    public var index: Int
    public var job: FlowRunJob
    /// Released (submitted for its generation) in this turn: the store counts releases, and a
    /// job is released once per generation.
    public var released: Bool
    /// Its success acted on in this turn: the store counts them, and a success is acted on once.
    public var succeeded: Bool

    public init(run: UInt64, index: Int, job: FlowRunJob, released: Bool = false, succeeded: Bool = false) {
        self.run = run
        self.index = index
        self.job = job
        self.released = released
        self.succeeded = succeeded
    }
}

extension JobState {
    /// Whether the job is with a shard and not final: submitted, queued, running or retrying.
    public var isActive: Bool {
        switch self {
        case .submitted, .queued, .running, .retrying: true
        case .waiting, .succeeded, .failed, .cancelled, .skipped: false
        }
    }
}

/// A flow run as the orchestrator holds it: the flow's definition, its DAG and every job's state.
public struct FlowRun: Sendable {
    /// The run's ID, assigned by management.
    public let id: UInt64
    public let product: String
    public let flow: String
    public let version: UInt32
    /// The shard that holds the run's work: its product's when it started, another after a move hands
    /// the run over (``handOver(to:now:policy:)``).
    public internal(set) var shard: UInt32
    /// The shard a move handed the run over from while tasks of it still finish there, their ends relayed
    /// (``OrchestratorCore/Relay``); 0 when none does. Not stored: the relays are.
    public internal(set) var finishingOn: UInt32 = 0
    /// The run's job entry moment: kept by reruns, renewed by a rerun with a fresh one.
    public var moment: UInt64
    /// The run's parameters, defaults applied.
    public let params: [String: String]
    /// The flow's definition, as of `version`.
    public let definition: FlowDefinition
    /// The definition's DAG.
    public let graph: FlowGraph
    /// Which jobs have succeeded and been released.
    public var dependencies: Dependencies
    /// The jobs, in the flow's order. Changed only through ``updateJob(_:_:)``, which keeps `counts`.
    public private(set) var jobs: [FlowRunJob]
    /// How many jobs are in each state, by the state's raw value: the run's state and status are
    /// derived from them in O(1), however many jobs the run has.
    public private(set) var counts: [Int] = Array(repeating: 0, count: 16)
    /// The run's state.
    public var state: RunState
    /// When it started, and when it reached a final state (`.zero` while not).
    public var started: Timestamp
    public var finished: Timestamp
    /// Why the run is in its state (the first failure).
    public var detail: String
    /// When any of its jobs last changed.
    public var lastChange: Timestamp
    /// Whether an operator paused the run, or held its product: jobs whose predecessors succeed wait in
    /// `parked` instead of being submitted, and the shard hands none of its queued tasks out.
    public var paused = false
    public var held = false
    /// Whether an operator stopped the run: it is stopping until no job of it is active, then stopped.
    public var stopping = false
    /// The run's priority (``RunPriority``), which its jobs carry to the shard.
    public var priority = RunPriority.normal
    /// Jobs released while the run was paused or held, submitted when it is resumed or released.
    public var parked: [Int] = []
    /// The state, end and detail as last stored and published; nil for a run not stored yet. A change
    /// to any of them is committed and published at once; a change to the counts alone is published as
    /// progress, a few times a second at most.
    public var announced: Mark?

    /// What of a run is stored and published at once when it changes.
    public struct Mark: Equatable, Sendable {
        public var state: RunState
        public var finished: Timestamp
        public var detail: String
        public var finishing: UInt32
    }

    /// The run's mark as it is now.
    public var mark: Mark { Mark(state: state, finished: finished, detail: detail, finishing: finishingOn) }

    /// A new run: every job waiting. Runs of one flow version may share a `graph` built once.
    public init(
        id: UInt64, product: String, flow: String, version: UInt32, shard: UInt32, moment: UInt64,
        params: [String: String], definition: FlowDefinition, graph: FlowGraph? = nil, started: Timestamp
    ) {
        self.init(
            id: id, product: product, flow: flow, version: version, shard: shard, moment: moment, params: params,
            definition: definition, graph: graph, jobs: definition.jobs.map { FlowRunJob(name: $0.name) },
            state: .running, started: started, finished: .zero, detail: "")
        announced = nil
    }

    /// A run resumed from the store, with its jobs as stored.
    public init(
        id: UInt64, product: String, flow: String, version: UInt32, shard: UInt32, moment: UInt64,
        params: [String: String], definition: FlowDefinition, graph: FlowGraph? = nil, jobs: [FlowRunJob],
        state: RunState, started: Timestamp, finished: Timestamp, detail: String
    ) {
        precondition(jobs.count == definition.jobs.count, "a run's jobs follow its definition")
        self.id = id
        self.product = product
        self.flow = flow
        self.version = version
        self.shard = shard
        self.moment = moment
        self.params = params
        self.definition = definition
        self.graph = graph ?? FlowGraph(definition)
        self.jobs = jobs
        for job in jobs { counts[Int(job.state.rawValue)] += 1 }
        self.state = state
        self.started = started
        self.finished = finished
        self.detail = detail
        self.lastChange = max(started, finished)
        self.announced = Mark(state: state, finished: finished, detail: detail, finishing: 0)
        let succeeded = Set(jobs.indices.filter { jobs[$0].state == .succeeded })
        let released = Set(jobs.indices.filter { jobs[$0].state != .waiting })
        self.dependencies = Dependencies(graph: self.graph, succeeded: succeeded, released: released)
    }

    /// Changes one job, keeping the counts by state.
    public mutating func updateJob(_ index: Int, _ change: (inout FlowRunJob) -> Void) {
        let before = jobs[index].state
        change(&jobs[index])
        let after = jobs[index].state
        if before != after {
            counts[Int(before.rawValue)] -= 1
            counts[Int(after.rawValue)] += 1
        }
    }

    /// The number of jobs in `state`.
    public func count(_ state: JobState) -> Int { counts[Int(state.rawValue)] }

    /// The number of jobs with the shard and not final (``JobState/isActive``).
    public var activeJobs: Int { count(.submitted) + count(.queued) + count(.running) + count(.retrying) }

    /// The job as submitted to the shard: its steps and partitions, the run's parameters under the job's,
    /// and the run's entry moment. A generation after the first is submitted with `resume` when the job
    /// reruns from where it failed, so that partitions and steps that completed are not run again.
    public func spec(of index: Int) -> JobSpec {
        let job = definition.jobs[index]
        let steps = job.steps.map { step -> StepSpec in
            let partitions = UInt32(step.partitions.count)
            switch step.action {
            case .command(let command):
                return StepSpec(name: step.name, kind: .command, action: command, partitions: partitions, partitionKeys: step.partitions.keys)
            case .handler(let handler):
                return StepSpec(name: step.name, kind: .handler, action: handler, partitions: partitions, partitionKeys: step.partitions.keys)
            }
        }
        return JobSpec(
            run: id, job: job.name, generation: jobs[index].generation, product: product, flow: flow, moment: moment,
            priority: Int16(job.priority), type: job.effectiveType(flow: flow), tags: job.tags,
            retries: UInt16(job.retries), backoff: UInt32(clamping: job.backoff), timeout: UInt32(clamping: job.timeout ?? 0),
            params: params.merging(job.params) { _, jobs in jobs }, resume: jobs[index].resume ? 1 : 0, inputs: job.inputs,
            steps: steps, runPriority: priority, fairnessKey: definition.fairnessKey(params: params),
            batch: UInt32(job.batch))
    }

    /// Derives the run's state from its jobs' and the operator's actions: a stopped run is stopping until
    /// none of its jobs is active; a paused or held one that has work left is paused.
    public mutating func deriveState(now: Timestamp) {
        guard !state.isFinal else { return }
        let failed = count(.failed) + count(.cancelled) + count(.skipped)
        let open = jobs.count - count(.succeeded) - failed
        let active = activeJobs
        // Tasks of it still finishing on the shard it was handed over from keep it open, whatever its
        // jobs say: a rerun must not start while they run.
        if stopping {
            let done = active == 0 && finishingOn == 0
            state = done ? .stopped : .stopping
            if done { finished = now }
        } else if open == 0 && finishingOn == 0 {
            state = failed == 0 ? .succeeded : .failed
            finished = now
        } else if paused || held {
            state = .paused
        } else {
            state = failed == 0 ? .running : .partlyFailed
        }
    }

    /// Whether jobs released now are submitted, or parked until the run is resumed.
    public var isParking: Bool { paused || held }

    /// The run's status for RUN-UPDATES.
    public func status(now: Timestamp) -> RunStatus {
        let failed = count(.failed) + count(.cancelled) + count(.skipped)
        let active = activeJobs
        return RunStatus(
            run: id, product: product, flow: flow, state: state, jobs: UInt32(jobs.count), succeeded: UInt32(count(.succeeded)),
            failed: UInt32(failed), active: UInt32(active), started: started.wire, finished: finished.wire, time: now.wire,
            detail: detail, shard: shard, finishing: finishingOn)
    }

    /// RUN-DETAIL's answer to `query`: the run's status and the page of its jobs the query asks for.
    public func detail(answering query: RunQuery) -> RunDetail {
        let statuses = jobs.lazy.map { job in
            var status = job.status ?? JobStatus(run: id, job: job.name, generation: job.generation, state: job.state, time: 0)
            status.state = job.state
            if !job.detail.isEmpty { status.detail = job.detail }
            return status
        }
        return RunDetail(
            request: query.request, status: .ok, run: status(now: lastChange), first: min(query.first, UInt32(jobs.count)),
            jobs: query.page(of: statuses))
    }
}
