import Wire

/// The rules of one run: how its jobs are released or parked, sent again, and changed by the shard's
/// statuses and by operators. Each changes the run in place and returns what the rest of the
/// orchestrator must do with it: submit jobs, store their rows, send CONTROL.
extension FlowRun {
    /// What a status from the shard did to the run.
    struct StatusOutcome {
        /// The job it reports on.
        var index: Int
        /// Jobs its success released, in file order.
        var released: [Int] = []
        /// Jobs skipped because of it: after a failure, or all the jobs not started when the run failed at once.
        var skipped: [Int] = []
        /// The shard took a job of a stopping run after the run's cancel-run reached it: cancel the job too.
        var cancelJob = false
        /// The run failed at once (fail-run) while jobs of it are active: the shard cancels them.
        var cancelRun = false
    }

    // MARK: - Submitting

    /// Takes jobs whose predecessors have all succeeded, and returns those to submit now. Only jobs still
    /// waiting are taken: a stop skips the jobs not started, and a job that succeeds before its
    /// cancellation arrives releases them all the same. While the run is paused or held they are parked,
    /// and none is returned; otherwise they are submitted, not accepted, and due to be sent again after
    /// the policy's first wait.
    mutating func release(_ released: [Int], now: Timestamp, policy: ResendPolicy) -> [Int] {
        let waiting = released.filter { jobs[$0].state == .waiting }
        if isParking {
            parked += waiting
            return []
        }
        for index in waiting {
            updateJob(index) {
                $0.state = .submitted
                $0.accepted = false
                $0.unsent = false
                $0.resend = ResendSchedule(sentAt: now, policy: policy)
            }
        }
        return waiting
    }

    /// Releases jobs as ``release(_:now:policy:)`` does, to be sent by the orchestrator's tick rather than
    /// at once (a run read back at a start, one resumed): each is due to be sent at `now`, then waited for
    /// as if sent for the first time. `unsent` says that none can have gone before (a resume), not that
    /// whether it went is unknown (a restart). Returns those jobs.
    mutating func releaseDue(_ released: [Int], now: Timestamp, policy: ResendPolicy, unsent: Bool) -> [Int] {
        let due = release(released, now: now, policy: policy)
        for index in due {
            updateJob(index) {
                $0.resend = ResendSchedule(dueAt: now, policy: policy)
                $0.unsent = unsent
            }
        }
        return due
    }

    /// Whether job `index` is sent again now: it is active, not accepted, and due at `time` (an older
    /// entry of the orchestrator's heap is not). If it is, its next send waits longer.
    mutating func resend(_ index: Int, dueAt time: Timestamp, now: Timestamp, policy: ResendPolicy) -> Bool {
        guard jobs.indices.contains(index), jobs[index].state.isActive, !jobs[index].accepted, jobs[index].resend?.due == time else {
            return false
        }
        updateJob(index) {
            $0.resend?.resent(at: now, policy: policy)
            $0.unsent = false
        }
        return true
    }

    /// Makes every active job not accepted and due at `now`, then waited for as if sent for the first
    /// time: whether the shard has it is unknown (the orchestrator restarted, or the shard lost what the
    /// orchestrator missed). Returns those jobs.
    mutating func sendActiveAgain(now: Timestamp, policy: ResendPolicy) -> [Int] {
        var again: [Int] = []
        for index in jobs.indices where jobs[index].state.isActive {
            updateJob(index) {
                $0.accepted = false
                $0.resend = ResendSchedule(dueAt: now, policy: policy)
            }
            again.append(index)
        }
        return again
    }

    /// Makes the jobs submitted and not accepted due at `now`, keeping the waits after: their shard
    /// restarted, and what it had not accepted may be lost with its old process. Returns those jobs.
    mutating func expediteUnaccepted(now: Timestamp) -> [Int] {
        var again: [Int] = []
        for index in jobs.indices where jobs[index].state.isActive && !jobs[index].accepted {
            updateJob(index) { $0.resend?.expedite(to: now) }
            again.append(index)
        }
        return again
    }

    // MARK: - The shard's statuses

    /// Applies one job status from the run's shard; nil when it changes nothing: a status of another
    /// generation, or of a job already final or not submitted. A job succeeds once and releases its
    /// successors once.
    mutating func apply(_ status: JobStatus, now: Timestamp) -> StatusOutcome? {
        guard let index = graph.index[status.job], status.generation == jobs[index].generation, !jobs[index].state.isFinal,
            jobs[index].state != .waiting
        else { return nil }
        var outcome = StatusOutcome(index: index)
        // A run failed at once (fail-run) is final with jobs still active, and cancelled them as it failed.
        outcome.cancelJob = (stopping || state == .failed) && !jobs[index].accepted && status.state.isActive
        updateJob(index) {
            $0.accepted = true
            $0.status = status
            $0.state = status.state
        }
        switch status.state {
        case .succeeded:
            // Counted even in an ended run (fail-run ends it with jobs still active), which releases
            // nothing: a rerun's jobs after this one do not wait for it again.
            let ready = dependencies.jobSucceeded(index)
            if !state.isFinal { outcome.released = ready }
        case .failed, .cancelled:
            if status.state == .cancelled, let why = cancelledBecause {
                updateJob(index) { $0.detail = why }
            }
            for downstream in graph.downstream(of: index).sorted() where jobs[downstream].state == .waiting {
                updateJob(downstream) {
                    $0.state = .skipped
                    $0.detail = "not run: \(status.job) \(status.state.name)"
                }
                outcome.skipped.append(downstream)
            }
            if detail.isEmpty { detail = "\(status.job) \(status.state.name): \(status.detail)" }
            if status.state == .failed, !state.isFinal, definition.failurePolicy(of: index) == .failRun {
                outcome.skipped += failAtOnce(because: status.job, now: now)
                outcome.cancelRun = activeJobs > 0
            }
        default:
            // Under fail-run, a partition that failed with no retries left fails its job, whatever its other
            // partitions still do: the run fails now, and the shard cancels them with the rest (found by an
            // explorer: the run failed "at once" only when the job's last partition had ended, hours later).
            if status.state.isActive, status.failed > 0, !state.isFinal, definition.failurePolicy(of: index) == .failRun {
                let partitions = status.failed == 1 ? "a partition" : "\(status.failed) partitions"
                if detail.isEmpty { detail = "\(status.job) failed: \(partitions) failed with no retries left: \(status.detail)" }
                outcome.skipped += failAtOnce(because: status.job, now: now)
                outcome.cancelRun = true
            }
        }
        lastChange = now
        return outcome
    }

    /// Why the shard cancels this run's jobs, when the run asked it to: an operator's stop, or the run failed
    /// at once. Nil otherwise (a job cancelled for a mark-succeeded is final already, and keeps its mark).
    private var cancelledBecause: String? {
        if stopping { return "cancelled: an operator stopped the run" }
        if state == .failed { return "cancelled: the run failed at once (on_failure: fail-run)" }
        return nil
    }

    /// The fail-run policy: the run fails now, and its jobs not started are skipped (returned).
    private mutating func failAtOnce(because job: String, now: Timestamp) -> [Int] {
        state = .failed
        finished = now
        detail += " (on_failure: fail-run, so the run failed at once)"
        return skipWaiting(detail: "not run: \(job) failed and the run failed at once")
    }

    /// Skips every job not started, with why; returns them. A job submitted but not yet sent (``FlowRunJob/unsent``)
    /// has not started either: its shard has never seen it.
    private mutating func skipWaiting(detail: String) -> [Int] {
        var skipped: [Int] = []
        for index in jobs.indices where jobs[index].state == .waiting || (jobs[index].state == .submitted && jobs[index].unsent) {
            updateJob(index) {
                $0.state = .skipped
                $0.unsent = false
                $0.detail = detail
            }
            skipped.append(index)
        }
        return skipped
    }

    // MARK: - Publishing

    /// How a changed run is published.
    enum Announcement {
        /// Only its job counts moved: with the next progress report.
        case progress
        /// Its state, end or detail changed: now, with whether it has just ended.
        case changed(RunStatus, ended: Bool)
    }

    /// Derives the run's state from its jobs', and says how the change is published.
    mutating func announce(now: Timestamp) -> Announcement {
        deriveState(now: now)
        let mark = self.mark
        guard mark != announced else { return .progress }
        let ended = mark.state.isFinal && announced?.state.isFinal != true
        announced = mark
        return .changed(status(now: now), ended: ended)
    }

    // MARK: - Operators

    /// Stops the run: jobs not started are skipped (returned), nothing is parked any more, and the run is
    /// stopping until none of its jobs is active.
    mutating func stop(now: Timestamp) -> [Int] {
        let skipped = skipWaiting(detail: "not run: the run was stopped")
        stopping = true
        paused = false
        held = false
        parked = []
        lastChange = now
        if detail.isEmpty { detail = "stopped by an operator" }
        return skipped
    }

    /// Takes the jobs parked while the run was paused or held, to be released now.
    mutating func unpark() -> [Int] {
        defer { parked = [] }
        // A job marked succeeded or skipped while it was parked is not submitted: it would run after all. Nor
        // is one whose release was taken back (a predecessor rerun): it is released again when that succeeds.
        var seen: Set<Int> = []
        return parked.filter {
            jobs[$0].state == .waiting && dependencies.released[$0] && dependencies.unmet[$0] == 0 && seen.insert($0).inserted
        }
    }

    /// Makes an ended run open again for a rerun: running, its detail cleared, held if its product is,
    /// with a fresh entry moment when one is given (not 0).
    mutating func reopen(moment: UInt64, held: Bool) {
        state = .running
        finished = .zero
        detail = ""
        stopping = false
        self.held = held
        if moment != 0 { self.moment = moment }
    }

    /// Makes a job wait for its next generation; with `resume`, that generation goes on from where the
    /// last one stopped.
    mutating func renew(_ index: Int, resume: Bool) {
        updateJob(index) {
            $0.generation += 1
            $0.state = .waiting
            $0.accepted = false
            $0.status = nil
            $0.resume = resume
            $0.detail = ""
        }
    }

    /// Skips the waiting jobs that cannot run because a job before them failed, was cancelled or was
    /// skipped, in the flow's order so that what follows a skipped job is skipped too; returns them. A
    /// rerun or a mark makes jobs wait again, and one whose other predecessor had failed would otherwise
    /// wait, and keep its run open, for ever.
    mutating func skipBlocked() -> [Int] {
        var skipped: [Int] = []
        for index in graph.order where jobs[index].state == .waiting {
            guard let blocker = graph.predecessors[index].first(where: { [.failed, .cancelled, .skipped].contains(jobs[$0].state) }) else { continue }
            let detail = "not run: \(jobs[blocker].name) \(jobs[blocker].state.name)"
            updateJob(index) {
                $0.state = .skipped
                $0.detail = detail
            }
            skipped.append(index)
        }
        return skipped
    }

    /// Marks a job succeeded without running it, in a generation of its own, so that its successors run.
    mutating func markSucceeded(_ index: Int) {
        updateJob(index) {
            $0.generation += 1
            $0.state = .succeeded
            $0.accepted = true
            $0.status = nil
            $0.resume = false
            $0.detail = "marked succeeded by an operator"
        }
    }
}
