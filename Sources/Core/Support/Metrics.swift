/// Figures in Prometheus's text exposition format (version 0.0.4), as every service's `/metrics` serves
/// them (`docs/metrics.md`).
///
/// Families keep the order they were first written in; the series of one family are written together,
/// as the format requires. Names follow Prometheus's conventions: a `baton_` prefix, base units
/// (seconds, bytes), `_total` on counters.
public struct Metrics: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    public struct Family: Sendable {
        public var name: String
        public var help: String
        public var kind: Kind
        public var series: [Series] = []
    }

    public struct Series: Sendable {
        public var labels: [Label]
        public var value: Value
    }

    public struct Label: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public enum Value: Sendable {
        case number(Double)
        case histogram(Histogram)
    }

    public private(set) var families: [Family] = []
    private var index: [String: Int] = [:]

    public init() {}

    /// Declares a family, so that it is written (with its help and type) even with no series yet.
    public mutating func declare(_ name: String, _ kind: Kind, _ help: String) {
        guard index[name] == nil else { return }
        index[name] = families.count
        families.append(Family(name: name, help: help, kind: kind))
    }

    public mutating func counter(_ name: String, _ help: String, _ value: some BinaryInteger, _ labels: Label...) {
        add(name, .counter, help, .number(Double(value)), labels)
    }

    public mutating func counter(_ name: String, _ help: String, seconds value: Double, _ labels: Label...) {
        add(name, .counter, help, .number(value), labels)
    }

    public mutating func gauge(_ name: String, _ help: String, _ value: some BinaryInteger, _ labels: Label...) {
        add(name, .gauge, help, .number(Double(value)), labels)
    }

    public mutating func gauge(_ name: String, _ help: String, _ value: Double, _ labels: Label...) {
        add(name, .gauge, help, .number(value), labels)
    }

    public mutating func histogram(_ name: String, _ help: String, _ histogram: Histogram, _ labels: Label...) {
        add(name, .histogram, help, .histogram(histogram), labels)
    }

    mutating func add(_ name: String, _ kind: Kind, _ help: String, _ value: Value, _ labels: [Label]) {
        declare(name, kind, help)
        families[index[name]!].series.append(Series(labels: labels, value: value))
    }

    /// Every series given one more label (a service's name, when one process serves several).
    public func labelled(_ label: Label) -> Metrics {
        var copy = self
        for family in copy.families.indices {
            for series in copy.families[family].series.indices { copy.families[family].series[series].labels.insert(label, at: 0) }
        }
        return copy
    }

    /// Adds `other`'s series to this one's families of the same name, and its other families after.
    public mutating func merge(_ other: Metrics) {
        for family in other.families {
            declare(family.name, family.kind, family.help)
            families[index[family.name]!].series += family.series
        }
    }

    /// The text exposition.
    public func rendered() -> String {
        var text = ""
        for family in families {
            text += "# HELP \(family.name) \(Self.escapedHelp(family.help))\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            for series in family.series {
                switch series.value {
                case .number(let value):
                    text += family.name + Self.labels(series.labels) + " " + Self.number(value) + "\n"
                case .histogram(let histogram):
                    var cumulative: UInt64 = 0
                    for (bound, count) in zip(histogram.bounds + [.infinity], histogram.counts) {
                        cumulative += count
                        text += family.name + "_bucket" + Self.labels(series.labels + [Label("le", Self.number(bound))]) + " \(cumulative)\n"
                    }
                    text += family.name + "_sum" + Self.labels(series.labels) + " " + Self.number(histogram.sum) + "\n"
                    text += family.name + "_count" + Self.labels(series.labels) + " \(histogram.count)\n"
                }
            }
        }
        return text
    }

    static func labels(_ labels: [Label]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.name)=\"\(escapedValue($0.value))\"" }.joined(separator: ",") + "}"
    }

    static func number(_ value: Double) -> String {
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value.isNaN { return "NaN" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func escapedValue(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func escapedHelp(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }
}

/// A histogram of fixed buckets: counts by upper bound, their sum and count.
public struct Histogram: Sendable, Equatable {
    /// Upper bounds, increasing; the last bucket (+Inf) is implied.
    public let bounds: [Double]
    /// Observations per bucket, not cumulative: one more than the bounds.
    public private(set) var counts: [UInt64]
    public private(set) var sum = 0.0
    public private(set) var count: UInt64 = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = [UInt64](repeating: 0, count: bounds.count + 1)
    }

    public mutating func observe(_ value: Double) {
        var bucket = 0
        while bucket < bounds.count, value > bounds[bucket] { bucket += 1 }
        counts[bucket] += 1
        sum += value
        count += 1
    }

    /// Adds another histogram's observations; one of other buckets is ignored.
    public mutating func add(_ other: Histogram) {
        guard other.bounds == bounds else { return }
        for index in counts.indices { counts[index] += other.counts[index] }
        sum += other.sum
        count += other.count
    }

    /// For waits and run times: 5 ms to an hour, in seconds.
    public static let durations = Histogram(bounds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600])
    /// For commits and turns: 50 µs to a second, in seconds.
    public static let short = Histogram(bounds: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1])

    /// The value below which `fraction` of the observations fall, read off the buckets: the upper bound of
    /// the bucket it falls in, so at most one bucket high; nil if empty.
    public func quantile(_ fraction: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = UInt64((Double(count) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (bucket, observed) in counts.enumerated() {
            seen += observed
            if seen >= max(rank, 1) { return bucket < bounds.count ? bounds[bucket] : .infinity }
        }
        return .infinity
    }
}
