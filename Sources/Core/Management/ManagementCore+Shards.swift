import Wire

/// `workers`, `queue` and `waits`: questions to shards, through the orchestrator (SHARD-QUERY), gathered
/// into one reply. A shard that does not answer in time is listed under `unanswered` with why, and the
/// others' answers are given; nothing of it is stored.
struct ShardQueryRequest {
    /// `workers`, `queue` or `waits`.
    var kind: String
    /// The one shard asked; nil for every shard of the cluster (`workers`, `queue`).
    var shard: UInt32?
    /// The run (`waits`, `attempts`), and the job (`attempts`).
    var run: UInt64?
    var job: String?

    init(kind: String, _ fields: ManagementAPI.Fields) throws(APIRefusal) {
        self.kind = kind
        if kind == "waits" || kind == "attempts" {
            guard let run = fields["run"]?.integer, run > 0 else { throw APIRefusal(.badRequest, "\(kind) needs \"run\": a run ID") }
            self.run = UInt64(run)
            if kind == "attempts", let given = fields["job"] {
                guard let job = given.string, !job.isEmpty else { throw APIRefusal(.badRequest, "attempts: \"job\" takes the name of one of the run's jobs, not \(given.rendered())") }
                self.job = job
            }
            return
        }
        if let given = fields["shard"] {
            guard let shard = given.integer, (1...65535).contains(shard) else {
                throw APIRefusal(.badRequest, "\(kind): \"shard\" takes a shard ID, 1 to 65535, not \(given.rendered())")
            }
            self.shard = UInt32(shard)
        }
    }
}

extension ManagementCore {
    /// Answers gathered from shards for one API request.
    struct ShardGather: Sendable {
        var caller: Caller
        var kind: String
        /// Whether the reply is one shard's answer alone (`waits`, or a `shard` named), or a list.
        var single: Bool
        var waiting: Set<UInt32>
        var answers: [UInt32: JSON] = [:]
        var failures: [UInt32: (Status, String)] = [:]
        var deadline: Timestamp
    }

    mutating func askShards(_ request: ShardQueryRequest, for caller: Caller, now: Timestamp) {
        var shards = request.shard.map { [$0] } ?? configuration.shards
        var body = JSON.object([])
        if let shard = request.shard, !configuration.shards.contains(shard) {
            let known = configuration.shards.map(String.init).joined(separator: ", ")
            return refuse(caller, .notFound, "the cluster has no shard \(shard) (shards: \(known))")
        }
        if let id = request.run {
            // A run not in memory was recalled from the store before this, if the store has it.
            guard let run = runs[id] else {
                let deleted = id <= counters.lastRun
                return refuse(caller, deleted ? .gone : .notFound, deleted ? deletedByRetention(id) : "unknown run \(id)")
            }
            if request.kind == "waits", run.state.isFinal || run.shard == 0 {
                return reply(caller, .shardAnswers(kind: request.kind, single: true, answers: [(run.shard, .object([("run", .number(id)), ("jobs", .array([]))]))], failures: []))
            }
            shards = [run.shard]
            body = .object([("run", .number(id))] + (request.job.map { [("job", JSON.string($0))] } ?? []))
        }
        counters.lastRequest += 1
        turn.counters = counters
        let gather = counters.lastRequest
        shardGathers[gather] = ShardGather(
            caller: caller, kind: request.kind, single: request.shard != nil || request.run != nil, waiting: Set(shards),
            deadline: now.adding(milliseconds: configuration.queryTimeout + 1000))
        for shard in shards {
            turn.toOrchestrator.append(.shardQuery(ShardQuery(request: gather, shard: shard, kind: request.kind, body: body.rendered())))
        }
    }

    /// A shard's answer, relayed by the orchestrator; the reply goes once every shard asked has answered.
    mutating func shardAnswered(_ answer: ShardAnswer) {
        guard var gather = shardGathers[answer.request], gather.waiting.remove(answer.shard) != nil else { return }
        let body = try? JSONParser.parse(answer.body)
        if answer.status.isSuccess, let body {
            gather.answers[answer.shard] = body
        } else {
            gather.failures[answer.shard] = (answer.status, body?["error"]?.string ?? "shard \(answer.shard) answered \(answer.status.rawValue)")
        }
        shardGathers[answer.request] = gather
        if gather.waiting.isEmpty { finishGather(answer.request) }
    }

    mutating func expireShardGathers(now: Timestamp) {
        for (id, gather) in shardGathers where gather.deadline <= now {
            var late = gather
            for shard in late.waiting {
                late.failures[shard] = (.unavailable, "no answer from shard \(shard) through the orchestrator within \((configuration.queryTimeout + 1000) / 1000) s")
            }
            late.waiting = []
            shardGathers[id] = late
            finishGather(id)
        }
    }

    /// A shard's `queue` answer with `"held": true` on each product an operator holds: none of its jobs
    /// reaches the shard meanwhile, whatever the shard estimates for a task queued now.
    private func markingHeld(_ answer: JSON) -> JSON {
        guard var members = answer.members, let index = members.firstIndex(where: { $0.key == "products" }), let list = members[index].value.array
        else { return answer }
        members[index].value = .array(list.map { product in
            guard let name = product["product"]?.string, products[name]?.held == true, var fields = product.members else { return product }
            fields.append(JSON.Member(key: "held", value: .bool(true)))
            return .object(fields.map { ($0.key, $0.value) })
        })
        return .object(members.map { ($0.key, $0.value) })
    }

    private mutating func finishGather(_ id: UInt64) {
        guard let gather = shardGathers.removeValue(forKey: id) else { return }
        if gather.single, let (shard, failure) = gather.failures.first {
            return refuse(gather.caller, failure.0, "shard \(shard): \(failure.1)")
        }
        // The queue as its shard sees it, and what only management knows: which products an operator holds.
        let answers = gather.answers.sorted { $0.key < $1.key }.map { ($0.key, gather.kind == "queue" ? markingHeld($0.value) : $0.value) }
        reply(gather.caller, .shardAnswers(
            kind: gather.kind, single: gather.single, answers: answers,
            failures: gather.failures.sorted { $0.key < $1.key }.map { ($0.key, $0.value.0, $0.value.1) }))
    }
}
