/// Reads the protocol's field types from a frame, checking every length against what remains.
///
/// No length or count read from the wire allocates before it is checked: against its field's limit
/// (``Limits``), and a list of `count` elements must have at least `count × minimumElementSize` octets
/// left, so a hostile frame cannot make the receiver reserve memory it does not send.
public struct FrameReader: ~Copyable {
    private let bytes: [UInt8]
    private var offset: Int

    /// Creates a reader over `bytes`, starting at `offset`.
    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// The number of octets not read yet.
    public var remaining: Int { bytes.count - offset }

    /// Throws unless every octet has been read.
    public func finish() throws(DecodingError) {
        if remaining != 0 { throw .trailingBytes(count: remaining) }
    }

    private mutating func need(_ count: Int, _ field: String) throws(DecodingError) {
        if count > remaining { throw .truncated(field: field) }
    }

    /// Reads a `number-1`.
    public mutating func number1(_ field: String) throws(DecodingError) -> UInt8 {
        try need(1, field)
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a `number-2`.
    public mutating func number2(_ field: String) throws(DecodingError) -> UInt16 {
        try need(2, field)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// Reads a `number-4`.
    public mutating func number4(_ field: String) throws(DecodingError) -> UInt32 {
        try need(4, field)
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    /// Reads a `number-8`.
    public mutating func number8(_ field: String) throws(DecodingError) -> UInt64 {
        let high = try number4(field)
        let low = try number4(field)
        return UInt64(high) << 32 | UInt64(low)
    }

    /// Reads a two's-complement `number-2`.
    public mutating func signed2(_ field: String) throws(DecodingError) -> Int16 {
        Int16(bitPattern: try number2(field))
    }

    /// Reads a two's-complement `number-4`.
    public mutating func signed4(_ field: String) throws(DecodingError) -> Int32 {
        Int32(bitPattern: try number4(field))
    }

    /// Reads a two's-complement `number-8`.
    public mutating func signed8(_ field: String) throws(DecodingError) -> Int64 {
        Int64(bitPattern: try number8(field))
    }

    /// Reads a `number-4` that must not exceed `limit`, as an `Int`.
    public mutating func count(_ field: String, limit: Int) throws(DecodingError) -> Int {
        let value = Int(try number4(field))
        if value > limit { throw .oversized(field: field, length: value, limit: limit) }
        return value
    }

    /// Reads a `number-1` and maps it through `make`, rejecting values it does not know.
    public mutating func enumeration<T>(_ field: String, _ make: (UInt8) -> T?) throws(DecodingError) -> T {
        let raw = try number1(field)
        guard let value = make(raw) else { throw .invalidValue(field: field, value: UInt64(raw)) }
        return value
    }

    private mutating func text(_ length: Int, _ field: String) throws(DecodingError) -> String {
        try need(length, field)
        defer { offset += length }
        // Strict: repairing invalid UTF-8 with U+FFFD could grow a `string` past 255 octets, and a
        // receiver that echoes the field back could then not encode it.
        let octets = bytes[offset..<offset + length]
        // Most text is ASCII, which is valid UTF-8 as it stands; the validating initializer is generic
        // and costs a metadata lookup per call, which showed in profiles of large batches.
        if octets.allSatisfy({ $0 < 0x80 }) { return String(decoding: octets, as: UTF8.self) }
        guard let text = String(validating: octets, as: UTF8.self) else { throw .invalidText(field: field) }
        return text
    }

    /// Reads a `string`.
    public mutating func string(_ field: String) throws(DecodingError) -> String {
        let length = Int(try number1(field))
        return try text(length, field)
    }

    /// Reads a `longstr` of at most `limit` octets.
    public mutating func longstr(_ field: String, limit: Int = Limits.longstr) throws(DecodingError) -> String {
        let length = try count(field, limit: limit)
        return try text(length, field)
    }

    /// Reads `bytes` of at most `limit` octets.
    public mutating func chunk(_ field: String, limit: Int = Limits.chunk) throws(DecodingError) -> [UInt8] {
        let length = try count(field, limit: limit)
        try need(length, field)
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    /// Reads `strings` of at most `limit` elements, each a `longstr` of at most `length` octets.
    public mutating func strings(_ field: String, limit: Int = Limits.listCount, length: Int = Limits.longstr)
        throws(DecodingError) -> [String]
    {
        let count = try elementCount(field, minimumSize: 4, limit: limit)
        var values: [String] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try longstr(field, limit: length)) }
        return values
    }

    /// Reads a `hash`, whose entries are parameters: each value at most ``Limits/parameterValue`` octets,
    /// names and values together at most ``Limits/parameters``, each length checked before its octets are
    /// copied. A name that appears twice is invalid.
    public mutating func parameters(_ field: String) throws(DecodingError) -> [String: String] {
        // Names are unique and count against the size, so the size ends the loop long before a count
        // of 1,000,000 could; nothing is reserved for entries the size has not paid for.
        let count = try elementCount(field, minimumSize: 5)
        var values: [String: String] = [:]
        // Not for none: reserving on the shared empty storage allocates a table of its own.
        if count > 0 { values.reserveCapacity(min(count, 64)) }
        var size = 0
        for _ in 0..<count {
            let name = try string(field)
            let length = Int(try number4(field))
            if length > Limits.parameterValue {
                throw .oversized(field: "\(field).\(name)", length: length, limit: Limits.parameterValue)
            }
            size += name.utf8.count + length
            if size > Limits.parameters { throw .oversized(field: field, length: size, limit: Limits.parameters) }
            if values.updateValue(try text(length, field), forKey: name) != nil {
                throw .invalidValue(field: "\(field).\(name)", value: UInt64(count))
            }
        }
        return values
    }

    /// Reads a list count of at most `limit`, checking that `count` elements of at least `minimumSize`
    /// octets can fit in what is left of the frame.
    public mutating func elementCount(_ field: String, minimumSize: Int, limit: Int = Limits.listCount)
        throws(DecodingError) -> Int
    {
        let value = try count(field, limit: min(limit, Limits.listCount))
        if value * minimumSize > remaining {
            throw .oversized(field: field, length: value, limit: remaining / max(minimumSize, 1))
        }
        return value
    }

    /// Reads a list of at most `limit` elements, each taking at least `minimumSize` octets.
    public mutating func list<Element>(
        _ field: String, minimumSize: Int, limit: Int = Limits.listCount,
        _ element: (inout FrameReader) throws(DecodingError) -> Element
    ) throws(DecodingError) -> [Element] {
        let count = try elementCount(field, minimumSize: minimumSize, limit: limit)
        var values: [Element] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try element(&self)) }
        return values
    }

    /// The octets read so far, for a value that bounds its own encoded size.
    public var position: Int { offset }
}
