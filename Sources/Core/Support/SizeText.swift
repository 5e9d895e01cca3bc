/// Sizes as the cluster file writes them: a whole number followed by a unit, `512MiB`, `4GiB`, `100MB`,
/// or a bare number of octets. Binary units (`KiB`, `MiB`, `GiB`, `TiB`) count in 1,024s, decimal
/// ones (`kB`, `MB`, `GB`, `TB`) in 1,000s, `B` is octets.
public enum SizeText {
    static let units: [(String, Int64)] = [
        ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("kB", 1000), ("KB", 1000), ("B", 1),
    ]

    /// The size in octets, or nil if `text` is not one (or is over `Int64`).
    public static func parse(_ text: String) -> Int64? {
        let unit = units.first { text.hasSuffix($0.0) }
        let digits = unit.map { String(text.dropLast($0.0.count)) } ?? text
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int64(digits) else { return nil }
        let (octets, overflow) = number.multipliedReportingOverflow(by: unit?.1 ?? 1)
        return overflow ? nil : octets
    }

    /// `octets` in the largest binary unit that divides it: `4GiB`, `1536MiB`, `100B`.
    public static func format(_ octets: Int64) -> String {
        for (unit, size) in units.prefix(4) where octets >= size && octets % size == 0 { return "\(octets / size)\(unit)" }
        return "\(octets)B"
    }
}
