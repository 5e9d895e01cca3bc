import Core
import Wire

/// What every service's loop counts for `/metrics`: messages read and sent by kind, turns, commits and
/// their duration, and the time the loop was busy (`docs/metrics.md`). Counted on the loop's thread;
/// read there when metrics are asked for.
struct LoopMeter {
    private var received = [Int](repeating: 0, count: 256)
    private var sent = [Int](repeating: 0, count: 256)
    private var turns = 0
    private var busySeconds = 0.0
    private var commits = Histogram.short

    mutating func received(_ id: MessageID) { received[Int(id.rawValue)] += 1 }

    mutating func sent(_ id: UInt8) { sent[Int(id)] += 1 }

    mutating func turn(busyMicroseconds: Int64) {
        turns += 1
        busySeconds += Double(busyMicroseconds) / 1_000_000
    }

    mutating func committed(microseconds: Int64) { commits.observe(Double(microseconds) / 1_000_000) }

    func write(into metrics: inout Metrics, counters: ServiceCounters) {
        metrics.declare("baton_messages_received_total", .counter, "Messages read and decoded, by kind.")
        metrics.declare("baton_messages_sent_total", .counter, "Messages sent, by kind (a PUB's and a PUSH's whether or not a peer took them).")
        for id in MessageID.allCases {
            let kind = Metrics.Label("kind", id.name.lowercased())
            if received[Int(id.rawValue)] > 0 {
                metrics.counter("baton_messages_received_total", "", received[Int(id.rawValue)], kind)
            }
            if sent[Int(id.rawValue)] > 0 { metrics.counter("baton_messages_sent_total", "", sent[Int(id.rawValue)], kind) }
        }
        metrics.counter("baton_malformed_frames_total", "Frames dropped as malformed, of another protocol version, or unexpected where they came.", counters.malformed)
        metrics.counter(
            "baton_refused_messages_total", "Messages and subscriptions refused because of who sent them (no approved key, or a role that may not send them).",
            counters.refused)
        metrics.counter("baton_loop_turns_total", "Turns of the service's event loop.", turns)
        metrics.counter("baton_loop_busy_seconds_total", "Time the event loop spent reading, deciding, committing and sending, not waiting.", seconds: busySeconds)
        metrics.histogram("baton_store_commit_duration_seconds", "Time to end each turn that wrote rows: the core's decisions and the commit.", commits)
    }
}
