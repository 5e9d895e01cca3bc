internal import Glibc

/// One line per event on standard error: `2026-11-22T08:36:01.123Z shard-1 info worker registered worker=a`.
///
/// Lines are written with one `write(2)` each, so lines from several threads never interleave.
public struct Log: Sendable {
    /// How much to say.
    public enum Level: Int, Comparable, Sendable {
        case debug = 0, info, warning, error, quiet

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

        /// The level named `debug`, `info`, `warning`, `error` or `quiet`; nil for anything else.
        public init?(named name: String?) {
            switch name {
            case "debug": self = .debug
            case "info": self = .info
            case "warning": self = .warning
            case "error": self = .error
            case "quiet": self = .quiet
            default: return nil
            }
        }
    }

    /// The service the lines come from.
    public var service: String
    /// The least important level written.
    public var level: Level

    public init(service: String, level: Level = .info) {
        self.service = service
        self.level = level
    }

    /// The same log for another service.
    public func named(_ service: String) -> Log { Log(service: service, level: level) }

    public func debug(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.debug, message, fields) }
    public func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.info, message, fields) }
    public func warning(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.warning, message, fields) }
    public func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.error, message, fields) }

    /// An info line with fields given as a list.
    func info(_ message: String, fields: [(String, String)]) { write(.info, message, fields) }
    /// A warning with fields given as a list.
    func warning(_ message: String, fields: [(String, String)]) { write(.warning, message, fields) }

    private func write<Fields: Sequence>(_ severity: Level, _ message: String, _ fields: Fields) where Fields.Element == (key: String, value: String) {
        write(severity, message, fields.map { ($0.key, $0.value) })
    }

    private func write(_ severity: Level, _ message: String, _ fields: [(String, String)]) {
        guard severity >= level, level != .quiet else { return }
        var line = "\(Log.timestamp(SystemClock().now().milliseconds)) \(service) \(severity) \(message)"
        for (key, value) in fields {
            line += " \(key)=" + (value.contains(" ") || value.isEmpty ? "\"\(value)\"" : value)
        }
        line += "\n"
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// `2026-11-22T08:36:01.123Z` for milliseconds since the epoch (days-from-civil, inverted).
    public static func timestamp(_ milliseconds: Int64) -> String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let millis = milliseconds - seconds * 1000
        var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(millis, 3))Z"
    }
}
