import Core
internal import Glibc

/// What an event loop did over a period: turns, messages read, commits and their cost. Logged at debug
/// level every 10 seconds, so that an operator (or a benchmark) can see whether turns batch well.
struct LoopStatistics {
    private var turns = 0
    private var messages = 0
    private var commits = 0
    private var commitMicroseconds: Int64 = 0
    private var busyMicroseconds: Int64 = 0
    private var since: Timestamp
    private let clock = MicrosecondClock()

    init(now: Timestamp) { since = now }

    /// The instant in microseconds, for timing a stretch of work.
    func mark() -> Int64 { clock.now() }

    mutating func turn(messages read: Int, busySince start: Int64) {
        turns += 1
        messages += read
        busyMicroseconds += clock.now() - start
    }

    mutating func commit(since start: Int64) {
        commits += 1
        commitMicroseconds += clock.now() - start
    }

    /// Logs and resets the figures every 10 seconds.
    mutating func report(now: Timestamp, log: Log) {
        guard log.level <= .debug, now.since(since) >= 10_000 else { return }
        let seconds = Double(now.since(since)) / 1000
        log.debug(
            "loop", [
                "turns_per_s": String(Int(Double(turns) / seconds)),
                "messages_per_turn": String(turns == 0 ? 0 : messages / turns),
                "commits_per_s": String(Int(Double(commits) / seconds)),
                "commit_us": String(commits == 0 ? 0 : Int(commitMicroseconds) / commits),
                "busy_percent": String(Int(Double(busyMicroseconds) / (seconds * 10_000))),
            ])
        self = LoopStatistics(now: now)
    }
}

/// CLOCK_MONOTONIC in microseconds.
struct MicrosecondClock {
    func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000
    }
}
