public import Wire

/// Hand-overs: when a product moves, each of its open runs follows it, at a moment when none of its tasks
/// runs on its old shard.
///
/// The orchestrator asks the run's shard with CONTROL `hand-over` (committed first, sent again until
/// answered). The shard gives the run up in one turn, unless a task of it is running, retrying or failed
/// there or the run is paused, and answers HANDED-OVER with where each job had got and the results the
/// rest of the run reads; it keeps a tombstone that drops any later submission of the run up to the
/// generation handed over. The orchestrator then moves the run to the product's shard of the moment,
/// gives every job not final the next generation, and sends those that were with the old shard to the
/// new one in a TAKE-OVER, which carries what the old one had: nothing that succeeded runs again, and no
/// result a later job reads is left behind. A run refused (409) stays for now and is asked again once a
/// second while it stays (``askStrays(now:)``); one refused 413 (too much to carry) finishes where it is.
extension OrchestratorCore {
    /// Records `product`'s new shard, and asks for every open run of it elsewhere that may be handed over
    /// now; returns how many were asked for. The others are asked again while they stay (``askStrays(now:)``).
    mutating func handOverRuns(of product: String, to target: UInt32, now: Timestamp) -> Int {
        productShards[product] = target
        productShardChanges[product] = target
        var asked = 0
        for id in runs.ids(where: { $0.product == product && $0.shard != target && !$0.state.isFinal }) {
            strays.insert(id)
            if askHandOver(id, now: now) { asked += 1 }
        }
        return asked
    }

    /// Asks for a run away from its product's shard to be handed over, if it may be now and was not asked
    /// in the last second; whether it was asked.
    @discardableResult
    mutating func askHandOver(_ id: UInt64, now: Timestamp) -> Bool {
        guard !controls.handingOver(id), relays[id] == nil, let run = runs[id], let generation = run.handOverGeneration else { return false }
        if let last = lastAsked[id], now.since(last) < Self.askAgainAfter { return false }
        lastAsked[id] = now
        controls.send(Control(request: 0, action: .handOver, run: id, generation: generation), to: run.shard, now: now, policy: configuration.resend)
        return true
    }

    /// How long a run that could not be handed over waits before it is asked again, in milliseconds.
    static let askAgainAfter: Int64 = 1000
    /// The most runs looked at in one second.
    static let straysALook = 2000

    /// Asks again, once a second, for the runs of moved products that stayed on their old shard because a
    /// task of them was running (or they were paused or held): each follows at its first quiet moment.
    /// A run that ended, was handed over, or carries more than a hand-over may, is no longer asked.
    mutating func askStrays(now: Timestamp) {
        guard !strays.isEmpty, now >= nextStrayCheck else { return }
        nextStrayCheck = now.adding(milliseconds: Self.askAgainAfter)
        // At most a batch a look, in turn, so that a move of a product with a great many open runs costs
        // each second a bounded time.
        var batch = strays.filter { $0 > strayCursor }.sorted().prefix(Self.straysALook)
        if batch.count < Self.straysALook { batch += strays.filter { $0 <= strayCursor }.sorted().prefix(Self.straysALook - batch.count) }
        strayCursor = batch.last ?? 0
        for id in batch {
            guard let run = runs[id], !run.state.isFinal, let target = productShards[run.product], run.shard != target else {
                strays.remove(id)
                lastAsked[id] = nil
                continue
            }
            askHandOver(id, now: now)
        }
    }

    /// A shard answered a hand-over with CONTROL-RESULT: the run stays for now, or for good if what it
    /// would carry is too large.
    /// A relay's ask refused (410: the old shard has no tombstone of the hand-over any more, its commit lost
    /// to a power loss) ends the relay as an answer with nothing running there would.
    mutating func handOverRefused(_ sent: PendingControl, status: Status, now: Timestamp) {
        if isRelayAnswer(sent) {
            return relayAnswered(sent.control.run, HandedOver(request: sent.control.request, run: sent.control.run), now: now)
        }
        if status == .tooLarge {
            strays.remove(sent.control.run)
            lastAsked[sent.control.run] = nil
        }
    }

    /// A shard gave a run up: the run goes to its product's shard of the moment, one generation on, and
    /// its jobs that were with the old shard go in a TAKE-OVER with what that shard carried, sent again
    /// until the new shard reports every one of them.
    mutating func handOverAnswered(_ sent: PendingControl, _ handed: HandedOver, now: Timestamp) {
        let id = sent.control.run
        strays.remove(id)
        lastAsked[id] = nil
        guard var run = runs.take(id) else { return }
        defer { runs.put(run) }
        guard run.shard == sent.shard, !run.state.isFinal, let target = productShards[run.product] else { return }
        // What ended on the old shard may not have reached this side yet (the stream and this answer come
        // apart): applied first, so that no job that ended there is sent again. Jobs it releases go to the
        // old shard, whose tombstone drops them, and then with the others to the new one.
        for status in handed.ended {
            guard let outcome = run.apply(status, now: now) else { continue }
            applied(outcome, of: status, shard: sent.shard, now: now)
            release(&run, jobs: outcome.released, now: now)
        }
        run.deriveState(now: now)
        if run.state.isFinal {
            // Everything of it ended on the old shard, where it stays, and where a rerun goes: past the
            // tombstone, which drops any of its jobs up to the generation given up.
            for index in run.jobs.indices where run.jobs[index].generation < sent.control.generation {
                run.updateJob(index) { $0.generation = sent.control.generation }
                turnJobs.mark(JobRef(run: id, job: index), .changed)
            }
            touch(&run)
            return
        }
        // Every job not final moves past the generation the old shard gave up: its copies still on their
        // way there are dropped, and the run may even come back to that shard later.
        let again = run.handOver(to: target, beyond: sent.control.generation, now: now, policy: configuration.resend)
        for index in run.jobs.indices where !run.jobs[index].state.isFinal { turnJobs.mark(JobRef(run: id, job: index), .changed) }
        if run.stopping {
            // Stopped while the old shard gave it up, so its cancel found nothing there but the tasks left
            // running (which it cancels): the jobs it gave up end cancelled here, never run again anywhere,
            // and the run ends stopped once those tasks have ended.
            for index in again {
                let status = JobStatus(
                    run: id, job: run.jobs[index].name, generation: run.jobs[index].generation, state: .cancelled, finished: now.wire,
                    time: now.wire, detail: "cancelled by an operator while its run was handed over by a move")
                if let outcome = run.apply(status, now: now) { applied(outcome, of: status, shard: target, now: now) }
            }
            // Its tasks running on the old shard are being cancelled there: it ends stopped once they have.
            if handed.running > 0 {
                startRelay(&run, from: sent.shard, to: target, generation: sent.control.generation)
            }
            touch(&run)
            return
        }
        // The new shard learns of a pause before the jobs that arrive with it could start. A pause sent to the
        // old shard while it was giving the run up reached it after: it is lifted there (on the same
        // connection, after it), or the run would find it again if it ever came back.
        if run.isParking {
            sendControl(.pauseRun, run: id, shard: target, now: now)
            sendControl(.resumeRun, run: id, shard: sent.shard, now: now)
        }
        if run.priority != RunPriority.normal {
            controls.send(Control(request: 0, action: .setPriority, run: id, priority: run.priority), to: target, now: now, policy: configuration.resend)
        }
        let names = Set(again.map { run.jobs[$0].name })
        let takeOver = TakeOver(
            run: id, jobs: again.map { run.spec(of: $0) }, carries: handed.jobs.filter { names.contains($0.job) }, results: handed.results)
        let pending = PendingTakeOver(shard: target, takeOver: takeOver)
        takeOvers[id] = pending
        takeOverChanges[id] = pending
        // With no job to carry (the run's next ones not yet released), it waits for the first released: sent
        // alone it would never be acknowledged, and the results it brings must reach the new shard first.
        if !again.isEmpty { takeOversDue.insert(id) }
        scheduleResends(again, of: run)
        touch(&run)
        if handed.running > 0 || !handed.ends.isEmpty {
            startRelay(&run, from: sent.shard, to: target, generation: sent.control.generation)
        }
    }

    /// A job of a run being taken over was reported: once the new shard has reported every job of the
    /// TAKE-OVER at its generation (or the run has ended), it is no longer sent.
    mutating func takeOverProgressed(_ id: UInt64, now: Timestamp) {
        // One with no job yet waits for the first released (or the run's end).
        guard let pending = takeOvers[id], !pending.takeOver.jobs.isEmpty else { return }
        if let run = runs[id], !run.state.isFinal {
            let generations = Dictionary(run.jobs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            let waiting = pending.takeOver.jobs.contains { spec in
                guard let job = generations[spec.job] else { return false }
                return job.generation == spec.generation && !job.accepted && !job.state.isFinal
            }
            if waiting { return }
        }
        takeOvers[id] = nil
        takeOverChanges[id] = .some(nil)
        takeOversDue.remove(id)
        // Ends of its tasks that finished on the old shard waited for the new one to hold its jobs.
        if relays[id] != nil { askRelay(id, now: now) }
    }

    /// A TAKE-OVER sent to a run's new shard and not complete, as the store keeps it.
    public struct PendingTakeOver: Sendable, Equatable {
        public var shard: UInt32
        public var takeOver: TakeOver

        public init(shard: UInt32, takeOver: TakeOver) {
            self.shard = shard
            self.takeOver = takeOver
        }
    }
}

extension FlowRun {
    /// The generation up to which a run may be handed over: open, not paused, held or stopping, with no
    /// job retrying as far as its shard has said, and at most as many jobs with the shard as a TAKE-OVER
    /// holds; the highest generation of its jobs. Nil for any other run. (Tasks running go on where they
    /// are: the shard hands the rest over, and their ends are relayed.)
    var handOverGeneration: UInt32? {
        guard !state.isFinal, !paused, !held, !stopping, parked.isEmpty, activeJobs <= Limits.submitJobs else { return nil }
        var generation: UInt32 = 0
        for job in jobs {
            if job.state == .retrying { return nil }
            generation = max(generation, job.generation)
        }
        return generation
    }

    /// Moves the run to `target` after its old shard gave up its jobs up to generation `handed`: every job
    /// not final takes the next generation, and those with the shard are submitted again, not accepted.
    /// Returns those.
    mutating func handOver(to target: UInt32, beyond handed: UInt32, now: Timestamp, policy: ResendPolicy) -> [Int] {
        shard = target
        var again: [Int] = []
        for index in jobs.indices where !jobs[index].state.isFinal {
            let active = jobs[index].state.isActive
            updateJob(index) { job in
                job.generation = max(job.generation, handed) + 1
                job.status = nil
                guard active else { return }
                job.state = .submitted
                job.accepted = false
                job.unsent = false  // The take-over carries it.
                job.resend = ResendSchedule(sentAt: now, policy: policy)
            }
            if active { again.append(index) }
        }
        lastChange = now
        return again
    }
}
