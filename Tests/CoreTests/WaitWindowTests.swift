@testable import Core
import Testing

@Suite struct WaitWindowTests {
    /// Found by an operator: after a quiet minute, work begun 10 s ago was estimated at its count over the
    /// whole minute, so that estimates were 3 to 65 times too long. Each rate counts from its first hand-out
    /// in the minute.
    @Test func aRateAfterALullIsTheRateSinceWorkResumed() {
        var window = WaitWindow()
        // One hand-out two minutes ago, then a lull, then 10 a second for the last 10 s: 100 hand-outs.
        window.leased(at: 0, product: 1, waited: 0)
        for index in 0..<100 { window.leased(at: 110_000 + Int64(index) * 100, product: 2, waited: 0) }
        let (shard, byProduct) = window.rates(now: 120_000)
        #expect(abs(shard * 1000 - 10) < 0.2, "\(shard * 1000) a second")
        #expect(abs((byProduct[2] ?? 0) * 1000 - 10) < 0.2)
        #expect(byProduct[1] == nil, "out of the minute")
        // A steady pace over the whole minute is counted over the minute, as before.
        var steady = WaitWindow()
        for index in 0..<600 { steady.leased(at: Int64(index) * 100, product: 1, waited: 0) }
        #expect(abs(steady.rates(now: 60_000).shard * 1000 - 10) < 0.2)
    }
}
