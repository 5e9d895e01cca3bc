/// What a schedule does with a date its cron expression matches that is not a business day.
public enum HolidayRule: String, Sendable, CaseIterable {
    /// No firing for that date.
    case skip
    /// Fire on the next business day after it, at the same times of day.
    case next
    /// Fire on the previous business day before it, at the same times of day.
    case previous
}

/// One firing of a schedule: when, and the local business date it fires for.
public struct Firing: Sendable, Equatable {
    /// The instant, at a whole second.
    public let instant: Timestamp
    /// The local date (in the schedule's zone) the firing belongs to: the date it was moved to by the holiday
    /// rule, if it was, and the date whose time of day it is even when a daylight-saving gap moves it past midnight.
    public let businessDate: CivilDate

    /// A firing at `instant` for `businessDate`.
    public init(instant: Timestamp, businessDate: CivilDate) {
        self.instant = instant
        self.businessDate = businessDate
    }
}

/// When a timer fires: a cron expression in a zone, optionally on a business calendar.
///
/// The schedule first picks local *firing dates*, then fires on each at every time of day the cron expression
/// matches:
///
/// - Without a calendar, the firing dates are the dates the cron expression matches.
/// - With a calendar, a matched business day is a firing date. A matched date that is not a business day is
///   dropped (`.skip`), or moved to the next (`.next`) or previous (`.previous`) business day; several dates
///   moved onto one business day, or onto a matched one, make one firing date, so each instant fires once.
/// - With `businessDay` n, the firing dates are the n-th business day (n ≤ -1: from the end of the month) of
///   each month the cron's month field matches; its day fields are not used. Without a calendar, `weekdays` is
///   the calendar.
///
/// A local time that occurs twice (clocks going back) fires once, at the earlier instant; one that does not occur
/// (clocks jumping forward) fires once at the instant the gap ends, together with every other time in the same gap
/// and any time that falls on that instant. Firings are strictly increasing. Dates are iterated, not seconds, so a
/// per-second schedule counts a week of firings without allocating per firing.
public struct Schedule: Sendable, Equatable {
    /// Which dates (without `businessDay`) and which times of day.
    public let cron: CronExpression
    /// The zone the cron expression's dates and times are local to.
    public let zone: Zone
    /// Business days, or nil to fire on every matched date.
    public let calendar: BusinessCalendar?
    /// What a matched date that is not a business day does.
    public let onHoliday: HolidayRule
    /// The n-th business day of the month to fire on (n ≤ -1 counts from the end), or nil.
    public let businessDay: Int?
    /// `cron.times()`, computed once.
    let times: [Int]

    /// A schedule; `businessDay` expects a cron expression whose day fields are `*` or `?`.
    public init(
        cron: CronExpression, zone: Zone, calendar: BusinessCalendar? = nil, onHoliday: HolidayRule = .skip,
        businessDay: Int? = nil
    ) {
        self.cron = cron
        self.zone = zone
        self.calendar = calendar
        self.onHoliday = onHoliday
        self.businessDay = businessDay
        self.times = cron.times()
    }

    /// How far `next(after:)` looks, and how long `firings` and `count` go on without finding one: 10 years.
    static let horizonDays = 3653

    /// The first firing strictly after `instant`, or nil if there is none within 10 years.
    public func next(after instant: Timestamp) -> Firing? {
        var found: Firing? = nil
        scan(after: instant, through: nil) { seconds, day in
            found = Firing(
                instant: Timestamp(milliseconds: seconds * 1000), businessDate: CivilDate(daysSinceEpoch: day))
            return false
        }
        return found
    }

    /// Firings in (`from`, `through`], in order, at most `limit`. The search stops early after 10 years
    /// without a firing.
    public func firings(after from: Timestamp, through: Timestamp, limit: Int) -> [Firing] {
        guard limit > 0 else { return [] }
        var found: [Firing] = []
        scan(after: from, through: through) { seconds, day in
            found.append(
                Firing(instant: Timestamp(milliseconds: seconds * 1000), businessDate: CivilDate(daysSinceEpoch: day)))
            return found.count < limit
        }
        return found
    }

    /// How many firings there are in (`from`, `through`], counting no further than `countLimit`.
    public func count(after from: Timestamp, through: Timestamp, countLimit: Int) -> Int {
        guard countLimit > 0 else { return 0 }
        var count = 0
        scan(after: from, through: through) { _, _ in
            count += 1
            return count < countLimit
        }
        return count
    }

    /// Calls `body` with each firing after `after` (seconds since the epoch, and the firing date's day number) in
    /// order, until it returns false, a firing would be after `through` (10 years after `after` when nil), or
    /// 10 years pass without a firing.
    private func scan(after: Timestamp, through: Timestamp?, _ body: (Int64, Int) -> Bool) {
        guard !times.isEmpty else { return }
        func seconds(_ instant: Timestamp) -> Int64 { Zone.bounded(floorDivide(instant.milliseconds, 1000)) }
        // A firing at second t is after `after` when t > ⌊after / 1000⌋, and at or before `through` when
        // t ≤ ⌊through / 1000⌋.
        var last = seconds(after)
        let end = through.map(seconds) ?? last + Int64(Self.horizonDays) * 86_400
        guard end > last else { return }
        // Offsets are within ±26 hours, so no firing date outside these can have a firing in (after, end].
        var day = Int(floorDivide(zone.localSeconds(at: last), 86_400)) - 1
        let lastDay = Int(floorDivide(end + Zone.reach, 86_400)) + 1
        var quietSince = day
        while day <= lastDay, day - quietSince <= Self.horizonDays {
            defer { day += 1 }
            guard fires(day: day) else { continue }
            let midnight = Int64(day) * 86_400
            let window = zone.window(around: midnight, length: 86_399)
            let offset = window.constantOffset
            // Away from a change of offset a time's instant is one subtraction; near one it is the time's
            // earliest occurrence or its gap's end. Either way instants never decrease with the time of day,
            // so a binary search finds the first one after the last firing, and equal ones (a gap's times
            // and the time it ends at) are skipped as repeats.
            func instant(_ index: Int) -> Int64 {
                let local = midnight + Int64(times[index])
                if let offset { return local - Int64(offset) }
                return window.earliestInstant(local: local)
            }
            var low = 0
            var high = times.count
            while low < high {
                let middle = (low + high) / 2
                if instant(middle) <= last { low = middle + 1 } else { high = middle }
            }
            for index in low..<times.count {
                let at = instant(index)
                guard at > last else { continue }
                guard at <= end else { return }
                last = at
                quietSince = day
                guard body(at, day) else { return }
            }
        }
    }

    /// Whether the schedule fires on the local date `day` (days since the epoch).
    func fires(day: Int) -> Bool {
        let date = CivilDate(daysSinceEpoch: day)
        if let businessDay {
            guard cron.monthMatches(date.month) else { return false }
            return (calendar ?? .weekdays).businessDay(businessDay, year: date.year, month: date.month) == date
        }
        guard let calendar else { return cron.matches(date) }
        guard calendar.isBusinessDay(day: day) else { return false }
        if cron.matches(date) { return true }
        // A matched day off fires here when this is the business day the rule moves it to: look through the
        // days off just before (`.next`) or after (`.previous`) this one, as far as `nextBusinessDay` looks.
        let direction: Int
        switch onHoliday {
        case .skip: return false
        case .next: direction = -1
        case .previous: direction = 1
        }
        for distance in 1...366 {
            let other = day + direction * distance
            if calendar.isBusinessDay(day: other) { return false }
            if cron.matches(CivilDate(daysSinceEpoch: other)) { return true }
        }
        return false
    }
}
