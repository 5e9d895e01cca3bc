/// A JSON text that could not be parsed, and where.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public var position: JSON.Position
    public var message: String

    public var description: String { "\(position): \(message)" }
}

/// Parses RFC 8259 JSON, keeping the position of every value.
///
/// Strict: no comments, no trailing commas, no leading zeros, no bare control characters in strings.
/// Nesting deeper than 256 levels is refused rather than risking the stack.
public struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var depth = 0
    /// The last position computed: the column is counted from here when the next is asked for on the
    /// same line, so that a document on one long line costs O(n), not O(n²).
    private var counted = (index: 0, column: 1)

    private static let maximumDepth = 256

    /// Parses `text`, which must hold exactly one JSON value (surrounded by whitespace at most).
    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSON {
        var parser = JSONParser(bytes: Array(text.utf8))
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.index < parser.bytes.count {
            throw parser.error("unexpected \(parser.describeCurrent()) after the end of the JSON value")
        }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var position: JSON.Position {
        mutating get {
            if counted.index < lineStart || counted.index > index { counted = (lineStart, 1) }
            // Columns count scalars: continuation octets (10xxxxxx) do not start a column.
            var column = counted.column
            var cursor = counted.index
            while cursor < index {
                if bytes[cursor] & 0xC0 != 0x80 { column += 1 }
                cursor += 1
            }
            counted = (index, column)
            return JSON.Position(line: line, column: column)
        }
    }

    private func error(_ message: String) -> JSONSyntaxError {
        var parser = self
        return JSONSyntaxError(position: parser.position, message: message)
    }

    private func error(_ message: String, at offset: Int) -> JSONSyntaxError {
        var parser = self
        parser.index = offset
        parser.counted = (parser.lineStart, 1)
        return parser.error(message)
    }

    private func describeCurrent() -> String {
        guard index < bytes.count else { return "end of text" }
        let byte = bytes[index]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "character 0x\(String(byte, radix: 16))"
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A:
                index += 1
                line += 1
                lineStart = index
            default: return
            }
        }
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSON {
        guard index < bytes.count else { throw error("expected a value, found the end of the text") }
        let start = position
        switch bytes[index] {
        case UInt8(ascii: "{"): return JSON(try parseObject(), at: start)
        case UInt8(ascii: "["): return JSON(try parseArray(), at: start)
        case UInt8(ascii: "\""): return JSON(.string(try parseString()), at: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return JSON(try parseNumber(), at: start)
        case UInt8(ascii: "t"):
            try expectWord("true")
            return JSON(.bool(true), at: start)
        case UInt8(ascii: "f"):
            try expectWord("false")
            return JSON(.bool(false), at: start)
        case UInt8(ascii: "n"):
            try expectWord("null")
            return JSON(.null, at: start)
        default:
            throw error("expected a value, found \(describeCurrent())")
        }
    }

    private mutating func expectWord(_ word: String) throws(JSONSyntaxError) {
        let utf8 = Array(word.utf8)
        guard index + utf8.count <= bytes.count, Array(bytes[index..<index + utf8.count]) == utf8 else {
            throw error("expected a value, found \(describeCurrent())")
        }
        index += utf8.count
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > Self.maximumDepth { throw error("values are nested more than \(Self.maximumDepth) deep") }
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSON.Value {
        try enter()
        defer { depth -= 1 }
        index += 1
        var members: [JSON.Member] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw error("expected a field name in double quotes, found \(describeCurrent())")
            }
            let keyPosition = position
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw error("expected ':' after the field name \"\(key)\", found \(describeCurrent())")
            }
            index += 1
            skipWhitespace()
            members.append(JSON.Member(key: key, keyPosition: keyPosition, value: try parseValue()))
            skipWhitespace()
            guard index < bytes.count else { throw error("expected ',' or '}', found the end of the text") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            throw error("expected ',' or '}' after the value of \"\(key)\", found \(describeCurrent())")
        }
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSON.Value {
        try enter()
        defer { depth -= 1 }
        index += 1
        var elements: [JSON] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw error("expected ',' or ']', found the end of the text") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            throw error("expected ',' or ']' in the array, found \(describeCurrent())")
        }
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSON.Value {
        let start = index
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.index
            while parser.index < parser.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.index]) {
                parser.index += 1
            }
            return parser.index - from
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits(&self)
        if integerDigits == 0 { throw error("expected a digit in the number") }
        if integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0") {
            throw error("numbers must not have leading zeros", at: start)
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            if digits(&self) == 0 { throw error("expected a digit after the decimal point") }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                index += 1
            }
            if digits(&self) == 0 { throw error("expected a digit in the exponent") }
        }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1
        // Octets gather in one buffer, decoded once at the end: appending piece by piece to a String
        // copies it as it grows, which made long strings full of escapes quadratic.
        var octets: [UInt8] = []
        var runStart = index
        while true {
            guard index < bytes.count else { throw error("the string is not closed before the end of the text") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                if octets.isEmpty { defer { index += 1 }; return String(decoding: bytes[runStart..<index], as: UTF8.self) }
                octets.append(contentsOf: bytes[runStart..<index])
                index += 1
                return String(decoding: octets, as: UTF8.self)
            }
            if byte < 0x20 {
                throw error(byte == 0x0A ? "the string is not closed before the end of the line" : "control character in a string must be escaped")
            }
            if byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            if octets.isEmpty { octets.reserveCapacity(bytes.count - runStart) }
            octets.append(contentsOf: bytes[runStart..<index])
            index += 1
            guard index < bytes.count else { throw error("the string is not closed before the end of the text") }
            let escape = bytes[index]
            index += 1
            var scalar: Unicode.Scalar
            switch escape {
            case UInt8(ascii: "\""): scalar = "\""
            case UInt8(ascii: "\\"): scalar = "\\"
            case UInt8(ascii: "/"): scalar = "/"
            case UInt8(ascii: "b"): scalar = "\u{08}"
            case UInt8(ascii: "f"): scalar = "\u{0C}"
            case UInt8(ascii: "n"): scalar = "\n"
            case UInt8(ascii: "r"): scalar = "\r"
            case UInt8(ascii: "t"): scalar = "\t"
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("a high surrogate \\u escape must be followed by a low one")
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate in \\u escape") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw error("a low surrogate \\u escape without a high one")
                }
                scalar = Unicode.Scalar(code)!
            default:
                index -= 1
                throw error("unknown escape \\\(describeCurrent()) in a string")
            }
            octets.append(contentsOf: UTF8.encode(scalar)!)
            runStart = index
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("expected four hex digits after \\u") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("expected four hex digits after \\u")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}
