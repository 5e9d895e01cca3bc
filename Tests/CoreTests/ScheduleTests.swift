import Core
import Testing

/// Schedules: cron in a zone, daylight saving, business calendars and their holiday rules, n-th business days.
struct ScheduleTests {
    static func zone(_ name: String) -> Zone {
        do { return try TZdata.zone(name) } catch { preconditionFailure("\(error)") }
    }

    static let newYork = zone("America/New_York")
    static let sydney = zone("Australia/Sydney")
    static let london = zone("Europe/London")
    static let shanghai = zone("Asia/Shanghai")

    static func schedule(
        _ cron: String, _ zone: Zone = .utc, calendar: BusinessCalendar? = nil, onHoliday: HolidayRule = .skip,
        businessDay: Int? = nil
    ) -> Schedule {
        do {
            return Schedule(
                cron: try CronExpression.parse(cron), zone: zone, calendar: calendar, onHoliday: onHoliday,
                businessDay: businessDay)
        } catch { preconditionFailure("\(cron): \(error)") }
    }

    static func calendar(_ text: String) -> BusinessCalendar {
        do { return try BusinessCalendar.parse(text, name: "test") } catch { preconditionFailure("\(error)") }
    }

    static func date(_ text: String) -> CivilDate { CivilDate(text)! }

    /// Instants of the firings in (after, through].
    static func instants(_ schedule: Schedule, after: Timestamp, through: Timestamp) -> [Timestamp] {
        schedule.firings(after: after, through: through, limit: 10_000).map(\.instant)
    }

    static func hourly(from: Timestamp, through: Timestamp, skipping: Timestamp? = nil) -> [Timestamp] {
        stride(from: from.milliseconds, through: through.milliseconds, by: 3_600_000)
            .map(Timestamp.init(milliseconds:)).filter { $0 != skipping }
    }

    // MARK: Without a calendar

    @Test func firesOnEveryMatchedDateAtEveryTime() {
        let schedule = Self.schedule("0 9,17 * * MON-FRI")
        let firings = schedule.firings(after: utc("2026-11-20", 10, 0), through: utc("2026-11-24", 23, 0), limit: 10)
        #expect(
            firings.map(\.instant) == [
                utc("2026-11-20", 17, 0), utc("2026-11-23", 9, 0), utc("2026-11-23", 17, 0), utc("2026-11-24", 9, 0),
                utc("2026-11-24", 17, 0),
            ])
        #expect(
            firings.map(\.businessDate)
                == ["2026-11-20", "2026-11-23", "2026-11-23", "2026-11-24", "2026-11-24"].map(Self.date))
        #expect(
            Self.schedule("0 0 1 * *").count(
                after: utc("2025-12-31", 0, 0), through: utc("2026-12-31", 0, 0), countLimit: 100) == 12)
    }

    @Test func shanghaiDailyAtHalfPastSixIsHalfPastTenUTC() {
        let schedule = Self.schedule("30 18 * * *", Self.shanghai)
        #expect(
            schedule.next(after: utc("2026-11-22", 0, 0))
                == Firing(instant: utc("2026-11-22", 10, 30), businessDate: Self.date("2026-11-22")))
        // Strictly after, to the millisecond.
        #expect(schedule.next(after: utc("2026-11-22", 10, 30))?.instant == utc("2026-11-23", 10, 30))
        #expect(
            schedule.next(after: utc("2026-11-22", 10, 30).adding(milliseconds: -1))?.instant
                == utc("2026-11-22", 10, 30))
        // The local date, not the UTC one: 02:00 in Shanghai is still the previous day in UTC.
        let early = Self.schedule("0 2 * * *", Self.shanghai).next(after: utc("2026-11-22", 0, 0))
        #expect(early == Firing(instant: utc("2026-11-22", 18, 0), businessDate: Self.date("2026-11-23")))
    }

    @Test func utcSchedulesAndSecondsFields() {
        let schedule = Self.schedule("*/15 30 12 * * *")
        #expect(
            Self.instants(schedule, after: utc("2026-11-22", 12, 30, 15), through: utc("2026-11-23", 12, 30, 15)) == [
                utc("2026-11-22", 12, 30, 30), utc("2026-11-22", 12, 30, 45), utc("2026-11-23", 12, 30, 0),
                utc("2026-11-23", 12, 30, 15),
            ])
        let beforeEpoch = Self.schedule("0 0 * * *").next(after: Timestamp(milliseconds: -86_400_000 - 1))
        #expect(beforeEpoch?.instant == Timestamp(milliseconds: -86_400_000))
        #expect(beforeEpoch?.businessDate == Self.date("1969-12-31"))
    }

    @Test func limitsCapTheFiringsAndTheCount() {
        let schedule = Self.schedule("0 * * * *")
        let week = (utc("2026-11-22", 0, 0), utc("2026-11-29", 0, 0))
        #expect(
            schedule.firings(after: week.0, through: week.1, limit: 3).map(\.instant)
                == [utc("2026-11-22", 1, 0), utc("2026-11-22", 2, 0), utc("2026-11-22", 3, 0)])
        #expect(schedule.count(after: week.0, through: week.1, countLimit: 10) == 10)
        #expect(schedule.count(after: week.0, through: week.1, countLimit: 1000) == 168)
        #expect(schedule.firings(after: week.0, through: week.1, limit: 0).isEmpty)
        #expect(schedule.count(after: week.1, through: week.0, countLimit: 1000) == 0)
        #expect(schedule.count(after: week.0, through: week.0, countLimit: 1000) == 0)
    }

    @Test func noFiringWithinTenYearsIsNil() {
        let never = Self.schedule("0 0 30 2 *")
        #expect(never.next(after: utc("2026-01-01", 0, 0)) == nil)
        #expect(
            never.firings(after: utc("2026-01-01", 0, 0), through: Timestamp(milliseconds: Int64.max), limit: 10)
                .isEmpty)
        #expect(
            never.count(
                after: Timestamp(milliseconds: Int64.min), through: Timestamp(milliseconds: Int64.max), countLimit: 10)
                == 0)
        // 29 February 2100 does not exist: from March 2096 the next is 2104, within ten years.
        #expect(
            Self.schedule("0 0 29 2 *").next(after: utc("2096-03-01", 0, 0))?.businessDate == Self.date("2104-02-29"))
        #expect(
            Self.schedule("0 0 29 2 *").next(after: utc("2026-01-01", 0, 0))?.businessDate == Self.date("2028-02-29"))
        // A business day that no month has.
        #expect(
            Self.schedule("0 9 * * *", calendar: .weekdays, businessDay: 24).next(after: utc("2026-01-01", 0, 0)) == nil
        )
    }

    // MARK: Daylight saving

    @Test func springGapFiresOnceWhenTheGapEnds() {
        // New York, 8 March 2026: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
        let schedule = Self.schedule("30 2 * * *", Self.newYork)
        #expect(
            Self.schedule("30 2 * * *", Self.newYork).firings(
                after: utc("2026-03-07", 0, 0), through: utc("2026-03-09", 12, 0), limit: 10) == [
                    Firing(instant: utc("2026-03-07", 7, 30), businessDate: Self.date("2026-03-07")),
                    Firing(instant: utc("2026-03-08", 7, 0), businessDate: Self.date("2026-03-08")),
                    Firing(instant: utc("2026-03-09", 6, 30), businessDate: Self.date("2026-03-09")),
                ])
        #expect(schedule.next(after: utc("2026-03-07", 8, 0))?.instant == utc("2026-03-08", 7, 0))
        // Several times in the gap, and 03:00 itself, are one firing.
        let many = Self.schedule("0,30,45 2,3 * * *", Self.newYork)
        #expect(
            Self.instants(many, after: utc("2026-03-08", 6, 0), through: utc("2026-03-08", 9, 0))
                == [utc("2026-03-08", 7, 0), utc("2026-03-08", 7, 30), utc("2026-03-08", 7, 45)])
        // Sydney, 4 October 2026: 02:00 AEST becomes 03:00 AEDT at 16:00 UTC the day before.
        #expect(
            Self.schedule("30 2 * * *", Self.sydney).next(after: utc("2026-10-03", 0, 0))
                == Firing(instant: utc("2026-10-03", 16, 0), businessDate: Self.date("2026-10-04")))
        // London, 29 March 2026: 01:00 GMT becomes 02:00 BST.
        #expect(
            Self.schedule("30 1 * * *", Self.london).next(after: utc("2026-03-28", 12, 0))?.instant
                == utc("2026-03-29", 1, 0))
    }

    @Test func autumnOverlapFiresOnceAtTheEarlierInstant() {
        // New York, 1 November 2026: 01:30 is 05:30 UTC (EDT) and again 06:30 UTC (EST).
        let schedule = Self.schedule("30 1 * * *", Self.newYork)
        #expect(
            Self.instants(schedule, after: utc("2026-11-01", 0, 0), through: utc("2026-11-02", 12, 0))
                == [utc("2026-11-01", 5, 30), utc("2026-11-02", 6, 30)])
        #expect(schedule.next(after: utc("2026-11-01", 5, 30))?.instant == utc("2026-11-02", 6, 30))
        // Sydney, 5 April 2026: 02:30 is 15:30 UTC (AEDT) and again 16:30 UTC (AEST) on the 4th.
        #expect(
            Self.instants(
                Self.schedule("30 2 * * *", Self.sydney), after: utc("2026-04-04", 0, 0),
                through: utc("2026-04-05", 23, 0))
                == [utc("2026-04-04", 15, 30), utc("2026-04-05", 16, 30)])
        // London, 25 October 2026: 01:30 is 00:30 UTC (BST) and again 01:30 UTC (GMT).
        #expect(
            Self.schedule("30 1 * * *", Self.london).next(after: utc("2026-10-24", 12, 0))?.instant
                == utc("2026-10-25", 0, 30))
    }

    @Test func hourlySchedulesAcrossBothTransitions() {
        let newYork = Self.schedule("0 * * * *", Self.newYork)
        // Spring: local 02:00 (in the gap) and 03:00 are both 07:00 UTC, so every UTC hour fires once.
        let spring = newYork.firings(after: utc("2026-03-08", 4, 30), through: utc("2026-03-09", 4, 30), limit: 100)
        #expect(spring.map(\.instant) == Self.hourly(from: utc("2026-03-08", 5, 0), through: utc("2026-03-09", 4, 0)))
        #expect(spring.filter { $0.businessDate == Self.date("2026-03-08") }.count == 23)
        // Autumn: local 01:00 fires at its first occurrence (05:00 UTC), not again at 06:00 UTC.
        let autumn = Self.instants(newYork, after: utc("2026-11-01", 3, 30), through: utc("2026-11-02", 5, 30))
        #expect(
            autumn
                == Self.hourly(
                    from: utc("2026-11-01", 4, 0), through: utc("2026-11-02", 5, 0), skipping: utc("2026-11-01", 6, 0)))

        let sydney = Self.schedule("0 * * * *", Self.sydney)
        let sydneySpring = Self.instants(sydney, after: utc("2026-10-03", 13, 30), through: utc("2026-10-04", 13, 30))
        #expect(sydneySpring == Self.hourly(from: utc("2026-10-03", 14, 0), through: utc("2026-10-04", 13, 0)))
        let sydneyAutumn = Self.instants(sydney, after: utc("2026-04-04", 12, 30), through: utc("2026-04-05", 13, 30))
        #expect(
            sydneyAutumn
                == Self.hourly(
                    from: utc("2026-04-04", 13, 0), through: utc("2026-04-05", 13, 0),
                    skipping: utc("2026-04-04", 16, 0)))
    }

    /// 2080 is past the last transition in the tzdata files, so the footer's rule decides; the rules are the same.
    @Test func farFutureFollowsTheSameRules() {
        #expect(
            Self.schedule("30 2 * * *", Self.newYork).next(after: utc("2080-03-09", 12, 0))?.instant
                == utc("2080-03-10", 7, 0))
        #expect(
            Self.schedule("30 1 * * *", Self.newYork).next(after: utc("2080-11-03", 0, 0))?.instant
                == utc("2080-11-03", 5, 30))
        #expect(
            Self.schedule("30 2 * * *", Self.sydney).next(after: utc("2080-10-05", 0, 0))?.instant
                == utc("2080-10-05", 16, 0))
        #expect(
            Self.schedule("30 2 * * *", Self.sydney).next(after: utc("2080-04-06", 0, 0))?.instant
                == utc("2080-04-06", 15, 30))
        #expect(
            Self.schedule("30 18 * * *", Self.shanghai).next(after: utc("2080-06-01", 0, 0))?.instant
                == utc("2080-06-01", 10, 30))
        let hourly = Self.instants(
            Self.schedule("0 * * * *", Self.newYork), after: utc("2080-11-03", 3, 30), through: utc("2080-11-04", 5, 30)
        )
        #expect(
            hourly
                == Self.hourly(
                    from: utc("2080-11-03", 4, 0), through: utc("2080-11-04", 5, 0), skipping: utc("2080-11-03", 6, 0)))
    }

    @Test func firingsAlwaysIncreaseThroughAYearOfTransitions() {
        for zone in [Self.newYork, Self.sydney, Self.london] {
            let firings = Self.schedule("*/20 * * * *", zone).firings(
                after: utc("2026-01-01", 0, 0), through: utc("2027-01-01", 0, 0), limit: 100_000)
            #expect(zip(firings, firings.dropFirst()).allSatisfy { $0.instant < $1.instant }, "\(zone.name)")
            // Each year has one hour that does not occur and one that occurs twice: both fire three times.
            #expect(firings.count == 365 * 72 - 3, "\(zone.name)")
        }
    }

    /// A week of catch-up of a per-second schedule: every second fires once, except the second pass through
    /// the repeated hour in autumn.
    @Test func perSecondSchedulesCountAWeekOfFirings() {
        let everySecond = "* * * * * *"
        #expect(
            Self.schedule(everySecond).count(
                after: utc("2026-11-22", 0, 0), through: utc("2026-11-29", 0, 0), countLimit: 1_000_000) == 604_800)
        let spring = Self.schedule(everySecond, Self.newYork)
        #expect(
            spring.count(after: utc("2026-03-05", 0, 0), through: utc("2026-03-12", 0, 0), countLimit: 1_000_000)
                == 604_800)
        let autumn = Self.schedule(everySecond, Self.newYork)
        #expect(
            autumn.count(after: utc("2026-10-29", 0, 0), through: utc("2026-11-05", 0, 0), countLimit: 1_000_000)
                == 604_800 - 3600)
        #expect(
            Self.schedule(everySecond).count(
                after: utc("2026-11-22", 0, 0), through: utc("2026-11-29", 0, 0), countLimit: 5) == 5)
    }

    // MARK: Business calendars

    @Test func skipDropsMatchedDaysOff() {
        let daily = Self.schedule("0 9 * * *", calendar: .weekdays, onHoliday: .skip)
        let week = daily.firings(after: utc("2026-11-22", 0, 0), through: utc("2026-11-30", 0, 0), limit: 20)
        #expect(
            week.map(\.businessDate)
                == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"].map(Self.date))
        // The 1st of November 2026 is a Sunday: no firing that month.
        let monthly = Self.schedule("0 9 1 * *", calendar: .weekdays, onHoliday: .skip)
        #expect(monthly.next(after: utc("2026-10-15", 0, 0))?.instant == utc("2026-12-01", 9, 0))
    }

    @Test func nextAndPreviousMoveAcrossAWeekend() {
        let next = Self.schedule("0 9 1 * *", calendar: .weekdays, onHoliday: .next)
        #expect(
            next.next(after: utc("2026-10-15", 0, 0))
                == Firing(instant: utc("2026-11-02", 9, 0), businessDate: Self.date("2026-11-02")))
        let previous = Self.schedule("0 9 1 * *", calendar: .weekdays, onHoliday: .previous)
        #expect(
            previous.next(after: utc("2026-10-15", 0, 0))
                == Firing(instant: utc("2026-10-30", 9, 0), businessDate: Self.date("2026-10-30")))
        #expect(previous.next(after: utc("2026-10-30", 9, 0))?.instant == utc("2026-12-01", 9, 0))
    }

    @Test func nextAndPreviousMoveAcrossAHoliday() {
        // Christmas 2026 is a Friday: the next business day is Monday the 28th, the previous Thursday the 24th.
        let calendar = Self.calendar("2026-12-25 Christmas Day\n")
        let next = Self.schedule("0 9 25 12 *", calendar: calendar, onHoliday: .next)
        #expect(
            next.next(after: utc("2026-12-01", 0, 0))
                == Firing(instant: utc("2026-12-28", 9, 0), businessDate: Self.date("2026-12-28")))
        let previous = Self.schedule("0 9 25 12 *", calendar: calendar, onHoliday: .previous)
        #expect(previous.next(after: utc("2026-12-01", 0, 0))?.instant == utc("2026-12-24", 9, 0))
        // Skipped: 25 December 2027 is a Saturday, so the next is 2028's, a Monday.
        let skip = Self.schedule("0 9 25 12 *", calendar: calendar, onHoliday: .skip)
        #expect(skip.next(after: utc("2026-12-01", 0, 0))?.instant == utc("2028-12-25", 9, 0))
    }

    @Test func aHolidayOnTheLastDayOfTheYearMovesIntoJanuary() {
        // 31 December 2026 (Thursday) and 1 January 2027 (Friday) are holidays: the next business day is 4 January.
        let calendar = Self.calendar("2026-12-31 New Year's Eve\n2027-01-01 New Year's Day\n")
        let schedule = Self.schedule("0 17 31 12 *", Self.newYork, calendar: calendar, onHoliday: .next)
        #expect(
            schedule.next(after: utc("2026-12-01", 0, 0))
                == Firing(instant: utc("2027-01-04", 22, 0), businessDate: Self.date("2027-01-04")))
        let previous = Self.schedule("0 17 1 1 *", calendar: calendar, onHoliday: .previous)
        #expect(previous.next(after: utc("2026-12-01", 0, 0))?.businessDate == Self.date("2026-12-30"))
    }

    @Test func daysMovedOntoOneBusinessDayFireOnce() {
        // Daily with .next: Saturday and Sunday move to Monday, which is matched itself: one firing each weekday.
        let daily = Self.schedule("0 9 * * *", calendar: .weekdays, onHoliday: .next)
        let week = daily.firings(after: utc("2026-11-22", 0, 0), through: utc("2026-11-30", 23, 0), limit: 20)
        #expect(
            week.map(\.businessDate)
                == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-30"].map(Self.date))
        let previous = Self.schedule("0 9 * * *", calendar: .weekdays, onHoliday: .previous)
        #expect(previous.count(after: utc("2026-11-22", 0, 0), through: utc("2026-11-30", 23, 0), countLimit: 100) == 6)
        // The 1st (a Sunday) and 2nd (a Monday) of November 2026: one firing on the 2nd.
        let twoDays = Self.schedule("0 9 1,2 * *", calendar: .weekdays, onHoliday: .next)
        #expect(
            Self.instants(twoDays, after: utc("2026-10-31", 0, 0), through: utc("2026-11-30", 0, 0)) == [
                utc("2026-11-02", 9, 0)
            ])
    }

    @Test func workdaysAreBusinessDaysButTheCronMustStillMatch() {
        let calendar = Self.calendar(BusinessCalendarTests.sample)
        // Saturday 14 February 2026 is a make-up workday; the Spring Festival runs from the 16th to the 22nd.
        let daily = Self.schedule("0 9 * * *", Self.shanghai, calendar: calendar)
        #expect(
            daily.firings(after: utc("2026-02-13", 0, 0), through: utc("2026-02-24", 0, 0), limit: 20).map(
                \.businessDate)
                == ["2026-02-13", "2026-02-14", "2026-02-23"].map(Self.date))
        let weekdaysOnly = Self.schedule("0 9 * * MON-FRI", Self.shanghai, calendar: calendar)
        #expect(
            weekdaysOnly.firings(after: utc("2026-02-13", 0, 0), through: utc("2026-02-24", 0, 0), limit: 20).map(
                \.businessDate)
                == ["2026-02-13", "2026-02-23"].map(Self.date))
        // A holiday moved back over the festival lands on the workday.
        let previous = Self.schedule("0 9 18 2 *", Self.shanghai, calendar: calendar, onHoliday: .previous)
        #expect(
            previous.next(after: utc("2026-02-01", 0, 0))
                == Firing(instant: utc("2026-02-14", 1, 0), businessDate: Self.date("2026-02-14")))
        let next = Self.schedule("0 9 18 2 *", Self.shanghai, calendar: calendar, onHoliday: .next)
        #expect(next.next(after: utc("2026-02-01", 0, 0))?.businessDate == Self.date("2026-02-23"))
    }

    // MARK: N-th business day

    @Test func nthBusinessDayOfEachMonth() {
        let first = Self.schedule("0 9 * * *", calendar: .weekdays, businessDay: 1)
        // August 2026 starts on a Saturday, November on a Sunday.
        #expect(
            first.firings(after: utc("2026-08-01", 0, 0), through: utc("2026-11-30", 0, 0), limit: 10).map(
                \.businessDate)
                == ["2026-08-03", "2026-09-01", "2026-10-01", "2026-11-02"].map(Self.date))
        let last = Self.schedule("0 9 * * *", calendar: .weekdays, businessDay: -1)
        #expect(
            last.firings(after: utc("2026-08-01", 0, 0), through: utc("2026-12-01", 0, 0), limit: 10).map(
                \.businessDate)
                == ["2026-08-31", "2026-09-30", "2026-10-30", "2026-11-30"].map(Self.date))
        // Without a calendar, business days are weekdays.
        #expect(
            Self.schedule("0 9 * * *", businessDay: 1).next(after: utc("2026-10-15", 0, 0))?.businessDate
                == Self.date("2026-11-02"))
        // Quarter ends only, twice a day.
        let quarterEnd = Self.schedule("0 9,17 * 3,6,9,12 *", calendar: .weekdays, businessDay: -1)
        #expect(
            Self.instants(quarterEnd, after: utc("2026-01-01", 0, 0), through: utc("2026-12-31", 23, 0)) == [
                utc("2026-03-31", 9, 0), utc("2026-03-31", 17, 0), utc("2026-06-30", 9, 0), utc("2026-06-30", 17, 0),
                utc("2026-09-30", 9, 0), utc("2026-09-30", 17, 0), utc("2026-12-31", 9, 0), utc("2026-12-31", 17, 0),
            ])
    }

    @Test func nthBusinessDayStepsOverHolidaysAndCountsWorkdays() {
        let calendar = Self.calendar(BusinessCalendarTests.sample)
        let first = Self.schedule("0 9 * * *", Self.shanghai, calendar: calendar, businessDay: 1)
        // 1 January and 1–7 October 2026 are holidays.
        #expect(
            first.next(after: utc("2025-12-31", 12, 0))
                == Firing(instant: utc("2026-01-02", 1, 0), businessDate: Self.date("2026-01-02")))
        #expect(first.next(after: utc("2026-09-15", 0, 0))?.businessDate == Self.date("2026-10-08"))
        let last = Self.schedule("0 9 * * *", Self.shanghai, calendar: calendar, businessDay: -1)
        #expect(last.next(after: utc("2026-12-01", 0, 0))?.businessDate == Self.date("2026-12-30"))
        // Sunday 27 September is a workday: the 20th business day of September.
        let twentieth = Self.schedule("0 9 * * *", Self.shanghai, calendar: calendar, businessDay: 20)
        #expect(twentieth.next(after: utc("2026-09-01", 0, 0))?.businessDate == Self.date("2026-09-27"))
    }

    @Test func schedulesCompareByTheirParts() {
        #expect(Self.schedule("0 9 * * *", Self.newYork) == Self.schedule("0 9 * * *", Self.newYork))
        #expect(Self.schedule("0 9 * * *", Self.newYork) != Self.schedule("0 9 * * *", Self.london))
        #expect(
            Self.schedule("0 9 * * *", calendar: .weekdays)
                != Self.schedule("0 9 * * *", calendar: .weekdays, onHoliday: .next))
        #expect(HolidayRule.allCases.map(\.rawValue) == ["skip", "next", "previous"])
    }
}
