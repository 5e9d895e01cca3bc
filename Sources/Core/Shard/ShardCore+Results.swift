public import Wire

/// Results and job states: what an attempt's end, a retry or a lost lease does to a task, and what its
/// job's state becomes (settling) once the turn's events are in.
extension ShardCore {
    /// Records a result from the worker registered on `peer`. Only one for a task's current attempt, while
    /// it runs, from the connection and session that hold its lease, changes anything; every result is
    /// receipted. Returns false for a result for the current attempt of a running task whose lease the
    /// sender does not hold (another worker's, another session's, or one restored after a restart and not
    /// claimed): it changes nothing, as a stale one, and is to be reported.
    mutating func resultReceived(_ result: TaskResult, from peer: Peer, now: Timestamp) -> Bool {
        receipts[peer, default: []].append(TaskRef(task: result.task, attempt: result.attempt))
        // What the result needs of the task and its worker, not copies of them: a copy alive while they
        // change would have their attempt record and set of leases copied again at each change.
        guard
            let task = tasks[result.task].flatMap({ task in
                task.state == .running && task.attempt == result.attempt
                    ? (id: task.id, jobID: task.jobID, lease: task.lease, charge: task.charge, started: task.started) : nil
            }), jobs.contains(task.jobID)
        else {
            return true  // Stale: an older attempt, a task already final, or one this shard no longer holds.
        }
        guard let lease = task.lease, lease.peer == peer, let worker = workers[peer].map({ (name: $0.name, session: $0.session, key: $0.key) }),
            lease.session == worker.session, lease.worker == worker.name, lease.key == worker.key
        else {
            return false  // Not the sender's to report.
        }
        workers.released(task.id, from: lease)
        // The run time, as the shard saw it, joins the window of the product's job type; a set's is shared by its tasks.
        if let charge = task.charge { queue.measured(charge, duration: Self.ran(since: task.started, charge: charge, now: now)) }
        update(task.id) {
            $0.lease = nil
            $0.exitCode = result.exitCode
            $0.output = result.output
            $0.log = result.log
            $0.error = result.error
        }
        let finishing = jobs[task.jobID]?.finishing == true
        switch result.outcome {
        case .succeeded:
            if result.data.count > Int(configuration.resultLimit) {
                let message = "its result of \(result.data.count) octets is over the limit of \(configuration.resultLimit)"
                update(task.id) { $0.error = message }
                fail(task.id, spec: jobs[task.jobID]!.spec, now: now)
            } else {
                update(task.id) { $0.data = result.data }
                if finishing {
                    finishingEnded(task.id, outcome: .succeeded, now: now)
                } else {
                    move(task.id, to: .succeeded, now: now)
                    succeededTasks.insert(task.id)
                }
            }
        case .failed, .timedOut, .cancelled:
            if jobs[task.jobID]?.cancelled == true {
                if finishing { finishingEnded(task.id, outcome: .cancelled, now: now) } else { move(task.id, to: .cancelled, now: now) }
                return true
            }
            if result.outcome == .timedOut && result.error.isEmpty { update(task.id) { $0.error = "timed out" } }
            fail(task.id, spec: jobs[task.jobID]!.spec, now: now)
        case .rejected:
            // The worker cannot run tasks of this kind: it is offered none again while registered, and the
            // task waits a backoff before any worker may take it.
            if let requirement = jobs[task.jobID]?.requirement { workers.cannotRun(requirement, on: peer) }
            let why = result.error.isEmpty ? "" : ": \(result.error)"
            lose(task.id, of: task.jobID, reason: "worker \(worker.name) rejected it\(why)", backingOff: true, now: now)
        }
        return true
    }


    /// Counts a failed attempt: retried after a backoff while retries remain, failed for good after. A
    /// task finishing here for a run handed over is not retried here: its end goes to the run's new shard.
    private mutating func fail(_ id: UInt64, spec: JobSpec, now: Timestamp) {
        update(id) { $0.failures += 1 }
        if let task = tasks[id], jobs[task.jobID]?.finishing == true { return finishingEnded(id, outcome: .failed, now: now) }
        retryOrFail(id, spec: spec, now: now)
    }

    /// Retries a task whose failures are counted after a backoff while retries remain; fails it for good after.
    mutating func retryOrFail(_ id: UInt64, spec: JobSpec, now: Timestamp) {
        let failures = tasks[id]?.failures ?? 0
        if failures <= spec.retries {
            let delay = RetryPolicy.delay(backoff: Int64(spec.backoff), failures: Int(failures), using: &random)
            let due = now.adding(milliseconds: delay)
            update(id) { $0.due = due }
            retries.insert(Due(time: due, task: id))
            move(id, to: .retrying, now: now)
        } else {
            move(id, to: .failed, now: now)
        }
    }

    /// Takes a running task back from its worker: it is queued again and runs with the next attempt
    /// number, unless it has been lost too often.
    mutating func takeBack(_ id: UInt64, reason: String, now: Timestamp) {
        guard let task = tasks[id], task.state == .running else { return }
        meter.takenBack += 1
        if let lease = task.lease { workers.released(id, from: lease) }
        update(id) { $0.lease = nil }
        lose(id, of: task.jobID, reason: reason, now: now)
    }

    /// Queues a task of the job `jobID` again without counting a failure, unless it has been lost too
    /// often. A task finishing here for a run handed over is not queued here: its end goes to the run's new shard.
    private mutating func lose(_ id: UInt64, of jobID: Int64, reason: String, backingOff: Bool = false, now: Timestamp) {
        let finishing = jobs[jobID]?.finishing == true
        if jobs[jobID]?.cancelled == true {
            if finishing { finishingEnded(id, outcome: .cancelled, now: now) } else { move(id, to: .cancelled, now: now) }
            return
        }
        update(id) {
            $0.losses += 1
            $0.error = reason
        }
        if finishing { return finishingEnded(id, outcome: .lost, now: now) }
        requeueOrFail(id, of: jobID, reason: reason, backingOff: backingOff, now: now)
    }

    /// Queues a task whose losses are counted again, unless it has been lost too often. `backingOff` (a
    /// task a worker rejected) queues it only after a wait of 1 s, doubled at each loss up to a minute.
    mutating func requeueOrFail(_ id: UInt64, of jobID: Int64, reason: String, backingOff: Bool = false, now: Timestamp) {
        let losses = tasks[id]?.losses ?? 0
        if losses > configuration.maximumLosses {
            update(id) { $0.error = "lost \($0.losses) times; the last time \(reason)" }
            move(id, to: .failed, now: now)
        } else if backingOff {
            let due = now.adding(milliseconds: min(Self.rejectionBackoff << Int64(min(max(Int(losses) - 1, 0), 6)), 60_000))
            update(id) { $0.due = due }
            retries.insert(Due(time: due, task: id))
            move(id, to: .retrying, now: now)
        } else {
            move(id, to: .pending, now: now)
            if let job = jobs[jobID] { enqueue([id], of: job, now: now) }
        }
    }

    /// The wait before a rejected task may be taken again, doubled at each loss.
    static let rejectionBackoff: Int64 = 1000

    /// Changes a task, marking it to be committed.
    @discardableResult
    mutating func update<Result>(_ id: UInt64, _ change: (inout ShardTask) -> Result) -> Result {
        let result = tasks.modify(id, change)
        dirtyTasks.insert(id)
        return result
    }

    /// The worker time a task running since `started` has taken, as the shard sees it: its share of its set's.
    static func ran(since started: Timestamp, charge: FairQueue.Charge?, now: Timestamp) -> Int64 {
        Int64((Double(now.since(started)) * (charge?.slot ?? 1)).rounded())
    }

    /// Moves a task to `state`, keeping its job's counters, and marks the job to be settled.
    mutating func move(_ id: UInt64, to state: TaskState, now: Timestamp) {
        // What the move needs of the task as it was: its charge and start, and the counter it leaves. Not a
        // copy of the whole task, a dozen counted references.
        let (before, charge, started, jobID, step) = update(id) { task in
            let before = (task.state, task.charge, task.started, task.jobID, task.step)
            task.state = state
            if state.isFinal { task.finished = now }
            if before.0 == .running && state != .running { task.charge = nil }
            return before
        }
        if before == .running && state != .running, let charge {
            queue.ended(charge, ran: Self.ran(since: started, charge: charge, now: now), now: now)
            meter.ended(product: charge.product, ran: now.since(started), as: state)
        }
        // An attempt that did not succeed is kept in the task's history: its row goes on with the next.
        if before == .running, state != .running, state != .succeeded, let after = tasks[id] {
            endedAttempts.append(EndedAttempt(
                jobID: jobID, step: step, partition: after.partition, attempt: after.attempt, worker: after.worker,
                started: started, finished: now, state: state, exitCode: after.exitCode, output: after.output, log: after.log,
                error: after.error))
        }
        if state == .retrying { meter.retries += 1 }
        if state == .running, before != .running, let charge = tasks[id]?.charge, let queued = jobs[jobID]?.queued {
            meter.leased(product: charge.product, waited: now.since(max(queued, tasks[id]!.due)), now: now)
        }
        if jobs[jobID]?.step == step {
            let ends = state.isFinal || state == .retrying
            let (log, error) = ends ? (tasks[id]!.log, tasks[id]!.error) : ("", "")
            jobs.modify(jobID) { job in
                job.counts[before] -= 1
                job.counts[state] += 1
                if ends {
                    // Where this attempt's output went, nowhere included: an earlier attempt's log is not
                    // this one's (found with a handler that logged on its failed attempts only).
                    job.output = log
                    // A job cancelled here keeps why: its attempt's "cancelled by the shard" says less.
                    if !error.isEmpty, !(job.cancelled && state == .cancelled) { job.detail = error }
                }
            }
        }
        noteChange(jobID)
    }

    // MARK: - Job state

    mutating func noteChange(_ id: Int64) {
        // A job settled already in this turn (dispatch hands out tasks between the turn's two settlings)
        // is settled again, or its state would lag its counts: queued with a task running.
        if changedSet.insert(id) || settledSet.remove(id) { changed.append(id) }
    }

    /// Derives the state of every job changed this turn from its counters, starting the next step of a
    /// job whose step completed.
    mutating func settle(now: Timestamp) {
        var index = settled
        while index < changed.count {
            let id = changed[index]
            index += 1
            settledSet.insert(id)
            // Read in place: a job is copied out only to start its next step, which needs the core too.
            guard let state = jobs[id]?.state, !state.isFinal else { continue }
            if jobs[id]!.finishing {
                // Its run's new shard settles the job; it leaves here once its last task has ended.
                if jobs[id]!.counts.running == 0 { finishedAway.append(id) }
                continue
            }
            let counts = jobs[id]!.counts
            let next: JobState
            if counts.running + counts.away > 0 {
                next = .running
            } else if counts.pending > 0 {
                next = .queued
            } else if counts.retrying > 0 {
                next = .retrying
            } else if counts.failed > 0 {
                next = .failed
            } else if counts.cancelled > 0 || jobs[id]!.cancelled {
                next = .cancelled
            } else if Int(jobs[id]!.step) + 1 < jobs[id]!.spec.steps.count {
                var job = jobs[id]!
                advance(&job, now: now)
                job.state = .queued
                jobs.updateValue(job, forKey: id)
                dirtyJobs.insert(id)
                continue
            } else {
                next = .succeeded
            }
            jobs.modify(id) { job in
                job.state = next
                if next.isFinal { job.finished = now }
                if next == .succeeded { job.detail = "" }
            }
            // A job's row is written when it is created, moves to another step, is cancelled or ends:
            // between those, its state follows from its tasks' rows.
            if next.isFinal { dirtyJobs.insert(id) }
        }
        settled = index
    }

    /// The job's status as JOB-UPDATES reports it.
    public static func status(of job: ShardJob, now: Timestamp) -> JobStatus {
        let counts = job.counts
        let pending = counts.pending + counts.retrying
        let running = counts.running + counts.away
        let succeeded = job.completed + counts.succeeded
        let failed = counts.failed
        return JobStatus(
            run: job.spec.run, job: job.spec.job, generation: job.spec.generation, state: job.state,
            attempts: job.attempts, pending: pending, running: running, succeeded: succeeded, failed: failed,
            step: job.step, steps: UInt16(job.spec.steps.count), queued: job.queued.wire, started: job.started.wire,
            finished: job.finished.wire, time: now.wire, output: job.output, detail: job.waitNote.isEmpty ? job.detail : job.waitNote)
    }
}
