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

    /// Handles CONTROL `hand-over` for a run: gives it up if none of its tasks is running, retrying or
    /// failed here and it is not paused, answering HANDED-OVER with what it held; otherwise answers 409
    /// and the run stays. A repeated request gets the first answer again (`lookup.answered`).
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
            outbox.append((peer, .handedOver(answered)))
            return
        }
        if controls.paused.contains(run) { return refuse("run \(run) is paused here: it stays until it is resumed") }
        let held = jobs.values.filter { $0.spec.run == run }.sorted { ($0.spec.job, $0.spec.generation) < ($1.spec.job, $1.spec.generation) }
        if let busy = held.first(where: { $0.counts.running + $0.counts.retrying + $0.counts.failed > 0 || $0.cancelled }) {
            return refuse("run \(run) has tasks of \(busy.spec.job) running, retrying or failed here: it stays until they end")
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
            let done = job.tasks.compactMap { id -> TaskInput? in
                guard let task = tasks[id], task.state == .succeeded else { return nil }
                return TaskInput(job: job.spec.job, step: job.step, partition: task.partition, partitionKey: step.partitionKey(of: task.partition), data: task.data)
            }
            let tried = job.tasks.compactMap { id -> PartitionAttempts? in
                guard let task = tasks[id], task.state != .succeeded, task.attempt > 0 else { return nil }
                return PartitionAttempts(partition: task.partition, attempt: task.attempt, failures: task.failures, losses: task.losses)
            }
            carries.append(JobCarry(
                job: job.spec.job, step: job.step, completed: job.completed, succeeded: done, previous: job.previous,
                upstream: job.spec.inputs.flatMap { job.upstream[$0] ?? [] }, attempts: tried))
        }
        let answer = HandedOver(
            request: control.request, detail: "run \(run) handed over: \(carries.count) job\(carries.count == 1 ? "" : "s") left the shard",
            run: run, jobs: carries, results: results, ended: lookup.ended)
        let size = carries.reduce(0) { $0 + $1.encodedSize } + results.reduce(0) { $0 + $1.encodedSize }
        if size > Self.handOverLimit {
            outbox.append((peer, .controlResult(ControlResult(
                request: control.request, status: .tooLarge,
                detail: "run \(run)'s results take \(size) octets, more than a hand-over carries (\(Self.handOverLimit)): it finishes here"))))
            return
        }
        for job in held where !job.state.isFinal {
            // Nothing of it runs or waits on a retry: its tasks are in memory and in its rows only.
            for id in job.tasks { if let task = tasks.removeValue(forKey: id) { handedOverTasks.append(task) } }
            jobs[job.id] = nil
            byIdentity[job.identity] = nil
            dirtyJobs.remove(job.id)
            for id in job.tasks { dirtyTasks.remove(id) }
            if job.stored { handedOverRows.append(job.id) }
            controls.jobForgotten(of: run)
        }
        handedOver[run] = control.generation
        newTombstones[run] = Tombstone(generation: control.generation, answer: answer)
        outbox.append((peer, .handedOver(answer)))
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
        let carries = Dictionary(takeOver.carries.map { ($0.job, $0) }, uniquingKeysWith: { first, _ in first })
        let results = Dictionary(grouping: takeOver.results, by: \.job)
        for spec in takeOver.jobs {
            let carry = carries[spec.job]
            take(spec, lookup: lookup, moved: true, now: now) { name in
                let carried = carry?.upstream.filter { $0.job == name } ?? []
                return carried.isEmpty ? results[name] ?? lookup.results[RunJob(run: spec.run, job: name)] ?? [] : carried
            } carried: {
                guard let carry, Int(carry.step) < spec.steps.count else { return nil }
                return CarriedWork(step: carry.step, completed: carry.completed, succeeded: carry.succeeded, previous: carry.previous, attempts: carry.attempts)
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

    public init(answered: HandedOver? = nil, results: [TaskInput] = [], ended: [JobStatus] = []) {
        self.answered = answered
        self.results = results
        self.ended = ended
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
