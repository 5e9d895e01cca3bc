import Wire

/// Relays: a run handed over while tasks of it ran leaves those tasks finishing on its old shard, with
/// their workers, and the new shard holds their partitions as away. Each end there reaches the new shard
/// through the orchestrator, which asks the old shard again (CONTROL `hand-over` with the same
/// generation, `from` the first end not yet relayed, counted from 1) and sends what it answers to the new shard in
/// PARTITIONS-ENDED, one batch at a time, until the old shard says none of them runs any more.
///
/// The old shard publishes a change of its finishing job whenever one of them ends, and that asks at
/// once; every relay is also asked every 5 seconds, for a change whose event was missed. A relay is
/// committed (its source, target, generation, and how many ends the new shard has taken), so a restart
/// goes on from there; the new shard takes an end once, however often it is sent.
extension OrchestratorCore {
    /// A run handed over with tasks of it running on its old shard, whose ends are relayed to its new one.
    public struct Relay: Sendable, Equatable {
        /// The shard the run left, where those tasks finish.
        public var source: UInt32
        /// The shard that took the run over.
        public var target: UInt32
        /// The generation the run was handed over up to: the hand-over asked again.
        public var generation: UInt32
        /// How many of their ends the new shard has taken, in the old shard's order.
        public var relayed: UInt32

        public init(source: UInt32, target: UInt32, generation: UInt32, relayed: UInt32 = 0) {
            self.source = source
            self.target = target
            self.generation = generation
            self.relayed = relayed
        }
    }

    /// A PARTITIONS-ENDED sent and not answered, with the number of ends it carries.
    struct RelaySend: Sendable {
        var run: UInt64
        var message: PartitionsEnded
        var resend: ResendSchedule
    }

    /// The first answer to a hand-over said tasks of the run still run on its old shard: their ends are
    /// relayed from now on, starting once the new shard has reported the jobs the TAKE-OVER carries
    /// (``takeOverProgressed(_:now:)`` asks then). The run stays open meanwhile (``FlowRun/finishingOn``).
    mutating func startRelay(_ run: inout FlowRun, from source: UInt32, to target: UInt32, generation: UInt32) {
        let relay = Relay(source: source, target: target, generation: generation)
        relays[run.id] = relay
        relayChanges[run.id] = relay
        run.finishingOn = source
    }

    /// Asks the old shard how the run's finishing tasks have ended since the last end relayed, unless an
    /// ask or a relay of the run is on its way (then it asks again once that is answered).
    mutating func askRelay(_ id: UInt64, now: Timestamp) {
        guard let relay = relays[id] else { return }
        guard !controls.handingOver(id), !relaySends.values.contains(where: { $0.run == id }), takeOvers[id] == nil else {
            relayAgain.insert(id)
            return
        }
        relayAgain.remove(id)
        controls.send(
            Control(request: 0, action: .handOver, run: id, generation: relay.generation, from: relay.relayed + 1), to: relay.source, now: now,
            policy: configuration.resend)
    }

    /// Whether an answer to a hand-over is the old shard's to a relay's ask.
    func isRelayAnswer(_ sent: PendingControl) -> Bool {
        guard let relay = relays[sent.control.run] else { return false }
        return relay.source == sent.shard && relay.generation == sent.control.generation
    }

    /// The old shard told the ends since the last relayed, and how many of the run's tasks still run there:
    /// the ends go to the new shard; with none left to tell and none running, the relay is done.
    mutating func relayAnswered(_ id: UInt64, _ handed: HandedOver, now: Timestamp) {
        // Whatever the run's state: its ends keep its jobs on the new shard open until they come.
        guard let relay = relays[id] else { return }
        if !handed.ends.isEmpty || handed.running == 0 {
            // The new shard holds the jobs once it has reported them all: only then are ends sent to it. With
            // every end told and nothing of the run running there, the last says so: a partition still away
            // on the new shard then (its end lost with commits a power loss took) runs again there.
            guard takeOvers[id] == nil else {
                relayAgain.insert(id)
                return
            }
            lastRelayRequest += 1
            let message = PartitionsEnded(request: lastRelayRequest, run: id, ends: handed.ends, last: handed.ends.isEmpty ? 1 : 0)
            relaySends[lastRelayRequest] = RelaySend(run: id, message: message, resend: ResendSchedule(sentAt: now, policy: configuration.resend))
            relayDeliveries.append((relay.target, message))
        } else if relayAgain.contains(id) {
            askRelay(id, now: now)
        }
    }

    /// The new shard took a PARTITIONS-ENDED: the relay goes on from the ends after it, or is done after
    /// the last.
    mutating func relayTaken(_ request: UInt64, now: Timestamp) {
        guard let sent = relaySends.removeValue(forKey: request), var relay = relays[sent.run] else { return }
        if sent.message.last == 1 { return endRelay(sent.run) }
        relay.relayed += UInt32(sent.message.ends.count)
        relays[sent.run] = relay
        relayChanges[sent.run] = relay
        askRelay(sent.run, now: now)
    }

    /// Whether a CONTROL-RESULT answers a PARTITIONS-ENDED.
    func isRelayRequest(_ request: UInt64) -> Bool { relaySends[request] != nil }

    /// Forgets a relay: every end is relayed and nothing of the run runs on its old shard.
    mutating func endRelay(_ id: UInt64) {
        guard let relay = relays.removeValue(forKey: id) else { return }
        endedRelays[id] = relay.target
        relayChanges[id] = .some(nil)
        if runs.modify(id, { $0.finishingOn = 0 }) != nil { noteChange(id) }
        relayAgain.remove(id)
        for (request, sent) in relaySends where sent.run == id { relaySends[request] = nil }
    }

    /// How often relays are looked at, in milliseconds: an end is asked for at once when its shard
    /// publishes it, so this only catches what a restart or a gap in the stream hid.
    static let relayLookEvery: Int64 = 5000

    /// Every ``relayLookEvery``: sends again the PARTITIONS-ENDED due, and asks each relay with nothing on
    /// its way, in case an end's event was missed.
    mutating func tickRelays(now: Timestamp) {
        guard !relays.isEmpty, now >= nextRelayCheck else { return }
        nextRelayCheck = now.adding(milliseconds: Self.relayLookEvery)
        for request in relaySends.keys.sorted() {
            guard var sent = relaySends[request], sent.resend.isDue(at: now), let relay = relays[sent.run] else { continue }
            sent.resend.resent(at: now, policy: configuration.resend)
            relaySends[request] = sent
            relayDeliveries.append((relay.target, sent.message))
        }
        for id in relays.keys.sorted() { askRelay(id, now: now) }
    }

    /// Makes the PARTITIONS-ENDED on their way to `shard` due at the next look: it restarted. A restarted
    /// shard may also have lost the commits that took a done relay's last ends (a power loss under
    /// `durability normal`): for each such run still open it is told the last again, on which a partition
    /// still away there runs again (a shard takes each end once, so this changes nothing otherwise).
    mutating func expediteRelays(to shard: UInt32, now: Timestamp) {
        for request in relaySends.keys where relaySends[request].flatMap({ relays[$0.run]?.target }) == shard {
            relaySends[request]?.resend.expedite(to: now)
        }
        nextRelayCheck = min(nextRelayCheck, now)
        for (run, target) in endedRelays.sorted(by: { $0.key < $1.key }) {
            guard let open = runs[run], !open.state.isFinal else {
                endedRelays[run] = nil
                continue
            }
            guard target == shard, open.shard == shard else { continue }
            lastRelayRequest += 1
            relayDeliveries.append((shard, PartitionsEnded(request: lastRelayRequest, run: run, ends: [], last: 1)))
        }
    }

    /// The shards a cancel of a run goes to: its shard, and the one its tasks still finish on.
    func cancelShards(of id: UInt64, shard: UInt32) -> [UInt32] {
        guard let source = relays[id]?.source, source != shard else { return [shard] }
        return [shard, source]
    }
}
