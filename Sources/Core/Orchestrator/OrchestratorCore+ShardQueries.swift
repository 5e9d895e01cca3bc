public import Wire

/// Management's questions to shards (SHARD-QUERY), passed on to the shard asked, and its answers
/// (SHARD-ANSWER) passed back. Nothing of it is stored: a question lost with a restart is answered by
/// no one, and management gives up on it.
struct ShardQueryRelay: Sendable {
    /// How long a shard has to answer before the orchestrator answers 504 for it.
    static let timeout: Int64 = 5000
    /// The most questions waiting for shards at once; more are answered 503.
    static let limit = 1000

    struct Waiting: Sendable {
        var peer: Peer
        var request: UInt64
        var shard: UInt32
        var deadline: Timestamp
    }

    /// By the orchestrator's own number for each question, which the shard echoes: numbered from the
    /// orchestrator's epoch, so that a late answer to a question of an earlier start matches none of this one's.
    var waiting: [UInt64: Waiting] = [:]
    var next: UInt64
    var sends: [(UInt32, ShardQuery)] = []

    var deadline: Timestamp? { waiting.values.map(\.deadline).min() }

    init(epoch: UInt32) { next = UInt64(epoch) << 32 }
}

extension OrchestratorCore {
    /// The run a question names that has left memory, which the runtime reads back from the store for
    /// ``shardQueried(_:from:stored:now:)``: an `attempts` question about one job, whose name is checked
    /// against the run's jobs. Nil when none is needed.
    public func storedRunNeeded(for query: ShardQuery) -> UInt64? {
        guard let (run, _) = Self.attemptsOfJob(query), runs[run] == nil else { return nil }
        return run
    }

    /// The run and job an `attempts` question names; nil for any other question.
    private static func attemptsOfJob(_ query: ShardQuery) -> (UInt64, String)? {
        guard query.kind == "attempts", let body = try? JSONParser.parse(query.body), let run = body["run"]?.integer, run > 0,
            let job = body["job"]?.string
        else { return nil }
        return (UInt64(run), job)
    }

    /// Passes a question from management to its shard, or answers it at once if there is no such shard,
    /// or (`attempts`) if the run has no such job: the shard, which holds only the jobs submitted to it,
    /// would answer that the job has no attempts. A run that has left memory comes as the store has it
    /// (`stored`).
    public mutating func shardQueried(_ query: ShardQuery, from peer: Peer, stored: FlowRun? = nil, now: Timestamp) {
        func refuse(_ status: Status, _ error: String) {
            let body = JSON.object(["error": .string(error)]).rendered()
            replies.append((peer, .shardAnswer(ShardAnswer(request: query.request, shard: query.shard, status: status, body: body))))
        }
        guard configuration.shards.contains(query.shard) else {
            return refuse(.notFound, "the cluster has no shard \(query.shard)")
        }
        if let (id, job) = Self.attemptsOfJob(query), let run = runs[id] ?? stored.flatMap({ $0.id == id ? $0 : nil }),
            run.graph.index[job] == nil
        {
            return refuse(.notFound, Self.noJob(job, in: run))
        }
        guard shardQueries.waiting.count < ShardQueryRelay.limit else {
            return refuse(.unavailable, "\(ShardQueryRelay.limit) questions already wait for shards' answers")
        }
        shardQueries.next += 1
        let id = shardQueries.next
        shardQueries.waiting[id] = .init(peer: peer, request: query.request, shard: query.shard, deadline: now.adding(milliseconds: ShardQueryRelay.timeout))
        var forwarded = query
        forwarded.request = id
        shardQueries.sends.append((query.shard, forwarded))
    }

    /// Passes a shard's answer back to whoever asked; one for a question given up on is dropped.
    public mutating func shardAnswerReceived(_ answer: ShardAnswer) {
        guard let waiting = shardQueries.waiting.removeValue(forKey: answer.request) else { return }
        var passed = answer
        passed.request = waiting.request
        replies.append((waiting.peer, .shardAnswer(passed)))
    }

    /// Answers 504 for the questions whose shard has not answered in time.
    mutating func expireShardQueries(now: Timestamp) {
        for (id, waiting) in shardQueries.waiting where waiting.deadline <= now {
            shardQueries.waiting[id] = nil
            let body = JSON.object(["error": .string("shard \(waiting.shard) did not answer within \(ShardQueryRelay.timeout / 1000) s")]).rendered()
            replies.append((waiting.peer, .shardAnswer(ShardAnswer(request: waiting.request, shard: waiting.shard, status: .gatewayTimeout, body: body))))
        }
    }
}
