/// How long to wait before sending again what was not answered: `initial` after the first send, then
/// twice the last wait each time, never more than `maximum`. Management resends operations, the
/// orchestrator jobs and controls, the timer firings, and a worker reconnects to a silent shard, all
/// on this one rule.
public struct ResendPolicy: Sendable, Equatable {
    /// The first wait, in milliseconds.
    public var initial: Int64
    /// The longest wait, in milliseconds.
    public var maximum: Int64

    /// A policy that doubles from `initial` up to `maximum`; `maximum` below `initial` is `initial`.
    public init(initial: Int64, maximum: Int64) {
        precondition(initial > 0, "a resend wait must be positive")
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// A policy that waits `interval` every time.
    public static func every(_ interval: Int64) -> ResendPolicy { ResendPolicy(initial: interval, maximum: interval) }

    /// The wait after `wait`: twice as long, at most ``maximum``.
    public func wait(after wait: Int64) -> Int64 {
        let (doubled, overflow) = wait.multipliedReportingOverflow(by: 2)
        return overflow ? maximum : min(max(doubled, initial), maximum)
    }
}

/// When one unanswered message is due to be sent again, and how long the wait after that will be.
public struct ResendSchedule: Sendable, Equatable {
    /// When the message is due again.
    public private(set) var due: Timestamp
    /// The wait that follows the next send.
    public private(set) var wait: Int64

    /// A message sent at `now`: due again after the policy's first wait.
    public init(sentAt now: Timestamp, policy: ResendPolicy) {
        due = now.adding(milliseconds: policy.initial)
        wait = policy.wait(after: policy.initial)
    }

    /// A message whose fate is unknown (restored from a store, or sent to a shard that restarted): due at
    /// `now`, then waited for as if sent for the first time.
    public init(dueAt now: Timestamp, policy: ResendPolicy) {
        due = now
        wait = policy.initial
    }

    /// Whether the message is due at `now`.
    public func isDue(at now: Timestamp) -> Bool { due <= now }

    /// Records that the message was sent again at `now`: the next send waits twice as long.
    public mutating func resent(at now: Timestamp, policy: ResendPolicy) {
        due = now.adding(milliseconds: wait)
        wait = policy.wait(after: wait)
    }

    /// Makes the message due at `now` without changing the wait that follows.
    public mutating func expedite(to now: Timestamp) { due = min(due, now) }
}
