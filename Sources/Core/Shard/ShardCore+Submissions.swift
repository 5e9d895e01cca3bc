public import Wire

/// Submissions: jobs come in, each step of a job becomes one task per partition, and a job whose step
/// completed moves on to the next with the step's results as its inputs.
extension ShardCore {
    /// Queues the new jobs of a SUBMIT, with what the store knows of them: `lookup` holds the status of
    /// identities the store has and memory does not, the results of upstream jobs new jobs name in `inputs`,
    /// and what earlier generations completed for jobs submitted with `resume`.
    public mutating func submitted(_ specs: [JobSpec], lookup: SubmissionLookup, now: Timestamp) {
        for spec in specs {
            take(spec, lookup: lookup, moved: false, now: now) { lookup.results[RunJob(run: spec.run, job: $0)] ?? [] } carried: {
                guard spec.resume == 1, let carried = lookup.carried[spec.identity], Int(carried.step) < spec.steps.count else { return nil }
                return carried
            }
        }
    }

    /// Queues one job submitted or taken over, unless it is held or known already (announced again) or its
    /// run was handed over from here (dropped): from where `carried` says it had got, or from its start,
    /// its first step reading each upstream job's results from `upstream`.
    mutating func take(
        _ spec: JobSpec, lookup: SubmissionLookup, moved: Bool, now: Timestamp, upstream: (String) -> [TaskInput], carried: () -> CarriedWork?
    ) {
        var spec = spec
        if let priority = controls.priority(of: spec.run) { spec.runPriority = priority }
        let identity = spec.identity
        if let id = jobID(of: identity), let job = jobs[id] {
            announced.append(Self.status(of: job, now: now))
        } else if let known = lookup.finished[identity] {
            announced.append(known)
        } else if isHandedOver(spec) {
            droppedSubmissions.append(identity)
        } else {
            var job = ShardJob(id: nextJobID, spec: spec)
            nextJobID += 1
            for name in spec.inputs { job.upstream[name] = upstream(name) }
            if let carried = carried() {
                resume(&job, from: carried, moved: moved, now: now)
            } else {
                createTasks(of: &job, now: now)
                // A new job with its one task in its row: its creation goes to the submission log, not a row.
                // Its first generation only: a rerun resumed later finds what the one before it got to in the
                // store's rows, which a logged generation would not have.
                if !moved, spec.generation == 0, job.tasks.count == 1, tasks[job.tasks[0]]?.inJobRow == true {
                    job.logged = true
                    submissionsToLog.append(job.id)
                }
            }
            hold(job)
            dirtyJobs.insert(job.id)
            noteChange(job.id)
            controls.jobAdded(of: spec.run)
        }
    }

    /// Starts a rerun where its earlier generation stopped: at the first step that did not complete,
    /// with that step's succeeded partitions carried over, results and all. The carried results are
    /// written again under the new job, so that everything of a generation is found under it. For a job
    /// taken over (`moved`), whose old shard deleted its rows, they are its successes, counted here.
    private mutating func resume(_ job: inout ShardJob, from carried: CarriedWork, moved: Bool, now: Timestamp) {
        job.step = carried.step
        job.completed = carried.completed
        job.previous = carried.previous
        let done = Dictionary(carried.succeeded.map { ($0.partition, $0) }, uniquingKeysWith: { first, _ in first })
        let away = moved ? Dictionary(carried.away.map { ($0.partition, $0) }, uniquingKeysWith: { first, _ in first }) : [:]
        createTasks(of: &job, now: now, away: away) { partition in done[partition] }
        if job.step > 0 {
            for input in carried.previous {
                var task = ShardTask(
                    id: nextTaskID, job: job.identity, jobID: job.id, step: job.step - 1, partition: input.partition, state: .succeeded,
                    order: Self.order(job: job.id, partition: input.partition), data: input.data)
                task.finished = now
                nextTaskID += 1
                carriedRows.append(task)
                if moved { succeededTasks.insert(task.id) }
            }
        }
        if moved {
            for id in job.tasks where tasks[id]?.state == .succeeded { succeededTasks.insert(id) }
            // Attempts go on from where the old shard had them, retries and all; the rows keep that here.
            let tried = Dictionary(carried.attempts.map { ($0.partition, $0) }, uniquingKeysWith: { first, _ in first })
            for id in job.tasks {
                guard let task = tasks[id], task.state == .pending || task.state == .succeeded, let before = tried[task.partition] else { continue }
                tasks.modify(id) {
                    $0.attempt = before.attempt
                    $0.failures = before.failures
                    $0.losses = before.losses
                }
                dirtyTasks.insert(id)
            }
            job.attempts = max(job.attempts, (carried.attempts + carried.away).map(\.attempt).max() ?? 0)
        }
    }

    /// Creates the tasks of the job's current step, all pending but those `carried` gives a result for,
    /// which are succeeded already, and those `away` names, running on the shard the job's run came from.
    private mutating func createTasks(
        of job: inout ShardJob, now: Timestamp, away: [UInt32: PartitionAttempts] = [:], carried: (UInt32) -> TaskInput? = { _ in nil }
    ) {
        let step = job.spec.steps[Int(job.step)]
        job.tasks = []
        job.tasks.reserveCapacity(Int(step.partitions))
        job.counts = TaskCounts()
        job.requirement = Requirement(step: step, of: job.spec)
        job.queued = now
        var queued: [UInt64] = []
        queued.reserveCapacity(Int(step.partitions))
        let inJobRow = job.keepsItsTaskInItsRow
        // Pending tasks are not stored: the job implies them. A task is stored at its first lease.
        for partition in 0..<step.partitions {
            var task = ShardTask(
                id: nextTaskID, job: job.identity, jobID: job.id, step: job.step, partition: partition,
                order: Self.order(job: job.id, partition: partition))
            task.inJobRow = inJobRow
            nextTaskID += 1
            if let result = carried(partition) {
                task.state = .succeeded
                task.data = result.data
                task.finished = now
                job.counts.succeeded += 1
                dirtyTasks.insert(task.id)
            } else if let there = away[partition] {
                // Stored at once: only pending tasks are implied by their job.
                task.state = .away
                task.attempt = there.attempt
                task.failures = there.failures
                task.losses = there.losses
                job.counts.away += 1
                dirtyTasks.insert(task.id)
            } else {
                job.counts.pending += 1
                queued.append(task.id)
            }
            job.tasks.append(task.id)
            tasks.updateValue(task, forKey: task.id)
        }
        enqueue(queued, of: job, now: now)
    }

    /// Moves a job whose step completed to the next: the step's results become the next step's inputs,
    /// and its tasks leave memory (their rows stay in the store). A task changed in this turn (the one
    /// whose success completed the step, at least) has its row written with the turn all the same
    /// (`carriedRows`): gathered from memory at the turn's end, it was left out, and its row kept it
    /// running, without its result, so that a restart in a later step gave that step's tasks the
    /// results of every partition but one.
    mutating func advance(_ job: inout ShardJob, now: Timestamp) {
        let step = job.spec.steps[Int(job.step)]
        var results: [TaskInput] = []
        results.reserveCapacity(job.tasks.count)
        for id in job.tasks {
            if let task = tasks.removeValue(forKey: id) {
                results.append(
                    TaskInput(job: job.spec.job, step: job.step, partition: task.partition, partitionKey: step.partitionKey(of: task.partition), data: task.data))
                if dirtyTasks.remove(id) { carriedRows.append(task) }
            }
        }
        assert(results.count == Int(step.partitions), "a completed step has a result for every partition")
        job.previous = results
        job.completed += UInt32(job.tasks.count)
        job.step += 1
        createTasks(of: &job, now: now)
    }

    /// The results a task receives: from the previous step of its job or, in the first step, from the
    /// upstream jobs its job names. From a step of as many partitions as the task's, only the result of
    /// the same partition; from any other, all of them.
    static func inputs(of task: ShardTask, in job: ShardJob) -> [TaskInput] {
        let partitions = job.spec.steps[Int(task.step)].partitions
        func select(_ results: [TaskInput]) -> [TaskInput] {
            results.count == Int(partitions) && partitions > 1 ? [results[Int(task.partition)]] : results
        }
        if task.step > 0 { return select(job.previous) }
        return job.spec.inputs.flatMap { select(job.upstream[$0] ?? []) }
    }

    /// Queues pending tasks of a job (all of its current step). Each queueing gives the task a new ticket:
    /// an entry of it queued before is stale from now on, so every path that queues a task again (a
    /// resume, a retry, a lost lease) leaves it with one live entry.
    mutating func enqueue(_ ids: [UInt64], of job: ShardJob, now: Timestamp) {
        var items: [(task: UInt64, order: UInt64, ticket: UInt32)] = []
        items.reserveCapacity(ids.count)
        for id in ids {
            let (order, ticket) = tasks.modify(id) { task -> (UInt64, UInt32) in
                task.ticket &+= 1
                return (task.order, task.ticket)
            }
            items.append((id, order, ticket))
        }
        queue.enqueue(items, as: Self.work(of: job), now: now)
    }

    /// What a job's tasks are to fair selection: whose, under which key, what they need, their type and order.
    static func work(of job: ShardJob) -> FairQueue.Work {
        FairQueue.Work(
            product: job.spec.product, key: job.spec.fairnessKey, requirement: job.requirement, type: job.spec.type,
            batchSize: Int(job.spec.batch), runPriority: job.spec.runPriority, priority: job.spec.priority)
    }
}
