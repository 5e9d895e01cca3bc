/// A POSIX `TZ` rule, as in a TZif footer: `CET-1CEST,M3.5.0,M10.5.0/3`, `<+08>-8`, `EST5EDT`.
///
/// Offsets in the text are west of UTC (`EST5` is five hours behind); here they are stored east, like TZif's.
/// Transition times may be negative or up to 167 hours (RFC 8536 §3.3.1), so a transition can fall on
/// another day than its rule date names. A daylight part without dates takes the US rules `M3.2.0,M11.1.0`,
/// as glibc does.
struct PosixZoneRule: Sendable, Equatable {
    /// A day of the year in one of the three POSIX forms.
    enum RuleDate: Sendable, Equatable {
        /// `Jn`: day 1–365, never counting 29 February.
        case julian(Int)
        /// `n`: day 0–365, counting 29 February.
        case ordinal(Int)
        /// `Mm.w.d`: weekday d (0 = Sunday) of week w (1–5, 5 = the last) of month m.
        case monthWeekDay(month: Int, week: Int, weekday: Int)

        func date(in year: Int) -> CivilDate {
            switch self {
            case .julian(let n):
                return CivilDate(year: year, month: 1, day: 1)
                    .adding(days: n - 1 + (CivilDate.isLeap(year: year) && n >= 60 ? 1 : 0))
            case .ordinal(let n):
                return CivilDate(year: year, month: 1, day: 1).adding(days: n)
            case .monthWeekDay(let month, let week, let weekday):
                let first = CivilDate(year: year, month: month, day: 1)
                var day = 1 + (weekday - first.weekday + 7) % 7 + (week - 1) * 7
                let length = CivilDate.daysIn(year: year, month: month)
                while day > length { day -= 7 }
                return CivilDate(year: year, month: month, day: day)
            }
        }
    }

    /// Daylight saving time: its offset and when it starts and ends each year.
    struct Daylight: Sendable, Equatable {
        /// Seconds east of UTC while daylight saving time is in effect.
        var offset: Int
        var start: RuleDate
        /// Seconds after local midnight (standard time) of the start date.
        var startTime: Int
        var end: RuleDate
        /// Seconds after local midnight (daylight time) of the end date.
        var endTime: Int
    }

    /// Seconds east of UTC in standard time.
    var standardOffset: Int
    var daylight: Daylight?

    /// The instants (seconds since the epoch) daylight time starts and ends in `year`.
    func transitions(in year: Int) -> (start: Int64, end: Int64)? {
        guard let daylight else { return nil }
        let start =
            Int64(daylight.start.date(in: year).daysSinceEpoch) * 86_400
            + Int64(daylight.startTime - standardOffset)
        let end =
            Int64(daylight.end.date(in: year).daysSinceEpoch) * 86_400
            + Int64(daylight.endTime - daylight.offset)
        return (start, end)
    }

    /// The year of the standard-time local date at an instant.
    private func year(at seconds: Int64) -> Int {
        CivilDate(daysSinceEpoch: Int(floorDivide(seconds + Int64(standardOffset), 86_400))).year
    }

    /// Seconds east of UTC at an instant.
    func offset(at seconds: Int64) -> Int {
        guard let daylight else { return standardOffset }
        // The latest transition at or before the instant, looking a year either side because transition
        // times may cross the year's boundary. On a tie the later one in rule order wins, so `J365/25` style
        // all-year daylight time (end of one year = start of the next) stays in daylight time.
        var latest: (at: Int64, daylight: Bool)? = nil
        let year = year(at: seconds)
        for candidate in (year - 1)...(year + 1) {
            guard let (start, end) = transitions(in: candidate) else { continue }
            if start <= seconds, latest.map({ start >= $0.at }) ?? true { latest = (start, true) }
            if end <= seconds, latest.map({ end >= $0.at }) ?? true { latest = (end, false) }
        }
        return latest?.daylight == true ? daylight.offset : standardOffset
    }

    /// Every transition in (`lower`, `upper`], in order, with the offset it starts.
    func changes(after lower: Int64, through upper: Int64) -> [(at: Int64, offset: Int)] {
        guard let daylight, lower < upper else { return [] }
        var found: [(at: Int64, offset: Int)] = []
        for candidate in (year(at: lower) - 1)...(year(at: upper) + 1) {
            guard let (start, end) = transitions(in: candidate) else { continue }
            found.append((start, daylight.offset))
            found.append((end, standardOffset))
        }
        // A stable sort keeps rule order among equal instants, as `offset(at:)` does.
        return found.enumerated()
            .sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
            .map(\.element)
            .filter { $0.at > lower && $0.at <= upper }
    }

    /// The rule a POSIX `TZ` string states.
    static func parse(_ text: String) throws(ZoneProblem) -> PosixZoneRule {
        var scanner = Scanner(bytes: Array(text.utf8), text: text)
        try scanner.skipName()
        guard let standard = scanner.duration(maxHours: 24) else { throw scanner.problem("a UTC offset") }
        var rule = PosixZoneRule(standardOffset: -standard, daylight: nil)
        if scanner.atEnd { return rule }
        try scanner.skipName()
        let daylightOffset: Int
        if scanner.atEnd || scanner.peek == UInt8(ascii: ",") {
            daylightOffset = rule.standardOffset + 3600
        } else if let offset = scanner.duration(maxHours: 24) {
            daylightOffset = -offset
        } else {
            throw scanner.problem("a daylight offset or \",\"")
        }
        var daylight = Daylight(
            offset: daylightOffset, start: .monthWeekDay(month: 3, week: 2, weekday: 0), startTime: 7200,
            end: .monthWeekDay(month: 11, week: 1, weekday: 0), endTime: 7200)
        if !scanner.atEnd {
            guard scanner.take(UInt8(ascii: ",")) else { throw scanner.problem("\",\"") }
            (daylight.start, daylight.startTime) = try scanner.ruleDateAndTime()
            guard scanner.take(UInt8(ascii: ",")) else { throw scanner.problem("\",\" and the end date") }
            (daylight.end, daylight.endTime) = try scanner.ruleDateAndTime()
            guard scanner.atEnd else { throw scanner.problem("the end of the rule") }
        }
        rule.daylight = daylight
        return rule
    }

    private struct Scanner {
        let bytes: [UInt8]
        let text: String
        var position = 0

        var atEnd: Bool { position == bytes.count }
        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        func problem(_ expected: String) -> ZoneProblem {
            ZoneProblem("TZ rule \"\(text)\": expected \(expected) at character \(position + 1)")
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            position += 1
            return true
        }

        /// A zone abbreviation: letters, or anything but `>` between `<` and `>` (`<+08>`, `<-0330>`).
        mutating func skipName() throws(ZoneProblem) {
            let start = position
            if take(UInt8(ascii: "<")) {
                while let byte = peek, byte != UInt8(ascii: ">") {
                    guard isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
                    else { throw problem("a letter, digit, \"+\" or \"-\" in a quoted name") }
                    position += 1
                }
                guard take(UInt8(ascii: ">")), position - start > 2 else {
                    throw problem("a quoted name ending in \">\"")
                }
            } else {
                while let byte = peek, isLetter(byte) { position += 1 }
                guard position > start else { throw problem("a zone abbreviation") }
            }
        }

        /// `[+|-]hh[:mm[:ss]]` in seconds, with hours up to `maxHours`.
        mutating func duration(maxHours: Int) -> Int? {
            var sign = 1
            if take(UInt8(ascii: "-")) { sign = -1 } else { _ = take(UInt8(ascii: "+")) }
            guard let hours = number(maxDigits: 3), hours <= maxHours else { return nil }
            var seconds = hours * 3600
            for scale in [60, 1] {
                guard take(UInt8(ascii: ":")) else { break }
                guard let part = number(maxDigits: 2), part < 60 else { return nil }
                seconds += part * scale
            }
            return sign * seconds
        }

        mutating func number(maxDigits: Int) -> Int? {
            var value = 0
            var digits = 0
            while let byte = peek, isDigit(byte), digits < maxDigits {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                position += 1
            }
            return digits > 0 ? value : nil
        }

        /// `date[/time]`, the time defaulting to 02:00.
        mutating func ruleDateAndTime() throws(ZoneProblem) -> (RuleDate, Int) {
            let date: RuleDate
            if take(UInt8(ascii: "J")) {
                guard let n = number(maxDigits: 3), (1...365).contains(n) else {
                    throw problem("a day 1–365 after \"J\"")
                }
                date = .julian(n)
            } else if take(UInt8(ascii: "M")) {
                guard let month = number(maxDigits: 2), (1...12).contains(month), take(UInt8(ascii: ".")),
                    let week = number(maxDigits: 1), (1...5).contains(week), take(UInt8(ascii: ".")),
                    let weekday = number(maxDigits: 1), (0...6).contains(weekday)
                else { throw problem("Mm.w.d with m 1–12, w 1–5, d 0–6") }
                date = .monthWeekDay(month: month, week: week, weekday: weekday)
            } else {
                guard let n = number(maxDigits: 3), (0...365).contains(n) else {
                    throw problem("a rule date (Jn, n or Mm.w.d)")
                }
                date = .ordinal(n)
            }
            guard take(UInt8(ascii: "/")) else { return (date, 7200) }
            guard let time = duration(maxHours: 167) else { throw problem("a transition time of at most ±167 hours") }
            return (date, time)
        }

        private func isLetter(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
        }

        private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    }
}
