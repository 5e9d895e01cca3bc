/// A value with a fixed layout in `docs/protocol.md`: a message body or an element of a list.
public protocol WireValue: Equatable, Sendable {
    /// The fewest octets an encoded value takes; lists use it to refuse counts a frame cannot hold.
    static var minimumSize: Int { get }
    /// Appends the value's fields in the order of its frame table.
    func encode(to writer: inout FrameWriter)
    /// Reads the value's fields in the order of its frame table.
    init(from reader: inout FrameReader) throws(DecodingError)
}

extension FrameWriter {
    /// Writes a list of wire values.
    public mutating func values<Value: WireValue>(_ values: [Value]) {
        number4(UInt32(values.count))
        for value in values { value.encode(to: &self) }
    }
}

extension FrameReader {
    /// Reads a list of at most `limit` wire values.
    public mutating func values<Value: WireValue>(_ field: String, of type: Value.Type = Value.self, limit: Int = Limits.listCount)
        throws(DecodingError) -> [Value]
    {
        let count = try elementCount(field, minimumSize: Value.minimumSize, limit: limit)
        var values: [Value] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try Value(from: &self)) }
        return values
    }
}
