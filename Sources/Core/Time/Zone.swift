/// A zone's offsets from UTC over time, read from a TZif file (RFC 8536).
///
/// The zone keeps the table of transitions from the file and, for instants after the last of them, the
/// POSIX `TZ` rule from the file's footer. Versions 1–4 are read; the 64-bit data of version 2 and later is
/// used when present. Leap-second files (the `right/` zones) are refused: Baton's instants are POSIX seconds.
///
/// Local times are counted in seconds since 1970-01-01T00:00:00 *local*, so a local date and time of day
/// are `date.daysSinceEpoch * 86_400 + secondOfDay`. A local time may occur once, twice (when clocks go back)
/// or never (when they jump forward): `instants(local:)` gives every occurrence, `gapEnd(local:)` the instant
/// a gap ends, and `earliestInstant(local:)` the one instant a schedule uses.
public struct Zone: Sendable, Equatable {
    /// The IANA name the zone was loaded as (`Europe/London`), or the name it was given.
    public let name: String
    /// Instants (seconds since the epoch) at which the offset may change, ascending.
    let transitionTimes: [Int64]
    /// The offset in effect from each transition in `transitionTimes` on.
    let transitionOffsets: [Int]
    /// The offset before the first transition (time type 0), and always when there are none and no rule.
    let initialOffset: Int
    /// The footer's rule, for instants after the last transition (or all instants, if there are none).
    let rule: PosixZoneRule?

    init(name: String, transitionTimes: [Int64], transitionOffsets: [Int], initialOffset: Int, rule: PosixZoneRule?) {
        self.name = name
        self.transitionTimes = transitionTimes
        self.transitionOffsets = transitionOffsets
        self.initialOffset = initialOffset
        self.rule = rule
    }

    /// Coordinated Universal Time: offset 0, always.
    public static let utc = Zone(name: "UTC", transitionTimes: [], transitionOffsets: [], initialOffset: 0, rule: nil)

    /// A zone with one offset, `seconds` east of UTC, at all times.
    public static func fixed(name: String, offset seconds: Int) -> Zone {
        Zone(name: name, transitionTimes: [], transitionOffsets: [], initialOffset: seconds, rule: nil)
    }

    /// A zone given by a POSIX `TZ` rule alone, as in a TZif footer: `CET-1CEST,M3.5.0,M10.5.0/3`.
    public static func parse(posixRule text: String, name: String) throws(ZoneProblem) -> Zone {
        let rule = try PosixZoneRule.parse(text)
        return Zone(
            name: name, transitionTimes: [], transitionOffsets: [], initialOffset: rule.standardOffset, rule: rule)
    }

    /// Whether `name` looks like an IANA zone name (`Asia/Shanghai`, `UTC`, `Etc/GMT+8`), so that the runtime
    /// may map it to a file path safely: parts separated by single `/`, each starting with a letter and made of
    /// letters, digits, `_`, `-` and `+`; no `.` (so no `..`), no leading or trailing `/`, at most 255 bytes.
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard let first = part.unicodeScalars.first, first.isASCIILetter else { return false }
            for scalar in part.unicodeScalars {
                guard
                    scalar.isASCIILetter || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-"
                        || scalar == "+"
                else { return false }
            }
        }
        return true
    }

    /// How far from the epoch (in seconds, about ±34,000 years) instants and local times are taken as given;
    /// beyond it they are taken as at the bound, so that no date or second arithmetic overflows.
    public static let secondsBound: Int64 = 1 << 40

    static func bounded(_ seconds: Int64) -> Int64 { min(max(seconds, -secondsBound), secondsBound) }

    /// Seconds east of UTC at an instant (seconds since the epoch).
    public func offset(at seconds: Int64) -> Int {
        let seconds = Self.bounded(seconds)
        if let last = transitionTimes.last, seconds <= last || rule == nil {
            let index = Self.countAtOrBefore(seconds, in: transitionTimes)
            return index == 0 ? initialOffset : transitionOffsets[index - 1]
        }
        return rule?.offset(at: seconds) ?? initialOffset
    }

    /// The local time at an instant, in seconds since 1970-01-01T00:00:00 local.
    public func localSeconds(at seconds: Int64) -> Int64 {
        let seconds = Self.bounded(seconds)
        return seconds + Int64(offset(at: seconds))
    }

    /// The local date at an instant.
    public func localDate(at seconds: Int64) -> CivilDate {
        CivilDate(daysSinceEpoch: Int(floorDivide(localSeconds(at: seconds), 86_400)))
    }

    /// The instants (seconds since the epoch) at which the local wall time `localSeconds` occurs: none in a
    /// spring-forward gap, two in an autumn overlap (earliest first).
    public func instants(local localSeconds: Int64) -> [Int64] {
        let localSeconds = Self.bounded(localSeconds)
        return window(around: localSeconds).instants(local: localSeconds)
    }

    /// For a local time in a gap: the instant the gap ends (the first valid instant after it); nil if the
    /// local time occurs.
    public func gapEnd(local localSeconds: Int64) -> Int64? {
        let localSeconds = Self.bounded(localSeconds)
        let window = window(around: localSeconds)
        return window.instants(local: localSeconds).isEmpty ? window.earliestInstant(local: localSeconds) : nil
    }

    /// The one instant a schedule fires for a local time: its only occurrence, the earlier of two, or the end
    /// of the gap it falls in. This is the first instant whose local time is at or after `localSeconds`, so it
    /// never decreases as the local time increases.
    public func earliestInstant(local localSeconds: Int64) -> Int64 {
        let localSeconds = Self.bounded(localSeconds)
        return window(around: localSeconds).earliestInstant(local: localSeconds)
    }

    // MARK: Windows of offsets

    /// The offsets in effect over an interval of instants: the one at its start and every change in it.
    struct Window {
        let start: Int64
        let initialOffset: Int
        /// Changes of offset after `start`, ascending and each to a different offset.
        let changes: [(at: Int64, offset: Int)]

        /// The offset throughout the window, when it has no change.
        var constantOffset: Int? { changes.isEmpty ? initialOffset : nil }

        /// Calls `body` with each stretch of one offset, in order, until it returns a value.
        @inline(__always)
        private func firstSegment<T>(_ body: (_ from: Int64, _ to: Int64, _ offset: Int) -> T?) -> T? {
            var from = start
            var offset = initialOffset
            for change in changes {
                if let found = body(from, change.at, offset) { return found }
                from = change.at
                offset = change.offset
            }
            return body(from, Int64.max, offset)
        }

        func earliestInstant(local: Int64) -> Int64 {
            // In a stretch [from, to) of offset o, the first instant whose local time reaches `local`.
            firstSegment { from, to, offset in
                let candidate = max(from, local - Int64(offset))
                return candidate < to ? candidate : nil
            } ?? local - Int64(initialOffset)
        }

        func instants(local: Int64) -> [Int64] {
            var found: [Int64] = []
            _ = firstSegment { from, to, offset -> Bool? in
                let candidate = local - Int64(offset)
                if candidate >= from && candidate < to { found.append(candidate) }
                return nil
            }
            return found
        }
    }

    /// Offsets are within ±26 hours (RFC 8536), so every occurrence of a local time, and the end of any gap it
    /// falls in, lies within this many seconds of it.
    static let reach: Int64 = 3 * 86_400

    /// The window of instants that can hold local times from `localSeconds` for `length` seconds.
    func window(around localSeconds: Int64, length: Int64 = 0) -> Window {
        let localSeconds = Self.bounded(localSeconds)
        return window(from: localSeconds - Self.reach, through: localSeconds + length + Self.reach)
    }

    /// The offsets over the instants [`start`, `end`].
    func window(from start: Int64, through end: Int64) -> Window {
        let initial = offset(at: start)
        var changes: [(at: Int64, offset: Int)] = []
        func add(_ at: Int64, _ offset: Int) {
            // Equal instants keep the last one; a change back to the offset already in effect is none.
            if let last = changes.last, last.at == at { changes.removeLast() }
            if offset != (changes.last?.offset ?? initial) { changes.append((at, offset)) }
        }
        var index = Self.countAtOrBefore(start, in: transitionTimes)
        while index < transitionTimes.count, transitionTimes[index] <= end {
            add(transitionTimes[index], transitionOffsets[index])
            index += 1
        }
        if let rule {
            let boundary = transitionTimes.last ?? Int64.min
            if end > boundary {
                // `offset(at:)` switches from the table to the rule just after the last transition.
                if let last = transitionTimes.last, last + 1 > start { add(last + 1, rule.offset(at: last + 1)) }
                for change in rule.changes(
                    after: max(start, boundary == Int64.min ? start : boundary + 1), through: end)
                {
                    add(change.at, change.offset)
                }
            }
        }
        return Window(start: start, initialOffset: initial, changes: changes)
    }

    /// How many of the ascending `values` are at or before `value`.
    static func countAtOrBefore<Value: Comparable>(_ value: Value, in values: [Value]) -> Int {
        var low = 0
        var high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle] <= value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Why a TZif file or a POSIX `TZ` rule was refused.
public struct ZoneProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong, naming the part of the file or rule: `TZif: truncated in the footer (120 bytes)`.
    public let message: String

    /// A problem saying `message`.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
