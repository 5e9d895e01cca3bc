/// Appends the protocol's field types to a frame, in network byte order.
///
/// The field types are those of `docs/protocol.md`: `number-1`, `number-2`, `number-4`,
/// `number-8`, `string` (at most 255 octets), `longstr` and `bytes` (a `number-4` length),
/// `strings` and `hash`.
public struct FrameWriter: Sendable {
    /// The frame written so far.
    public private(set) var bytes: [UInt8]

    /// Creates a writer, reserving room for `capacity` octets.
    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the frame, keeping its room: a writer used again and again allocates once.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Writes a `number-1`.
    public mutating func number1(_ value: UInt8) {
        bytes.append(value)
    }

    /// Writes a `number-2`.
    public mutating func number2(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    /// Writes a `number-4`.
    public mutating func number4(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    /// Writes a `number-8`.
    public mutating func number8(_ value: UInt64) {
        number4(UInt32(truncatingIfNeeded: value >> 32))
        number4(UInt32(truncatingIfNeeded: value))
    }

    /// Writes a signed value as a two's-complement `number-2`.
    public mutating func signed2(_ value: Int16) {
        number2(UInt16(bitPattern: value))
    }

    /// Writes a signed value as a two's-complement `number-4`.
    public mutating func signed4(_ value: Int32) {
        number4(UInt32(bitPattern: value))
    }

    /// Writes a signed value as a two's-complement `number-8`.
    public mutating func signed8(_ value: Int64) {
        number8(UInt64(bitPattern: value))
    }

    /// Writes a `string`: a `number-1` length, then at most 255 octets of UTF-8.
    ///
    /// A longer value is a bug in the caller: messages are validated before they are encoded.
    public mutating func string(_ value: String) {
        let utf8 = value.utf8
        precondition(utf8.count <= 255, "string field of \(utf8.count) octets exceeds 255")
        bytes.append(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Writes a `longstr`: a `number-4` length, then UTF-8.
    public mutating func longstr(_ value: String) {
        let utf8 = value.utf8
        number4(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Writes `bytes`: a `number-4` length, then the octets.
    public mutating func chunk(_ value: [UInt8]) {
        number4(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Writes `strings`: a `number-4` count, then each value as a `longstr`.
    public mutating func strings(_ values: [String]) {
        number4(UInt32(values.count))
        for value in values { longstr(value) }
    }

    /// Writes a `hash`: a `number-4` count, then each pair as a `string` key and a `longstr` value,
    /// in key order so that equal hashes encode to equal octets.
    public mutating func hash(_ values: [String: String]) {
        number4(UInt32(values.count))
        for key in values.keys.sorted() {
            string(key)
            longstr(values[key]!)
        }
    }

    /// Writes a list: a `number-4` count, then each element through `element`.
    public mutating func list<Element>(_ values: [Element], _ element: (inout FrameWriter, Element) -> Void) {
        number4(UInt32(values.count))
        for value in values { element(&self, value) }
    }
}
