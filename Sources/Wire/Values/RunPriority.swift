/// A run's priority, on the wire as one octet: 0 is urgent, then 1 (served first) to 5 (last), with 3 the
/// default, as Temporal's priority keys. Within a product, a task of a smaller value goes first; across
/// products it counts only for urgent runs and for products whose policy puts priority over fairness.
public enum RunPriority {
    /// An operator's override: before every other task, whatever the fair shares say.
    public static let urgent: UInt8 = 0
    /// The most urgent of the ordinary priorities.
    public static let first: UInt8 = 1
    /// The default.
    public static let normal: UInt8 = 3
    /// The least urgent.
    public static let last: UInt8 = 5

    /// The priority in words, as the API and the command line spell it: `urgent`, or `1` to `5`.
    public static func name(_ value: UInt8) -> String { value == urgent ? "urgent" : String(value) }

    /// Reads `urgent` or `1` to `5`; nil for anything else.
    public static func parse(_ text: String) -> UInt8? {
        if text == "urgent" { return urgent }
        guard let value = UInt8(text), (first...last).contains(value) else { return nil }
        return value
    }
}
