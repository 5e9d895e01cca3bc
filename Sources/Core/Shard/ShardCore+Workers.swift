public import Wire

/// The worker protocol: READY and registration, credit (PULL, RECALL), results, and workers going away.
/// Who is registered, and the rules of credit, demand and liveness, are the ``WorkerRegistry``'s.
extension ShardCore {
    /// Handles one message a peer sent on the `work` ROUTER.
    public mutating func received(_ message: Message, from peer: Peer, now: Timestamp) {
        if case .ready(let ready) = message {
            register(ready, peer: peer, now: now)
            return
        }
        guard workers.heard(from: peer, now: now) else {
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
            for result in results.results { resultReceived(result, from: peer, now: now) }
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

    /// Registers a worker. Of the leases it may claim (its earlier connections', or those restored for it
    /// after a restart), it keeps those READY's `held` names for the same attempt and process session; the
    /// others are taken back, and the attempts it holds that are no longer its own are cancelled.
    private mutating func register(_ ready: Ready, peer: Peer, now: Timestamp) {
        let registration = workers.register(ready, peer: peer, now: now)
        var candidates = registration.candidates
        var stale: [TaskRef] = []
        for ref in ready.held {
            if candidates.contains(ref.task), let task = tasks[ref.task], task.state == .running,
                task.attempt == ref.attempt, let lease = task.lease, lease.session == ready.session
            {
                tasks.modify(ref.task) { $0.lease = Lease(worker: ready.worker, session: ready.session, peer: peer) }
                workers.leased(ref.task, to: peer)
                candidates.remove(ref.task)
            } else {
                stale.append(ref)
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

    /// Forgets a worker and takes back its leases.
    private mutating func remove(_ peer: Peer, now: Timestamp) {
        guard let worker = workers.remove(peer) else { return }
        for task in worker.leases.sorted() { takeBack(task, reason: "worker \(worker.name) went away", now: now) }
    }
}
