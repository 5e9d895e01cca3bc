public import Wire

/// Hand-overs: a move of a product takes with it each of its runs that has not started here. The shard
/// gives up such a run's jobs in one turn, and keeps a tombstone of the run, so that a submission of it
/// still on its way (sent before the orchestrator learned of the hand-over, or sent again) is dropped
/// instead of run here while the product's new shard runs it too.
extension ShardCore {
    /// Handles CONTROL `hand-over` for a run: gives up its jobs if none of them has started here
    /// (`startedHere` says whether the store holds a job of the run that did, or ended); answers 200 with
    /// what was handed over, or 409 if the run stays. A repeated request is answered 200 again.
    public mutating func handOverReceived(_ control: Control, startedHere: Bool, from peer: Peer, now: Timestamp) {
        func answer(_ status: Status, _ detail: String) {
            outbox.append((peer, .controlResult(ControlResult(request: control.request, status: status, detail: detail))))
        }
        let run = control.run
        if let bound = handedOver[run], bound >= control.generation {
            return answer(.ok, "run \(run) was handed over")
        }
        let held = jobs.values.filter { $0.spec.run == run }
        if controls.paused.contains(run) {
            return answer(.conflict, "run \(run) is paused here: it stays until it is resumed")
        }
        if startedHere || held.contains(where: { $0.attempts > 0 || $0.counts.pending != $0.tasks.count || $0.completed > 0 || $0.state.isFinal }) {
            return answer(.conflict, "run \(run) has started here: it finishes here")
        }
        if let newer = held.first(where: { $0.spec.generation > control.generation }) {
            return answer(.conflict, "run \(run) has job \(newer.spec.job) at generation \(newer.spec.generation), newer than the \(control.generation) handed over")
        }
        for job in held {
            // Never leased, so no task has a row, a lease or a retry: only memory and the job's row hold it.
            for id in job.tasks { tasks[id] = nil }
            jobs[job.id] = nil
            byIdentity[job.identity] = nil
            dirtyJobs.remove(job.id)
            if job.stored { handedOverRows.append(job.id) }
            controls.jobForgotten(of: run)
        }
        handedOver[run] = control.generation
        newTombstones[run] = control.generation
        answer(.ok, "run \(run) handed over: \(held.count) job\(held.count == 1 ? "" : "s") left the shard")
    }

    /// Whether a submitted job belongs to a run handed over from here, at or below the generation handed
    /// over: it is dropped, never queued.
    func isHandedOver(_ spec: JobSpec) -> Bool {
        guard let bound = handedOver[spec.run] else { return false }
        return spec.generation <= bound
    }
}
