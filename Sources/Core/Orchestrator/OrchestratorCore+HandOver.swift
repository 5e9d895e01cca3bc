import Wire

/// Hand-overs: when a product moves, each of its open runs that has not started on its shard follows it.
///
/// The orchestrator asks the run's shard with CONTROL `hand-over` (committed first, sent again until
/// answered). The shard gives the run's jobs up in one turn, unless a task of the run was ever handed out
/// there, and keeps a tombstone that drops any later submission of the run up to the generation handed
/// over. On its 200 the orchestrator moves the run to the product's shard of the moment, gives every job
/// not final the next generation, and submits again those that were with the old shard. A run that
/// started stays and finishes where it is, as before; nothing of it ever ran on the old shard, so no
/// result, lease or checkpoint is left behind.
extension OrchestratorCore {
    /// Records `product`'s new shard, and asks for every open run of it elsewhere that has not started to
    /// be handed over; returns how many were asked for.
    mutating func handOverRuns(of product: String, to target: UInt32, now: Timestamp) -> Int {
        productShards[product] = target
        productShardChanges[product] = target
        var asked = 0
        for id in runs.ids(where: { $0.product == product && $0.shard != target }) where !controls.handingOver(id) {
            guard let run = runs[id], let generation = run.handOverGeneration else { continue }
            let control = Control(request: 0, action: .handOver, run: id, generation: generation)
            controls.send(control, to: run.shard, now: now, policy: configuration.resend)
            asked += 1
        }
        return asked
    }

    /// A shard answered a hand-over: on 200 the run goes to its product's shard, one generation on; on
    /// anything else (it started there, it is paused there) it stays.
    mutating func handOverAnswered(_ sent: PendingControl, status: Status, now: Timestamp) {
        let id = sent.control.run
        guard status == .ok, var run = runs.take(id) else { return }
        defer { runs.put(run) }
        guard run.shard == sent.shard, !run.state.isFinal, let target = productShards[run.product] else { return }
        // Every job not final moves past the generation the old shard gave up: its copies still on their
        // way there are dropped, and the run may even come back to that shard later.
        let again = run.handOver(to: target, beyond: sent.control.generation, now: now, policy: configuration.resend)
        for index in run.jobs.indices where !run.jobs[index].state.isFinal { dirtyJobs.insert(JobRef(run: id, job: index)) }
        if run.stopping {
            // Stopped while the old shard gave it up, so its cancel found nothing there: the jobs it gave up
            // end cancelled here, never having run anywhere, and the run ends stopped.
            for index in again {
                let status = JobStatus(
                    run: id, job: run.jobs[index].name, generation: run.jobs[index].generation, state: .cancelled, finished: now.wire,
                    time: now.wire, detail: "cancelled by an operator before it started (its run was being handed over by a move)")
                if let outcome = run.apply(status, now: now) { applied(outcome, of: status, shard: target, now: now) }
            }
            touch(&run)
            return
        }
        // The new shard learns of a pause before the jobs that arrive with it could start.
        if run.isParking { sendControl(.pauseRun, run: id, shard: target, now: now) }
        if run.priority != RunPriority.normal {
            controls.send(Control(request: 0, action: .setPriority, run: id, priority: run.priority), to: target, now: now, policy: configuration.resend)
        }
        resubmit(again, of: run)
        touch(&run)
    }
}

extension FlowRun {
    /// The generation of a run that may be handed over: open, not paused, held or stopping, and with no
    /// job that has started, ended, or been rerun (every job is at the same generation, waiting or with
    /// its shard and never handed out there). Nil for any other run.
    var handOverGeneration: UInt32? {
        guard !state.isFinal, !paused, !held, !stopping, parked.isEmpty, let generation = jobs.first?.generation else { return nil }
        for job in jobs {
            guard job.generation == generation else { return nil }
            switch job.state {
            case .waiting, .submitted:
                continue
            case .queued:
                if let status = job.status, status.started != 0 || status.attempts != 0 { return nil }
            case .running, .retrying, .succeeded, .failed, .cancelled, .skipped:
                return nil
            }
        }
        return generation
    }

    /// Moves the run to `target` after its old shard gave up its jobs up to generation `handed`: every job
    /// not final takes the next generation, and those with the shard are submitted again, not accepted.
    /// Returns those.
    mutating func handOver(to target: UInt32, beyond handed: UInt32, now: Timestamp, policy: ResendPolicy) -> [Int] {
        shard = target
        var again: [Int] = []
        for index in jobs.indices where !jobs[index].state.isFinal {
            let active = jobs[index].state.isActive
            updateJob(index) { job in
                job.generation = max(job.generation, handed) + 1
                job.status = nil
                guard active else { return }
                job.state = .submitted
                job.accepted = false
                job.resend = ResendSchedule(sentAt: now, policy: policy)
            }
            if active { again.append(index) }
        }
        lastChange = now
        return again
    }
}
