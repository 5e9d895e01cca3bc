/// Why a frame could not be decoded.
///
/// A receiver drops the frame, counts it, and goes on serving its other peers
/// (`docs/protocol.md`, "Malformed and unknown messages").
public enum DecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The frame is shorter than the five-octet header.
    case tooShort(length: Int)
    /// The frame does not start with the signature `BTN`.
    case badSignature
    /// The frame's protocol version is not one this codec speaks.
    case unsupportedVersion(UInt8)
    /// The message ID is not in the message table.
    case unknownMessage(UInt8)
    /// The frame ends before `field` is complete.
    case truncated(field: String)
    /// `field` declares a length or count beyond what the frame or the protocol allows.
    case oversized(field: String, length: Int, limit: Int)
    /// `field` holds a value outside its documented range.
    case invalidValue(field: String, value: UInt64)
    /// A text field is not valid UTF-8.
    case invalidText(field: String)
    /// The message is complete but octets follow it.
    case trailingBytes(count: Int)

    public var description: String {
        switch self {
        case .tooShort(let length): "frame of \(length) octets is shorter than the 5-octet header"
        case .badSignature: "frame does not start with the signature \"BTN\""
        case .unsupportedVersion(let version): "protocol version \(version) is not supported (this is version 1)"
        case .unknownMessage(let id): "message ID \(id) is not in the message table"
        case .truncated(let field): "frame ends inside field \"\(field)\""
        case .oversized(let field, let length, let limit):
            "field \"\(field)\" declares \(length), more than the \(limit) allowed"
        case .invalidValue(let field, let value): "field \"\(field)\" holds \(value), outside its range"
        case .invalidText(let field): "field \"\(field)\" is not valid UTF-8"
        case .trailingBytes(let count): "\(count) octets follow the end of the message"
        }
    }
}
