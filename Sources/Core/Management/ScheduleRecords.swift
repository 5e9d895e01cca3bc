/// A business calendar as management keeps it: the text of its file, and the calendar it makes.
public struct CalendarRecord: Equatable, Sendable {
    public var name: String
    public var version: UInt32
    /// The calendar file's text, as applied.
    public var text: String
    public var applied: Timestamp
    public var calendar: BusinessCalendar

    public init(name: String, version: UInt32, text: String, applied: Timestamp, calendar: BusinessCalendar) {
        self.name = name
        self.version = version
        self.text = text
        self.applied = applied
        self.calendar = calendar
    }
}

/// Where a flow's schedule stands. Every firing up to `since` has been decided (run, missed or
/// skipped), and is never decided again: this is what makes firing exactly once, however many timers ask.
public struct ScheduleState: Equatable, Sendable {
    /// The flow, as `product/flow`.
    public var flow: String
    /// The last instant decided; a schedule applied or changed starts at the moment it was applied.
    public var since: Timestamp
    /// Firings that started a run.
    public var fired: UInt64 = 0
    /// Firings that did not run because no timer fired them in time (see the schedule's `catch_up`).
    public var missed: UInt64 = 0
    /// Firings that did not run because a run of the flow was still going (`overlap` `skip`, or a full queue).
    public var skipped: UInt64 = 0

    public init(flow: String, since: Timestamp, fired: UInt64 = 0, missed: UInt64 = 0, skipped: UInt64 = 0) {
        self.flow = flow
        self.since = since
        self.fired = fired
        self.missed = missed
        self.skipped = skipped
    }
}

/// One firing of a schedule, as decided by management.
public struct FiringRecord: Equatable, Sendable {
    /// What became of a firing.
    public enum Outcome: String, Equatable, Sendable, CaseIterable {
        /// It started a run.
        case started
        /// It waits for the runs of the flow going to end.
        case queued
        /// A run of the flow was still going, so it started none.
        case skipped
        /// No timer fired it in time; recorded when a later firing ran, or the timer caught up without running it.
        case missed
    }

    public var flow: String
    /// The scheduled instant.
    public var instant: Timestamp
    /// Its business date, in the schedule's zone.
    public var date: String
    public var outcome: Outcome
    /// The run it started; 0 for none.
    public var run: UInt64
    /// Firings before it that were missed, decided with it.
    public var missedBefore: UInt64
    /// The timer that fired it.
    public var timer: String
    /// When management decided it.
    public var time: Timestamp
    /// Why, in words: the run that was going, the runs it stopped.
    public var detail: String

    public init(
        flow: String, instant: Timestamp, date: String, outcome: Outcome, run: UInt64 = 0, missedBefore: UInt64 = 0, timer: String,
        time: Timestamp, detail: String = ""
    ) {
        self.flow = flow
        self.instant = instant
        self.date = date
        self.outcome = outcome
        self.run = run
        self.missedBefore = missedBefore
        self.timer = timer
        self.time = time
        self.detail = detail
    }
}
