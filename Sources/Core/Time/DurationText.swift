/// Durations as people write them in flow files and on the command line: `250ms`, `30s`, `5m`, `1h30m`, `2d`.
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Milliseconds, or nil unless `text` is one or more `<whole number><unit>` parts with units
    /// in decreasing order, each at most once (`1h30m`, not `30m1h`).
    public static func parse(_ text: String) -> Int64? {
        var total: Int64 = 0
        var remaining = Substring(text)
        var lastUnit = Int.max
        guard !remaining.isEmpty else { return nil }
        while !remaining.isEmpty {
            let digits = remaining.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 12, let amount = Int64(digits) else { return nil }
            remaining = remaining.dropFirst(digits.count)
            // Longest suffix first, so "ms" is not read as "m" followed by garbage.
            guard let unit = units.indices.sorted(by: { units[$0].suffix.count > units[$1].suffix.count })
                .first(where: { remaining.hasPrefix(units[$0].suffix) })
            else { return nil }
            guard unit < lastUnit else { return nil }
            lastUnit = unit
            remaining = remaining.dropFirst(units[unit].suffix.count)
            let (product, overflow) = amount.multipliedReportingOverflow(by: units[unit].milliseconds)
            guard !overflow else { return nil }
            total += product
        }
        return total
    }

    /// The shortest text that `parse` reads back as `milliseconds`: `1h30m`, `250ms`, `0s`.
    public static func format(_ milliseconds: Int64) -> String {
        if milliseconds == 0 { return "0s" }
        var remaining = milliseconds
        var text = milliseconds < 0 ? "-" : ""
        remaining = remaining.magnitude > Int64.max.magnitude ? Int64.max : abs(remaining)
        for (suffix, size) in units.reversed() where remaining >= size {
            text += "\(remaining / size)\(suffix)"
            remaining %= size
        }
        return text
    }
}
