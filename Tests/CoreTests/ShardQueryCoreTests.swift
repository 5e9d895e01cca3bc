import Core
import Testing
import Wire

/// The shard's answers to SHARD-QUERY, and the orchestrator's relay of them.
@Suite struct ShardQueryCoreTests {
    let worker = Peer([1])
    let orchestrator = Peer([9])

    func answer(_ shard: inout ShardHarness, _ kind: String, _ body: String = "{}") -> (Status, JSON) {
        shard.core.queried(ShardQuery(request: 5, shard: 1, kind: kind, body: body), from: orchestrator)
        let turn = shard.turn()
        let answers = turn.messages.compactMap { peer, message -> ShardAnswer? in
            guard peer == orchestrator, case .shardAnswer(let answer) = message else { return nil }
            return answer
        }
        #expect(answers.count == 1)
        #expect(answers.first?.request == 5)
        return (answers.first?.status ?? .internalError, (try? JSONParser.parse(answers.first?.body ?? "")) ?? .object([]))
    }

    @Test func aQueuedTaskIsEstimatedFromTheRateItsProductIsServedAt() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 1), from: worker)
        // Ten one-partition jobs; the worker runs them one at a time, 100 ms each.
        _ = shard.submit((0..<10).map { ShardHarness.job("j\($0)", run: UInt64($0 + 1)) })
        for _ in 0..<5 {
            let leased = shard.turns.last.map { ShardHarness.tasks(in: $0, to: worker) } ?? []
            shard.advance(100)
            for spec in leased { _ = shard.send(ShardHarness.result(spec, .succeeded), from: worker) }
            _ = shard.send(.pull(Pull(credit: 1)), from: worker)
        }
        let (status, queue) = answer(&shard, "queue")
        #expect(status == .ok)
        let payments = queue["products"]?.array?.first { $0["product"]?.string == "payments" }
        #expect(payments?["pending"]?.integer == 4, "\(queue.rendered())")
        #expect(payments?["running"]?.integer == 1)
        // Served 10 a second: a task queued now is the fifth in line, half a second away.
        let estimate = payments?["estimate"]?.integer ?? 0
        #expect((300...900).contains(estimate), "\(queue.rendered())")
        #expect(payments?["why"]?.string == "behind 4 tasks of product payments")

        // The last job waits behind the three queued before it.
        let (_, waits) = answer(&shard, "waits", #"{"run": 10}"#)
        let last = waits["jobs"]?.array?.first
        #expect(last?["why"]?.string == "behind 3 tasks of product payments", "\(waits.rendered())")
        #expect((last?["estimate"]?.integer ?? 0) < estimate)
    }

    @Test func eachWaitingJobOfARunCountsTheTasksAheadOfItInItsProductsLine() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 1), from: worker)
        // The worker's one slot is taken; then run 7's jobs queue among others', in one turn.
        _ = shard.submit([ShardHarness.job("first", run: 1)])
        _ = shard.submit([
            ShardHarness.job("a", run: 7), ShardHarness.job("urgent", run: 8, priority: 5), ShardHarness.job("c", run: 7),
            ShardHarness.job("other", run: 9, product: "refunds"), ShardHarness.job("d", run: 9), ShardHarness.job("e", run: 7),
        ])
        let (status, waits) = answer(&shard, "waits", #"{"run": 7}"#)
        #expect(status == .ok)
        let why = Dictionary(uniqueKeysWithValues: (waits["jobs"]?.array ?? []).map { ($0["job"]?.string ?? "", $0["why"]?.string ?? "") })
        // The more urgent job goes first; then by when queued, and in the order taken. Another product's
        // line is its own.
        #expect(why["a"] == "behind 1 task of product payments", "\(waits.rendered())")
        #expect(why["c"] == "behind 2 tasks of product payments")
        #expect(why["e"] == "behind 4 tasks of product payments")
    }

    /// The count of tasks ahead of each waiting job of a run, which `waits` works out by buckets in one
    /// pass, against the rule counted out by hand: in the job's line (its product's, or the shard's one
    /// queue in FIFO), every queued task of a job more urgent, or as urgent and queued earlier, or queued
    /// in the same instant and taken before it; none of a paused run. Random queues, both modes, jobs of
    /// several partitions, equal instants, and runs moved to another priority.
    @Test(arguments: [Fairness.fair, .fifo])
    func theTasksAheadOfEachWaitingJobAreCountedAsTheRuleSays(fairness: Fairness) {
        var random = SplitMix64(seed: fairness == .fair ? 21 : 22)
        for round in 0..<20 {
            var configuration = ShardConfiguration(shard: 1)
            configuration.fairness = fairness
            var shard = ShardHarness(configuration: configuration)
            _ = shard.send(ShardHarness.ready("w1", slots: 1), from: worker)
            _ = shard.submit([ShardHarness.job("busy", run: 99)])  // Takes the worker's one slot.
            // Each job as the rule sees it: its run, product, pending tasks and place.
            typealias Queued = (name: String, run: UInt64, product: String, pending: Int, place: (UInt8, Int16, Int64, Int))
            var queued: [Queued] = []
            var urgent: Set<UInt64> = []
            let paused: UInt64 = UInt64.random(in: 1...6, using: &random)
            for turn in 0..<Int.random(in: 2...6, using: &random) {
                if Bool.random(using: &random) {
                    let run = UInt64.random(in: 1...5, using: &random)
                    shard.core.controlReceived(Control(request: UInt64(turn + 1), action: .setPriority, run: run, priority: RunPriority.urgent), from: orchestrator, now: shard.now)
                    urgent.insert(run)
                }
                var batch: [JobSpec] = []
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    let run = UInt64.random(in: 1...5, using: &random)
                    let name = "j\(queued.count)"
                    let product = fairness == .fair && Bool.random(using: &random) ? "refunds" : "payments"
                    let partitions = UInt32.random(in: 1...3, using: &random)
                    let priority: Int16 = [0, 0, 5, -5].randomElement(using: &random)!
                    batch.append(ShardHarness.job(
                        name, run: run, product: product, steps: [StepSpec(name: name, kind: .command, action: "true", partitions: partitions)],
                        priority: priority))
                    queued.append((name, run, product, Int(partitions), (RunPriority.normal, -priority, shard.now.milliseconds, queued.count)))
                }
                _ = shard.submit(batch)
                // Priorities set later reorder what is queued too.
                for index in queued.indices where urgent.contains(queued[index].run) { queued[index].place.0 = RunPriority.urgent }
                // Some turns in the same instant: their jobs are apart only by the order they were taken in.
                if Bool.random(using: &random) { shard.advance(Int64.random(in: 1...3, using: &random)) }
            }
            shard.core.controlReceived(Control(request: 99, action: .pauseRun, run: paused), from: orchestrator, now: shard.now)
            _ = shard.turn()
            for run in UInt64(1)...5 where run != paused {
                let (_, waits) = answer(&shard, "waits", #"{"run": \#(run)}"#)
                let why = Dictionary(uniqueKeysWithValues: (waits["jobs"]?.array ?? []).map { ($0["job"]?.string ?? "", $0["why"]?.string ?? "") })
                let mine = queued.filter { $0.run == run }
                #expect(why.count == mine.count, "round \(round), run \(run): \(waits.rendered())")
                for job in mine {
                    let ahead = queued.filter { other in
                        other.run != paused && other.name != job.name && (fairness == .fifo || other.product == job.product) && other.place < job.place
                    }.reduce(0) { $0 + $1.pending }
                    let whose = fairness == .fair ? " of product \(job.product)" : " in the shard's one queue"
                    let expected = ahead == 0 ? "next\(whose) to be handed out" : "behind \(ahead) task\(ahead == 1 ? "" : "s")\(whose)"
                    #expect(why[job.name] == expected, "round \(round), run \(run), job \(job.name)")
                }
            }
        }
    }

    @Test func aJobNoWorkerCanRunSaysWhyAndHasNoEstimate() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 2, handlers: ["load-ledger"]), from: worker)
        _ = shard.submit([ShardHarness.job("gpu", tags: ["gpu"]), ShardHarness.job("odd", run: 2, handler: "nobody")])
        let (_, first) = answer(&shard, "waits", #"{"run": 1}"#)
        #expect(first["jobs"]?.array?.first?["why"]?.string == "no worker has all the tags gpu", "\(first.rendered())")
        #expect(first["jobs"]?.array?.first?["estimate"]?.value == .null)
        let (_, second) = answer(&shard, "waits", #"{"run": 2}"#)
        #expect(second["jobs"]?.array?.first?["why"]?.string == "no worker offers the handler \"nobody\"")
    }

    /// The event stream says it too: a job queued that no registered worker can run is published with
    /// why in its detail, and the note goes once a worker that runs it comes and the job runs.
    @Test func aJobNoWorkerCanRunIsPublishedWithWhyAndTheNoteGoesWhenItRuns() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 2), from: worker)
        let queued = shard.submit([ShardHarness.job("odd", handler: "nobody"), ShardHarness.job("plain", run: 2)])
        let statuses = Dictionary(uniqueKeysWithValues: (queued.updates?.updates ?? []).map { ($0.job, $0) })
        #expect(statuses["odd"]?.state == .queued)
        #expect(statuses["odd"]?.detail == "no worker offers the handler \"nobody\"", "\(statuses)")
        #expect(statuses["plain"]?.state == .running)
        #expect(statuses["plain"]?.detail == "")
        // The note is said, never stored: the job's row keeps its own detail.
        #expect((queued.jobs + queued.submissions).first { $0.spec.job == "odd" }?.detail == "")

        let other = Peer([2])
        let running = shard.send(ShardHarness.ready("w2", slots: 1, handlers: ["nobody"]), from: other)
        let odd = running.updates?.updates.first { $0.job == "odd" }
        #expect(odd?.state == .running)
        #expect(odd?.detail == "", "\(String(describing: odd))")

        // With no worker at all, a job queued says that.
        var alone = ShardHarness()
        let nobody = alone.submit([ShardHarness.job("extract")]).updates?.updates.first
        #expect(nobody?.detail == "no worker is registered with shard 1", "\(String(describing: nobody))")
    }

    /// A worker's coming or going publishes again only the jobs whose note it changes: a backlog no worker
    /// can run was published whole each time any worker came or went.
    @Test func aWorkersComingPublishesOnlyTheJobsWhoseNoteItChanges() {
        var shard = ShardHarness()
        let queued = shard.submit([ShardHarness.job("gpu-1", tags: ["gpu"]), ShardHarness.job("gpu-2", run: 2, tags: ["gpu"])])
        #expect(queued.updates?.updates.map(\.detail) == Array(repeating: "no worker is registered with shard 1", count: 2))
        // The first worker changes why they wait.
        let first = shard.send(ShardHarness.ready("w1", slots: 2), from: worker)
        #expect(first.updates?.updates.map(\.detail) == Array(repeating: "no worker has all the tags gpu", count: 2))
        // Another without the tag changes nothing of theirs: nothing is published.
        let second = shard.send(ShardHarness.ready("w2", slots: 2), from: Peer([2]))
        #expect(second.updates == nil, "\(String(describing: second.updates))")
        // One with it runs them.
        let third = shard.send(ShardHarness.ready("w3", slots: 2, tags: ["gpu"]), from: Peer([3]))
        #expect(third.updates?.updates.map { "\($0.job):\($0.state.name):\($0.detail)" }.sorted() == ["gpu-1:running:", "gpu-2:running:"])
    }

    @Test func workersAreListedWithWhatTheyHold() {
        var shard = ShardHarness()
        _ = shard.send(ShardHarness.ready("w1", slots: 2, handlers: ["load-ledger"], tags: ["eu"]), from: worker)
        _ = shard.submit([ShardHarness.job("extract")])
        let (_, answer) = answer(&shard, "workers")
        let listed = answer["workers"]?.array?.first
        #expect(listed?["name"]?.string == "w1")
        #expect(listed?["leases"]?.integer == 1)
        #expect(listed?["credit"]?.integer == 1)
        #expect(listed?["tasks"]?.array?.first?["job"]?.string == "extract")
        #expect(listed?["tags"]?.array?.map { $0.string } == ["eu"])
    }

    @Test func badQuestionsAreAnsweredWithWhatIsWrong() {
        var shard = ShardHarness()
        let (unknown, body) = answer(&shard, "secrets")
        #expect(unknown == .notFound)
        #expect(body["error"]?.string?.contains("workers, queue, waits and attempts") == true)
        let (bad, _) = answer(&shard, "waits", "{not json")
        #expect(bad == .badRequest)
        let (noRun, _) = answer(&shard, "waits", "{}")
        #expect(noRun == .badRequest)
    }

    /// Found by an explorer: `attempts` of a job the run does not have answered 200 with no attempts, the
    /// shard holding only the jobs submitted to it. The orchestrator answers 404, naming the run's jobs as
    /// rerun-job does, for a run in memory or read back from the store; a job of the run goes on to its shard.
    @Test func attemptsOfAJobTheRunDoesNotHaveAre404NamingItsJobs() throws {
        var orchestrator = OrchestratorHarness()
        let manager = orchestrator.manager
        _ = orchestrator.operation(OrchestratorHarness.start())
        let run = try #require(orchestrator.core.runs[1])
        func ask(_ job: String, request: UInt64) -> OrchestratorTurn {
            let query = ShardQuery(request: request, shard: 2, kind: "attempts", body: #"{"run": 1, "job": "\#(job)"}"#)
            #expect(orchestrator.core.storedRunNeeded(for: query) == nil, "run 1 is in memory")
            orchestrator.core.shardQueried(query, from: manager, now: orchestrator.now)
            return orchestrator.core.finishTurn(now: orchestrator.now)
        }
        let unknown = ask("nosuchjob", request: 80)
        #expect(unknown.shardQuerySends.isEmpty)
        guard case .shardAnswer(let refused)? = unknown.replies.first?.1 else {
            Issue.record("no answer")
            return
        }
        #expect(refused.request == 80 && refused.status == .notFound)
        #expect(try JSONParser.parse(refused.body)["error"]?.string == #"run 1 has no job "nosuchjob" (its jobs: extract, check, load, report, audit)"#)
        #expect(ask("check", request: 81).shardQuerySends.map(\.0) == [2])

        // A run that has left memory is read back for the question.
        var restarted = OrchestratorHarness()
        let query = ShardQuery(request: 82, shard: 2, kind: "attempts", body: #"{"run": 1, "job": "nosuchjob"}"#)
        #expect(restarted.core.storedRunNeeded(for: query) == 1)
        restarted.core.shardQueried(query, from: manager, stored: run, now: restarted.now)
        let turn = restarted.core.finishTurn(now: restarted.now)
        #expect(turn.shardQuerySends.isEmpty && turn.replies.count == 1)
        #expect(restarted.core.storedRunNeeded(for: ShardQuery(request: 83, shard: 2, kind: "attempts", body: #"{"run": 1}"#)) == nil)
    }

    @Test func theOrchestratorPassesQuestionsOnAndAnswers504ForAShardThatIsSilent() {
        var orchestrator = OrchestratorHarness()
        let manager = orchestrator.manager
        orchestrator.core.shardQueried(ShardQuery(request: 77, shard: 2, kind: "queue"), from: manager, now: orchestrator.now)
        orchestrator.core.shardQueried(ShardQuery(request: 78, shard: 5, kind: "queue"), from: manager, now: orchestrator.now)
        var turn = orchestrator.core.finishTurn(now: orchestrator.now)
        #expect(turn.shardQuerySends.count == 1)
        #expect(turn.shardQuerySends.first?.0 == 2)
        let refused = turn.replies.compactMap { _, message -> ShardAnswer? in
            if case .shardAnswer(let answer) = message { return answer }
            return nil
        }
        #expect(refused.map(\.request) == [78])
        #expect(refused.first?.status == .notFound)

        // The shard answers under the orchestrator's number; management gets it under its own.
        let forwarded = turn.shardQuerySends[0].1
        orchestrator.core.shardAnswerReceived(ShardAnswer(request: forwarded.request, shard: 2, status: .ok, body: "{}"))
        turn = orchestrator.core.finishTurn(now: orchestrator.now)
        #expect(turn.replies.count == 1)
        if case .shardAnswer(let passed) = turn.replies.first?.1 { #expect(passed.request == 77) } else { Issue.record("no answer passed back") }

        // A question the shard never answers: 504 after 5 s, and a late answer is dropped.
        orchestrator.core.shardQueried(ShardQuery(request: 79, shard: 1, kind: "workers"), from: manager, now: orchestrator.now)
        turn = orchestrator.core.finishTurn(now: orchestrator.now)
        let silent = turn.shardQuerySends[0].1
        #expect(orchestrator.core.nextDeadline() <= orchestrator.now.adding(milliseconds: 5000))
        orchestrator.now = orchestrator.now.adding(milliseconds: 5000)
        orchestrator.core.tick(now: orchestrator.now)
        turn = orchestrator.core.finishTurn(now: orchestrator.now)
        if case .shardAnswer(let timedOut) = turn.replies.first?.1 {
            #expect(timedOut.request == 79)
            #expect(timedOut.status == .gatewayTimeout)
        } else {
            Issue.record("no 504")
        }
        orchestrator.core.shardAnswerReceived(ShardAnswer(request: silent.request, shard: 1, status: .ok, body: "{}"))
        #expect(orchestrator.core.finishTurn(now: orchestrator.now).replies.isEmpty)
    }
}
