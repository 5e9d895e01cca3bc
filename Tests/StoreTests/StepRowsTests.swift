import Core
import Foundation
@testable import Store
import Testing
import Wire

/// The tasks of a step that completes are written with their ends, results and all: through a real core
/// and a real store file, restarted in the next step.
@Suite struct StepRowsTests {
    typealias Shard = LeaseLogTests.Shard
    let start = Timestamp(milliseconds: 1_000_000)
    let worker = Peer([1])

    /// Found by a new user's `baton logs --follow`, which waited for ever: the task whose success completed
    /// a step left memory with the step before the turn's rows were gathered, so its row kept it running,
    /// without its result. A restart in the next step then gave its tasks every result but that one.
    @Test func theTaskThatCompletesAStepIsWrittenWithItsResult() throws {
        try withTemporaryDirectory { folder in
            let path = "\(folder)/shard.db"
            let spec = JobSpec(
                run: 9, job: "etl", generation: 0, product: "payments", flow: "eod", moment: 7, priority: 0, type: "t",
                tags: [], retries: 0, backoff: 1000, timeout: 0, params: [:],
                steps: [
                    StepSpec(name: "extract", kind: .command, action: "true", partitions: 2),
                    StepSpec(name: "load", kind: .command, action: "true"),
                ])
            let ready = Message.ready(Ready(worker: "w1", session: 1, slots: 2, heartbeat: 1000, commands: 1, tags: [], handlers: [], held: []))
            do {
                var shard = try Shard(path: path, now: start)
                defer { shard.close() }
                // Both partitions handed out together; each succeeds in a turn of its own.
                let extract = shard.tasks(in: try shard.takeAndLease(spec, to: worker, with: ready))
                #expect(extract.map(\.partition) == [0, 1])
                var ended = ShardTurn()
                for task in extract {
                    let data = Array("r\(task.partition)".utf8)
                    let result = TaskResult(task: task.task, attempt: task.attempt, outcome: .succeeded, started: 0, duration: 1, data: data)
                    ended = try shard.send(.results(Results(results: [result])), from: worker)
                }
                #expect(ended.jobs.map(\.step) == [1], "the job is at its second step")
                let rows = try shard.store.database.prepare("SELECT partition, state, data FROM tasks WHERE step = 0 ORDER BY partition")
                defer { rows.reset() }
                var written: [String] = []
                while try rows.step() {
                    written.append("\(rows.int(0)) \(TaskState(rawValue: UInt8(rows.int(1)))!) \(String(decoding: rows.blob(2), as: UTF8.self))")
                }
                #expect(written == ["0 succeeded r0", "1 succeeded r1"])
            }
            // Restarted in the second step: its task receives both results.
            let shard = try Shard(path: path, now: start.adding(milliseconds: 10))
            defer { shard.close() }
            let job = try #require(shard.core.jobs.values.first)
            #expect(job.step == 1)
            #expect(job.previous.map { "\($0.partition) \(String(decoding: $0.data, as: UTF8.self))" } == ["0 r0", "1 r1"])
        }
    }
}
