import Core
import Testing

/// Business calendars: the file format, business days, shifts, n-th business days, and every refusal.
struct BusinessCalendarTests {
    /// 2026 starts on a Thursday; 14 and 28 February are Saturdays and 27 September a Sunday.
    static let sample = """
        # An example calendar for 2026.
        weekend sat sun

        2026-01-01 New Year's Day
        2026-02-16..2026-02-22 Spring Festival
        workday 2026-02-14 Spring Festival make-up day
        workday 2026-02-28
        2026-05-01   Labour Day   # a comment after the name
        \t2026-10-01..2026-10-07\tNational Day
        WORKDAY 2026-09-27
        2026-12-31
        """

    static let calendar: BusinessCalendar = {
        do { return try BusinessCalendar.parse(sample, name: "cn") } catch { preconditionFailure("\(error)") }
    }()

    static func date(_ text: String) -> CivilDate { CivilDate(text)! }

    static func problem(_ text: String) -> CalendarProblem? {
        do {
            _ = try BusinessCalendar.parse(text, name: "x")
            return nil
        } catch { return error }
    }

    @Test func holidaysWorkdaysAndTheWeekendAreRead() {
        let calendar = Self.calendar
        #expect(calendar.name == "cn")
        #expect(calendar.weekend == [0, 6])
        #expect(calendar.holiday(on: Self.date("2026-01-01")) == "New Year's Day")
        #expect(calendar.holiday(on: Self.date("2026-02-18")) == "Spring Festival")
        #expect(calendar.holiday(on: Self.date("2026-05-01")) == "Labour Day")
        #expect(calendar.holiday(on: Self.date("2026-10-07")) == "National Day")
        #expect(calendar.holiday(on: Self.date("2026-12-31")) == "")
        #expect(calendar.holiday(on: Self.date("2026-01-02")) == nil)
        #expect(calendar.holiday(on: Self.date("2026-01-03")) == nil)  // a weekend day is not a holiday
        #expect(calendar.workday(on: Self.date("2026-02-14")) == "Spring Festival make-up day")
        #expect(calendar.workday(on: Self.date("2026-02-28")) == "")
        #expect(calendar.firstDate == Self.date("2026-01-01"))
        #expect(calendar.lastDate == Self.date("2026-12-31"))
    }

    @Test func businessDaysAreWorkdaysOrNeitherHolidaysNorWeekends() {
        let calendar = Self.calendar
        #expect(!calendar.isBusinessDay(Self.date("2026-01-01")))  // holiday, Thursday
        #expect(calendar.isBusinessDay(Self.date("2026-01-02")))  // Friday
        #expect(!calendar.isBusinessDay(Self.date("2026-01-03")))  // Saturday
        #expect(!calendar.isBusinessDay(Self.date("2026-01-04")))  // Sunday
        #expect(calendar.isBusinessDay(Self.date("2026-02-14")))  // workday on a Saturday
        #expect(calendar.isBusinessDay(Self.date("2026-09-27")))  // workday on a Sunday
        #expect(!calendar.isBusinessDay(Self.date("2026-02-18")))
    }

    @Test func weekendsCanBeOtherDaysOrNone() throws {
        let none = try BusinessCalendar.parse("weekend none\n", name: "x")
        #expect(none.weekend == [])
        #expect(none.isBusinessDay(Self.date("2026-11-28")))
        #expect(none.firstDate == nil && none.lastDate == nil)
        let gulf = try BusinessCalendar.parse("Weekend FRI sat", name: "x")
        #expect(gulf.weekend == [5, 6])
        #expect(gulf.isBusinessDay(Self.date("2026-11-22")))  // Sunday
        #expect(!gulf.isBusinessDay(Self.date("2026-11-27")))  // Friday
        let empty = try BusinessCalendar.parse("", name: "x")
        #expect(empty.weekend == [0, 6])
        #expect(try empty == BusinessCalendar.parse("# nothing but a comment\n\n", name: "x"))
    }

    @Test func theBuiltInWeekdaysCalendar() {
        let weekdays = BusinessCalendar.weekdays
        #expect(weekdays.name == "weekdays")
        #expect(weekdays.weekend == [0, 6])
        #expect(weekdays.firstDate == nil)
        #expect(weekdays.holidays(from: Self.date("2026-01-01"), limit: 10).isEmpty)
        #expect(weekdays.isBusinessDay(Self.date("2026-11-23")))
        #expect(!weekdays.isBusinessDay(Self.date("2026-11-22")))
    }

    @Test func nextAndPreviousBusinessDaysStepOverHolidaysAndWeekends() {
        let calendar = Self.calendar
        #expect(calendar.nextBusinessDay(after: Self.date("2025-12-31")) == Self.date("2026-01-02"))
        #expect(calendar.nextBusinessDay(after: Self.date("2026-01-02")) == Self.date("2026-01-05"))
        #expect(calendar.previousBusinessDay(before: Self.date("2026-01-05")) == Self.date("2026-01-02"))
        #expect(calendar.previousBusinessDay(before: Self.date("2026-01-02")) == Self.date("2025-12-31"))
        #expect(calendar.nextBusinessDay(after: Self.date("2026-02-13")) == Self.date("2026-02-14"))
        #expect(calendar.nextBusinessDay(after: Self.date("2026-02-14")) == Self.date("2026-02-23"))
        #expect(calendar.previousBusinessDay(before: Self.date("2026-02-23")) == Self.date("2026-02-14"))
        // Across the year's end: 31 December is a holiday, 1 January 2027 a Friday.
        #expect(calendar.nextBusinessDay(after: Self.date("2026-12-30")) == Self.date("2027-01-01"))
        #expect(calendar.previousBusinessDay(before: Self.date("2027-01-01")) == Self.date("2026-12-30"))
    }

    @Test func noBusinessDayWithinAYearIsNil() throws {
        let never = try BusinessCalendar.parse("weekend sun mon tue wed thu fri sat", name: "x")
        #expect(never.nextBusinessDay(after: Self.date("2026-01-01")) == nil)
        #expect(never.previousBusinessDay(before: Self.date("2026-01-01")) == nil)
        #expect(never.businessDay(1, year: 2026, month: 1) == nil)
        let rare = try BusinessCalendar.parse("weekend sun mon tue wed thu fri sat\nworkday 2027-01-01\n", name: "x")
        #expect(rare.nextBusinessDay(after: Self.date("2026-01-01")) == Self.date("2027-01-01"))  // 365 days on
        #expect(rare.nextBusinessDay(after: Self.date("2025-12-31")) == Self.date("2027-01-01"))  // 366 days on
        #expect(rare.nextBusinessDay(after: Self.date("2025-12-30")) == nil)  // 367 days on
    }

    @Test func nthBusinessDayCountsFromEitherEndOfTheMonth() {
        let weekdays = BusinessCalendar.weekdays
        // November 2026 starts on a Sunday and ends on a Monday; August 2026 starts on a Saturday.
        #expect(weekdays.businessDay(1, year: 2026, month: 11) == Self.date("2026-11-02"))
        #expect(weekdays.businessDay(-1, year: 2026, month: 11) == Self.date("2026-11-30"))
        #expect(weekdays.businessDay(-2, year: 2026, month: 11) == Self.date("2026-11-27"))
        #expect(weekdays.businessDay(21, year: 2026, month: 11) == Self.date("2026-11-30"))
        #expect(weekdays.businessDay(22, year: 2026, month: 11) == nil)
        #expect(weekdays.businessDay(-22, year: 2026, month: 11) == nil)
        #expect(weekdays.businessDay(0, year: 2026, month: 11) == nil)
        #expect(weekdays.businessDay(1, year: 2026, month: 8) == Self.date("2026-08-03"))
        let calendar = Self.calendar
        // October 2026: the 1st–7th are holidays, the 10th and 11th a weekend.
        #expect(calendar.businessDay(1, year: 2026, month: 10) == Self.date("2026-10-08"))
        #expect(calendar.businessDay(3, year: 2026, month: 10) == Self.date("2026-10-12"))
        // January 2026: the 1st is a holiday.
        #expect(calendar.businessDay(1, year: 2026, month: 1) == Self.date("2026-01-02"))
        // December 2026: the 31st is a holiday, so the last business day is the 30th.
        #expect(calendar.businessDay(-1, year: 2026, month: 12) == Self.date("2026-12-30"))
        // September 2026 has 22 weekdays and a workday on Sunday the 27th.
        #expect(calendar.businessDay(20, year: 2026, month: 9) == Self.date("2026-09-27"))
        #expect(calendar.businessDay(23, year: 2026, month: 9) == Self.date("2026-09-30"))
        #expect(calendar.businessDay(-23, year: 2026, month: 9) == Self.date("2026-09-01"))
        #expect(calendar.businessDay(24, year: 2026, month: 9) == nil)
    }

    @Test func holidaysAreListedInOrderFromADate() {
        let calendar = Self.calendar
        let february = calendar.holidays(from: Self.date("2026-02-20"), limit: 4)
        #expect(february.map(\.date) == ["2026-02-20", "2026-02-21", "2026-02-22", "2026-05-01"].map(Self.date))
        #expect(february.map(\.name) == ["Spring Festival", "Spring Festival", "Spring Festival", "Labour Day"])
        let first = calendar.holidays(from: Self.date("2026-01-01"), limit: 1)
        #expect(first.map(\.date) == [Self.date("2026-01-01")])
        let last = calendar.holidays(from: Self.date("2026-12-01"), limit: 10)
        #expect(last.map(\.date) == [Self.date("2026-12-31")])
        #expect(calendar.holidays(from: Self.date("2027-01-01"), limit: 10).isEmpty)
        #expect(calendar.holidays(from: Self.date("2026-01-01"), limit: 0).isEmpty)
        #expect(calendar.holidays(from: Self.date("2020-01-01"), limit: 100).count == 1 + 7 + 1 + 7 + 1)
    }

    @Test func windowsLineEndsAndAByteOrderMarkAreAccepted() throws {
        let calendar = try BusinessCalendar.parse("\u{FEFF}weekend sat sun\r\n2026-01-01 New Year\r\n", name: "x")
        #expect(calendar.holiday(on: Self.date("2026-01-01")) == "New Year")
    }

    @Test func problemsNameTheLineAndColumn() {
        let cases: [(String, Int, Int, String)] = [
            ("# header\n\n2026-02-30 Nope", 3, 1, "\"2026-02-30\" is not a date"),
            ("   2026-1-5", 1, 4, "\"2026-1-5\" is not a date"),
            ("2026-05-01\n2026-05-02\n\n\n2026-05-01 again", 5, 1, "2026-05-01 is listed twice (first on line 1)"),
            ("2026-04-28..2026-05-02\n2026-05-01..2026-05-05", 2, 1, "2026-05-01 is listed twice (first on line 1)"),
            (
                "holiday 2026-01-01", 1, 1,
                "unknown keyword \"holiday\" (expected weekend, workday or a date YYYY-MM-DD)"
            ),
            ("2026-05-05..2026-05-01", 1, 1, "range ends before it starts: 2026-05-05..2026-05-01"),
            ("2026-01-01..2027-01-02", 1, 1, "range 2026-01-01..2027-01-02 is 367 days, more than 366"),
            ("2026-01-01..2026-13-01", 1, 13, "\"2026-13-01\" is not a date"),
            ("2026-01-01..", 1, 13, "\"\" is not a date"),
            ("2026-10-10\nworkday 2026-10-10", 2, 9, "2026-10-10 is both a holiday (line 1) and a workday"),
            ("workday 2026-10-10\n2026-10-09..2026-10-11", 2, 1, "2026-10-10 is both a workday (line 1) and a holiday"),
            ("workday 2026-10-10\nworkday 2026-10-10", 2, 9, "2026-10-10 is listed twice (first on line 1)"),
            ("workday", 1, 1, "workday needs a date (YYYY-MM-DD)"),
            ("workday 2026-10-10..2026-10-11", 1, 9, "a workday is one date, not a range"),
            ("workday 2026-02-29", 1, 9, "\"2026-02-29\" is not a date"),
            ("weekend sat\nweekend sun", 2, 1, "weekend is set twice (first on line 1)"),
            ("weekend", 1, 1, "weekend needs days (sun mon tue wed thu fri sat) or none"),
            ("weekend  saturday", 1, 10, "unknown day \"saturday\" (days: sun mon tue wed thu fri sat, or none)"),
            ("weekend sat SAT", 1, 13, "sat is listed twice"),
            ("weekend sat none", 1, 13, "none cannot be listed with days"),
        ]
        for (text, line, column, message) in cases {
            #expect(Self.problem(text) == CalendarProblem(line: line, column: column, message: message), "\(text)")
        }
        #expect(Self.problem("\n\n2026-02-30")?.description == "line 3, column 1: \"2026-02-30\" is not a date")
        #expect(CalendarProblem(line: 5, column: 0, message: "m").description == "line 5: m")
    }

    /// Every line at fault is named, each with its first problem; a range that clashes lists the rest of
    /// its days, so that a later line is checked against all of it. A valid file reads as it always did.
    @Test func everyLineAtFaultIsNamedAndARangeThatClashesListsTheRest() {
        let text = "2026-01-02 A\n2026-01-01..2026-01-05 Break\nnope\n2026-01-04 B\n2026-01-09 fine\n"
        let checked = BusinessCalendar.check(text, name: "x")
        #expect(checked.calendar == nil)
        #expect(checked.problems.map(\.description) == [
            "line 2, column 1: 2026-01-02 is listed twice (first on line 1)",
            "line 3, column 1: unknown keyword \"nope\" (expected weekend, workday or a date YYYY-MM-DD)",
            "line 4, column 1: 2026-01-04 is listed twice (first on line 2)",
        ])
        #expect(Self.problem(text)?.line == 2, "parse throws the first")
        #expect(BusinessCalendar.check("2026-12-25 Christmas Day\n", name: "uk").calendar?.holiday(on: Self.date("2026-12-25")) == "Christmas Day")
    }
}
