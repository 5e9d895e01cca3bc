import Wire

/// Drained shards.
///
/// `drain` marks a shard drained, as an operator retiring it asks: no new product is bound to it, no
/// product moves onto it (`move` is refused 409), and `products` says which shards are drained, so that
/// `baton rebalance` plans no move onto one. What is bound to it stays until moved: `baton drain` marks
/// the shard first, then moves its products. `undrain` opens it again. Management alone decides both,
/// at once, and commits them, with their audit entries, before it answers; a restart keeps them.
extension ManagementCore {
    /// The audit entry's options of a drain or undrain of `shard`.
    static func drainOptions(_ shard: UInt32) -> String { "shard \(shard)" }

    /// `drain` and `undrain`: marks the shard drained or open, records it in the audit log, and answers
    /// as an action done. A request ID used before is answered with the first outcome if it was the same
    /// method on the same shard, and refused 409 otherwise, as an action's is.
    mutating func drain(_ request: DrainRequest, by key: APICaller?, for caller: Caller, now: Timestamp) {
        let method = request.method
        let options = Self.drainOptions(request.shard)
        if !request.key.isEmpty, let entry = actions[request.key] {
            guard entry.method == method, entry.options == options else {
                let what = entry.options.isEmpty ? entry.method : "\(entry.method) (\(entry.options))"
                return refuse(caller, .conflict, "request ID \"\(request.key)\" was already used for \(what) at \(entry.time.utcText)")
            }
            return reply(caller, .action(entry, status: Status(rawValue: entry.status), repeated: true))
        }
        guard key != nil || !request.actor.isEmpty else {
            return refuse(caller, .badRequest, "\(method) needs \"actor\": who asks (1 to 255 octets), for the audit log")
        }
        let shard = request.shard
        guard configuration.shards.contains(shard) else {
            let known = configuration.shards.map(String.init).joined(separator: ", ")
            return refuse(caller, .notFound, "the cluster has no shard \(shard) (shards: \(known))")
        }
        let changed = drained.contains(shard) != request.drained
        let detail: String
        switch (request.drained, changed) {
        case (true, true):
            detail = "shard \(shard) is drained: no new product is bound to it and none moves onto it; "
                + "the products on it stay until moved (`baton drain \(shard)` moves them)"
        case (true, false): detail = "shard \(shard) was already drained"
        case (false, true): detail = "shard \(shard) is open again: new products may be bound to it, and products moved onto it"
        case (false, false): detail = "shard \(shard) was not drained"
        }
        if changed {
            if request.drained { drained.insert(shard) } else { drained.remove(shard) }
            turn.drains[shard] = request.drained
        }
        counters.lastRequest += 1
        turn.counters = counters
        var entry = AuditEntry(
            id: counters.lastRequest, key: request.key.isEmpty ? "#\(counters.lastRequest)" : request.key, time: now,
            actor: key?.name ?? request.actor, method: method, run: 0, product: "", job: "", options: options,
            status: Status.ok.rawValue, detail: detail, answered: now)
        if let key { entry.comment = ManagementCore.claimed(request.actor, by: key) }
        remember(entry)
        turn.audit.append(entry)
        reply(caller, .action(entry, status: .ok, repeated: false))
    }
}
