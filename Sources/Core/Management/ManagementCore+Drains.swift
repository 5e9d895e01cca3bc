import Wire

/// Drained shards, and shards taken out of the configuration.
///
/// `drain` marks a shard drained, as an operator retiring it asks: no new product is bound to it, no
/// product moves onto it (`move` is refused 409), and `products` says which shards are drained, so that
/// `baton rebalance` plans no move onto one. What is bound to it stays until moved: `baton drain` marks
/// the shard first, then moves its products. `undrain` opens it again. Management alone decides both,
/// at once, and commits them, with their audit entries, before it answers; a restart keeps them.
///
/// A configuration that no longer names a shard products are bound to is refused when management
/// starts (``productsOnShardsDropped(_:shards:)``): their runs would go to a shard no one serves.
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

    /// Why management cannot start over `products` (as its store holds them) with the configuration's
    /// `shards`: the products bound to shards it no longer names, whose runs would go to a shard no one
    /// serves, and how to retire such a shard instead; nil when every product's shard is among `shards`.
    /// `baton up` asks the same of the store before it restarts anything, so that the processes running
    /// go on.
    public static func productsOnShardsDropped(_ products: [(name: String, shard: UInt32)], shards: [UInt32]) -> String? {
        let stranded = Dictionary(grouping: products.filter { !shards.contains($0.shard) }, by: \.shard)
        guard !stranded.isEmpty else { return nil }
        let lines = stranded.keys.sorted().map { shard in
            let names = stranded[shard]!.map(\.name).sorted()
            let shown = names.prefix(10).joined(separator: ", ") + (names.count > 10 ? " and \(names.count - 10) more" : "")
            return "shard \(shard) is no longer in the cluster file, but \(names.count) product\(names.count == 1 ? " is" : "s are") bound to it: \(shown)"
        }
        let drains = stranded.keys.sorted().map { "`baton drain \($0)`" }.joined(separator: ", ")
        let it = stranded.count == 1 ? "it" : "them"
        return lines.joined(separator: "; ")
            + ". Drain \(it) first, with \(it) still in the file: \(drains); then take \(it) out once `baton products` shows no product "
            + "bound to \(it) or finishing on \(it)"
    }
}
