/// A named business calendar: the weekdays that are off, holidays, and make-up working days.
///
/// A date is a business day when it is listed as a `workday`, or else when it is neither a listed holiday nor a
/// weekend day. Calendars are read from a text file:
///
/// ```
/// # China, 2026 (example)
/// weekend sat sun
/// 2026-01-01 New Year's Day
/// 2026-02-15..2026-02-23 Spring Festival
/// workday 2026-02-14 Spring Festival make-up day
/// ```
///
/// The file is UTF-8 text with one entry per line; `#` starts a comment that runs to the end of the line, and
/// blank lines are ignored. Words are separated by spaces or tabs. A line is one of:
///
/// - `weekend DAY...`: the weekdays that are off, each `sun` `mon` `tue` `wed` `thu` `fri` or `sat` in any case,
///   or `weekend none` for no weekend. At most once per file; without it the weekend is Saturday and Sunday.
/// - `YYYY-MM-DD [name…]`: a holiday, with an optional name (the rest of the line).
/// - `YYYY-MM-DD..YYYY-MM-DD [name…]`: every date of an inclusive range is a holiday (at most 366 days).
/// - `workday YYYY-MM-DD [name…]`: a business day even if it falls on a weekend, as China's make-up working days.
///
/// A date may be listed once only, and not as both a holiday and a workday. Problems name the line and the
/// 1-based column (in characters) where the bad word starts.
public struct BusinessCalendar: Sendable, Equatable {
    /// The calendar's name, as schedules refer to it.
    public let name: String
    /// Weekdays off as a bit mask, bit 0 = Sunday.
    let weekendDays: UInt8
    /// Listed holidays by day number (days since the epoch), with their names ("" if unnamed).
    let holidayNames: [Int: String]
    /// Listed workdays by day number, with their names.
    let workdayNames: [Int: String]
    /// The day numbers of `holidayNames`, ascending.
    let holidayDays: [Int]

    init(name: String, weekendDays: UInt8, holidays: [Int: String], workdays: [Int: String]) {
        self.name = name
        self.weekendDays = weekendDays
        self.holidayNames = holidays
        self.workdayNames = workdays
        self.holidayDays = holidays.keys.sorted()
    }

    /// Saturday and Sunday off, no holidays.
    public static let weekdays = BusinessCalendar(
        name: "weekdays", weekendDays: 1 << 0 | 1 << 6, holidays: [:], workdays: [:])

    /// The weekdays off, ascending (0 = Sunday).
    public var weekend: [Int] { (0..<7).filter { weekendDays & (1 << $0) != 0 } }

    /// The earliest date the file lists (holiday or workday), nil if it lists none.
    public var firstDate: CivilDate? {
        let first = [holidayDays.first, workdayNames.keys.min()].compactMap { $0 }.min()
        return first.map { CivilDate(daysSinceEpoch: $0) }
    }

    /// The latest date the file lists (holiday or workday), nil if it lists none.
    public var lastDate: CivilDate? {
        let last = [holidayDays.last, workdayNames.keys.max()].compactMap { $0 }.max()
        return last.map { CivilDate(daysSinceEpoch: $0) }
    }

    /// Whether work is done on a date: a listed workday, or neither a holiday nor a weekend day.
    public func isBusinessDay(_ date: CivilDate) -> Bool { isBusinessDay(day: date.daysSinceEpoch) }

    func isBusinessDay(day: Int) -> Bool {
        if !workdayNames.isEmpty, workdayNames[day] != nil { return true }
        if !holidayNames.isEmpty, holidayNames[day] != nil { return false }
        let weekday = (day + 4) % 7  // 1970-01-01 was a Thursday.
        return weekendDays & (1 << (weekday < 0 ? weekday + 7 : weekday)) == 0
    }

    /// The holiday's name ("" if unnamed) when the date is a listed holiday, else nil.
    public func holiday(on date: CivilDate) -> String? { holidayNames[date.daysSinceEpoch] }

    /// The workday's name ("" if unnamed) when the date is a listed workday, else nil.
    public func workday(on date: CivilDate) -> String? { workdayNames[date.daysSinceEpoch] }

    /// The first business day after `date`; nil if there is none within 366 days.
    public func nextBusinessDay(after date: CivilDate) -> CivilDate? {
        let day = date.daysSinceEpoch
        return (1...366).first { isBusinessDay(day: day + $0) }.map { CivilDate(daysSinceEpoch: day + $0) }
    }

    /// The last business day before `date`; nil if there is none within 366 days.
    public func previousBusinessDay(before date: CivilDate) -> CivilDate? {
        let day = date.daysSinceEpoch
        return (1...366).first { isBusinessDay(day: day - $0) }.map { CivilDate(daysSinceEpoch: day - $0) }
    }

    /// The n-th business day of a month (n ≥ 1 counts from the start, n ≤ -1 from the end: -1 is the last);
    /// nil if the month has fewer, or n is 0.
    public func businessDay(_ n: Int, year: Int, month: Int) -> CivilDate? {
        guard n != 0, (1...12).contains(month) else { return nil }
        let first = CivilDate(year: year, month: month, day: 1).daysSinceEpoch
        let length = CivilDate.daysIn(year: year, month: month)
        var remaining = abs(n)
        for offset in 0..<length {
            let day = n > 0 ? first + offset : first + length - 1 - offset
            if isBusinessDay(day: day) {
                remaining -= 1
                if remaining == 0 { return CivilDate(daysSinceEpoch: day) }
            }
        }
        return nil
    }

    /// Listed holidays on or after `date`, in order, at most `limit`.
    public func holidays(from date: CivilDate, limit: Int) -> [(date: CivilDate, name: String)] {
        let start = Zone.countAtOrBefore(date.daysSinceEpoch - 1, in: holidayDays)
        return holidayDays[start...].prefix(max(0, limit)).map { (CivilDate(daysSinceEpoch: $0), holidayNames[$0]!) }
    }

    /// Calendars are equal when they have the same name, weekend, holidays and workdays.
    public static func == (lhs: BusinessCalendar, rhs: BusinessCalendar) -> Bool {
        lhs.name == rhs.name && lhs.weekendDays == rhs.weekendDays && lhs.holidayNames == rhs.holidayNames
            && lhs.workdayNames == rhs.workdayNames
    }
}

/// Why a calendar file was refused: the 1-based line and column, and what is wrong there.
public struct CalendarProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// The 1-based line number.
    public let line: Int
    /// 1-based, in characters; 0 when the problem is with the line as a whole.
    public let column: Int
    /// What is wrong: `"2026-02-30" is not a date`.
    public let message: String

    /// A problem at `line` and `column`.
    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    /// `line 3, column 1: "2026-02-30" is not a date`.
    public var description: String {
        column > 0 ? "line \(line), column \(column): \(message)" : "line \(line): \(message)"
    }
}
