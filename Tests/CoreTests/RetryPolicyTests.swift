import Core
import Testing

@Suite struct RetryPolicyTests {
    /// Each retry waits twice the one before, from the backoff, up to 10 minutes, with up to 20% more.
    @Test func theDelayDoublesUpToTenMinutesWithJitter() {
        var random = SplitMix64(seed: 7)
        for (failures, base) in [(1, 1000), (2, 2000), (3, 4000), (11, 600_000), (40, 600_000)] as [(Int, Int64)] {
            let delay = RetryPolicy.delay(backoff: 1000, failures: failures, using: &random)
            #expect(delay >= base && delay <= base + base / 5, "after \(failures) failures: \(delay)")
        }
    }

    /// Found by an explorer: "retry the feed in 2h" retried after 10 minutes. A backoff over 10 minutes
    /// is waited as it is, and not doubled.
    @Test func aBackoffLongerThanTenMinutesIsKeptAsItIs() {
        var random = SplitMix64(seed: 7)
        let twoHours: Int64 = 7_200_000
        for failures in [1, 2, 5, 40] {
            let delay = RetryPolicy.delay(backoff: twoHours, failures: failures, using: &random)
            #expect(delay >= twoHours && delay <= twoHours + twoHours / 5, "after \(failures) failures: \(delay)")
        }
    }
}
