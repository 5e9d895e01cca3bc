public import Wire

/// Hand-overs: a move of a product takes its open runs with it, each at a moment when none of its tasks
/// runs on its old shard. The old shard gives the run up in one turn, with where each of its jobs had got
/// (the partitions that succeeded, with their results, and the results each reads), and the results of
/// the run's jobs that succeeded there; it keeps a tombstone of the run, so that a submission of it still
/// on its way is dropped instead of run on two shards. The new shard takes the run over from that
/// (``takenOver(_:lookup:now:)``): nothing that succeeded runs again, and every later job finds its inputs.
extension ShardCore {
    /// The most a hand-over carries, in octets: beyond it the run finishes where it is.
    public static let handOverLimit = 16 << 20

    /// Handles CONTROL `hand-over` for a run: gives it up unless a task of it is retrying, failed or away
    /// here, a job of it is cancelled, or the run is paused, answering HANDED-OVER with what it held;
    /// otherwise answers 409 and the run stays. Tasks of it running here stay with their workers: their
    /// jobs stay, finishing, until the last has ended, and each end is told in the answer to the same
    /// request asked again, with how many still run. A repeated request gets the first answer again
    /// (`lookup.answered`), with the ends so far from the one its `from` names.
    public mutating func handOverReceived(_ control: Control, lookup: HandOverLookup, from peer: Peer, now: Timestamp) {
        func refuse(_ detail: String) {
            outbox.append((peer, .controlResult(ControlResult(request: control.request, status: .conflict, detail: detail))))
        }
        let run = control.run
        if let bound = handedOver[run], bound >= control.generation {
            // Asked again in the turn that gave it up, before the store has the answer: memory has it.
            guard var answered = lookup.answered ?? newTombstones[run]?.answer else {
                return refuse("run \(run) was handed over longer ago than the retention, and what it carried is no longer kept")
            }
            answered.request = control.request
            if control.from > 0 {
                // A relay's ask: only the ends and how many still run, not what the run carried.
                answered = HandedOver(
                    request: control.request, detail: "run \(run): the ends of its tasks that finished here", run: run)
            }
            // The ends from the `from`th (counted from 1; the store's lookup starts there), as many as fit a
            // hand-over (at least one).
            let skip = control.from > 0 ? max(0, Int(control.from) - 1 - lookup.endsSkipped) : 0
            let ends = lookup.ends + awayEnds.filter { $0.run == run }.map(\.end)
            var size = 0
            answered.ends = []
            for end in ends.dropFirst(skip) {
                size += end.encodedSize
                if !answered.ends.isEmpty && size > Self.handOverLimit { break }
                answered.ends.append(end)
            }
            answered.running = finishingTasks(of: run)
            outbox.append((peer, .handedOver(answered)))
            return
        }
        if control.from > 0 {
            // A relay's ask for a hand-over this shard has no tombstone of (its commit lost to a power loss
            // under durability normal): no end of it will come from here, and nothing is given up anew.
            outbox.append((peer, .controlResult(ControlResult(
                request: control.request, status: .gone,
                detail: "run \(run) has no hand-over here at generation \(control.generation): no more ends will come from this shard"))))
            return
        }
        if controls.paused.contains(run) { return refuse("run \(run) is paused here: it stays until it is resumed") }
        let held = held(run: run).filter { !$0.finishing }
        if let busy = held.first(where: { $0.counts.retrying + $0.counts.failed > 0 || $0.cancelled }) {
            return refuse("run \(run) has tasks of \(busy.spec.job) retrying or failed here: it stays until they end")
        }
        if let busy = held.first(where: { $0.counts.away > 0 }) {
            return refuse("run \(run) has tasks of \(busy.spec.job) still finishing on the shard it came from: it stays until they end")
        }
        if let newer = held.first(where: { $0.spec.generation > control.generation }) {
            return refuse("run \(run) has job \(newer.spec.job) at generation \(newer.spec.generation), newer than the \(control.generation) handed over")
        }
        // A job is not settled until the turn ends (more of this turn's messages may change it), so one
        // whose last task succeeded in this turn goes as work with every partition succeeded: the new shard
        // settles it at once. One that ended in an earlier turn is in the store's results.
        let results = lookup.results
        var carries: [JobCarry] = []
        for job in held where !job.state.isFinal {
            let step = job.spec.steps[Int(job.step)]
            var done: [TaskInput] = []
            var tried: [PartitionAttempts] = []
            var away: [PartitionAttempts] = []
            for id in job.tasks {
                guard let task = tasks[id] else { continue }
                let attempts = PartitionAttempts(partition: task.partition, attempt: task.attempt, failures: task.failures, losses: task.losses)
                switch task.state {
                case .succeeded:
                    done.append(
                        TaskInput(job: job.spec.job, step: job.step, partition: task.partition, partitionKey: step.partitionKey(of: task.partition), data: task.data))
                    // Its attempt goes too: the new shard's row says which attempt succeeded.
                    if task.attempt > 0 { tried.append(attempts) }
                case .running: away.append(attempts)
                default: if task.attempt > 0 { tried.append(attempts) }
                }
            }
            carries.append(JobCarry(
                job: job.spec.job, step: job.step, completed: job.completed, succeeded: done, previous: job.previous,
                upstream: job.spec.inputs.flatMap { job.upstream[$0] ?? [] }, attempts: tried, away: away))
        }
        let running = carries.reduce(0) { $0 + UInt32($1.away.count) }
        let answer = HandedOver(
            request: control.request,
            detail: "run \(run) handed over: \(carries.count) job\(carries.count == 1 ? "" : "s") left the shard"
                + (running > 0 ? ", with \(running) task\(running == 1 ? "" : "s") finishing here" : ""),
            run: run, jobs: carries, results: results, ended: lookup.ended, running: running)
        let size = carries.reduce(0) { $0 + $1.encodedSize } + results.reduce(0) { $0 + $1.encodedSize }
        if size > Self.handOverLimit {
            outbox.append((peer, .controlResult(ControlResult(
                request: control.request, status: .tooLarge,
                detail: "run \(run)'s results take \(size) octets, more than a hand-over carries (\(Self.handOverLimit)): it finishes here"))))
            return
        }
        for job in held where !job.state.isFinal {
            guard job.counts.running > 0 else {
                // Nothing of it runs or waits on a retry: its tasks are in memory and in its rows only.
                for id in job.tasks { if let task = tasks.removeValue(forKey: id) { handedOverTasks.append(task) } }
                forget(job.id)
                dirtyJobs.remove(job.id)
                for id in job.tasks { dirtyTasks.remove(id) }
                if job.stored { handedOverRows.append(job.id) }
                droppedJobs.append(job.id)
                controls.jobForgotten(of: run)
                continue
            }
            // Its running tasks finish here; the rest of it left with the answer.
            var kept: [UInt64] = []
            for id in job.tasks {
                guard let task = tasks[id] else { continue }
                if task.state == .running {
                    kept.append(id)
                    continue
                }
                tasks[id] = nil
                handedOverTasks.append(task)
                dirtyTasks.remove(id)
                if task.stored { handedOverTaskRows.append(id) }
            }
            finishingJobs.insert(job.id)
            jobs.modify(job.id) { job in
                job.finishing = true
                job.tasks = TaskList(kept)
                job.counts = TaskCounts()
                job.counts.running = UInt32(kept.count)
            }
            dirtyJobs.insert(job.id)
        }
        handedOver[run] = control.generation
        newTombstones[run] = Tombstone(generation: control.generation, answer: answer)
        outbox.append((peer, .handedOver(answer)))
    }

    /// Forgets the tombstones of runs handed over longer ago than the retention, whose rows the store
    /// deleted: the memory a shard holds of hand-overs stays bounded over a long life.
    public mutating func forgetTombstones(of runs: [UInt64]) {
        for run in runs { handedOver[run] = nil }
    }

    /// Runs handed over with tasks of them still finishing here: their tombstones and ends are kept.
    public var runsFinishing: Set<UInt64> { Set(finishingJobs.compactMap { jobs[$0]?.spec.run }) }

    /// How many tasks of `run` that were running when it was handed over still run here.
    func finishingTasks(of run: UInt64) -> UInt32 {
        held(run: run).reduce(0) { $0 + ($1.finishing ? $1.counts.running : 0) }
    }

    /// A task of a finishing job ended: it is not retried here, its end is kept to be told to the run's
    /// new shard, which decides what follows (another attempt there, or the step's completion).
    mutating func finishingEnded(_ id: UInt64, outcome: PartitionOutcome, now: Timestamp) {
        move(id, to: outcome == .succeeded ? .succeeded : outcome == .cancelled ? .cancelled : .failed, now: now)
        if outcome == .succeeded { succeededTasks.insert(id) }
        let (task, job) = held(id)
        awayEnds.append((
            job.spec.run,
            PartitionEnd(
                job: job.spec.job, step: task.step, partition: task.partition, attempt: task.attempt, failures: task.failures,
                losses: task.losses, outcome: outcome, exitCode: task.exitCode, output: task.output, log: task.log, error: task.error,
                data: task.data)
        ))
    }

    /// Applies PARTITIONS-ENDED: the ends of partitions of a run taken over that were running on its old
    /// shard. Each end of a partition still away here is applied as its worker's result would be (a
    /// success completes it, a failure counts against the job's retries, a loss or a failure with retries
    /// left runs it again here); any other is applied already, and changes nothing. Answered once committed.
    public mutating func partitionsEnded(_ message: PartitionsEnded, from peer: Peer, now: Timestamp) {
        let held = Dictionary(
            held(run: message.run).filter { !$0.finishing && !$0.state.isFinal }.map { ($0.spec.job, $0.id) },
            uniquingKeysWith: max)
        var applied = 0
        for (name, ends) in Dictionary(grouping: message.ends, by: \.job) {
            guard let jobID = held[name], let job = jobs[jobID] else { continue }
            let away = Dictionary(
                job.tasks.compactMap { id in tasks[id].flatMap { $0.state == .away ? ($0.partition, id) : nil } }, uniquingKeysWith: { first, _ in first })
            for end in ends {
                guard end.step == job.step, let id = away[end.partition], tasks[id]?.state == .away else { continue }
                applied += 1
                update(id) { task in
                    task.attempt = max(task.attempt, end.attempt)
                    task.failures = max(task.failures, end.failures)
                    task.losses = max(task.losses, end.losses)
                    task.exitCode = end.exitCode
                    task.output = end.output
                    task.log = end.log
                    task.error = end.error
                }
                jobs.modify(jobID) { $0.attempts = max($0.attempts, end.attempt) }
                switch end.outcome {
                case .succeeded:
                    update(id) { $0.data = end.data }
                    move(id, to: .succeeded, now: now)
                    succeededTasks.insert(id)
                case .cancelled:
                    move(id, to: .cancelled, now: now)
                case .failed where job.cancelled, .lost where job.cancelled:
                    move(id, to: .cancelled, now: now)
                case .failed:
                    retryOrFail(id, spec: job.spec, now: now)
                case .lost:
                    requeueOrFail(id, of: jobID, reason: end.error.isEmpty ? "lost on the shard it was handed over from" : end.error, now: now)
                }
            }
        }
        var lost = 0
        if message.last == 1 {
            // Its old shard runs nothing of the run and has told every end: what is still away is lost.
            for id in held.values.sorted() {
                guard let job = jobs[id] else { continue }
                for task in job.tasks where tasks[task]?.state == .away {
                    lost += 1
                    if job.cancelled {
                        move(task, to: .cancelled, now: now)
                    } else {
                        update(task) { $0.losses += 1 }
                        requeueOrFail(task, of: id, reason: "its old shard no longer runs it, and its end never came", now: now)
                    }
                }
            }
        }
        appliedEnds += applied + lost
        outbox.append((peer, .controlResult(ControlResult(
            request: message.request, status: .ok,
            detail: "\(applied) of \(message.ends.count) end\(message.ends.count == 1 ? "" : "s") of run \(message.run) applied"
                + (message.last == 1 ? "; \(lost) partition\(lost == 1 ? "" : "s") still away taken as lost" : "")))))
    }

    /// Whether a submitted job belongs to a run handed over from here, at or below the generation handed
    /// over: it is dropped, never queued.
    func isHandedOver(_ spec: JobSpec) -> Bool {
        guard let bound = handedOver[spec.run] else { return false }
        return spec.generation <= bound
    }

    /// Takes over a run another shard handed over: stores the results of its jobs that succeeded there,
    /// for the jobs still to come, and queues its jobs from where that shard had got with each. A job it
    /// holds or held already is announced as SUBMIT's are, so a TAKE-OVER sent again applies once.
    public mutating func takenOver(_ takeOver: TakeOver, lookup: SubmissionLookup, now: Timestamp) {
        importedResults.append(contentsOf: takeOver.results.map { (takeOver.run, $0) })
        takenOverRuns.append(takeOver.run)
        let carries = Dictionary(takeOver.carries.map { ($0.job, $0) }, uniquingKeysWith: { first, _ in first })
        let results = Dictionary(grouping: takeOver.results, by: \.job)
        for spec in takeOver.jobs {
            let carry = carries[spec.job]
            take(spec, lookup: lookup, moved: true, now: now) { name in
                let carried = carry?.upstream.filter { $0.job == name } ?? []
                return carried.isEmpty ? results[name] ?? lookup.results[RunJob(run: spec.run, job: name)] ?? [] : carried
            } carried: {
                guard let carry, Int(carry.step) < spec.steps.count else { return nil }
                return CarriedWork(
                    step: carry.step, completed: carry.completed, succeeded: carry.succeeded, previous: carry.previous, attempts: carry.attempts,
                    away: carry.away)
            }
        }
    }
}

/// What the store knows of a run asked to be handed over.
public struct HandOverLookup: Sendable {
    /// The answer the shard gave when it handed the run over, if it did.
    public var answered: HandedOver?
    /// The results of the last step of the run's jobs that succeeded here (the newest generation of each),
    /// or that an earlier move brought here.
    public var results: [TaskInput]
    /// The last status of each of the run's jobs that ended here (the newest generation of each).
    public var ended: [JobStatus]
    /// The ends of the run's tasks that finished here after the run was handed over, in order, less the
    /// first `endsSkipped` of them (those a relay's ask says were relayed).
    public var ends: [PartitionEnd]
    public var endsSkipped: Int

    public init(
        answered: HandedOver? = nil, results: [TaskInput] = [], ended: [JobStatus] = [], ends: [PartitionEnd] = [], endsSkipped: Int = 0
    ) {
        self.answered = answered
        self.results = results
        self.ended = ended
        self.ends = ends
        self.endsSkipped = endsSkipped
    }
}

/// A run handed over: the highest generation given up, and the answer that gave it, kept to answer again.
public struct Tombstone: Sendable {
    public var generation: UInt32
    public var answer: HandedOver

    public init(generation: UInt32, answer: HandedOver) {
        self.generation = generation
        self.answer = answer
    }
}
