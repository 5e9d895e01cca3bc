import Core
import Foundation
@testable import Runtime
import Synchronization
import Testing
import Wire
import ZeroMQ

/// The loop every service runs, driven with a service that only records what it reads.
@Suite struct ServiceLoopTests {
    /// What the service read, turn by turn: the socket of each message.
    final class Recorder: Sendable {
        let turns = Mutex<[[Int]]>([])
        let done = DispatchSemaphore(value: 0)
        let expected: Int

        init(expected: Int) { self.expected = expected }

        func record(_ turn: [Int]) {
            let total = turns.withLock { turns in
                turns.append(turn)
                return turns.reduce(0) { $0 + $1.count }
            }
            if total == expected { done.signal() }
        }
    }

    /// Pulls from each of its endpoints, a hundred messages a turn.
    struct Recording: Service {
        let name = "recording"
        let endpoints: [String]
        let recorder: Recorder
        var current: [Int] = []

        var sockets: [SocketPlan] { endpoints.enumerated().map { .pull("in\($0.offset)", binding: [$0.element]) } }
        var turnBudget: Int { 100 }
        func nextDeadline() -> Timestamp { Timestamp(milliseconds: .max / 2) }

        mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
            current.append(socket)
            return true
        }

        mutating func endTurn(now: Timestamp) throws -> TurnEnd {
            if !current.isEmpty { recorder.record(current) }
            current = []
            return TurnEnd(committed: false, actions: [])
        }
    }

    /// A shard's submissions flooding in must not hold up its workers' messages until the flood is read:
    /// each turn takes a message from every socket that has one before a second from any.
    @Test func aFloodOnOneSocketDoesNotHoldUpAnotherForTheWholeTurn() throws {
        let context = try Context()
        let endpoints = ["inproc://loop-test/flood", "inproc://loop-test/quiet"]
        let flood = try ZeroMQ.Socket(context, type: .push)
        let quiet = try ZeroMQ.Socket(context, type: .push)
        defer {
            flood.close()
            quiet.close()
        }
        try flood.connect(endpoints[0])
        try quiet.connect(endpoints[1])
        let frame = Message.heartbeat.encoded()
        for _ in 0..<500 { #expect(try flood.send(frame, dontWait: true)) }
        #expect(try quiet.send(frame, dontWait: true))

        let recorder = Recorder(expected: 501)
        let service = Recording(endpoints: endpoints, recorder: recorder)
        let thread = try ServiceThread(name: "recording") { control in
            var loop = ServiceLoop(
                service: service, context: context, clock: SystemClock(), log: Log(service: "recording"), control: control,
                counters: ServiceCounters())
            try loop.run()
        }
        try thread.start()
        defer { _ = thread.stop() }
        #expect(recorder.done.wait(timeout: .now() + 30) == .success)

        let turns = recorder.turns.withLock { $0 }
        // Five hundred from the flood took at least five turns of a hundred; the quiet socket's one
        // message was read in the first of them.
        #expect(turns.count >= 5 && turns.allSatisfy { $0.count <= 100 })
        #expect(turns.first?.contains(1) == true, "\(turns.map { $0.filter { $0 == 1 }.count })")
    }
}
