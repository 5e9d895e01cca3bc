/// A wall-clock instant in milliseconds since 1970-01-01T00:00:00Z.
///
/// Stored times are wall-clock values because retry due times and schedules must survive a restart.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since the Unix epoch.
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    /// The Unix epoch: the value that means "not set" on the wire.
    public static let zero = Timestamp(milliseconds: 0)

    /// This instant moved by `milliseconds`.
    public func adding(milliseconds delta: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds + delta) }

    /// The milliseconds from `earlier` to this instant.
    public func since(_ earlier: Timestamp) -> Int64 { milliseconds - earlier.milliseconds }

    /// The wire form: unsigned milliseconds, 0 for anything at or before the epoch.
    public var wire: UInt64 { UInt64(max(0, milliseconds)) }

    /// The instant a wire value names.
    public init(wire: UInt64) { milliseconds = Int64(clamping: wire) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public var description: String { "\(milliseconds)ms" }

    /// The instant as people read it, to the second: `2026-12-07 22:51:17 UTC`.
    public var utcText: String {
        // Floored, so that an instant before the epoch reads as the second and day it falls in.
        func floored(_ value: Int64, _ by: Int64) -> Int64 {
            let (quotient, remainder) = value.quotientAndRemainder(dividingBy: by)
            return remainder < 0 ? quotient - 1 : quotient
        }
        let seconds = floored(milliseconds, 1000)
        let days = floored(seconds, 86_400)
        let of = seconds - days * 86_400
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(CivilDate(daysSinceEpoch: Int(days))) \(two(of / 3600)):\(two(of / 60 % 60)):\(two(of % 60)) UTC"
    }
}

/// Where services read the time. The core never reads a clock: `now` is an argument.
public protocol WallClock: Sendable {
    /// The current instant.
    func now() -> Timestamp
}
