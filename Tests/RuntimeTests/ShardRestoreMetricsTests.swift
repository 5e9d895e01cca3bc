import Core
import Foundation
@testable import Runtime
import Store
import Testing
import Wire

/// A restarted shard puts its queue back a batch a turn; its metrics say so while it does, and how many
/// messages wait for it.
@Suite struct ShardRestoreMetricsTests {
    static func gauge(_ name: String, of service: ShardService, now: Timestamp) throws -> Double? {
        var metrics = Metrics()
        try service.metrics(into: &metrics, now: now)
        guard let series = metrics.families.first(where: { $0.name == name })?.series.first, case .number(let value) = series.value else { return nil }
        return value
    }

    static func job(run: UInt64, _ name: String, moment: UInt64) -> JobSpec {
        JobSpec(
            run: run, job: name, product: "p", flow: "f", moment: moment, type: "f/\(name)",
            steps: [StepSpec(name: name, kind: .handler, action: "noop")])
    }

    static let now = Timestamp(milliseconds: 1_800_000_000_000)

    /// A shard restarted over a store of twelve pending jobs, which it puts back five a turn; run in a
    /// folder of its own, removed after.
    static func withRestartedShard(heldBackLimit: Int = 100_000, _ body: (inout ShardService) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-restore-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/shard.db"
        do {
            // Twelve pending jobs, as the shard would have stored them before a restart.
            let store = try ShardStore(path: path, synchronous: .off)
            let (epoch, snapshot) = try store.open()
            var core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: epoch, restoring: snapshot, now: now)
            core.submitted((0..<12).map { Self.job(run: 1, "j\($0)", moment: 1) }, lookup: SubmissionLookup(), now: now)
            _ = try store.commit(core.finishTurn(now: now), now: now)
            // A log's age later their rows are written: until then they are in the submission log, and come back at once.
            let later = now.adding(milliseconds: ShardCore.submissionLogAge)
            _ = try store.commit(core.finishTurn(now: later), now: later)
            store.database.close()
        }
        var settings = ShardSettings(
            configuration: ShardConfiguration(shard: 1), store: path, synchronous: .off,
            submit: ["tcp://127.0.0.1:1"], work: ["tcp://127.0.0.1:2"], events: ["tcp://127.0.0.1:3"])
        settings.restoreBatch = 5
        settings.heldBackLimit = heldBackLimit
        var (service, _) = try ShardService.open(settings, now: now, log: Log(service: "test", level: .quiet), counters: ServiceCounters())
        defer { service.store.database.close() }
        try body(&service)
    }

    /// Turns until nothing restored or held back is left; how many.
    static func settle(_ service: inout ShardService) throws -> Int {
        var turns = 0
        while service.hasWork && turns < 100 {
            _ = try service.endTurn(now: now)
            turns += 1
        }
        return turns
    }

    @Test func aShardPuttingItsQueueBackSaysSoAndCountsWhatItHoldsBack() throws {
        try Self.withRestartedShard { service in
            let now = Self.now
            #expect(try Self.gauge("baton_shard_restoring", of: service, now: now) == 1)
            #expect(try Self.gauge("baton_shard_held_back_messages", of: service, now: now) == 0)

            // A submission while jobs are still to come back waits, and is counted.
            _ = try service.received(
                .submit(Submit(jobs: [Self.job(run: 2, "late", moment: 2)])), on: ShardService.submit, from: nil, sender: nil, now: now)
            #expect(try Self.gauge("baton_shard_held_back_messages", of: service, now: now) == 1)

            #expect(try Self.settle(&service) >= 2, "twelve jobs at five a turn take more than one turn")
            #expect(try Self.gauge("baton_shard_restoring", of: service, now: now) == 0)
            #expect(try Self.gauge("baton_shard_held_back_messages", of: service, now: now) == 0)
            #expect(service.core.knows(JobIdentity(run: 2, job: "late", generation: 0)))
        }
    }

    @Test func aShardHoldingAsMuchAsItMayLetsSubmissionsGoAndAnswersQuestions503ButKeepsControls() throws {
        try Self.withRestartedShard(heldBackLimit: 1) { service in
            let now = Self.now
            for name in ["kept", "let-go"] {
                _ = try service.received(.submit(Submit(jobs: [Self.job(run: 2, name, moment: 2)])), on: ShardService.submit, from: nil, sender: nil, now: now)
            }
            // A control is never let go: its sender might not send it again soon.
            let orchestrator = Peer([9])
            _ = try service.received(.control(Control(request: 5, action: .pauseRun, run: 2)), on: ShardService.work, from: orchestrator, sender: nil, now: now)
            #expect(try Self.gauge("baton_shard_held_back_messages", of: service, now: now) == 2)
            #expect(try Self.gauge("baton_shard_held_back_refused_total", of: service, now: now) == 1)

            // Every job back, the held messages not yet taken: a question now is answered 503 at the turn's end.
            while service.restoring != nil { _ = try service.endTurn(now: now) }
            #expect(service.hasWork)
            let asker = Peer([1, 2, 3])
            _ = try service.received(.shardQuery(ShardQuery(request: 7, shard: 1, kind: "queue")), on: ShardService.work, from: asker, sender: nil, now: now)
            let answers = try service.endTurn(now: now).actions.compactMap { action -> (Peer?, ShardAnswer)? in
                guard case .send(.shardAnswer(let answer), _, let peer) = action else { return nil }
                return (peer, answer)
            }
            #expect(answers.map { [$0.0 == asker ? 1 : 0, Int($0.1.request), Int($0.1.status.rawValue)] } == [[1, 7, 503]])

            _ = try Self.settle(&service)
            #expect(service.core.knows(JobIdentity(run: 2, job: "kept", generation: 0)))
            #expect(!service.core.knows(JobIdentity(run: 2, job: "let-go", generation: 0)))
            #expect(service.core.pausedRuns.contains(2))
            // Sent again, as the orchestrator does, it is taken.
            _ = try service.received(.submit(Submit(jobs: [Self.job(run: 2, "let-go", moment: 2)])), on: ShardService.submit, from: nil, sender: nil, now: now)
            #expect(service.core.knows(JobIdentity(run: 2, job: "let-go", generation: 0)))
        }
    }
}
