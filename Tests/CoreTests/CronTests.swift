import Core
import Testing

/// Cron expressions: every field form, the day-of-month/day-of-week rule, macros, and every refusal.
struct CronTests {
    static func cron(_ text: String) -> CronExpression {
        do { return try CronExpression.parse(text) } catch { preconditionFailure("\(text): \(error)") }
    }

    /// The days of a month (2026 unless said) the expression matches.
    static func days(_ text: String, month: Int, year: Int = 2026) -> [Int] {
        let expression = cron(text)
        return (1...CivilDate.daysIn(year: year, month: month)).filter {
            expression.matches(CivilDate(year: year, month: month, day: $0))
        }
    }

    static func clock(_ hour: Int, _ minute: Int, _ second: Int = 0) -> Int { hour * 3600 + minute * 60 + second }

    static func problem(_ text: String) -> CronProblem? {
        do {
            _ = try CronExpression.parse(text)
            return nil
        } catch { return error }
    }

    @Test func valuesRangesListsAndStepsPickTimesOfDay() {
        #expect(Self.cron("0 0 * * *").times() == [0])
        #expect(Self.cron("5 * * * *").times() == (0..<24).map { Self.clock($0, 5) })
        #expect(
            Self.cron("*/15 9-17 * * *").times() == (9...17).flatMap { h in [0, 15, 30, 45].map { Self.clock(h, $0) } })
        #expect(Self.cron("10-30/10 6 * * *").times() == [Self.clock(6, 10), Self.clock(6, 20), Self.clock(6, 30)])
        #expect(Self.cron("7/20 6 * * *").times() == [Self.clock(6, 7), Self.clock(6, 27), Self.clock(6, 47)])
        #expect(Self.cron("*/25 6 * * *").times() == [Self.clock(6, 0), Self.clock(6, 25), Self.clock(6, 50)])
        #expect(
            Self.cron("0,30 8,12-13 * * *").times()
                == [
                    Self.clock(8, 0), Self.clock(8, 30), Self.clock(12, 0), Self.clock(12, 30), Self.clock(13, 0),
                    Self.clock(13, 30),
                ])
        #expect(Self.cron("59 23 * * *").times() == [86_399 - 59])
        #expect(Self.cron("0 0 12/5 * * *").times() == [Self.clock(12, 0), Self.clock(17, 0), Self.clock(22, 0)])
    }

    @Test func aSixthFieldAddsSeconds() {
        let expression = Self.cron("*/20 0 0 * * *")
        #expect(expression.hasSeconds)
        #expect(expression.times() == [0, 20, 40])
        #expect(!Self.cron("0 0 * * *").hasSeconds)
        let everySecond = Self.cron("* * * * * *").times()
        #expect(everySecond.count == 86_400)
        #expect(everySecond == Array(0..<86_400))
    }

    @Test func monthsByNumberAndByNameInAnyCase() {
        let expression = Self.cron("0 0 1 jan,Mar-MAY,11 *")
        #expect((1...12).filter(expression.monthMatches) == [1, 3, 4, 5, 11])
        #expect(expression.matches(CivilDate(year: 2026, month: 4, day: 1)))
        #expect(!expression.matches(CivilDate(year: 2026, month: 2, day: 1)))
        #expect(!expression.matches(CivilDate(year: 2026, month: 4, day: 2)))
        #expect((1...12).filter(Self.cron("0 0 * JUL-DEC/2 *").monthMatches) == [7, 9, 11])
        #expect(!Self.cron("0 0 * * *").monthMatches(13))
    }

    @Test func weekdaysByNumberAndNameWithSevenAsSunday() {
        // November 2026 starts on a Sunday.
        #expect(Self.days("0 0 * * MON-fri", month: 11).count == 21)
        #expect(Self.days("0 0 * * 0", month: 11) == [1, 8, 15, 22, 29])
        #expect(Self.days("0 0 * * 7", month: 11) == [1, 8, 15, 22, 29])
        #expect(Self.days("0 0 * * sun", month: 11) == [1, 8, 15, 22, 29])
        #expect(Self.days("0 0 * * 5-7", month: 11) == Self.days("0 0 * * FRI-SUN", month: 11))
        #expect(Self.days("0 0 * * FRI-SUN", month: 11).prefix(4) == [1, 6, 7, 8])
        #expect(Self.days("0 0 * * 1,3,5", month: 11).prefix(3) == [2, 4, 6])
        #expect(Self.days("0 0 * * */2", month: 11).prefix(4) == [1, 3, 5, 7])  // Sun, Tue, Thu, Sat
    }

    @Test func lastDayOfTheMonthAndDaysBeforeIt() {
        #expect(Self.days("0 0 L * *", month: 1) == [31])
        #expect(Self.days("0 0 L * *", month: 2) == [28])
        #expect(Self.days("0 0 L * *", month: 2, year: 2028) == [29])
        #expect(Self.days("0 0 L * *", month: 4) == [30])
        #expect(Self.days("0 0 L-3 * *", month: 1) == [28])
        #expect(Self.days("0 0 L-3 * *", month: 2, year: 2028) == [26])
        #expect(Self.days("0 0 1,15,L * *", month: 6) == [1, 15, 30])
        #expect(Self.days("0 0 l-0 * *", month: 6) == [30])
    }

    @Test func lastAndNthWeekdayOfTheMonth() {
        // Fridays in November 2026: 6, 13, 20, 27.
        #expect(Self.days("0 0 * * 5L", month: 11) == [27])
        #expect(Self.days("0 0 * * FRIL", month: 11) == [27])
        #expect(Self.days("0 0 * * friL", month: 11) == [27])
        #expect(Self.days("0 0 * * 0L", month: 11) == [29])
        #expect(Self.days("0 0 * * 7L", month: 11) == [29])
        #expect(Self.days("0 0 * * 1L,5L", month: 11) == [27, 30])
        #expect(Self.days("0 0 * * FRI#2", month: 11) == [13])
        #expect(Self.days("0 0 * * 1#1,1#3", month: 11) == [2, 16])
        #expect(Self.days("0 0 * * 0#5", month: 11) == [29])
        #expect(Self.days("0 0 * * 5#5", month: 11) == [])
    }

    @Test func restrictedDayFieldsMatchEitherOtherwiseBoth() {
        // 13 December 2026 is a Sunday; its Fridays are 4, 11, 18, 25.
        #expect(Self.days("0 0 13 * FRI", month: 12) == [4, 11, 13, 18, 25])
        #expect(Self.days("0 0 13 * *", month: 12) == [13])
        #expect(Self.days("0 0 * * FRI", month: 12) == [4, 11, 18, 25])
        #expect(Self.days("0 0 13 * ?", month: 12) == [13])
        #expect(Self.days("0 0 ? * FRI", month: 12) == [4, 11, 18, 25])
        #expect(Self.days("0 0 L * FRIL", month: 12) == [25, 31])
        // A step is a restriction too: only exactly `*` or `?` leaves a field open.
        #expect(Self.days("0 0 */10 * MON", month: 12) == [1, 7, 11, 14, 21, 28, 31])
        // The month applies either way.
        #expect(Self.days("0 0 13 JAN FRI", month: 12) == [])
        #expect(Self.cron("0 0 ? * ?").dayFieldsAreWildcards)
        #expect(Self.cron("0 0 * JAN *").dayFieldsAreWildcards)
        #expect(!Self.cron("0 0 1 * *").dayFieldsAreWildcards)
        #expect(!Self.cron("0 0 * * MON").dayFieldsAreWildcards)
        #expect(!Self.cron("0 0 */1 * *").dayFieldsAreWildcards)
    }

    @Test func macrosStandForTheirExpressions() {
        let pairs = [
            ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"), ("@DAILY", "0 0 * * *"),
        ]
        for (macro, expansion) in pairs {
            let expression = Self.cron(macro)
            let expected = Self.cron(expansion)
            #expect(expression.text == macro)
            #expect(expression.times() == expected.times(), "\(macro)")
            #expect(expression.dayFieldsAreWildcards == expected.dayFieldsAreWildcards)
            for month in 1...12 {
                #expect(Self.days(macro, month: month) == Self.days(expansion, month: month), "\(macro)")
            }
        }
        #expect(Self.cron("@hourly").times().count == 24)
    }

    @Test func theTextIsKeptWithoutSurroundingSpace() {
        let expression = Self.cron("  0  9 * *\tMON-FRI ")
        #expect(expression.text == "0  9 * *\tMON-FRI")
        #expect(expression.description == expression.text)
        #expect(Self.cron("0 9 * * *") == Self.cron("0 9 * * *"))
    }

    @Test func problemsNameTheColumnAndField() {
        let cases: [(String, Int, String?, String)] = [
            ("", 1, nil, "expected 5 or 6 fields, found 0"),
            ("0 0 * *", 1, nil, "expected 5 or 6 fields, found 4"),
            ("0 0 0 * * * *", 13, nil, "expected 5 or 6 fields, found 7"),
            ("10 25 * * *", 4, "hour", "25 is out of range 0–23"),
            ("60 * * * * *", 1, "second", "60 is out of range 0–59"),
            ("0 60 * * * *", 3, "minute", "60 is out of range 0–59"),
            ("99999 * * * *", 1, "minute", "99999 is out of range 0–59"),
            ("0 0 32 * *", 5, "day-of-month", "32 is out of range 1–31"),
            ("0 0 0 * *", 5, "day-of-month", "0 is out of range 1–31"),
            ("0 0 * 13 *", 7, "month", "13 is out of range 1–12"),
            ("0 0 * * 8", 9, "day-of-week", "8 is out of range 0–7"),
            ("0 12 1,15 JANN *", 11, "month", "unknown name \"JANN\" (names: JAN–DEC)"),
            ("0 0 * * FUN", 9, "day-of-week", "unknown name \"FUN\" (names: SUN–SAT)"),
            ("*/0 * * * *", 1, "minute", "step 0 must be at least 1"),
            ("0 1-5/0 * * *", 3, "hour", "step 0 must be at least 1"),
            ("*/x * * * *", 1, "minute", "step \"x\" is not a number"),
            ("x * * * *", 1, "minute", "\"x\" is not a number"),
            ("-5 * * * *", 1, "minute", "\"-5\" is not a number"),
            ("5-2 * * * *", 1, "minute", "range 5-2 ends before it starts"),
            ("0 0 * * 1-20", 11, "day-of-week", "20 is out of range 0–7"),
            ("1,,2 * * * *", 3, "minute", "empty value in a list"),
            ("0 0 1, * *", 7, "day-of-month", "empty value in a list"),
            ("? * * * *", 1, "minute", "\"?\" is only allowed in day-of-month and day-of-week"),
            ("0 0 1,? * *", 7, "day-of-month", "\"?\" stands alone, not in a list"),
            ("L * * * *", 1, "minute", "\"L\" is only allowed in day-of-month and day-of-week"),
            ("0 0 * L *", 7, "month", "\"L\" is only allowed in day-of-month and day-of-week"),
            ("0 0 L-31 * *", 7, "day-of-month", "31 is out of range 0–30"),
            ("0 0 LW * *", 5, "day-of-month", "\"LW\" is not a day: use L (the last day) or L-n (n days before it)"),
            ("0 0 * * 8L", 9, "day-of-week", "8 is out of range 0–7"),
            ("0 0 * * L", 9, "day-of-week", "\"L\" is not a weekday: use nL or FRIL for the last such weekday"),
            ("0 0 * * FRI#6", 13, "day-of-week", "6 is out of range 1–5"),
            ("0 0 15#2 * *", 5, "day-of-month", "\"#\" is only allowed in day-of-week"),
            (
                "@often", 1, nil,
                "unknown macro \"@often\" (macros: @yearly @annually @monthly @weekly @daily @midnight @hourly)"
            ),
            ("@daily 5", 8, nil, "a macro stands alone, found more after it"),
            // Found by a new user: an unknown macro with a value after it was told a macro stands alone.
            (
                "@every 5m", 1, nil,
                "unknown macro \"@every\" (macros: @yearly @annually @monthly @weekly @daily @midnight @hourly)"
            ),
        ]
        for (text, column, field, message) in cases {
            let problem = Self.problem(text)
            #expect(problem == CronProblem(column: column, field: field, message: message), "\(text)")
        }
        #expect(Self.problem("10 25 * * *")?.description == "column 4 (hour): 25 is out of range 0–23")
        #expect(Self.problem("0 0 * *")?.description == "expected 5 or 6 fields, found 4")
        #expect(Self.problem("*/0 * * * *")?.description == "column 1 (minute): step 0 must be at least 1")
    }

    /// Days of the month no month given has parse, as cron's do, and are named as never firing; a day a
    /// month has, a last day, or a weekday given too (either matches) is a date that comes.
    @Test func aDayNoMonthGivenHasIsNamedAsNeverFiring() throws {
        func never(_ text: String) throws -> String? { try CronExpression.parse(text).impossibleDate?.description }
        #expect(try never("0 0 30 2 *") == "column 5 (day-of-month): no date matches: February has no day 30, so it would never fire")
        #expect(try never("0 0 9 31 4,6 *") == "column 7 (day-of-month): no date matches: none of April, June has a day 31, so it would never fire")
        #expect(try never("0 0 30,31 FEB *") == "column 5 (day-of-month): no date matches: February has no day 30,31, so it would never fire")
        for fires in ["0 0 29 2 *", "0 0 31 4,5 *", "0 0 L 2 *", "0 0 30 2 1", "0 0 31 * *", "@yearly", "0 0 * 2 *"] {
            #expect(try never(fires) == nil, "\(fires)")
        }
    }
}
