import Core
import Foundation
import Store
import Wire

/// The whole cluster in one thread and in virtual time, after FoundationDB's simulator: management,
/// the orchestrator, shards, workers, timers and an operator, each service driven through the same
/// ``Service`` calls its ``ServiceLoop`` makes (messages in, the turn ended and committed to its real
/// SQLite store, then its sends), over a simulated network that behaves as ZeroMQ does, with faults
/// drawn from one seed: delays, drops of a slow subscriber, partitions, crashes at any point of a turn,
/// full or failing disks, clocks that jump. Invariants are checked as it goes and at the end. The same seed gives
/// the same run, event for event (with `SWIFT_DETERMINISTIC_HASHING=1`, as `baton simulate` sets).
/// `docs/testing.md` describes it.
public final class Simulation {
    public struct Options: Sendable {
        public var seed: UInt64
        /// A folder of its own for the stores; emptied first.
        public var folder: String
        public var shards = 3
        public var workers = 3
        public var timers = 2
        /// Virtual time with faults and the operator's load, then the time given to heal, in milliseconds.
        public var duration: Int64 = 8 * 60_000
        public var heal: Int64 = 4 * 60_000
        /// Whether faults are drawn at all (without, a run checks the happy path).
        public var faults = true
        /// Whether power losses are drawn, as under `durability normal`, where they lose a store's last
        /// commits (under `full` a power loss is a crash, which is drawn anyway).
        public var powerLoss = false
        /// A fault planted on purpose, to show that the invariants catch it.
        public var planted: PlantedFault?
        /// A process whose every message, sent and taken, goes in the trace (for reading a failure).
        public var watch: String?

        public init(seed: UInt64, folder: String) {
            self.seed = seed
            self.folder = folder
        }
    }

    /// A defect planted in what the simulator observes, for the tests that show each invariant can fail.
    public enum PlantedFault: String, Sendable, CaseIterable {
        /// The orchestrator's first SUBMIT of a job with predecessors goes out as if they had succeeded.
        case releaseEarly = "release-early"
        /// A shard hands out again a task that succeeded.
        case leaseAfterSuccess = "lease-after-success"
        /// A shard counts a task's success twice.
        case succeedTwice = "succeed-twice"
        /// A run is left unfinished: the operator's last resume is never sent.
        case strandRun = "strand-run"
        /// Once faults stop, the orchestrator publishes a run's end without it: management's view falls
        /// behind for good.
        case loseRunEnd = "lose-run-end"
        /// A shard publishes a frame an octet short.
        case garble
        /// Every firing of one instant of the scheduled flow is lost, from either timer.
        case skipFiring = "skip-firing"
        /// A shard hands a task's current attempt to a second worker.
        case doubleLease = "double-lease"
        /// Management starts a run with an entry moment before the previous run's.
        case momentBack = "moment-back"
        /// The orchestrator answers an operation request asked again with another answer.
        case answerTwice = "answer-twice"
        /// A forged result for a task arrives on the connection of the worker that holds its lease, as
        /// a shard that took results from anyone would accept them.
        case forgeAsHolder = "forge-as-holder"
        /// Shards get every product's policy without its weight, as an orchestrator that dropped the field
        /// would send it: backlogged products then share their shard equally, whatever their weights.
        case dropWeights = "drop-weights"
        /// Management starts a run on the shard its product left, after answering the move.
        case ignoreMove = "ignore-move"
        /// Once faults stop, timer-1 says after every turn that it has more work, as a service whose loop
        /// never settles would.
        case busyLoop = "busy-loop"
        /// At the end, a page of management's store is overwritten on disk, as a failing disk would.
        case damageStore = "damage-store"
        /// The orchestrator releases a job it has released again, as a new generation no operator asked
        /// for, as a core that released a successor twice would.
        case releaseTwice = "release-twice"
        /// A shard hands out a task of a run it has handed over to a move.
        case leaseAfterHandOver = "lease-after-hand-over"
        /// A shard's store loses a commit it acknowledged, one that recorded successes, as a disk that
        /// lies about its syncs would under `durability full`.
        case loseCommit = "lose-commit"
    }

    /// What a run of the simulator found.
    public struct Report: Sendable {
        public var seed: UInt64
        /// The broken invariant, in a sentence; nil if none was.
        public var violation: String?
        /// The last lines of the trace, the newest last.
        public var trace: [String]
        /// A digest of the whole trace: the same seed gives the same digest.
        public var digest: UInt64
        public var virtualMilliseconds: Int64
        public var counts: Counts
    }

    public struct Counts: Sendable, CustomStringConvertible {
        public var turns = 0, crashes = 0, diskFailures = 0, partitions = 0, clockSteps = 0
        public var dropped = 0, lost = 0, forgeries = 0, powerLosses = 0, stalls = 0
        public var runsStarted = 0, runsEnded = 0, tasksSucceeded = 0, operatorActions = 0, firings = 0, handedOver = 0, finishing = 0
        /// Pairs of backlogged products whose shares were checked, and the largest fraction of its bound
        /// any pair's difference reached.
        public var fairPairs = 0
        public var fairWorst = 0.0

        public var description: String {
            "\(runsStarted) runs (\(runsEnded) ended, \(handedOver) handed over by moves, leaving \(finishing) tasks finishing), \(tasksSucceeded) tasks, \(operatorActions) operator actions, \(firings) firings; "
                + "\(turns) turns, \(crashes) crashes, \(powerLosses) power losses, \(stalls) stalls, \(diskFailures) failed disks, \(partitions) partitions, \(clockSteps) clock steps, "
                + "\(forgeries) forged results, \(dropped) messages dropped by PUB or a full queue, \(lost) lost in flight; "
                + "\(fairPairs) backlogged pairs within \(String(format: "%.0f%%", fairWorst * 100)) of their fairness bound at most"
        }
    }

    /// How likely each fault is, at each chance it has.
    struct Faults {
        var active: Bool
        var publisherDrop = 0.01
        var slowMessage = 0.01
        /// Per turn of a process that may crash.
        var crashBeforeCommit = 0.0015
        var crashAfterCommit = 0.0015
        var crashMidSend = 0.0015
        var diskFailure = 0.0005
        var stall = 0.001
    }

    let options: Options
    var queue: EventQueue
    var random: SplitMix64
    /// The clocks' drifts and steps, drawn apart from the rest so that they do not change what else a
    /// seed draws.
    var clocks: SplitMix64
    /// Power losses, drawn apart too.
    var power: SplitMix64
    var faults: Faults
    var processes: [SimulatedProcess] = []
    var sockets: [[SimulatedSocket]] = []
    var bound: [String: SocketAddress] = [:]
    var partitions: [Pair: Int64] = [:]
    var nextPeer = 0
    var counts = Counts()
    var trace = Trace()
    var checker: InvariantChecker
    var workload: Workload!
    var violation: String?
    var plantedOnce = false
    var skippedInstant: Int64?
    /// When the run ends: `--heal` after the faults stop, later while runs still open make progress
    /// (``Workload``'s last listings).
    var healEnd: Int64 = 0

    /// The virtual clock starts just before Europe's clocks change, so that schedules cross it: forward
    /// for even seeds, back for odd ones.
    let start: Int64
    let season: Season

    /// The change of daylight-saving time a seed's virtual time crosses, with a daily schedule in
    /// `Europe/Berlin` whose local time the change skips or repeats, and the instants it must fire at
    /// (worked out by hand from `docs/flows.md`'s rule, not by Baton's calendar code).
    struct Season {
        var start: Int64
        var cron: String
        var firings: [Int64]
        /// The UTC hour whose local times happened before (none in spring): a schedule fires in it no more.
        var repeated: Range<Int64>

        /// 2026-03-29 00:51 UTC, 01:51 in Berlin; at 01:00 UTC the clocks jump from 02:00 to 03:00, so
        /// 02:30, which does not exist that day, fires once at the first instant after the gap.
        static let spring = Season(start: 1_774_745_460_000, cron: "30 2 * * *", firings: [1_774_746_000_000], repeated: 0..<0)  // 01:00:00Z
        /// 2026-10-25 00:52 UTC, 02:52 summer time in Berlin; at 01:00 UTC the clocks go back from 03:00
        /// to 02:00, so each time from 02:00 to 02:59 happens twice and fires only the first time: 02:55
        /// summer time (00:55 UTC) fires, and 02:00 winter time (01:00 UTC) and after do not.
        static let autumn = Season(
            start: 1_792_889_520_000, cron: "*/5 2 * * *", firings: [1_792_889_700_000],  // 00:55:00Z
            repeated: 1_792_890_000_000..<1_792_893_600_000)  // 01:00Z to 02:00Z
    }

    public init(_ options: Options) {
        self.options = options
        season = options.seed % 2 == 0 ? .spring : .autumn
        start = season.start
        trace.start = start
        queue = EventQueue(start: start)
        random = SplitMix64(seed: options.seed)
        clocks = SplitMix64(seed: options.seed ^ 0x5eed_c10c_5eed_c10c)
        power = SplitMix64(seed: options.seed ^ 0x5eed_0ff0_5eed_0ff0)
        faults = Faults(active: options.faults)
        checker = InvariantChecker(planted: options.planted)
        trace.folder = options.folder
        if options.watch != nil { trace.shown = 1_000_000 }
    }

    /// Runs the simulation to its end and checks the invariants; the report says what broke, if anything.
    public func run() throws -> Report {
        try? FileManager.default.removeItem(atPath: options.folder)
        try FileManager.default.createDirectory(atPath: options.folder, withIntermediateDirectories: true)
        defer { for process in processes where process.up { process.close() } }
        build()
        if faults.active {
            // Clocks that run up to 0.05% fast or slow: 30 ms in a minute.
            for process in processes { process.drift = Int64(clocks.next() % 1001) - 500 }
        }
        for index in processes.indices { try start(index) }
        workload = Workload(simulation: self)
        workload.begin()
        scheduleFaults()
        let end = start + options.duration
        queue.at(end) { [self] in
            faults.active = false
            trace.add(queue.now, "faults stop; the operator resumes and releases everything")
            for index in processes.indices where !processes[index].up { try restart(index) }
            workload.settle()
        }
        healEnd = end + options.heal
        // A livelock: processes busy with each other while virtual time stands still.
        var instant = queue.now
        var events = 0
        while violation == nil, let event = queue.next(until: healEnd) {
            if queue.now == instant {
                events += 1
                if events == 200_000 { violated("200,000 events at one virtual instant: processes keep each other busy while time stands still") }
            } else {
                (instant, events) = (queue.now, 0)
            }
            try event()
        }
        if options.planted == .damageStore { damageStore() }
        if violation == nil { violation = workload.finalCheck() ?? checker.finalCheck(processes: processes) ?? checker.fairness.finalCheck() }
        (counts.fairPairs, counts.fairWorst) = (checker.fairness.pairs, checker.fairness.worst)
        if let violation { trace.add(queue.now, "VIOLATION: \(violation)") }
        return Report(
            seed: options.seed, violation: violation, trace: trace.tail, digest: trace.digest, virtualMilliseconds: queue.now - start,
            counts: counts)
    }

    /// Records a broken invariant; the run stops at the end of the current event.
    func violated(_ what: String) {
        if violation == nil { violation = what }
    }

    func chance(_ probability: Double) -> Bool {
        Double(random.next() >> 11) / Double(1 << 53) < probability
    }

    func pick(_ range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(random.next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    // MARK: Faults

    /// What a forged result says, in its output, error and data: no shard may keep it.
    static let forged = "forged"

    /// Partitions, clock steps and forged results, drawn as time goes.
    private func scheduleFaults() {
        guard faults.active else { return }
        queue.at(queue.now + pick(2_000...15_000)) { [self] in
            guard faults.active else { return }
            forgeResult()
        }
        if options.powerLoss && power.next() % 8 == 0 {
            queue.at(queue.now + Int64(power.next() % 60_000)) { [self] in losePower() }
        }
        queue.at(queue.now + pick(5_000...40_000)) { [self] in
            guard faults.active else { return }
            let a = Int(random.next() % UInt64(processes.count))
            let b = Int(random.next() % UInt64(processes.count))
            if a != b && processes[a].kind != .client && processes[b].kind != .client {
                // Most are short, as a switch or a route flaps; one in ten lasts up to a minute and a half.
                let length = chance(0.1) ? pick(15_000...90_000) : pick(200...15_000)
                counts.partitions += 1
                trace.add(queue.now, "partition \(processes[a].name) | \(processes[b].name) for \(length) ms")
                partition(a, b, until: queue.now + length)
            }
            scheduleFaults()
        }
        queue.at(queue.now + pick(20_000...90_000)) { [self] in
            guard faults.active else { return }
            let process = Int(random.next() % UInt64(processes.count))
            let jump = pick(100...5_000)
            // A third of the steps go back, as an NTP step does when a clock ran fast.
            let back = clocks.next() % 3 == 0
            processes[process].skew += back ? -jump : jump
            counts.clockSteps += 1
            trace.add(queue.now, "\(processes[process].name)'s clock steps \(jump) ms \(back ? "back" : "forward")")
        }
    }

    /// A worker sends a result for a task whose lease another worker holds, with its attempt (as an
    /// attacker holding a worker's key could): the shard must refuse it. With `forge-as-holder` it comes
    /// on the holder's own connection, which a shard cannot tell from the holder.
    private func forgeResult() {
        guard let (shard, spec, holder) = checker.leased(&random) else { return }
        let workers = processes.indices.filter {
            guard case .worker = processes[$0].kind, processes[$0].up else { return false }
            return options.planted == .forgeAsHolder ? processes[$0].name == holder : processes[$0].name != holder
        }
        guard !workers.isEmpty else { return }
        let forger = workers[Int(random.next() % UInt64(workers.count))]
        let address = SocketAddress(process: forger, socket: Int(shard) - 1)
        // Over a connection up now, not queued for one to come: the task may be another by then.
        guard sockets[forger].indices.contains(address.socket), sockets[forger][address.socket].links.first?.connection?.alive == true else { return }
        let succeeded = chance(0.5)
        let result = TaskResult(
            task: spec.task, attempt: spec.attempt, outcome: succeeded ? .succeeded : .failed, exitCode: succeeded ? 0 : 1, started: 0,
            duration: 0, output: Self.forged, log: "", error: Self.forged, data: Array(Self.forged.utf8))
        counts.forgeries += 1
        trace.add(
            queue.now,
            "\(processes[forger].name) forges a result for task \(spec.task) (attempt \(spec.attempt)) of shard-\(shard), held by \(holder)")
        _ = send(Message.results(Results(results: [result])).encoded(), from: address, to: nil)
    }

    /// A power loss under `durability normal`: a process with a store stops, and its store keeps what
    /// its last checkpoint synced, up to a second before, not what it committed since (SQLite's WAL
    /// keeps a prefix of its commits whole). What its messages told others of those commits, it forgot.
    private func losePower() {
        guard faults.active else { return }
        let candidates = processes.indices.filter { processes[$0].hasStore && processes[$0].up && !processes[$0].diskFailing }
        guard !candidates.isEmpty else { return }
        let index = candidates[Int(power.next() % UInt64(candidates.count))]
        let process = processes[index]
        let synced = "\(options.folder)/\(process.name).synced"
        do {
            try process.database?.execute("VACUUM INTO '\(synced)'")
        } catch {
            return
        }
        let lag = Int64(power.next() % 1_000) + 1
        let incarnation = process.incarnation
        queue.at(queue.now + lag) { [self] in
            defer { try? FileManager.default.removeItem(atPath: synced) }
            guard faults.active, processes[index].up, processes[index].incarnation == incarnation else { return }
            counts.powerLosses += 1
            crash(index, "on a power loss, its store back to \(lag) ms before")
            putBack(synced, as: index)
            checker.powerLost()
        }
    }

    /// Replaces the store of a process that crashed with a copy made before (`VACUUM INTO`).
    func putBack(_ copy: String, as index: Int) {
        let path = "\(options.folder)/\(processes[index].name).db"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        do {
            try FileManager.default.moveItem(atPath: copy, toPath: path)
        } catch {
            violated("the simulator could not put back \(processes[index].name)'s store: \(error)")
        }
    }

    // MARK: Processes

    /// Starts a process from its store as committed.
    func start(_ index: Int) throws {
        let process = processes[index]
        process.up = true
        process.incarnation += 1
        process.inbox = []
        process.wakeAt = nil
        process.turnDue = false
        process.busyUntil = 0
        try process.open(now: now(of: index))
        openSockets(of: index, plans: process.service!.sockets)
        trace.add(queue.now, "\(process.name) starts (incarnation \(process.incarnation))")
        turn(index, after: 0)
    }

    /// Restarts a process that crashed.
    func restart(_ index: Int) throws {
        guard !processes[index].up else { return }
        processes[index].disk.failure.store(0, ordering: .relaxed)
        try start(index)
    }

    /// A crash: memory and sockets are gone, the store keeps what was committed; it restarts later.
    func crash(_ index: Int, _ why: String) {
        let process = processes[index]
        guard process.up else { return }
        counts.crashes += 1
        trace.add(queue.now, "\(process.name) crashes \(why)")
        process.up = false
        process.close()
        closeSockets(of: index)
        let incarnation = process.incarnation
        queue.at(queue.now + pick(500...8_000)) { [self] in
            guard !processes[index].up, processes[index].incarnation == incarnation else { return }
            try restart(index)
        }
    }

    /// The time a process reads from its clock: virtual time, plus how far its clock stepped and drifted.
    func now(of index: Int) -> Timestamp {
        Timestamp(milliseconds: queue.now + offset(of: index))
    }

    /// How far a process's clock is from virtual time now.
    func offset(of index: Int) -> Int64 {
        processes[index].skew + (queue.now - start) * processes[index].drift / 1_000_000
    }

    /// A message arrived at a process: it is taken at its next turn.
    func arrived(_ frame: [UInt8], at address: SocketAddress, from peer: Peer?, on connection: SimulatedConnection? = nil, toServer: Bool = true) {
        let process = processes[address.process]
        guard process.up else { return }
        process.inbox.append((address.socket, peer, frame, connection.map { ($0, toServer) }))
        turn(address.process, after: pick(0...1))
    }

    /// Makes sure the process has a turn within `delay`.
    func turn(_ index: Int, after delay: Int64) {
        let process = processes[index]
        guard !process.turnDue else { return }
        process.turnDue = true
        let incarnation = process.incarnation
        queue.at(max(queue.now + delay, process.busyUntil)) { [self] in
            guard processes[index].up, processes[index].incarnation == incarnation else { return }
            do {
                try runTurn(index)
            } catch where processes[index].diskFailing {
                // The service stops on a write that fails, as its loop would, having sent nothing of the turn.
                counts.diskFailures += 1
                let what = processes[index].disk.failure.load(ordering: .relaxed) == SimulatedProcess.Disk.full ? "full" : "failing"
                crash(index, "on a \(what) disk, acknowledging nothing (\(error))")
            }
        }
    }

    /// One turn, as ``ServiceLoop`` runs it: what arrived, then the turn ended (and committed), then its
    /// sends in order; a crash may come before the commit, after it, or half-way through the sends.
    private func runTurn(_ index: Int) throws {
        let process = processes[index]
        process.turnDue = false
        // A process that keeps itself busy: a loop between services, or a service that never settles.
        let second = queue.now / 1000
        if process.turnsSecond.second != second { process.turnsSecond = (second, 0) }
        process.turnsSecond.turns += 1
        if process.turnsSecond.turns == 2_000 { violated("\(process.name) took 2,000 turns in one virtual second: something keeps it busy") }
        let now = self.now(of: index)
        let inbox = process.inbox
        process.inbox = []
        for (socket, peer, frame, pipe) in inbox {
            if let (connection, toServer) = pipe {
                if toServer { connection.queuedToServer -= 1 } else { connection.queuedToClient -= 1 }
            }
            guard let message = try? Message.decode(frame) else {
                violated("\(process.name) received a frame it could not decode")
                return
            }
            observeReceived(message, by: index)
            if try !process.service!.received(message, on: socket, from: peer, sender: nil, now: now) {
                violated("\(process.name) received an unexpected \(message.id.name) on socket \(socket)")
                return
            }
        }
        counts.turns += 1
        let mayCrash = faults.active && process.kind != .client
        if mayCrash && chance(faults.crashBeforeCommit) { return crash(index, "before its commit") }
        if mayCrash && process.hasStore && chance(faults.diskFailure) {
            process.disk.failure.store(chance(0.5) ? SimulatedProcess.Disk.full : SimulatedProcess.Disk.broken, ordering: .relaxed)
        }
        let beforeCommit = copyBeforeCommit(index)
        let end = try process.service!.endTurn(now: now)
        if process.diskFailing && end.committed {
            return violated("\(process.name) went on after its disk failed a write: it acknowledged a turn it could not commit")
        }
        if mayCrash && chance(faults.crashAfterCommit) { return crash(index, "after its commit, before sending") }
        let stopAt = mayCrash && chance(faults.crashMidSend) ? Int(random.next() % UInt64(max(1, end.actions.count))) : nil
        var pending = end.actions
        var sent = 0
        while !pending.isEmpty {
            var lost: [(Peer, Int)] = []
            for action in pending {
                if let stopAt, sent == stopAt { return crash(index, "half-way through its sends (\(sent) of \(end.actions.count))") }
                sent += 1
                switch action {
                case .send(let sent, let socket, let peer):
                    let from = SocketAddress(process: index, socket: socket)
                    let to = destination(from, peer)
                    guard let message = plant(sent, by: index, to: to) else { continue }
                    observeSent(message, by: index, to: to)
                    if !send(encode(message, by: index), from: from, to: peer) { lost.append((peer!, socket)) }
                case .frame(var frame, let socket, let peer):
                    // A frame encoded before (an event log's): a planted defect changes it as it would a message.
                    let from = SocketAddress(process: index, socket: socket)
                    if let message = try? Message.decode(frame) {
                        let to = destination(from, peer)
                        guard let planted = plant(message, by: index, to: to) else { continue }
                        observeSent(planted, by: index, to: to)
                        if options.planted != nil { frame = encode(planted, by: index) }
                    }
                    if !send(frame, from: from, to: peer) { lost.append((peer!, socket)) }
                case .reopen(let socket):
                    reopen(SocketAddress(process: index, socket: socket))
                }
                if violation != nil { return }
            }
            pending = []
            for (peer, socket) in lost { pending += try process.service!.peerLost(peer, on: socket, now: now) }
        }
        if let beforeCommit {
            if checker.lastCommitSucceeded > 0 { return loseCommit(index, keeping: beforeCommit) }
            try? FileManager.default.removeItem(atPath: beforeCommit)
        }
        try process.service!.afterTurn(now: now)
        if case .worker = process.kind { runAttempts(of: index) }
        if mayCrash && chance(faults.stall) {
            // A slow process: a long fsync, a page-in, a paused machine. What arrives meanwhile waits.
            let stall = pick(500...6_000)
            process.busyUntil = queue.now + stall
            counts.stalls += 1
            trace.add(queue.now, "\(process.name) stalls for \(stall) ms")
        }
        if process.service!.hasWork { return turn(index, after: 1) }
        if options.planted == .busyLoop, !faults.active, process.kind == .timer(1) {
            if !plantedOnce { trace.add(queue.now, "planted: timer-1 has more work after every turn") }
            plantedOnce = true
            return turn(index, after: 0)
        }
        let deadline = process.service!.nextDeadline().milliseconds - offset(of: index)
        if deadline < queue.now + 3_600_000 { wake(index, at: max(deadline, queue.now + 1)) }
    }

    /// A turn when the process's next deadline comes, unless one comes first.
    private func wake(_ index: Int, at time: Int64) {
        let process = processes[index]
        if let planned = process.wakeAt, planned <= time, planned > queue.now { return }
        process.wakeAt = time
        let incarnation = process.incarnation
        queue.at(time) { [self] in
            guard processes[index].up, processes[index].incarnation == incarnation, processes[index].wakeAt == time else { return }
            processes[index].wakeAt = nil
            turn(index, after: 0)
        }
    }

    // MARK: Observation

    private func observeSent(_ message: Message, by index: Int, to destination: Int?) {
        checker.sent(message, by: processes[index], to: destination.map { processes[$0] }, simulation: self)
        if options.watch == processes[index].name { trace.add(queue.now, "\(processes[index].name) sends \(Self.brief(message))") }
    }

    private func observeReceived(_ message: Message, by index: Int) {
        checker.received(message, by: processes[index], simulation: self)
        if options.watch == processes[index].name { trace.add(queue.now, "\(processes[index].name) takes \(Self.brief(message))") }
    }

    /// A message in a line.
    static func brief(_ message: Message) -> String {
        String(String(describing: message).prefix(300))
    }
}

/// What happened, a line an event that matters (not every message), the newest kept and all digested.
struct Trace {
    /// The simulation's folder, written as `DATA` so that the trace does not depend on where it ran.
    var folder = ""
    /// When virtual time started: lines give the seconds since.
    var start: Int64 = 0
    private(set) var lines: [String] = []
    private(set) var digest: UInt64 = 0xcbf2_9ce4_8422_2325

    /// How many of the last lines a report shows: all of them while a process is watched.
    var shown = 60

    var tail: [String] { Array(lines.suffix(shown)) }

    mutating func add(_ time: Int64, _ line: String) {
        let text = String(format: "%9.3f ", Double(time - start) / 1000)
            + (folder.isEmpty ? line : line.replacingOccurrences(of: folder, with: "DATA"))
        for byte in text.utf8 {
            digest ^= UInt64(byte)
            digest = digest &* 0x100_0000_01b3
        }
        lines.append(text)
        if lines.count > max(400, shown * 2) { lines.removeFirst(lines.count / 2) }
    }
}
