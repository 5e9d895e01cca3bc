import Core

/// Counts frames dropped as malformed, and says so in the log at most once a minute.
struct MalformedCounter {
    let counters: ServiceCounters
    private(set) var count = 0
    private var lastLogged = Timestamp.zero
    private var sinceLogged = 0

    init(_ counters: ServiceCounters) { self.counters = counters }

    mutating func record(_ reason: String, from origin: String, now: Timestamp, log: Log) {
        count += 1
        sinceLogged += 1
        counters.countMalformed()
        if now.since(lastLogged) >= 60_000 {
            log.warning("dropped a malformed message", ["from": origin, "why": reason, "dropped": String(sinceLogged), "total": String(count)])
            lastLogged = now
            sinceLogged = 0
        }
    }
}
