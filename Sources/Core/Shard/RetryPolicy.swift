/// When a failed attempt runs again: `backoff × 2^(failures−1)`, at most 10 minutes, plus up to 20% jitter
/// so that tasks that failed together do not retry in lockstep.
public enum RetryPolicy {
    /// The longest delay before jitter.
    public static let maximumDelay: Int64 = 600_000

    /// The delay in milliseconds before the attempt after the `failures`-th failure.
    public static func delay(backoff: Int64, failures: Int, using random: inout some RandomNumberGenerator) -> Int64 {
        let exponent = min(max(failures - 1, 0), 30)
        let (scaled, overflow) = backoff.multipliedReportingOverflow(by: Int64(1) << exponent)
        let base = overflow ? maximumDelay : min(scaled, maximumDelay)
        let jitter = base / 5
        return base + (jitter > 0 ? Int64.random(in: 0...jitter, using: &random) : 0)
    }
}
