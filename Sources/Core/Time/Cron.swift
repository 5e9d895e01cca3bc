/// A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 (second first).
///
/// Each field is `*`, or a comma-separated list of values: `N`, `A-B`, `*/S`, `A-B/S` and `N/S` (N to the
/// field's largest value, every S). Months may be named `JAN`–`DEC` and weekdays `SUN`–`SAT`, in any case;
/// day-of-week takes 0–7, with 0 and 7 both Sunday (so `FRI-SUN` and `5-7` are Friday to Sunday). `?` is `*` in
/// the two day fields. Day-of-month also takes `L` (the month's last day) and `L-n` (n days before it);
/// day-of-week takes `nL` or `FRIL` (the month's last such weekday) and `n#k` or `FRI#k` (its k-th, 1–5).
/// The macros `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for
/// their usual expressions.
///
/// Day-of-month and day-of-week follow Vixie cron: when both are restricted (neither is exactly `*` or `?`), a
/// date matches if either matches; otherwise both must (and the unrestricted one always does).
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    /// The expression as written, without surrounding whitespace.
    public let text: String
    /// Whether the expression has a second field (6 fields); 5-field expressions fire at second 0.
    public let hasSeconds: Bool

    // Sets of values as bit masks: bit n set means value n matches.
    let seconds: UInt64
    let minutes: UInt64
    let hours: UInt32
    /// Days 1–31.
    let daysOfMonth: UInt32
    /// Bit n: the day n days before the month's last (`L` is n = 0, `L-3` is n = 3).
    let daysBeforeLast: UInt32
    /// Months 1–12.
    let months: UInt16
    /// Weekdays 0–6, Sunday first.
    let weekdays: UInt8
    /// Weekdays whose last occurrence in the month matches (`5L`).
    let lastWeekdays: UInt8
    /// Bit (k − 1) × 7 + d: the k-th weekday d of the month (`5#2`).
    let nthWeekdays: UInt64
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// The expression as written.
    public var description: String { text }

    /// Whether both day-of-month and day-of-week are `*` or `?`, so that only the month picks dates.
    public var dayFieldsAreWildcards: Bool { !dayOfMonthRestricted && !dayOfWeekRestricted }

    /// Whether the month field matches a month (1–12).
    public func monthMatches(_ month: Int) -> Bool { (1...12).contains(month) && months & (1 << month) != 0 }

    /// Whether a date matches the month, day-of-month and day-of-week fields.
    public func matches(_ date: CivilDate) -> Bool {
        guard monthMatches(date.month) else { return false }
        let length = CivilDate.daysIn(year: date.year, month: date.month)
        let dayOfMonth =
            daysOfMonth & (1 << date.day) != 0
            || (daysBeforeLast != 0 && length >= date.day && daysBeforeLast & (1 << (length - date.day)) != 0)
        if dayOfMonthRestricted && dayOfWeekRestricted == false { return dayOfMonth }
        let weekday = date.weekday
        let dayOfWeek =
            weekdays & (1 << weekday) != 0
            || (lastWeekdays & (1 << weekday) != 0 && date.day + 7 > length)
            || (nthWeekdays != 0 && nthWeekdays & (1 << ((date.day - 1) / 7 * 7 + weekday)) != 0)
        if dayOfMonthRestricted && dayOfWeekRestricted { return dayOfMonth || dayOfWeek }
        return dayOfWeek
    }

    /// The seconds of the day (0–86,399) the second, minute and hour fields match, ascending.
    public func times() -> [Int] {
        var times: [Int] = []
        for hour in 0..<24 where hours & (1 << hour) != 0 {
            for minute in 0..<60 where minutes & (1 << minute) != 0 {
                for second in 0..<60 where seconds & (1 << second) != 0 {
                    times.append(hour * 3600 + minute * 60 + second)
                }
            }
        }
        return times
    }

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    static let macroNames = "@yearly @annually @monthly @weekly @daily @midnight @hourly"

    /// The expression `text` states, or a problem naming the column and field where it goes wrong.
    public static func parse(_ text: String) throws(CronProblem) -> CronExpression {
        let characters = Array(text)
        let fields = characters.whitespaceSeparatedFields()
        var trimmed = ""
        if let first = fields.first, let last = fields.last {
            trimmed = String(characters[(first.column - 1)..<(last.column - 1 + last.text.count)])
        }
        if let first = fields.first, first.text.first == "@" {
            let macro = String(first.text).lowercased()
            guard let expansion = macros[macro] else {
                throw CronProblem(column: first.column, field: nil, message: "unknown macro \"\(String(first.text))\" (macros: \(macroNames))")
            }
            guard fields.count == 1 else {
                throw CronProblem(column: fields[1].column, field: nil, message: "a macro stands alone, found more after it")
            }
            let expanded = try parse(expansion)
            return CronExpression(copying: expanded, text: trimmed)
        }
        guard fields.count == 5 || fields.count == 6 else {
            throw CronProblem(
                column: fields.count > 6 ? fields[6].column : 1, field: nil,
                message: "expected 5 or 6 fields, found \(fields.count)")
        }
        let hasSeconds = fields.count == 6
        let specs = hasSeconds ? FieldSpec.all : Array(FieldSpec.all.dropFirst())
        var values: [FieldValues] = []
        for (field, spec) in zip(fields, specs) {
            values.append(try spec.parse(field.text, column: field.column))
        }
        if !hasSeconds { values.insert(FieldValues(bits: 1), at: 0) }
        return CronExpression(
            text: trimmed, hasSeconds: hasSeconds, seconds: values[0].bits, minutes: values[1].bits,
            hours: UInt32(values[2].bits), daysOfMonth: UInt32(values[3].bits),
            daysBeforeLast: UInt32(values[3].lastBits), months: UInt16(values[4].bits),
            weekdays: UInt8(values[5].bits & 0x7f | (values[5].bits >> 7 & 1)),  // 7 is Sunday
            lastWeekdays: UInt8(values[5].lastBits), nthWeekdays: values[5].nthBits,
            dayOfMonthRestricted: values[3].restricted, dayOfWeekRestricted: values[5].restricted)
    }

    /// Why no date can ever match, if none can: days of the month alone (the day of the week `*`), none
    /// of which a month given has, such as 30 February. Such an expression parses, as cron's does; a
    /// flow's schedule refuses it, since it would never fire.
    public var impossibleDate: CronProblem? {
        guard dayOfMonthRestricted, !dayOfWeekRestricted, daysBeforeLast == 0 else { return nil }
        let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        let given = (1...12).filter { months & (1 << $0) != 0 }
        guard !given.contains(where: { month in (1...longest[month - 1]).contains { daysOfMonth & (1 << $0) != 0 } }) else { return nil }
        // The day-of-month field, with its column in the expression's text.
        let fields = Array(text).whitespaceSeparatedFields()
        let day = fields.count > (hasSeconds ? 3 : 2) ? fields[hasSeconds ? 3 : 2] : (text: ArraySlice(text), column: 1)
        let names = given.map { Self.monthNames[$0 - 1] }
        let days = String(day.text)
        let which = names.count == 1 ? "\(names[0]) has no day \(days)" : "none of \(names.joined(separator: ", ")) has a day \(days)"
        return CronProblem(column: day.column, field: "day-of-month", message: "no date matches: \(which), so it would never fire")
    }

    private static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]

    private init(copying other: CronExpression, text: String) {
        self.init(
            text: text, hasSeconds: other.hasSeconds, seconds: other.seconds, minutes: other.minutes,
            hours: other.hours, daysOfMonth: other.daysOfMonth, daysBeforeLast: other.daysBeforeLast,
            months: other.months, weekdays: other.weekdays, lastWeekdays: other.lastWeekdays,
            nthWeekdays: other.nthWeekdays, dayOfMonthRestricted: other.dayOfMonthRestricted,
            dayOfWeekRestricted: other.dayOfWeekRestricted)
    }

    private init(
        text: String, hasSeconds: Bool, seconds: UInt64, minutes: UInt64, hours: UInt32, daysOfMonth: UInt32,
        daysBeforeLast: UInt32, months: UInt16, weekdays: UInt8, lastWeekdays: UInt8, nthWeekdays: UInt64,
        dayOfMonthRestricted: Bool, dayOfWeekRestricted: Bool
    ) {
        self.text = text
        self.hasSeconds = hasSeconds
        self.seconds = seconds
        self.minutes = minutes
        self.hours = hours
        self.daysOfMonth = daysOfMonth
        self.daysBeforeLast = daysBeforeLast
        self.months = months
        self.weekdays = weekdays
        self.lastWeekdays = lastWeekdays
        self.nthWeekdays = nthWeekdays
        self.dayOfMonthRestricted = dayOfMonthRestricted
        self.dayOfWeekRestricted = dayOfWeekRestricted
    }
}

/// What one field matches: plain values, and the `L` forms of the day fields.
private struct FieldValues {
    var bits: UInt64 = 0
    /// `L-n` (day-of-month, bit n) or `dL` (day-of-week, bit d).
    var lastBits: UInt64 = 0
    /// `d#k` (day-of-week, bit (k − 1) × 7 + d).
    var nthBits: UInt64 = 0
    var restricted = true
}

/// One field's name, range and value names, and how to read it.
private struct FieldSpec {
    enum Kind { case plain, dayOfMonth, month, dayOfWeek }

    let name: String
    let range: ClosedRange<Int>
    let kind: Kind

    static let all = [
        FieldSpec(name: "second", range: 0...59, kind: .plain),
        FieldSpec(name: "minute", range: 0...59, kind: .plain),
        FieldSpec(name: "hour", range: 0...23, kind: .plain),
        FieldSpec(name: "day-of-month", range: 1...31, kind: .dayOfMonth),
        FieldSpec(name: "month", range: 1...12, kind: .month),
        FieldSpec(name: "day-of-week", range: 0...7, kind: .dayOfWeek),
    ]

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let weekdayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    var isDayField: Bool { kind == .dayOfMonth || kind == .dayOfWeek }

    /// The largest value `*` and `N/S` reach: day-of-week stops at 6, 7 being Sunday again.
    var top: Int { kind == .dayOfWeek ? 6 : range.upperBound }

    func problem(_ column: Int, _ message: String) -> CronProblem {
        CronProblem(column: column, field: name, message: message)
    }

    func parse(_ text: ArraySlice<Character>, column: Int) throws(CronProblem) -> FieldValues {
        var values = FieldValues()
        if text.elementsEqual("*") || text.elementsEqual("?") {
            guard text.first == "*" || isDayField else {
                throw problem(column, "\"?\" is only allowed in day-of-month and day-of-week")
            }
            values.restricted = false
            for value in range.lowerBound...top { values.bits |= 1 << value }
            return values
        }
        var start = text.startIndex
        while true {
            let end = text[start...].firstIndex(of: ",") ?? text.endIndex
            let itemColumn = column + (start - text.startIndex)
            guard start < end else { throw problem(itemColumn, "empty value in a list") }
            try parseItem(text[start..<end], column: itemColumn, into: &values)
            if end == text.endIndex { break }
            start = end + 1
            if start == text.endIndex { throw problem(column + (start - text.startIndex), "empty value in a list") }
        }
        return values
    }

    private func parseItem(_ item: ArraySlice<Character>, column: Int, into values: inout FieldValues)
        throws(CronProblem)
    {
        let upper = String(item).uppercased()
        if upper == "?" { throw problem(column, "\"?\" stands alone, not in a list") }
        if upper.contains("L") && !monthOrWeekdayName(upper) {
            try parseLast(upper, column: column, into: &values)
            return
        }
        if let hash = item.firstIndex(of: "#") {
            guard kind == .dayOfWeek else { throw problem(column, "\"#\" is only allowed in day-of-week") }
            let weekday = try value(item[item.startIndex..<hash], column: column) % 7
            let nthColumn = column + (hash + 1 - item.startIndex)
            let nth = try number(item[(hash + 1)...], column: nthColumn, what: "week")
            guard (1...5).contains(nth) else { throw problem(nthColumn, "\(nth) is out of range 1–5") }
            values.nthBits |= 1 << ((nth - 1) * 7 + weekday)
            return
        }
        var base = item
        var step = 1
        var hasStep = false
        if let slash = item.firstIndex(of: "/") {
            base = item[item.startIndex..<slash]
            // Step problems name the whole item (`*/0`), the value that is wrong.
            step = try number(item[(slash + 1)...], column: column, what: "step")
            guard step >= 1 else { throw problem(column, "step 0 must be at least 1") }
            hasStep = true
        }
        var low: Int
        var high: Int
        if base.elementsEqual("*") {
            (low, high) = (range.lowerBound, top)
        } else if let dash = base.firstIndex(of: "-"), dash != base.startIndex {
            low = try value(base[base.startIndex..<dash], column: column)
            let highColumn = column + (dash + 1 - base.startIndex)
            high = try value(base[(dash + 1)...], column: highColumn)
            // `FRI-SUN`: Sunday as the end of a range is 7.
            if kind == .dayOfWeek && high == 0 && low > 0 { high = 7 }
            guard low <= high else { throw problem(column, "range \(low)-\(high) ends before it starts") }
        } else {
            low = try value(base, column: column)
            high = hasStep ? top : low
        }
        var current = low
        while current <= high {
            values.bits |= 1 << current
            current += step
        }
    }

    /// Whether `text` is a name that happens to contain an L (`JUL`), not an `L` form.
    private func monthOrWeekdayName(_ text: String) -> Bool {
        kind == .month
            && text.split(whereSeparator: { "-/,".contains($0) }).contains { Self.monthNames.contains(String($0)) }
    }

    /// `L` and `L-n` in day-of-month; `nL` and `FRIL` in day-of-week.
    private func parseLast(_ upper: String, column: Int, into values: inout FieldValues) throws(CronProblem) {
        let item = Array(upper)[...]
        switch kind {
        case .dayOfMonth:
            if upper == "L" {
                values.lastBits |= 1
                return
            }
            guard upper.hasPrefix("L-") else {
                throw problem(column, "\"\(upper)\" is not a day: use L (the last day) or L-n (n days before it)")
            }
            let offset = try number(item.dropFirst(2), column: column + 2, what: "day count")
            guard offset <= 30 else { throw problem(column + 2, "\(offset) is out of range 0–30") }
            values.lastBits |= 1 << offset
        case .dayOfWeek:
            guard upper.count > 1, upper.last == "L", !upper.dropLast().contains("L") else {
                throw problem(column, "\"\(upper)\" is not a weekday: use nL or FRIL for the last such weekday")
            }
            values.lastBits |= 1 << (try value(item.dropLast(), column: column) % 7)
        default:
            throw problem(column, "\"L\" is only allowed in day-of-month and day-of-week")
        }
    }

    /// A value of this field: a number in range, or a name where the field has names.
    private func value(_ text: ArraySlice<Character>, column: Int) throws(CronProblem) -> Int {
        if let first = text.first, first.isLetter {
            let name = String(text).uppercased()
            switch kind {
            case .month:
                guard let index = Self.monthNames.firstIndex(of: name) else {
                    throw problem(column, "unknown name \"\(String(text))\" (names: JAN–DEC)")
                }
                return index + 1
            case .dayOfWeek:
                guard let index = Self.weekdayNames.firstIndex(of: name) else {
                    throw problem(column, "unknown name \"\(String(text))\" (names: SUN–SAT)")
                }
                return index
            default:
                throw problem(column, "\"\(String(text))\" is not a number")
            }
        }
        let value = try number(text, column: column, what: nil)
        guard range.contains(value) else {
            throw problem(column, "\(value) is out of range \(range.lowerBound)–\(range.upperBound)")
        }
        return value
    }

    /// Decimal digits; more than four of them is out of range for every field.
    private func number(_ text: ArraySlice<Character>, column: Int, what: String?) throws(CronProblem) -> Int {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            let subject = what.map { "\($0) " } ?? ""
            throw problem(
                column, text.isEmpty ? "missing \(what ?? "value")" : "\(subject)\"\(String(text))\" is not a number")
        }
        guard text.count <= 4, let value = Int(String(text)) else {
            throw problem(
                column,
                what == nil
                    ? "\(String(text)) is out of range \(range.lowerBound)–\(range.upperBound)"
                    : "\(String(text)) is too large")
        }
        return value
    }
}

/// Why a cron expression was refused: the 1-based column where the bad field or value starts, the field's
/// name (nil for a problem with the whole expression) and what is wrong.
public struct CronProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// The 1-based character position where the bad field or value starts.
    public let column: Int
    /// "second", "minute", "hour", "day-of-month", "month" or "day-of-week"; nil for the whole expression.
    public let field: String?
    /// What is wrong: `25 is out of range 0–23`.
    public let message: String

    /// A problem at `column` of `field`.
    public init(column: Int, field: String?, message: String) {
        self.column = column
        self.field = field
        self.message = message
    }

    /// `column 4 (hour): 25 is out of range 0–23`, or the message alone for the whole expression.
    public var description: String {
        guard let field else { return message }
        return "column \(column) (\(field)): \(message)"
    }
}
