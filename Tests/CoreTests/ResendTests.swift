import Core
import Testing

@Suite struct ResendTests {
    let start = Timestamp(milliseconds: 50_000)

    @Test func waitsDoubleFromTheFirstUpToTheLongest() {
        let policy = ResendPolicy(initial: 2000, maximum: 30_000)
        var schedule = ResendSchedule(sentAt: start, policy: policy)
        var sends: [Int64] = []
        for _ in 0..<6 {
            #expect(!schedule.isDue(at: schedule.due.adding(milliseconds: -1)))
            #expect(schedule.isDue(at: schedule.due))
            sends.append(schedule.due.milliseconds - start.milliseconds)
            schedule.resent(at: schedule.due, policy: policy)
        }
        #expect(sends == [2000, 6000, 14_000, 30_000, 60_000, 90_000])
    }

    @Test func aMessageOfUnknownFateIsDueAtOnceThenWaitsTheFirstWait() {
        let policy = ResendPolicy(initial: 10_000, maximum: 60_000)
        var schedule = ResendSchedule(dueAt: start, policy: policy)
        #expect(schedule.isDue(at: start))
        schedule.resent(at: start, policy: policy)
        #expect(schedule.due == start.adding(milliseconds: 10_000))
        schedule.expedite(to: start.adding(milliseconds: 1))
        #expect(schedule.due == start.adding(milliseconds: 1))
        schedule.expedite(to: start.adding(milliseconds: 5))
        #expect(schedule.due == start.adding(milliseconds: 1))
    }

    @Test func aFixedIntervalAndAnOverflowingWaitStayWithinTheLongest() {
        #expect(ResendPolicy.every(5000).wait(after: 5000) == 5000)
        let policy = ResendPolicy(initial: 1, maximum: .max)
        #expect(policy.wait(after: .max / 2 + 1) == .max)
        #expect(ResendPolicy(initial: 3000, maximum: 1000).maximum == 3000)
    }

    @Test func aScheduleOnAFixedIntervalIsDueEveryIntervalAfterEachSend() {
        let policy = ResendPolicy.every(5000)
        var schedule = ResendSchedule(sentAt: start, policy: policy)
        var dues: [Int64] = []
        for _ in 0..<3 {
            dues.append(schedule.due.milliseconds - start.milliseconds)
            // Sent late, after the due time: the next wait counts from the send.
            schedule.resent(at: schedule.due.adding(milliseconds: 700), policy: policy)
        }
        #expect(dues == [5000, 10_700, 16_400])
        #expect(schedule.wait == 5000)
    }
}
