import Runtime
import Wire
import ZeroMQ

/// What the shards published of one job, kept from its latest status.
struct JobRecord {
    /// When its tasks were queued at the shard, ms since the Unix epoch; 0 until seen.
    var queued: UInt64 = 0
    /// When its first task was handed to a worker; 0 until then.
    var started: UInt64 = 0
    /// When it reached a final state; 0 until then.
    var finished: UInt64 = 0
    var state = JobState.submitted
    /// When the status kept was committed: an older status arriving later changes nothing.
    var time: UInt64 = 0
}

/// A job of a run.
struct JobKey: Hashable {
    var run: UInt64
    var job: String
}

/// The subscriber to every shard's event stream: a SUB socket, owned by the thread that made it, and
/// what it has heard, by job and by run.
///
/// It keeps every run's jobs, the load's own and any other client's alike: a run's first statuses may
/// arrive before management's answer to its start says that it is one of the load's.
final class JobWatch {
    private let socket: Socket
    private let publishers: [String: String]
    let jobsPerRun: Int
    private(set) var jobs: [JobKey: JobRecord] = [:]
    /// Jobs of each run in a final state, and whether one of them failed.
    private(set) var progress: [UInt64: (final: Int, failed: Bool)] = [:]
    /// Runs that ended since the caller last took them (see ``takeEnded()``).
    private var ended: [UInt64] = []
    /// Each publisher's last epoch and sequence, to notice messages the stream dropped.
    private var sequences: [String: (epoch: UInt32, sequence: UInt64)] = [:]
    /// Messages of the event logs that never arrived: the figures miss their statuses.
    private(set) var missed: UInt64 = 0

    /// Subscribes to the events of `target`'s shards.
    init(target: LoadTarget, jobsPerRun: Int) throws {
        let publishers = target.events
        socket = try Socket(target.context, type: .sub)
        try socket.setMaxMessageSize(Int64(Limits.frame + 1024))
        // The load's figures are only as good as the statuses it hears: queue rather than drop.
        try socket.setReceiveHighWaterMark(0)
        try socket.subscribe("job.")
        for (name, endpoint) in publishers.sorted(by: { $0.key < $1.key }) {
            try target.secure(socket, for: name)
            try socket.connect(endpoint)
        }
        self.publishers = publishers
        self.jobsPerRun = jobsPerRun
    }

    /// Adds the socket to `poller`; returns its index there.
    func register(in poller: inout Poller) -> Int { poller.add(socket) }

    /// Waits until every publisher has been heard from (a BEACON comes at least every second from an
    /// idle one), so that the subscription has reached them all before the first run starts.
    func waitForPublishers(seconds: Int) throws(LoadFailure) {
        let deadline = Handlers.microseconds() + UInt64(seconds) * 1_000_000
        var poller = Poller()
        _ = register(in: &poller)
        while !Set(sequences.keys).isSuperset(of: publishers.keys) {
            let now = Handlers.microseconds()
            guard now < deadline else {
                let silent = publishers.filter { sequences[$0.key] == nil }.map { "\($0.key) at \($0.value)" }.sorted()
                throw LoadFailure(.unavailable, "no event within \(seconds) s from \(silent.joined(separator: ", "))")
            }
            do {
                _ = try poller.poll(timeoutMilliseconds: Int((deadline - now) / 1000) + 1)
                try receive()
            } catch {
                throw LoadFailure(.unavailable, "cannot receive from the shards' events: \(error)")
            }
        }
    }

    /// Applies every message waiting on the socket.
    func receive() throws {
        while let frames = try socket.receive(dontWait: true) {
            guard frames.count == 2, let message = try? Message.decode(frames[1]) else { continue }
            switch message {
            case .jobUpdates(let updates):
                note(updates.publisher, epoch: updates.epoch, sequence: updates.sequence, published: true)
                for status in updates.updates { apply(status) }
            case .beacon(let beacon):
                note(beacon.publisher, epoch: beacon.epoch, sequence: beacon.sequence, published: false)
            default:
                continue
            }
        }
    }

    /// The runs that ended since the last call.
    func takeEnded() -> [UInt64] {
        defer { ended = [] }
        return ended
    }

    /// Whether the run has ended: every job final, or one failed.
    func hasEnded(_ run: UInt64) -> Bool {
        guard let progress = progress[run] else { return false }
        return progress.final == jobsPerRun || progress.failed
    }

    /// Counts what a gap in a publisher's sequence says was lost. A BEACON carries the last sequence
    /// published, a JOB-UPDATES its own; a new epoch starts counting again.
    private func note(_ publisher: String, epoch: UInt32, sequence: UInt64, published: Bool) {
        if let last = sequences[publisher], last.epoch == epoch {
            let expected = published ? last.sequence + 1 : last.sequence
            if sequence > expected { missed += sequence - expected }
            sequences[publisher] = (epoch, max(last.sequence, sequence))
        } else {
            sequences[publisher] = (epoch, sequence)
        }
    }

    private func apply(_ status: JobStatus) {
        let key = JobKey(run: status.run, job: status.job)
        var record = jobs[key] ?? JobRecord()
        guard status.time >= record.time else { return }
        let wasFinal = record.state.isFinal
        record.state = status.state
        record.time = status.time
        record.queued = status.queued
        record.started = status.started
        record.finished = status.finished
        jobs[key] = record
        guard status.state.isFinal, !wasFinal else { return }
        let before = hasEnded(status.run)
        var counts = progress[status.run] ?? (0, false)
        counts.final += 1
        if status.state != .succeeded { counts.failed = true }
        progress[status.run] = counts
        if !before && hasEnded(status.run) { ended.append(status.run) }
    }

    func close() { socket.close() }
}
