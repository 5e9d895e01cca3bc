import Core
import Testing

@Suite struct TimestampTests {
    /// An instant as people read it, to the second, in UTC: before the epoch too.
    @Test func anInstantReadsAsItsDateAndTimeInUTC() {
        #expect(Timestamp(milliseconds: 0).utcText == "1970-01-01 00:00:00 UTC")
        #expect(Timestamp(milliseconds: 1_796_682_630_630).utcText == "2026-12-07 22:30:30 UTC")
        #expect(Timestamp(milliseconds: -1).utcText == "1969-12-31 23:59:59 UTC")
        #expect(Timestamp(milliseconds: 951_782_400_000).utcText == "2000-02-29 00:00:00 UTC")
    }
}
