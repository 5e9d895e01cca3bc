public import Wire

/// The worker protocol: READY and registration, credit (PULL, RECALL), results, and workers going away.
/// Who is registered, and the rules of credit, demand and liveness, are the ``WorkerRegistry``'s.
extension ShardCore {
    /// Handles one message a peer sent on the `work` ROUTER. `credentials` are who the connection is and
    /// what its key may run, as its handshake established them; nil for a keyless connection, which may
    /// do everything a worker may. A message other than READY whose credentials are not those the peer
    /// registered with is answered as one from an unknown peer.
    public mutating func received(_ message: Message, from peer: Peer, credentials: WorkerCredentials? = nil, now: Timestamp) {
        if case .ready(let ready) = message {
            register(ready, peer: peer, credentials: credentials, now: now)
            return
        }
        guard credentials == nil || workers[peer]?.key == credentials?.key, workers.heard(from: peer, now: now) else {
            // Unknown connection, probably from before a restart: it must register first.
            outbox.append((peer, .disconnect(Disconnect(status: .unknownPeer, reason: "unknown worker: send READY"))))
            return
        }
        switch message {
        case .pull(let pull):
            workers.pulled(pull.credit, from: peer)
        case .recall(let recall):
            let released = workers.recalled(recall.credit, from: peer)
            outbox.append((peer, .recalled(Recalled(credit: UInt32(released)))))
        case .results(let results):
            var foreign: [TaskRef] = []
            for result in results.results where !resultReceived(result, from: peer, now: now) {
                foreign.append(TaskRef(task: result.task, attempt: result.attempt))
            }
            if !foreign.isEmpty, let worker = workers[peer] {
                foreignResults.append(ForeignResults(peer: peer, worker: worker.name, key: worker.key, tasks: foreign))
            }
        case .heartbeat:
            break
        case .disconnect:
            remove(peer, now: now)
        default:
            break
        }
    }

    /// A message to `peer` could not be delivered (it went away, or stopped reading): it is treated as dead.
    public mutating func peerLost(_ peer: Peer, now: Timestamp) {
        remove(peer, now: now)
    }

    /// Keys were removed from the cluster: every worker registered under a key `trusted` no longer knows
    /// is told DISCONNECT 403 and forgotten, and its leases are taken back, so that it is handed nothing
    /// more (its messages are refused from the reload on, before they reach the core); so are the leases
    /// restored after a restart for such a key's workers. Returns the names of the workers it ended.
    @discardableResult
    public mutating func keysRemoved(trusted: (String) -> Bool, now: Timestamp) -> [String] {
        var ended: [String] = []
        for worker in workers.registered {
            guard let key = worker.key, !trusted(key) else { continue }
            ended.append(worker.name)
            remove(worker.peer, now: now, because: "worker \(worker.name)'s key was removed")
            outbox.append((worker.peer, .disconnect(Disconnect(status: .forbidden, reason: "this worker's key was removed from the cluster"))))
        }
        // Leases restored after a restart for a removed key's workers: no READY can claim them now.
        for (worker, ids) in workers.dropOrphans(untrusted: trusted) {
            ended.append(worker)
            for id in ids { takeBack(id, reason: "worker \(worker)'s key was removed", now: now) }
        }
        return ended
    }

    /// Registers a worker. Of the leases it may claim (its earlier connections', or those restored for it
    /// after a restart under its key), it keeps those READY's `held` names for the same attempt and process
    /// session, of products its key may run; the others are taken back, and the attempts it holds that are
    /// no longer its own are cancelled.
    ///
    /// A READY naming a worker whose name is bound to another key (registered on another connection, or
    /// its leases restored after a restart) is refused with DISCONNECT 403 and changes nothing of that
    /// worker; the connection's own earlier registration, if any, ends with it. A READY of another
    /// process (another session) under a name registered with the same key on another connection is
    /// refused likewise with DISCONNECT 409 while that one is heard: a worker restarted while its old
    /// process drains registers once that one stops (DISCONNECT 503) or falls silent.
    private mutating func register(_ ready: Ready, peer: Peer, credentials: WorkerCredentials?, now: Timestamp) {
        if let binding = workers.conflict(naming: ready.worker, key: credentials?.key, on: peer) {
            refusedRegistrations.append(RefusedRegistration(peer: peer, worker: ready.worker, key: credentials?.key, holder: binding.key))
            remove(peer, now: now)
            // The name is the worker's own: the reason need not repeat it, nor name the other key.
            let reason = "this worker name is bound to another key; use another name, or wait until it is free"
            outbox.append((peer, .disconnect(Disconnect(status: .forbidden, reason: reason))))
            return
        }
        if workers.otherProcess(naming: ready.worker, key: credentials?.key, session: ready.session, on: peer, now: now) != nil {
            namesInUse.append(ready.worker)
            remove(peer, now: now)
            let reason = "another process is registered under this worker name on another connection; give each process a name "
                + "of its own, or this one waits until that one stops"
            outbox.append((peer, .disconnect(Disconnect(status: .conflict, reason: reason))))
            return
        }
        let registration = workers.register(ready, peer: peer, credentials: credentials, now: now)
        if let allowed = credentials?.tags {
            let ignored = Set(ready.tags).subtracting(allowed)
            if !ignored.isEmpty { ignoredTags.append((ready.worker, ignored.sorted())) }
        }
        var candidates = registration.candidates
        var stale: [TaskRef] = []
        for ref in ready.held {
            if candidates.contains(ref.task), let task = tasks[ref.task], task.state == .running,
                task.attempt == ref.attempt, let lease = task.lease, lease.session == ready.session,
                lease.key == credentials?.key, credentials?.allows(jobs[task.jobID]?.spec.product ?? "") ?? true
            {
                tasks.modify(ref.task) {
                    $0.lease = Lease(
                        worker: ready.worker, session: ready.session, peer: peer, key: credentials?.key, heartbeat: registration.worker.heartbeat)
                }
                workers.leased(ref.task, to: peer)
                candidates.remove(ref.task)
            } else {
                stale.append(ref)
                skipPast(ref, credentials: credentials)
            }
        }
        // Leases the worker no longer holds (it restarted, or lost track of them) are taken back.
        for task in candidates.sorted() { takeBack(task, reason: "its worker \(ready.worker) restarted or lost it", now: now) }
        outbox.append(
            (peer,
             .welcome(
                Welcome(
                    shard: configuration.shard, epoch: epoch, heartbeat: UInt32(registration.worker.heartbeat),
                    liveness: configuration.liveness, resultLimit: configuration.resultLimit))))
        if !stale.isEmpty { outbox.append((peer, .cancel(Cancel(grace: 0, tasks: stale)))) }
    }

    /// Makes sure the next lease of a task waiting to run, an attempt of which a worker holds, has a higher
    /// number. The shard hands out each attempt number once; but a power loss under `durability normal`
    /// can take back the commit of a lease already sent, and the same number would go out again, to a
    /// worker that may still hold the first (and drops a task it holds already). The raised number is
    /// committed with the turn, before any lease that follows it. Only for a worker that may run the
    /// task's product, and by at most ``attemptSkipLimit``: a READY cannot use up a task's numbers at once.
    private mutating func skipPast(_ ref: TaskRef, credentials: WorkerCredentials?) {
        guard let task = tasks[ref.task], task.state == .pending || task.state == .retrying, ref.attempt > task.attempt,
            ref.attempt - task.attempt <= Self.attemptSkipLimit, credentials?.allows(jobs[task.jobID]?.spec.product ?? "") ?? true
        else { return }
        update(ref.task) { $0.attempt = ref.attempt }
    }

    /// The most attempt numbers one READY makes a task skip: more than a power loss's lost commits could
    /// have handed out.
    static let attemptSkipLimit: UInt16 = 64

    /// Forgets a worker and takes back its leases.
    private mutating func remove(_ peer: Peer, now: Timestamp, because why: String? = nil) {
        guard let worker = workers.remove(peer) else { return }
        let reason = why ?? "worker \(worker.name) went away"
        for task in worker.leases.sorted() { takeBack(task, reason: reason, now: now) }
    }
}
