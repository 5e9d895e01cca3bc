/// When the timer starts runs of a flow: a cron expression in a time zone, optionally on a business
/// calendar, with what to do about firings missed while no timer ran and about a run still going.
///
/// ```json
/// "schedule": {"cron": "30 18 * * *", "zone": "Asia/Shanghai", "calendar": "cn-banks", "on_holiday": "next",
///              "catch_up": "latest", "overlap": "skip"}
/// ```
public struct ScheduleDefinition: Equatable, Sendable {
    /// When, in the zone's local time.
    public var cron: CronExpression
    /// An IANA time zone name.
    public var zone: String
    /// A business calendar's name: one applied to management, or the built-in `weekdays`.
    public var calendar: String?
    /// What a date the cron names that is not a business day does: skipped, or moved to the next or previous business day.
    public var onHoliday: HolidayRule
    /// Fire on the n-th business day of each month the cron names (negative: from the end, -1 the last), instead of the cron's days.
    public var businessDay: Int?
    /// What happens to firings missed while no timer ran.
    public var catchUp: CatchUp
    /// With `catchUp` `all`, the most missed firings run; older ones are counted as missed.
    public var maximumCatchUp: Int
    /// What a firing does while a run of the flow is still going.
    public var overlap: Overlap
    /// The priority of the runs it starts, 1 (first) to 5; 3 by default.
    public var priority: Int

    /// The defaults, as documented in `docs/flows.md`.
    public static let defaultZone = "UTC"
    public static let defaultMaximumCatchUp = 10
    /// The largest `max_catch_up`.
    public static let catchUpLimit = 10_000
    /// The most firings a flow of overlap `queue` keeps waiting.
    public static let queueLimit = 100

    public init(
        cron: CronExpression, zone: String = ScheduleDefinition.defaultZone, calendar: String? = nil, onHoliday: HolidayRule = .skip,
        businessDay: Int? = nil, catchUp: CatchUp = .latest, maximumCatchUp: Int = ScheduleDefinition.defaultMaximumCatchUp,
        overlap: Overlap = .allow, priority: Int = 3
    ) {
        self.priority = priority
        self.cron = cron
        self.zone = zone
        self.calendar = calendar
        self.onHoliday = onHoliday
        self.businessDay = businessDay
        self.catchUp = catchUp
        self.maximumCatchUp = maximumCatchUp
        self.overlap = overlap
    }

    /// What happens to firings missed while no timer ran (or management did not answer).
    public enum CatchUp: String, Equatable, Sendable, CaseIterable {
        /// None of them run; they are counted as missed.
        case none
        /// Only the most recent runs.
        case latest
        /// All of them run, in order, at most `max_catch_up` (the most recent); the rest are counted as missed.
        case all
    }

    /// What a firing does while a run of the flow is still going.
    public enum Overlap: String, Equatable, Sendable, CaseIterable {
        /// Start another run alongside.
        case allow
        /// Start nothing; the firing is recorded as skipped.
        case skip
        /// Start the run when the runs going have ended (at most ``ScheduleDefinition/queueLimit`` firings wait).
        case queue
        /// Stop the runs going and start the new one.
        case replace
    }

    /// The schedule with its zone and calendar resolved.
    public func schedule(zone: Zone, calendar: BusinessCalendar?) -> Schedule {
        Schedule(cron: cron, zone: zone, calendar: calendar, onHoliday: onHoliday, businessDay: businessDay)
    }

    /// The schedule as canonical JSON, with defaults left out.
    public var json: JSON {
        var members: [(String, JSON)] = [("cron", .string(cron.text))]
        if zone != Self.defaultZone { members.append(("zone", .string(zone))) }
        if let calendar { members.append(("calendar", .string(calendar))) }
        if onHoliday != .skip { members.append(("on_holiday", .string(onHoliday.rawValue))) }
        if let businessDay { members.append(("business_day", .number(businessDay))) }
        if catchUp != .latest { members.append(("catch_up", .string(catchUp.rawValue))) }
        if maximumCatchUp != Self.defaultMaximumCatchUp { members.append(("max_catch_up", .number(maximumCatchUp))) }
        if overlap != .allow { members.append(("overlap", .string(overlap.rawValue))) }
        if priority != 3 { members.append(("priority", .number(priority))) }
        return .object(members)
    }

    /// The schedule in a line: `30 18 * * * Asia/Shanghai, calendar cn-banks (holidays: next), catch-up latest, overlap skip`.
    public var summary: String {
        var parts = ["\(cron.text) \(zone)"]
        if let calendar {
            if let businessDay {
                let which = businessDay == -1 ? "last" : businessDay < 0 ? "\(-businessDay) from last" : "\(businessDay)"
                parts.append("business day \(which) of calendar \(calendar)")
            } else {
                parts.append("calendar \(calendar) (holidays: \(onHoliday.rawValue))")
            }
        }
        parts.append(catchUp == .all ? "catch-up all (at most \(maximumCatchUp))" : "catch-up \(catchUp.rawValue)")
        parts.append("overlap \(overlap.rawValue)")
        if priority != 3 { parts.append("priority \(priority)") }
        return parts.joined(separator: ", ")
    }
}

/// Finds time zones by name; the runtime reads the system's time zone database.
public typealias ZoneLookup = @Sendable (String) -> Zone?

/// What a flow file's schedule is checked against beyond its own syntax.
public struct ScheduleNames: Sendable {
    /// Time zones; nil to check names only by their form.
    public var zones: ZoneLookup?
    /// The calendars that exist (besides the built-in `weekdays`); nil to leave calendar names unchecked.
    public var calendars: Set<String>?

    public init(zones: ZoneLookup? = nil, calendars: Set<String>? = nil) {
        self.zones = zones
        self.calendars = calendars
    }

    /// Nothing beyond syntax.
    public static let unchecked = ScheduleNames()
}

/// The business calendars every Baton knows without a file.
public enum BuiltInCalendars {
    public static let all = [BusinessCalendar.weekdays]
    public static func named(_ name: String) -> BusinessCalendar? { all.first { $0.name == name } }
}

extension FlowValidator {
    /// The fields a schedule may have.
    static let scheduleFields = ["cron", "zone", "calendar", "on_holiday", "business_day", "catch_up", "max_catch_up", "overlap", "priority"]

    /// `schedule`: an object with a cron expression and optional zone, calendar and policies. With
    /// `refusingNever` false (a schedule stored before such schedules were refused, read back), a cron
    /// that can never fire is taken, as it was applied.
    mutating func schedule(_ value: JSON, names: ScheduleNames, refusingNever: Bool = true) -> ScheduleDefinition? {
        guard let object = value.members else {
            reader.report(value.position, field: "schedule", "expected an object with \"cron\", found \(value.kindDescription)")
            return nil
        }
        let problemsBefore = reader.issues.count
        let fields = reader.members(of: object, allowed: Self.scheduleFields, subject: nil)
        var cron: CronExpression?
        if let text = fields["cron"] {
            if let string = text.string {
                do throws(CronProblem) {
                    let parsed = try CronExpression.parse(string)
                    if refusingNever, let never = parsed.impossibleDate {
                        // Its column counted in the string as given, leading spaces and all, as parse counts.
                        let leading = string.prefix { $0.isWhitespace }.count
                        throw CronProblem(column: never.column + leading, field: never.field, message: never.message)
                    }
                    cron = parsed
                } catch {
                    // The column of the bad character in the file, counting the opening quote.
                    var position = text.position
                    if error.column > 0 { position.column += error.column }
                    reader.report(position, field: "schedule.cron", "\"\(string)\": \(error)")
                }
            } else {
                reader.report(text.position, field: "schedule.cron", "expected a cron expression as a string, found \(text.kindDescription)")
            }
        } else {
            reader.report(value.position, field: "schedule.cron", "missing: a schedule needs a cron expression, such as \"30 18 * * 1-5\"")
        }
        var zone = ScheduleDefinition.defaultZone
        if let text = fields["zone"] {
            if let name = text.string, ["localtime", "posixrules", "Factory"].contains(name) || name.hasPrefix("posix/") || name.hasPrefix("right/") {
                // Files of the zone database that are not zones: "localtime" is whatever the machine reading it is
                // set to, which another machine, or the same one later, may not share (found by an explorer).
                reader.report(
                    text.position, field: "schedule.zone",
                    "\"\(name)\" is not a time zone of its own but a file of this machine's zone database: name the zone (IANA names, such as \"Europe/London\" or \"Asia/Shanghai\")")
            } else if let name = text.string, Zone.isValidName(name) {
                if let zones = names.zones, zones(name) == nil {
                    reader.report(text.position, field: "schedule.zone", "unknown time zone \"\(name)\" (IANA names, such as \"Europe/London\" or \"Asia/Shanghai\")")
                }
                zone = name
            } else {
                let found = text.string.map { "\"\($0)\"" } ?? text.kindDescription
                reader.report(text.position, field: "schedule.zone", "expected an IANA time zone name such as \"America/New_York\", found \(found)")
            }
        }
        let calendar = fields["calendar"].flatMap { reader.name($0, field: "schedule.calendar", subject: nil) }
        if let calendar, let known = names.calendars, BuiltInCalendars.named(calendar) == nil, !known.contains(calendar) {
            let all = (known.union(BuiltInCalendars.all.map(\.name))).sorted()
            var message = "unknown calendar \"\(calendar)\" (calendars: \(all.joined(separator: ", ")))"
            if let suggestion = Names.suggestion(for: calendar, among: Set(all)) { message += " (did you mean \"\(suggestion)\"?)" }
            reader.report(fields["calendar"]!.position, field: "schedule.calendar", message)
        }
        let onHoliday = fields["on_holiday"].flatMap { choice($0, field: "on_holiday", HolidayRule.self) }
        var businessDay: Int?
        if let number = fields["business_day"] {
            businessDay = reader.integer(number, field: "schedule.business_day", subject: nil, in: -23...23)
            if businessDay == 0 {
                reader.report(number.position, field: "schedule.business_day", "0 is no business day: 1 is the first of the month, -1 the last")
                businessDay = nil
            }
            if let cron, !cron.dayFieldsAreWildcards {
                reader.report(number.position, field: "schedule.business_day", "business_day picks the day, so the cron's day-of-month and day-of-week must both be *")
            }
        }
        for field in ["on_holiday", "business_day"] where fields[field] != nil && fields["calendar"] == nil {
            reader.report(fields[field]!.position, field: "schedule.\(field)", "needs \"calendar\": the business calendar that says which days are holidays")
        }
        if let onHolidayValue = fields["on_holiday"], fields["business_day"] != nil {
            reader.report(
                onHolidayValue.position, field: "schedule.on_holiday",
                "applies to the days the cron names; with business_day every firing is on a business day already")
        }
        let catchUp = fields["catch_up"].flatMap { choice($0, field: "catch_up", ScheduleDefinition.CatchUp.self) }
        if let maximumValue = fields["max_catch_up"], catchUp != .all {
            reader.report(maximumValue.position, field: "schedule.max_catch_up", "applies only with \"catch_up\": \"all\"")
        }
        let maximum = fields["max_catch_up"].flatMap { reader.integer($0, field: "schedule.max_catch_up", subject: nil, in: 1...ScheduleDefinition.catchUpLimit) }
        let overlap = fields["overlap"].flatMap { choice($0, field: "overlap", ScheduleDefinition.Overlap.self) }
        let priority = fields["priority"].flatMap { reader.integer($0, field: "schedule.priority", subject: nil, in: 1...5) }
        guard reader.issues.count == problemsBefore, let cron else { return nil }
        return ScheduleDefinition(
            cron: cron, zone: zone, calendar: calendar, onHoliday: onHoliday ?? .skip, businessDay: businessDay,
            catchUp: catchUp ?? .latest, maximumCatchUp: maximum ?? ScheduleDefinition.defaultMaximumCatchUp, overlap: overlap ?? .allow,
            priority: priority ?? 3)
    }

    /// One of an enumeration's names.
    mutating func choice<Choice: RawRepresentable & CaseIterable>(_ value: JSON, field: String, _: Choice.Type) -> Choice?
    where Choice.RawValue == String {
        if let text = value.string, let choice = Choice(rawValue: text) { return choice }
        let names = Choice.allCases.map { "\"\($0.rawValue)\"" }
        let list = names.dropLast().joined(separator: ", ") + " or " + names.last!
        reader.report(value.position, field: "schedule.\(field)", "expected \(list), found \(value.string.map { "\"\($0)\"" } ?? value.kindDescription)")
        return nil
    }
}
