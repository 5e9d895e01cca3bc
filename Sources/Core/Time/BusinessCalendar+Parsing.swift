extension BusinessCalendar {
    /// The calendar a file states (the format is on `BusinessCalendar`), named `name`; the first problem
    /// of a file that has any (``check(_:name:)`` gives them all).
    public static func parse(_ text: String, name: String) throws(CalendarProblem) -> BusinessCalendar {
        let checked = check(text, name: name)
        guard let calendar = checked.calendar else { throw checked.problems[0] }
        return calendar
    }

    /// The calendar a file states, named `name`; or, with none, every problem in it, each line's first,
    /// in order.
    public static func check(_ text: String, name: String) -> (calendar: BusinessCalendar?, problems: [CalendarProblem]) {
        var found: [CalendarProblem] = []
        var weekend: UInt8 = 1 << 0 | 1 << 6
        var weekendLine: Int? = nil
        // Each listed date's name and the line that listed it.
        var holidays: [Int: (name: String, line: Int)] = [:]
        var workdays: [Int: (name: String, line: Int)] = [:]

        // "\r\n" is one Character, so Windows line ends are split on as such.
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = first.dropFirst() }
        for (index, rawLine) in lines.enumerated() {
            do throws(CalendarProblem) { try line(index, rawLine) } catch { found.append(error) }
        }
        // One line's dates, weekend or workday; its first problem is thrown.
        func line(_ index: Int, _ rawLine: Substring) throws(CalendarProblem) {
            let number = index + 1
            var characters = Array(rawLine)
            if let hash = characters.firstIndex(of: "#") { characters.removeSubrange(hash...) }
            let words = characters.whitespaceSeparatedFields().map { (text: String($0.text), column: $0.column) }
            guard let keyword = words.first else { return }
            func problem(_ column: Int, _ message: String) -> CalendarProblem {
                CalendarProblem(line: number, column: column, message: message)
            }
            /// The name: the rest of the line after word `index`.
            func rest(after index: Int) -> String {
                guard index + 1 < words.count else { return "" }
                return String(
                    characters[(words[index + 1].column - 1)..<(words.last!.column - 1 + words.last!.text.count)])
            }
            func list(_ day: Int, column: Int, name: String, asWorkday: Bool) throws(CalendarProblem) {
                let date = CivilDate(daysSinceEpoch: day)
                if let earlier = (asWorkday ? workdays : holidays)[day] {
                    throw problem(column, "\(date) is listed twice (first on line \(earlier.line))")
                }
                if let other = (asWorkday ? holidays : workdays)[day] {
                    let kinds = asWorkday ? ("holiday", "workday") : ("workday", "holiday")
                    throw problem(column, "\(date) is both a \(kinds.0) (line \(other.line)) and a \(kinds.1)")
                }
                if asWorkday { workdays[day] = (name, number) } else { holidays[day] = (name, number) }
            }
            func date(_ text: String, column: Int) throws(CalendarProblem) -> CivilDate {
                guard let date = CivilDate(text) else { throw problem(column, "\"\(text)\" is not a date") }
                return date
            }

            switch keyword.text.lowercased() {
            case "weekend":
                if let weekendLine {
                    throw problem(keyword.column, "weekend is set twice (first on line \(weekendLine))")
                }
                weekendLine = number
                let days = words.dropFirst()
                guard !days.isEmpty else {
                    throw problem(keyword.column, "weekend needs days (sun mon tue wed thu fri sat) or none")
                }
                weekend = 0
                for day in days {
                    let lowered = day.text.lowercased()
                    if lowered == "none" {
                        guard days.count == 1 else { throw problem(day.column, "none cannot be listed with days") }
                        continue
                    }
                    guard let weekday = Self.dayNames.firstIndex(of: lowered) else {
                        throw problem(
                            day.column, "unknown day \"\(day.text)\" (days: sun mon tue wed thu fri sat, or none)")
                    }
                    guard weekend & (1 << weekday) == 0 else { throw problem(day.column, "\(lowered) is listed twice") }
                    weekend |= 1 << weekday
                }
            case "workday":
                guard words.count >= 2 else { throw problem(keyword.column, "workday needs a date (YYYY-MM-DD)") }
                let word = words[1]
                if word.text.contains("..") { throw problem(word.column, "a workday is one date, not a range") }
                let day = try date(word.text, column: word.column).daysSinceEpoch
                try list(day, column: word.column, name: rest(after: 1), asWorkday: true)
            default:
                guard let first = keyword.text.first, first.isASCII, first.isNumber else {
                    throw problem(
                        keyword.column,
                        "unknown keyword \"\(keyword.text)\" (expected weekend, workday or a date YYYY-MM-DD)")
                }
                let holidayName = rest(after: 0)
                let letters = Array(keyword.text)
                guard
                    let dots = letters.indices.dropLast().first(where: { letters[$0] == "." && letters[$0 + 1] == "." })
                else {
                    try list(
                        try date(keyword.text, column: keyword.column).daysSinceEpoch, column: keyword.column,
                        name: holidayName, asWorkday: false)
                    return
                }
                let startText = String(letters[..<dots])
                let endText = String(letters[(dots + 2)...])
                let start = try date(startText, column: keyword.column)
                let end = try date(endText, column: keyword.column + startText.count + 2)
                guard start <= end else {
                    throw problem(keyword.column, "range ends before it starts: \(keyword.text)")
                }
                let length = end.daysSinceEpoch - start.daysSinceEpoch + 1
                guard length <= 366 else {
                    throw problem(keyword.column, "range \(keyword.text) is \(length) days, more than 366")
                }
                // Every day of the range that clashes with nothing is listed, so that later lines are
                // checked against the whole of it; the first clash is the line's problem.
                var clash: CalendarProblem?
                for day in start.daysSinceEpoch...end.daysSinceEpoch {
                    do throws(CalendarProblem) {
                        try list(day, column: keyword.column, name: holidayName, asWorkday: false)
                    } catch {
                        clash = clash ?? error
                    }
                }
                if let clash { throw clash }
            }
        }
        guard found.isEmpty else { return (nil, found) }
        let calendar = BusinessCalendar(
            name: name, weekendDays: weekend, holidays: holidays.mapValues(\.name), workdays: workdays.mapValues(\.name))
        return (calendar, [])
    }

    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

}
