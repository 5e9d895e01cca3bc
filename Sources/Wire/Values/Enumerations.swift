/// What a step runs: a shell command in a child process, or a handler registered in the worker.
public enum ActionKind: UInt8, Sendable, CaseIterable {
    /// `action` is a command line run through `/bin/sh -c`.
    case command = 1
    /// `action` names a handler registered in the worker.
    case handler = 2
}

/// How one attempt of a task ended, as the worker reports it.
public enum Outcome: UInt8, Sendable, CaseIterable {
    /// The command exited 0, or the handler returned.
    case succeeded = 1
    /// The command exited non-zero or was killed by a signal, or the handler threw.
    case failed = 2
    /// The attempt ran past its timeout and was killed.
    case timedOut = 3
    /// The attempt was stopped by a CANCEL.
    case cancelled = 4
    /// The worker cannot run the task (no such handler, commands not allowed); it did not start.
    case rejected = 5
}

/// The state of a job, from the orchestrator's view (all states) or the shard's (queued onwards).
///
/// ```
///  waiting ──► submitted ──► queued ──► running ──► succeeded
///                              ▲          │
///                              └─retrying◄┤ (attempt failed, retries left)
///                                         ├──► failed     (no retries left)
///   (any state before succeeded) ─────────┴──► cancelled  (run stopped)
///   waiting ──► skipped  (an upstream job failed, or the run failed)
/// ```
public enum JobState: UInt8, Sendable, CaseIterable {
    /// Some predecessor has not succeeded yet.
    case waiting = 1
    /// Sent to the shard, not yet reported accepted.
    case submitted = 2
    /// Accepted by the shard and committed; no task of it is running.
    case queued = 3
    /// At least one task is leased to a worker.
    case running = 4
    /// An attempt failed and the next one waits for its backoff.
    case retrying = 5
    /// Every task succeeded. Final.
    case succeeded = 6
    /// A task failed with no retries left. Final until rerun.
    case failed = 7
    /// Stopped by an operator. Final until rerun.
    case cancelled = 8
    /// Not run, because an upstream job failed or the run ended. Final until rerun.
    case skipped = 9

    /// Whether nothing will happen to the job unless an operator acts.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .skipped: true
        case .waiting, .submitted, .queued, .running, .retrying: false
        }
    }
}

/// The state of a flow run, derived by the orchestrator from its jobs' states.
public enum RunState: UInt8, Sendable, CaseIterable {
    /// Jobs are waiting, queued or running, and none has failed.
    case running = 1
    /// Every job succeeded. Final.
    case succeeded = 2
    /// A job failed and nothing is left to run. Final until rerun.
    case failed = 3
    /// A job failed; independent branches are still running.
    case partlyFailed = 4
    /// An operator paused the run: nothing new is handed to workers.
    case paused = 5
    /// An operator stopped the run and running tasks are being cancelled.
    case stopping = 6
    /// An operator stopped the run. Final until rerun.
    case stopped = 7

    /// Whether the run has ended.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .stopped: true
        case .running, .partlyFailed, .paused, .stopping: false
        }
    }
}

/// An operator action on a run, carried by OPERATION-REQUEST.
public enum OperationAction: UInt8, Sendable, CaseIterable {
    /// Start a new run of a flow.
    case start = 1
    /// Stop a run: cancel what is queued, signal what is running.
    case stop = 2
    /// Pause a run: hand nothing more of it to workers.
    case pause = 3
    /// Resume a paused run.
    case resume = 4
    /// Rerun the failed, cancelled and skipped jobs of an ended run.
    case rerunFailed = 5
    /// Rerun one job (and, with the `downstream` option, every job after it).
    case rerunJob = 6
    /// Mark a job succeeded without running it, releasing its successors.
    case markSucceeded = 7
    /// Hold a product (`product`; `run` is 0): its open runs, and runs started while it is held, are paused.
    case hold = 8
    /// Release a held product: its runs held with it go on.
    case release = 9
    /// Set a product's share of its shard's workers (`product` and `policy`; `run` is 0).
    case setPolicy = 10
    /// Change a run's priority (`priority`), for its tasks queued now and its jobs submitted later.
    case setPriority = 11
    /// Move a product to the shard `shard` (`product` and its `policy`; `run` is 0): the orchestrator sends
    /// the policy to that shard, and management binds the product's new runs to it once answered.
    case move = 12
}

/// An action on queued and running work in a shard, carried by CONTROL.
public enum ControlAction: UInt8, Sendable, CaseIterable {
    /// Cancel every task of the run: queued ones at once, running ones through CANCEL.
    case cancelRun = 1
    /// Hold the run's queued tasks: none is handed to a worker until resumed.
    case pauseRun = 2
    /// Release the run's held tasks.
    case resumeRun = 3
    /// Cancel one job of the run (every generation of it).
    case cancelJob = 4
    /// Set a product's policy (weight, cap, rate, burst, priority over fairness, key weights; `run` is 0).
    case setPolicy = 5
    /// Change the priority of the run's queued tasks, and of those submitted later (`priority`).
    case setPriority = 6
    /// Give up a run that has not started here, for a move of its product: its jobs leave the shard, and
    /// a later submission of any of them up to generation `generation` is dropped.
    case handOver = 7
    /// Publish again the status of the run's job `job`, generation `generation`, as the shard holds it
    /// (in memory, or in its store once it has ended): the orchestrator missed its end.
    case reportJob = 8
}
