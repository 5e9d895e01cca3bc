extension Zone {
    /// An instant as local time in the zone, with its offset: `2026-11-23 18:30:00 +08:00`.
    public func localDescription(_ instant: Timestamp) -> String {
        let seconds = Self.seconds(instant)
        let offset = self.offset(at: seconds)
        let time = Int(localSeconds(at: seconds) - Int64(localDate(at: seconds).daysSinceEpoch) * 86_400)
        let sign = offset < 0 ? "-" : "+"
        return "\(localDate(at: seconds)) \(Self.two(time / 3600)):\(Self.two(time / 60 % 60)):\(Self.two(time % 60))"
            + " \(sign)\(Self.two(abs(offset) / 3600)):\(Self.two(abs(offset) / 60 % 60))"
    }

    /// The local date of an instant in the zone.
    public func date(of instant: Timestamp) -> CivilDate { localDate(at: Self.seconds(instant)) }

    /// The whole seconds since the epoch at or before an instant.
    private static func seconds(_ instant: Timestamp) -> Int64 {
        instant.milliseconds >= 0 ? instant.milliseconds / 1000 : (instant.milliseconds - 999) / 1000
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
