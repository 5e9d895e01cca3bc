/// When a failed attempt runs again: `backoff × 2^(failures−1)`, doubling no further than 10 minutes or
/// the backoff itself if it is longer, plus up to 20% jitter so that tasks that failed together do not
/// retry in lockstep. (A backoff over 10 minutes was once cut to 10: found by an explorer, whose "retry
/// the feed in 2h" retried after 10 minutes.)
public enum RetryPolicy {
    /// Where doubling stops, before jitter, for a backoff up to it.
    public static let maximumDelay: Int64 = 600_000

    /// The delay in milliseconds before the attempt after the `failures`-th failure.
    public static func delay(backoff: Int64, failures: Int, using random: inout some RandomNumberGenerator) -> Int64 {
        let exponent = min(max(failures - 1, 0), 30)
        let (scaled, overflow) = backoff.multipliedReportingOverflow(by: Int64(1) << exponent)
        let ceiling = max(backoff, maximumDelay)
        let base = overflow ? ceiling : min(scaled, ceiling)
        let jitter = base / 5
        return base + (jitter > 0 ? Int64.random(in: 0...jitter, using: &random) : 0)
    }
}
