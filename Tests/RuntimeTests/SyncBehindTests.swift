import Core
import Foundation
import Glibc
@testable import Runtime
import Store
import Synchronization
import Testing
import Wire
import ZeroMQ

/// Under `durability full` a service's commits do not wait for the disk: its loop syncs the store's log
/// on a thread of its own (``LogSync``), and what a turn produced may leave only once a sync begun after
/// that turn's commit is done. Commit then tell, with the telling behind a group commit.
@Suite struct SyncBehindTests {
    /// What the loop's thread committed, and what the syncs covered: each sync notes, as it starts, how
    /// many messages had been committed, and when it is done, that they are covered.
    final class Witness: Sendable {
        let committed = Atomic<Int>(0)
        let covered = Atomic<Int>(0)
        let syncs = Atomic<Int>(0)

        func sync() -> String? {
            let committed = committed.load(ordering: .acquiring)
            // A thread switch here lets the loop commit more turns, which this sync does not cover.
            sched_yield()
            syncs.add(1, ordering: .relaxed)
            covered.store(committed, ordering: .releasing)
            return nil
        }
    }

    /// Writes a row for every message it reads, commits each turn, and answers every message on its
    /// PUSH socket once the turn is committed.
    struct Echo: Service {
        let name = "echo"
        let input: String
        let output: String
        let database: Database
        let witness: Witness
        var read = 0

        var sockets: [SocketPlan] { [.pull("in", binding: [input]), .push("out", to: output)] }
        var turnBudget: Int { 7 }
        func nextDeadline() -> Timestamp { Timestamp(milliseconds: .max / 2) }
        var syncedBehind: Database? { database }

        mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
            read += 1
            return true
        }

        mutating func endTurn(now: Timestamp) throws -> TurnEnd {
            guard read > 0 else { return TurnEnd(committed: false, actions: []) }
            let first = witness.committed.load(ordering: .relaxed) + 1
            let last = first + read - 1
            try database.transaction {
                let insert = try database.prepare("INSERT INTO answered (n) VALUES (?)")
                for n in first...last {
                    insert.bind(1, n)
                    try insert.run()
                }
            }
            witness.committed.store(last, ordering: .releasing)
            let actions = (first...last).map { _ in LoopAction.send(.heartbeat, socket: 1) }
            read = 0
            return TurnEnd(committed: true, actions: actions)
        }
    }

    @Test func nothingOfATurnLeavesBeforeASyncBegunAfterItsCommitIsDone() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-sync-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let database = try Database(path: "\(folder)/echo.db", options: .init(synchronous: .normal))
        try database.execute("CREATE TABLE answered (n INTEGER NOT NULL)")

        let context = try Context()
        let input = "inproc://sync-behind/in"
        let output = "inproc://sync-behind/out"
        let answers = try ZeroMQ.Socket(context, type: .pull)
        let requests = try ZeroMQ.Socket(context, type: .push)
        defer {
            answers.close()
            requests.close()
        }
        try answers.bind(output)
        let witness = Witness()
        let service = Echo(input: input, output: output, database: database, witness: witness)
        nonisolated(unsafe) let unsafeService = service
        let thread = try ServiceThread(name: "echo") { control in
            var loop = ServiceLoop(
                service: unsafeService, context: context, clock: SystemClock(), log: Log(service: "echo"), control: control,
                counters: ServiceCounters())
            loop.logSyncReplacement = { witness.sync() }
            try loop.run()
        }
        try thread.start()
        defer { _ = thread.stop() }
        try requests.connect(input)

        let total = 2_000
        var poller = Poller()
        let item = poller.add(answers)
        var received = 0
        var early = 0
        var sent = 0
        // Bounded: each wait for an answer is at most 10 s, and every request is answered once.
        while received < total {
            while sent < total, sent - received < 50 {
                #expect(try requests.send(Message.heartbeat.encoded(), dontWait: false))
                sent += 1
            }
            guard try poller.poll(timeoutMilliseconds: 10_000) > 0, poller.ready(item).contains(.readable) else { break }
            while try answers.receive(dontWait: true) != nil {
                received += 1
                // The answer to the n-th message is out: a sync that began after its commit is done.
                if witness.covered.load(ordering: .acquiring) < received { early += 1 }
            }
        }
        #expect(received == total)
        #expect(early == 0, "\(early) answers left before a sync covered their commit")
        // The loop's thread ended (with no error), the store is this thread's to read.
        #expect(thread.stop().map { "\($0)" } == nil)
        let count = try database.prepare("SELECT count(*) FROM answered")
        #expect(try count.step() && count.int64(0) == Int64(total))
        count.reset()
        // One sync covers every commit before it: fewer syncs than turns once the loop runs ahead.
        #expect(witness.syncs.load(ordering: .relaxed) >= 1)
    }

    /// Waits, at most 10 s, for the doorbell the sync thread rings after each sync.
    private func waitForRing(_ doorbell: Doorbell) -> Bool {
        var item = pollfd(fd: doorbell.fileDescriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&item, 1, 10_000) == 1 else { return false }
        doorbell.drain()
        return true
    }

    @Test func aSyncOfTheLogIsCountedAndRingsTheLoop() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-sync-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let log = "\(folder)/store.db-wal"
        #expect(FileManager.default.createFile(atPath: log, contents: Array("frames".utf8).withUnsafeBytes { Data($0) }))
        let doorbell = try Doorbell()
        let sync = LogSync(path: log, doorbell: doorbell)
        defer { sync.stop() }
        let first = sync.request()
        #expect(waitForRing(doorbell))
        #expect(sync.synced >= first && sync.failure == nil)
        let second = sync.request()
        #expect(second == first + 1 && waitForRing(doorbell) && sync.synced >= second)
    }

    @Test func aLogThatCannotBeSyncedIsAFailureAndNothingCountsAsSynced() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-sync-\(UUID().uuidString)").path
        // A folder where the log should be: it cannot be opened for writing.
        try FileManager.default.createDirectory(atPath: "\(folder)/store.db-wal", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let doorbell = try Doorbell()
        let sync = LogSync(path: "\(folder)/store.db-wal", doorbell: doorbell)
        defer { sync.stop() }
        _ = sync.request()
        #expect(waitForRing(doorbell))
        #expect(sync.synced == 0)
        #expect(sync.failure?.contains("cannot open \(folder)/store.db-wal") == true, "\(sync.failure ?? "no failure")")
    }
}
