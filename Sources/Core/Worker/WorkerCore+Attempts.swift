public import Wire

/// The attempts a worker runs: tasks accepted from shards (alone, or as a claimed set), their timeouts,
/// stopping and killing them, and their results, held until a RECEIPT confirms them.
extension WorkerCore {
    /// One attempt, named by the link it came from and its task and attempt number. Task IDs are
    /// assigned by each shard on its own, so two shards' tasks may share an ID: the link tells them apart.
    public struct AttemptID: Hashable, Sendable, CustomStringConvertible {
        public var link: Int
        public var ref: TaskRef

        public init(link: Int, ref: TaskRef) {
            self.link = link
            self.ref = ref
        }

        public var description: String { "\(link)/\(ref.task).\(ref.attempt)" }

        /// One word to hash, not three: a worker looks its attempts up half a dozen times each, and each
        /// word fed to the hasher costs a round of it. Task IDs are the shard's own and differ in their
        /// low bits, the link and the attempt number are small, so the word keeps what tells attempts
        /// apart; equality still compares all three.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(ref.task ^ UInt64(truncatingIfNeeded: link) << 48 ^ UInt64(ref.attempt) << 32)
        }
    }

    /// An attempt the worker runs.
    ///
    /// It keeps of its task only what the core reads again, not the whole spec: the spec goes to the
    /// runtime that starts the attempt, and a copy of it kept here cost a retain and a release of each
    /// of its strings per attempt.
    public struct Running: Equatable, Sendable {
        public var link: Int
        /// Whether the task is a command or a handler.
        public var kind: ActionKind
        /// The task's timeout, in milliseconds; 0 for none.
        public var timeout: UInt32
        public var started: Timestamp
        /// When the attempt's timeout runs out.
        public var deadline: Timestamp?
        /// Why the attempt is being stopped, and when it will be killed.
        public var stopping: Stopping?
        /// The claimed set it runs in, as its shard numbered it; 0 if it runs on its own.
        public var set: UInt64 = 0
        /// The worker's own number for that set, unique in this worker's process: set IDs are the shard's,
        /// and the protocol asks a worker not to rely on their uniqueness (tasks of two shards may share
        /// one); 0 if the attempt runs on its own.
        public var localSet: UInt64 = 0
    }

    /// A claimed set running.
    struct OpenSet: Sendable {
        var link: Int
        /// How many of its attempts still run.
        var remaining: Int
        /// How many of those are stopping.
        var stopping = 0
        /// Whether it is a command batch, one process for all its attempts (otherwise a handler's set).
        var isBatch: Bool
        /// For a command batch whose attempts are all stopping: when its process group gets SIGKILL.
        var killAt: Timestamp?
    }

    /// Why an attempt is being stopped.
    public struct Stopping: Equatable, Sendable {
        public var outcome: Outcome
        public var killAt: Timestamp
        public var reason: String
    }

    /// A finished attempt's result, waiting for its RECEIPT.
    public struct Held: Equatable, Sendable {
        public var link: Int
        public var result: TaskResult
    }

    // MARK: - Accepting tasks

    /// Takes a claimed set: one credit, one slot, and one effect that starts all of its new tasks together.
    /// A command batch runs as one command line with one environment, so a task of it that is not of the
    /// first task's run, job and step, or not the same command, is rejected.
    mutating func acceptSet(_ tasks: Tasks, on index: Int, now: Timestamp) {
        links[index].credit = max(0, links[index].credit - 1)
        guard let first = tasks.tasks.first else { return }
        let isBatch = first.kind == .command
        lastLocalSet += 1
        var started: [TaskSpec] = []
        for spec in tasks.tasks {
            if isBatch && !Self.sameBatch(spec, first) {
                let attempt = AttemptID(link: index, ref: spec.ref)
                guard running[attempt] == nil, unreceipted[attempt] == nil else { continue }
                let reason = "a command batch holds tasks of one run, job and step: this task is not of the first task's"
                finish(TaskResult(task: spec.task, attempt: spec.attempt, outcome: .rejected, started: now.wire, duration: 0, error: reason), link: index)
                continue
            }
            guard admit(spec, on: index, now: now) else { continue }
            let deadline = spec.timeout > 0 ? now.adding(milliseconds: Int64(spec.timeout)) : nil
            running[AttemptID(link: index, ref: spec.ref)] = Running(
                link: index, kind: spec.kind, timeout: spec.timeout, started: now, deadline: deadline, set: tasks.set,
                localSet: lastLocalSet)
            started.append(spec)
        }
        guard !started.isEmpty else { return }
        openSets[lastLocalSet] = OpenSet(link: index, remaining: started.count, isBatch: isBatch)
        effects.append(.startSet(link: index, set: tasks.set, started))
    }

    /// Whether two tasks can run in one command batch: commands of one run, job, generation and step, with
    /// one command line, parameters, entry moment and timeout.
    private static func sameBatch(_ spec: TaskSpec, _ first: TaskSpec) -> Bool {
        spec.kind == .command && spec.run == first.run && spec.job == first.job && spec.generation == first.generation
            && spec.step == first.step && spec.action == first.action && spec.params == first.params
            && spec.moment == first.moment && spec.timeout == first.timeout
    }

    /// Takes the spec it is given (`consuming`), to hand it on in the start effect without a copy.
    mutating func accept(_ spec: consuming TaskSpec, on index: Int, now: Timestamp) {
        links[index].credit = max(0, links[index].credit - 1)
        guard admit(spec, on: index, now: now) else { return }
        let attempt = AttemptID(link: index, ref: spec.ref)
        let deadline = spec.timeout > 0 ? now.adding(milliseconds: Int64(spec.timeout)) : nil
        running[attempt] = Running(link: index, kind: spec.kind, timeout: spec.timeout, started: now, deadline: deadline)
        effects.append(.start(attempt, consume spec))
    }

    /// Whether a task handed out can start here: it is not one already running or finished (a repeated
    /// TASKS), and the worker can run it; one it cannot run is answered as rejected.
    private mutating func admit(_ spec: TaskSpec, on index: Int, now: Timestamp) -> Bool {
        let attempt = AttemptID(link: index, ref: spec.ref)
        guard running[attempt] == nil, unreceipted[attempt] == nil else { return false }
        let runnable =
            switch spec.kind {
            case .command: configuration.commands
            case .handler: configuration.handlers.contains(spec.action)
            }
        guard runnable else {
            let reason = spec.kind == .command ? "this worker does not run commands" : "no handler \"\(spec.action)\" in this worker"
            finish(TaskResult(task: spec.task, attempt: spec.attempt, outcome: .rejected, started: now.wire, duration: 0, error: reason), link: index)
            return false
        }
        return true
    }

    /// Stops an attempt: a command is sent SIGTERM (a command batch's process only once every attempt of
    /// the batch is stopping), a handler is abandoned.
    mutating func stop(_ id: AttemptID, outcome: Outcome, reason: String, grace: Int64, now: Timestamp) {
        guard var attempt = running[id], attempt.stopping == nil else { return }
        attempt.stopping = Stopping(outcome: outcome, killAt: now.adding(milliseconds: grace), reason: reason)
        running[id] = attempt
        if attempt.localSet != 0, var open = openSets[attempt.localSet], open.isBatch {
            open.stopping += 1
            if open.stopping == open.remaining {
                // The last attempt of the batch that ran on: the process has nothing left to do.
                open.killAt = now.adding(milliseconds: grace)
                effects.append(.signal(id, .terminate))
            }
            openSets[attempt.localSet] = open
            return
        }
        effects.append(attempt.kind == .command ? .signal(id, .terminate) : .abandon(id))
        if attempt.kind == .handler {
            // A handler cannot be killed: its slot is freed and its late return is ignored.
            attemptEnded(id, outcome: outcome, exitCode: 0, output: "", log: "", error: reason, data: [], now: now)
        }
    }

    // MARK: - Results

    /// Records the end of an attempt the runtime ran. An attempt stopped for its timeout or a CANCEL is
    /// reported with that outcome, whatever the process did on its way out, and without a result. A
    /// successful attempt whose result is over its shard's limit fails here, so the result is never sent.
    public mutating func attemptEnded(
        _ id: AttemptID, outcome: Outcome, exitCode: Int32, output: String, log: String, error: String, data: [UInt8],
        now: Timestamp
    ) {
        guard let attempt = running.removeValue(forKey: id) else { return }
        if attempt.localSet != 0, var open = openSets[attempt.localSet] {
            open.remaining -= 1
            if attempt.stopping != nil && open.isBatch { open.stopping -= 1 }
            if open.remaining == 0 {
                openSets[attempt.localSet] = nil
                links[id.link].slotTimes.add(Double(max(0, now.since(attempt.started))))
            } else {
                openSets[attempt.localSet] = open
            }
        } else {
            links[id.link].slotTimes.add(Double(max(0, now.since(attempt.started))))
        }
        let ref = id.ref
        var outcome = outcome
        var error = error
        var data = data
        let limit = resultLimit(of: attempt.link)
        if let stopping = attempt.stopping {
            outcome = stopping.outcome
            error = stopping.reason
            data = []
        } else if outcome == .succeeded && data.count > limit {
            outcome = .failed
            error = "its result is \(data.count) octets, over the shard's limit of \(limit)"
            data = []
        }
        let result = TaskResult(
            task: ref.task, attempt: ref.attempt, outcome: outcome, exitCode: exitCode, started: attempt.started.wire,
            duration: UInt32(clamping: max(0, now.since(attempt.started))), output: Self.tail(output, Limits.output),
            log: log, error: Self.head(error, Self.errorLimit), data: data)
        finish(result, link: attempt.link)
    }

    /// The most octets of an attempt's error a result carries: a handler that throws a long description
    /// must not make its result too large for the shard to take.
    static let errorLimit = 4096

    /// At most the first `limit` octets of `text`, cut between characters.
    static func head(_ text: String, _ limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        let utf8 = Array(text.utf8)
        var end = limit
        while end > 0 && utf8[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: utf8[..<end], as: UTF8.self)
    }

    /// At most the last `limit` octets of `text`, cut between characters.
    static func tail(_ text: String, _ limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        let utf8 = Array(text.utf8)
        var start = utf8.count - limit
        while start < utf8.count && utf8[start] & 0xC0 == 0x80 { start += 1 }
        return String(decoding: utf8[start...], as: UTF8.self)
    }

    /// Holds a result until its RECEIPT; it goes with the turn's RESULTS if its link is registered, and
    /// after the next WELCOME otherwise.
    mutating func finish(_ result: TaskResult, link: Int) {
        unreceipted[AttemptID(link: link, ref: result.ref)] = Held(link: link, result: result)
        // Room for every attempt still running at the first result of a turn, not grown one doubling at a time.
        if links[link].state == .registered {
            outgoingResults[link, default: Self.results(room: running.count + 1)].append(result)
        }
    }

    /// An empty list of results with room for `room` of them, up to 64: a worker of many slots whose long
    /// attempts end one a turn does not take room for all of them at every turn.
    private static func results(room: Int) -> [TaskResult] {
        var results: [TaskResult] = []
        results.reserveCapacity(min(room, 64))
        return results
    }

    // MARK: - Time

    /// Stops attempts past their timeout, and kills those that did not stop within their grace.
    mutating func tickAttempts(now: Timestamp) {
        // Most turns have nothing due: that is found without sorting, and copying, every running attempt.
        guard attemptsDeadline() <= now else { return }
        let attempts = running.sorted { ($0.key.link, $0.key.ref.task, $0.key.ref.attempt) < ($1.key.link, $1.key.ref.task, $1.key.ref.attempt) }
        for (id, attempt) in attempts {
            if let stopping = attempt.stopping {
                // A command batch's process is killed once, for the whole batch, below.
                if stopping.killAt <= now && !isInBatch(attempt) {
                    effects.append(.signal(id, .kill))
                    running[id]?.stopping?.killAt = now.adding(milliseconds: configuration.killGrace)
                }
            } else if let deadline = attempt.deadline, deadline <= now {
                let limit = DurationText.format(Int64(attempt.timeout))
                stop(id, outcome: .timedOut, reason: "timed out after \(limit)", grace: configuration.killGrace, now: now)
            }
        }
        for (number, open) in openSets.sorted(by: { $0.key < $1.key }) {
            guard let killAt = open.killAt, killAt <= now else { continue }
            // Any attempt of the batch names its process: the first, in the order above.
            guard let (id, _) = attempts.first(where: { $0.value.localSet == number }) else { continue }
            effects.append(.signal(id, .kill))
            openSets[number]?.killAt = now.adding(milliseconds: configuration.killGrace)
        }
    }

    /// Whether an attempt runs in a command batch.
    private func isInBatch(_ attempt: Running) -> Bool {
        attempt.localSet != 0 && openSets[attempt.localSet]?.isBatch == true
    }

    /// The next time ``tickAttempts(now:)`` has something to do.
    func attemptsDeadline() -> Timestamp {
        var next = Timestamp(milliseconds: .max)
        for attempt in running.values {
            if let stopping = attempt.stopping {
                if !isInBatch(attempt) { next = min(next, stopping.killAt) }
            } else if let deadline = attempt.deadline {
                next = min(next, deadline)
            }
        }
        for open in openSets.values {
            if let killAt = open.killAt { next = min(next, killAt) }
        }
        return next
    }
}
