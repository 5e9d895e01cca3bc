import Core
import Foundation
@testable import Runtime
@testable import Store
import Testing
import Wire

/// A publisher's answer to FETCH: the logged messages after the subscriber's, bounded in count and in
/// octets, then FETCHED saying whether more remain.
@Suite struct EventLogReplayTests {
    static let now = Timestamp(milliseconds: 1_000_000)

    /// A shard's store in a fresh folder, whose log holds messages 1... of the given sizes.
    static func store(sizes: [Int], in directory: String) throws -> ShardStore {
        let store = try ShardStore(path: "\(directory)/shard.db")
        try store.database.transaction {
            for (index, size) in sizes.enumerated() {
                try store.log.append(sequence: UInt64(index + 1), epoch: 1, time: now, frame: [UInt8](repeating: UInt8(truncatingIfNeeded: index + 1), count: size))
            }
        }
        return store
    }

    static func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-replay-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    /// The frames of an answer, and its FETCHED.
    static func split(_ actions: [LoopAction]) -> (frames: [[UInt8]], fetched: Fetched?) {
        var frames: [[UInt8]] = []
        var fetched: Fetched?
        for action in actions {
            switch action {
            case .frame(let frame, _, _): frames.append(frame)
            case .send(.fetched(let answer), _, _): fetched = answer
            default: Issue.record("an answer to FETCH sends frames, then FETCHED: \(action)")
            }
        }
        return (frames, fetched)
    }

    @Test func anAnswerStopsAtItsOctetsAndSaysMoreRemain() throws {
        try Self.withDirectory { directory in
            let store = try Self.store(sizes: [400, 400, 400, 900, 100], in: directory)
            defer { store.database.close() }
            let peer = Peer([7])
            // 1,000 octets: the first two (800) and not the third (1,200).
            var answer = Self.split(try EventLogReplay.answer(Fetch(after: 0, limit: 1000), to: peer, on: 0, log: store.log, epoch: 1, budget: 1000))
            #expect(answer.frames.map(\.first) == [1, 2])
            #expect(answer.fetched?.status == .partial && answer.fetched?.sequence == 5)
            // Fetched again from there: the fourth alone is more than the budget, yet goes, alone.
            answer = Self.split(try EventLogReplay.answer(Fetch(after: 3, limit: 1000), to: peer, on: 0, log: store.log, epoch: 1, budget: 500))
            #expect(answer.frames.map(\.count) == [900])
            #expect(answer.fetched?.status == .partial)
            answer = Self.split(try EventLogReplay.answer(Fetch(after: 4, limit: 1000), to: peer, on: 0, log: store.log, epoch: 1, budget: 500))
            #expect(answer.frames.map(\.first) == [5])
            #expect(answer.fetched?.status == .ok)
            // Without a small budget, all five, as logged.
            answer = Self.split(try EventLogReplay.answer(Fetch(after: 0, limit: 1000), to: peer, on: 0, log: store.log, epoch: 1))
            #expect(answer.frames == (1...5).map { [UInt8](repeating: UInt8($0), count: [400, 400, 400, 900, 100][$0 - 1]) })
            #expect(answer.fetched?.status == .ok)
        }
    }

    @Test func anAnswerHoldsAtMostItsLimitAndAThousand() throws {
        try Self.withDirectory { directory in
            let store = try Self.store(sizes: Array(repeating: 8, count: 1005), in: directory)
            defer { store.database.close() }
            var answer = Self.split(try EventLogReplay.answer(Fetch(after: 0, limit: 5000), to: Peer([7]), on: 0, log: store.log, epoch: 1))
            #expect(answer.frames.count == 1000 && answer.fetched?.status == .partial)
            answer = Self.split(try EventLogReplay.answer(Fetch(after: 1000, limit: 0), to: Peer([7]), on: 0, log: store.log, epoch: 1))
            #expect(answer.frames.count == 1 && answer.fetched?.status == .partial, "a limit of 0 counts as 1")
            answer = Self.split(try EventLogReplay.answer(Fetch(after: 1001, limit: 10), to: Peer([7]), on: 0, log: store.log, epoch: 1))
            #expect(answer.frames.count == 4 && answer.fetched?.status == .ok)
        }
    }
}
