public import Wire

/// Operators' controls, from the orchestrator's CONTROL: cancelling, pausing and resuming runs, run
/// priorities and product policies. What they set is kept in `ShardControls`.
extension ShardCore {
    /// Handles CONTROL from the orchestrator. Cancelling what is already cancelled changes nothing, so a
    /// repeated request applies once.
    public mutating func controlReceived(_ control: Control, from peer: Peer, now: Timestamp) {
        // Every action but cancel-job is on the whole run; cancel-job is on the job's generations up to the
        // one named, never a later one (a rerun's, submitted after the control was first sent).
        let matching = held(run: control.run).filter {
            control.action != .cancelJob || ($0.spec.job == control.job && $0.spec.generation <= control.generation)
        }.map(\.id)
        var detail: String
        switch control.action {
        case .cancelRun, .cancelJob:
            var signalled = 0
            for id in matching { signalled += cancel(id, grace: control.grace, now: now) }
            detail = "\(matching.count) job\(matching.count == 1 ? "" : "s") cancelled, \(signalled) running task\(signalled == 1 ? "" : "s") signalled"
        case .pauseRun:
            _ = controls.pause(control.run)
            detail = "run \(control.run) paused: \(matching.count) job\(matching.count == 1 ? "" : "s") held"
        case .resumeRun:
            if controls.resume(control.run) {
                for id in matching { requeue(id, now: now) }
            }
            detail = "run \(control.run) resumed: \(matching.count) job\(matching.count == 1 ? "" : "s") released"
        case .setPolicy:
            let policy = control.policy
            guard !policy.product.isEmpty, ProductPolicy.weights.contains(policy.weight) else {
                outbox.append((peer, .controlResult(ControlResult(request: control.request, status: .badRequest, detail: "set-policy needs a product and a weight from 1 to 10000"))))
                return
            }
            queue.setPolicy(policy, now: now)
            controls.policySet(policy)
            detail = "product \(policy.product): \(policy.summary)"
        case .handOver:
            // The runtime brings it to ``handOverReceived``, with what the store knows of the run.
            outbox.append((peer, .controlResult(ControlResult(request: control.request, status: .conflict, detail: "hand-over needs what the store holds of the run"))))
            return
        case .reportJob:
            // The runtime brings it to ``reportReceived(_:stored:from:now:)`` with what the store has of
            // a job no longer in memory; without it, only one in memory is found.
            return reportReceived(control, stored: nil, from: peer, now: now)
        case .setPriority:
            // The run's queued tasks go in again at the new priority (their old entries go stale), and
            // the jobs keep it: for their later steps, their retries, and after a restart.
            controls.setPriority(control.priority, of: control.run, jobs: matching.count)
            var requeued = 0
            for id in matching {
                jobs.modify(id) { $0.spec.runPriority = control.priority }
                requeued += requeue(id, now: now)
            }
            detail = "run \(control.run) at priority \(RunPriority.name(control.priority)): \(requeued) queued task\(requeued == 1 ? "" : "s") reordered"
        }
        outbox.append((peer, .controlResult(ControlResult(request: control.request, status: .ok, detail: detail))))
    }

    /// Handles CONTROL report-job: the orchestrator missed the end of a job (it restarted, or its run had
    /// ended and left its memory when the end came) and asks for its status again. The status is
    /// published with the turn's JOB-UPDATES, committed to the event log first, as any status is: from
    /// memory if the job is still held, else as the store has it (`stored`, read by the runtime). The
    /// answer says which; a job the shard does not have is answered 404, and nothing is published.
    public mutating func reportReceived(_ control: Control, stored: JobStatus?, from peer: Peer, now: Timestamp) {
        let identity = JobIdentity(reporting: control)
        let held = jobID(of: identity).flatMap { jobs[$0] }.map { Self.status(of: $0, now: now) }
        guard let status = held ?? stored else {
            let detail = "shard \(configuration.shard) holds no job \(identity)"
            outbox.append((peer, .controlResult(ControlResult(request: control.request, status: .notFound, detail: detail))))
            return
        }
        announced.append(status)
        let detail = "job \(identity) \(status.state.name): its status published again"
        outbox.append((peer, .controlResult(ControlResult(request: control.request, status: .ok, detail: detail))))
    }

    /// Queues a job's pending tasks again, after its run was resumed or its priority changed: those a
    /// read of the queue dropped while the run was paused, and those still there, whose old entries
    /// become stale. Returns how many were queued.
    @discardableResult
    private mutating func requeue(_ id: Int64, now: Timestamp) -> Int {
        guard let job = jobs[id] else { return 0 }
        let pending = job.tasks.filter { tasks[$0]?.state == .pending }
        enqueue(pending, of: job, now: now)
        return pending.count
    }

    /// Cancels a job: its waiting tasks at once, its running ones through CANCEL. Returns how many were signalled.
    private mutating func cancel(_ id: Int64, grace: UInt32, now: Timestamp) -> Int {
        guard let job = jobs[id], !job.state.isFinal else { return 0 }
        jobs.modify(id) {
            $0.cancelled = true
            // The orchestrator says why (a stop, a fail-run, a mark-succeeded); a job that fails all the same
            // (a partition failed) keeps its failure's.
            if $0.counts.failed == 0 { $0.detail = "cancelled by the orchestrator" }
        }
        dirtyJobs.insert(id)
        var signals: [Peer: [TaskRef]] = [:]
        for id in job.tasks {
            guard let task = tasks[id] else { continue }
            switch task.state {
            case .pending, .retrying:
                move(id, to: .cancelled, now: now)
            case .away:
                break  // Running on the shard the run came from, which cancels it there: its end says when it stopped.
            case .running:
                if let peer = task.lease?.peer {
                    signals[peer, default: []].append(task.ref)
                } else if job.finishing {
                    finishingEnded(id, outcome: .cancelled, now: now)
                } else {
                    move(id, to: .cancelled, now: now)  // Its worker has not come back since a restart.
                }
            case .succeeded, .failed, .cancelled:
                break
            }
        }
        for (peer, refs) in signals { outbox.append((peer, .cancel(Cancel(grace: grace, tasks: refs)))) }
        noteChange(id)
        return signals.values.reduce(0) { $0 + $1.count }
    }
}
