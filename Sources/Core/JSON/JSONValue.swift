/// A JSON value that remembers where it was written, so that a problem can be reported at its line and column.
public struct JSON: Equatable, Sendable {
    /// The value.
    public var value: Value
    /// Where the value starts in its text; `.none` for values built in code.
    public var position: Position

    /// A JSON value.
    public indirect enum Value: Equatable, Sendable {
        case null
        case bool(Bool)
        /// A number, kept as written so that `2` and `2.0` and `2e0` can be told apart.
        case number(String)
        case string(String)
        case array([JSON])
        /// Members in the order written; a key may appear twice, and validation says so.
        case object([Member])
    }

    /// One `"key": value` pair of an object.
    public struct Member: Equatable, Sendable {
        public var key: String
        public var keyPosition: Position
        public var value: JSON

        public init(key: String, keyPosition: Position = .none, value: JSON) {
            self.key = key
            self.keyPosition = keyPosition
            self.value = value
        }
    }

    /// A line and column, both from 1; the column counts Unicode scalars.
    public struct Position: Equatable, Sendable, CustomStringConvertible {
        public var line: Int
        public var column: Int

        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }

        /// No position: a value built in code.
        public static let none = Position(line: 0, column: 0)

        public var description: String { "\(line):\(column)" }
    }

    public init(_ value: Value, at position: Position = .none) {
        self.value = value
        self.position = position
    }
}

extension JSON {
    public static let null = JSON(.null)
    public static func bool(_ value: Bool) -> JSON { JSON(.bool(value)) }
    public static func string(_ value: String) -> JSON { JSON(.string(value)) }
    public static func number<T: BinaryInteger>(_ value: T) -> JSON { JSON(.number(String(value))) }

    /// A non-negative figure as a number with two decimals, `12.05`: a rate, as the API shows it.
    public static func hundredths(_ value: Double) -> JSON {
        let hundredths = Int((max(0, value) * 100).rounded())
        let cents = hundredths % 100
        return JSON(.number("\(hundredths / 100).\(cents < 10 ? "0" : "")\(cents)"))
    }
    public static func array(_ values: [JSON]) -> JSON { JSON(.array(values)) }
    /// An object whose members keep the order given.
    public static func object(_ members: KeyValuePairs<String, JSON>) -> JSON {
        JSON(.object(members.map { Member(key: $0.key, value: $0.value) }))
    }
    /// An object from ordered pairs.
    public static func object(_ members: [(String, JSON)]) -> JSON {
        JSON(.object(members.map { Member(key: $0.0, value: $0.1) }))
    }

    /// The member named `key`, the first if it appears twice.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = value else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The string, if this is one.
    public var string: String? {
        if case .string(let text) = value { return text }
        return nil
    }

    /// The number as an integer, if it is written as one (no fraction or exponent) and fits.
    public var integer: Int64? {
        guard case .number(let text) = value, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
            return nil
        }
        return Int64(text)
    }

    /// The number as a double, if this is a number.
    public var double: Double? {
        if case .number(let text) = value { return Double(text) }
        return nil
    }

    /// The Boolean, if this is one.
    public var bool: Bool? {
        if case .bool(let flag) = value { return flag }
        return nil
    }

    /// The elements, if this is an array.
    public var array: [JSON]? {
        if case .array(let elements) = value { return elements }
        return nil
    }

    /// The members, if this is an object.
    public var members: [Member]? {
        if case .object(let members) = value { return members }
        return nil
    }

    /// The value's kind in words, for error messages: "a string", "a whole number", "an object".
    public var kindDescription: String {
        switch value {
        case .null: "null"
        case .bool: "a Boolean"
        case .number: integer != nil ? "a whole number" : "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

extension JSON {
    /// An object of string values, with its keys in sorted order so that equal dictionaries render alike.
    public static func strings(_ values: [String: String]) -> JSON {
        .object(values.keys.sorted().map { ($0, JSON.string(values[$0]!)) })
    }
}
