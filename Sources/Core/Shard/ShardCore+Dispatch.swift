import Wire

/// Dispatch: at the end of each turn, pending tasks are leased to workers with credit, each worker in
/// turn, as the ``FairQueue`` chooses them; a worker out of credit is told of work it could run (DEMAND).
/// A worker whose credentials name the products it may serve is chosen tasks, and told of work, of those
/// products only.
extension ShardCore {
    /// Leases pending tasks to workers with credit, each worker in turn.
    mutating func dispatch(now: Timestamp) {
        guard queue.count > 0, workers.count > 0 else {
            withdrawDemands()
            return
        }
        // Products whose token is due are back in turn before anything is chosen or announced: with no
        // worker's credit here, only a DEMAND brings it back for them.
        queue.releaseThrottled(now: now)
        // The free slots of the shard, which headroom holds some of back: only counted when it applies.
        var free: Int? = configuration.headroom > 0 && configuration.fairness == .fair ? workers.credit : nil
        for peer in workers.nextRound() {
            guard let worker = workers[peer] else { continue }
            if worker.credit > 0 && queue.count > 0 {
                let spent = lease(to: peer, worker: worker, free: free, now: now)
                free = free.map { $0 - spent }
            }
            if queue.count > 0 && workers[peer]?.credit == 0 { demand(from: peer, now: now) }
        }
        withdrawDemands()
    }

    /// Tells each worker that was told of pending work, and can run none of what is left, that the
    /// demand is over, so that it stops favouring this shard with the credit it frees.
    private mutating func withdrawDemands() {
        for peer in workers.withdrawDemands(where: { worker in
            let allowed = worker.products
            return !queue.hasWork(for: worker.capabilities, products: allowed) { Self.isTask($0, of: allowed, in: tasks, jobs) }
        }) {
            outbox.append((peer, .demand(Demand(pending: 0))))
        }
    }

    /// Leases the worker as many pending tasks it can run as its credit allows, in as few TASKS messages
    /// as their size allows.
    ///
    /// A claimed set takes one credit and goes in a TASKS message of its own, leased as one: all of it
    /// to this worker, in this turn's transaction. `free` is every worker's credit together, for
    /// headroom. Returns the credit spent.
    private mutating func lease(to peer: Peer, worker: WorkerRegistry.Worker, free: Int?, now: Timestamp) -> Int {
        let allowed = worker.products
        let picks: [FairQueue.Pick]
        do {
            // The queue is changed while the tables are read: the closure reads copies of them, which share
            // their storage and are let go at the end of this block, before the tables change.
            let (tasks, jobs, paused) = (self.tasks, self.jobs, controls.paused)
            picks = queue.select(
                limit: worker.credit, capabilities: worker.capabilities, sets: worker.sets, free: free, products: allowed, now: now
            ) { id, ticket -> FairQueue.Standing in
                // Field by field, in place: a copy of each task looked at retained and released its references.
                guard tasks[id]?.state == .pending, tasks[id]!.ticket == ticket, paused.isEmpty || !paused.contains(tasks[id]!.job.run)
                else { return .stale }
                guard let allowed else { return .live }
                let jobID = tasks[id]!.jobID
                return jobs.contains(jobID) && allowed.contains(jobs[jobID]!.spec.product) ? .live : .barred
            }
        }
        guard !picks.isEmpty else { return 0 }
        // Credit is spent only on what is sent: a task that failed instead (its inputs too large) costs none.
        var single: [(task: UInt64, charge: FairQueue.Charge)] = []
        var credit = 0
        for pick in picks {
            if pick.isSet {
                lastSet += 1
                let claimed = limitBatchToOneJob(pick, now: now)
                let specs = leaseTasks(claimed, to: peer, worker: worker, now: now)
                if !specs.isEmpty {
                    outbox.append((peer, .tasks(Tasks(set: lastSet, tasks: specs))))
                    credit += 1
                }
            } else {
                single += pick.tasks.map { ($0, pick.charge) }
            }
        }
        var batch: [TaskSpec] = []
        var batchSize = 0
        let specs = leaseTasks(single, to: peer, worker: worker, now: now)
        credit += specs.count
        for spec in specs {
            let size = spec.encodedSize
            if !batch.isEmpty && batchSize + size > Self.tasksFrameBudget {
                outbox.append((peer, .tasks(Tasks(tasks: batch))))
                batch = []
                batchSize = 0
            }
            batch.append(spec)
            batchSize += size
        }
        workers.spend(credit, of: peer)
        if !batch.isEmpty { outbox.append((peer, .tasks(Tasks(tasks: batch)))) }
        return credit
    }

    /// The tasks of a claimed set that go out together, with what each is charged: all of them for a
    /// handler's set; for a command batch, those of the first task's job (one run, one step, one command
    /// line), which then share the slot; the others are given back and queued again, so that one process
    /// can run the batch with the job's environment.
    private mutating func limitBatchToOneJob(_ pick: FairQueue.Pick, now: Timestamp) -> [(task: UInt64, charge: FairQueue.Charge)] {
        let all = pick.tasks.map { ($0, pick.charge) }
        guard let first = pick.tasks.first, let job = tasks[first]?.jobID, jobs[job]?.requirement.batched == true else { return all }
        let same = pick.tasks.filter { tasks[$0]?.jobID == job }
        guard same.count < pick.tasks.count else { return all }
        var kept = pick.charge
        kept.slot = 1 / Double(same.count)
        var given = pick.charge
        given.slot = 0
        for id in pick.tasks where tasks[id]?.jobID != job {
            queue.returned(given, now: now)
            if let other = tasks[id].flatMap({ jobs[$0.jobID] }) { enqueue([id], of: other, now: now) }
        }
        return same.map { ($0, kept) }
    }

    /// Marks tasks running under leases to the worker, returning what to send of them; a task whose
    /// inputs no attempt could receive fails instead. The tasks of a set keep within one message's budget:
    /// those beyond it go back to the queue.
    private mutating func leaseTasks(
        _ picked: [(task: UInt64, charge: FairQueue.Charge)], to peer: Peer, worker: WorkerRegistry.Worker, now: Timestamp
    ) -> [TaskSpec] {
        let isSet = picked.count > 1 && picked[0].charge.slot < 1
        var specs: [TaskSpec] = []
        var setSize = 0
        for (id, charge) in picked {
            // The job is read in place: a copy would retain and release a dozen references for every task
            // handed out.
            guard let jobID = tasks[id]?.jobID, jobs.contains(jobID) else {
                preconditionFailure("task \(id) is not held by the shard, or its job is not")
            }
            // The selection chose none of another product's tasks for a worker limited to some; should it
            // ever, the task is queued again, not sent.
            if let allowed = worker.products, !allowed.contains(jobs[jobID]!.spec.product) {
                queue.returned(charge, now: now)
                let job = jobs[jobID]!
                enqueue([id], of: job, now: now)
                continue
            }
            guard tasks[id]!.attempt < .max else {
                // Numbers a worker's READY made the shard skip (``skipPast(_:credentials:)``) left none: no attempt
                // could have a number of its own.
                update(id) { $0.error = "its attempt numbers are used up" }
                queue.returned(charge, now: now)
                move(id, to: .failed, now: now)
                continue
            }
            // The job is lent through `modify`: read out of its table (`jobs[jobID]!`) and passed on, it was
            // copied first, every reference retained and released, as the table's storage is a class's.
            let task = tasks[id]!
            let inputs = jobs.modify(jobID) { Self.inputs(of: task, in: $0) }
            let size = inputs.size
            guard size <= TaskSpec.inputLimit else {
                // No attempt could receive them: fail the task now, without retries.
                update(id) { $0.error = "its inputs add up to \(size) octets, more than the \(TaskSpec.inputLimit) a task may receive" }
                queue.returned(charge, now: now)  // Never sent after all.
                move(id, to: .failed, now: now)
                continue
            }
            // Counted as sent, parameters and command included: a task carries up to 256 KiB of
            // parameters and 64 KiB of command besides its inputs.
            var spec = jobs.modify(jobID) { Self.taskSpec(task, attempt: 0, job: $0, inputs: inputs) }
            let octets = spec.encodedSize
            if isSet && !specs.isEmpty && setSize + octets > Self.tasksFrameBudget {
                queue.returned(charge, now: now)
                let job = jobs[jobID]!
                enqueue([id], of: job, now: now)
                continue
            }
            setSize += octets
            // A lease that alone changes a task kept in its job's row (written, or in the submission log) in
            // this turn goes to the lease log, not the row.
            let logsLease = task.inJobRow && (jobs[jobID]!.stored || jobs[jobID]!.logged) && !dirtyTasks.contains(id)
            let attempt = update(id) { task -> UInt16 in
                task.attempt += 1
                task.started = now
                task.lease = Lease(worker: worker.name, session: worker.session, peer: peer, key: worker.key, heartbeat: worker.heartbeat)
                task.worker = worker.name
                // What the last attempt reported is in its history (or was a success): this one starts blank.
                task.exitCode = 0
                task.output = ""
                task.log = ""
                task.error = ""
                task.charge = charge
                return task.attempt
            }
            move(id, to: .running, now: now)
            workers.leased(id, to: peer)
            if logsLease { leasesToLog.append(id) }
            jobs.modify(jobID) { job in
                if job.started == .zero { job.started = now }
                job.attempts = max(job.attempts, attempt)
            }
            spec.attempt = attempt
            specs.append(spec)
        }
        return specs
    }

    /// The octets one TASKS message carries at most, well inside the 64 MiB frame limit: a task (at most
    /// 16 MiB of inputs, and its command and parameters) joins one not yet this full.
    static let tasksFrameBudget = 32 << 20

    /// Tells a worker out of credit that there is work it could run, at most once per heartbeat interval,
    /// so that it moves credit here from shards that have none to give it.
    private mutating func demand(from peer: Peer, now: Timestamp) {
        guard let worker = workers.mayDemand(from: peer, now: now) else { return }
        // Only for work that could go now, to this worker: none of it at its product's cap or rate limit,
        // nor of a product it may not run.
        let allowed = worker.products
        let (tasks, jobs) = (self.tasks, self.jobs)
        let isAllowed = { (task: UInt64) in Self.isTask(task, of: allowed, in: tasks, jobs) }
        let weight = queue.demandWeight(for: worker.capabilities, products: allowed, isAllowed: isAllowed)
        let pending = queue.work(for: worker.capabilities, products: allowed, isAllowed: isAllowed)
        guard weight > 0, pending > 0 else {
            // Not every turn again, which would spin the loop while nothing may go: a heartbeat on, or at a
            // token due (``nextDeadline()``), or when work arrives.
            workers.demandFoundNothing(for: peer, now: now)
            return
        }
        // The throttle starts only with a DEMAND sent: a job that arrives just after an empty check is
        // announced at once, not a heartbeat later.
        workers.demandSent(to: peer, now: now)
        outbox.append((peer, .demand(Demand(pending: UInt32(min(pending, Int(UInt32.max))), weight: weight))))
    }

    /// Whether a queued task is of one of `products` (any, if nil), for a worker that may run only those.
    static func isTask(
        _ id: UInt64, of products: Set<String>?, in tasks: DenseTable<UInt64, ShardTask>, _ jobs: DenseTable<Int64, ShardJob>
    ) -> Bool {
        guard let products else { return true }
        guard let jobID = tasks[id]?.jobID, jobs.contains(jobID) else { return false }
        return products.contains(jobs[jobID]!.spec.product)
    }

    /// What TASKS says of a task's attempt `attempt`.
    private static func taskSpec(_ task: ShardTask, attempt: UInt16, job: ShardJob, inputs: [TaskInput]) -> TaskSpec {
        let spec = job.spec
        let step = spec.steps[Int(task.step)]
        return TaskSpec(
            task: task.id, attempt: attempt, run: spec.run, job: spec.job, generation: spec.generation,
            product: spec.product, flow: spec.flow, step: task.step, steps: UInt16(spec.steps.count),
            stepName: step.name, partition: task.partition, partitions: step.partitions,
            partitionKey: step.partitionKey(of: task.partition), kind: step.kind, action: step.action,
            type: spec.type, params: spec.params, timeout: spec.timeout, moment: spec.moment, inputs: inputs)
    }
}
