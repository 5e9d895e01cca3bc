import Core
import Testing

/// Dates without zones: day numbers, weekdays, validation and text.
struct CivilDateTests {
    @Test func dayNumbersCountFromTheEpoch() {
        #expect(CivilDate(year: 1970, month: 1, day: 1).daysSinceEpoch == 0)
        #expect(CivilDate(year: 2000, month: 3, day: 1).daysSinceEpoch == 11_017)
        #expect(CivilDate(year: 1969, month: 12, day: 31).daysSinceEpoch == -1)
        #expect(CivilDate(daysSinceEpoch: 20_414) == CivilDate(year: 2025, month: 11, day: 22))
        #expect(CivilDate(daysSinceEpoch: -719_468) == CivilDate(year: 0, month: 3, day: 1))
    }

    @Test func dayNumbersRoundTripAndStepOneDayAtATime() {
        var previous = CivilDate(daysSinceEpoch: -800_000)
        for day in -799_999...800_000 where day % 7 == 0 || day.magnitude < 1000 {
            let date = CivilDate(daysSinceEpoch: day)
            #expect(date.daysSinceEpoch == day)
            #expect(previous < date)
            previous = date
        }
        var date = CivilDate(year: 2023, month: 12, day: 25)
        for _ in 0..<800 {
            let next = date.adding(days: 1)
            let expected =
                date.day < CivilDate.daysIn(year: date.year, month: date.month)
                ? CivilDate(year: date.year, month: date.month, day: date.day + 1)
                : date.month < 12
                    ? CivilDate(year: date.year, month: date.month + 1, day: 1)
                    : CivilDate(year: date.year + 1, month: 1, day: 1)
            #expect(next == expected)
            date = next
        }
    }

    @Test func weekdaysStartOnSunday() {
        #expect(CivilDate(year: 1970, month: 1, day: 1).weekday == 4)  // Thursday
        #expect(CivilDate(year: 2026, month: 11, day: 22).weekday == 0)
        #expect(CivilDate(year: 2026, month: 11, day: 28).weekday == 6)
        #expect(CivilDate(year: 1969, month: 12, day: 28).weekday == 0)
    }

    @Test func textIsValidated() {
        #expect(CivilDate("2026-11-22") == CivilDate(year: 2026, month: 11, day: 22))
        #expect(CivilDate("2028-02-29") != nil)
        #expect(CivilDate("2000-02-29") != nil)
        for bad in [
            "2026-02-30", "2026-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-1-01",
            "26-01-01", "2026/01/01", "2026-01-01 ", "", "２026-01-01", "2026-01-0x",
        ] {
            #expect(CivilDate(bad) == nil, "\(bad)")
        }
        #expect(CivilDate(year: 2026, month: 1, day: 5).description == "2026-01-05")
        #expect(CivilDate(year: 33, month: 1, day: 5).description == "0033-01-05")
    }

    @Test func monthLengthsFollowTheGregorianLeapRule() {
        #expect(CivilDate.daysIn(year: 2026, month: 2) == 28)
        #expect(CivilDate.daysIn(year: 2028, month: 2) == 29)
        #expect(CivilDate.daysIn(year: 2100, month: 2) == 28)
        #expect(CivilDate.daysIn(year: 2000, month: 2) == 29)
        #expect(
            (1...12).map { CivilDate.daysIn(year: 2026, month: $0) } == [
                31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
            ])
    }
}
