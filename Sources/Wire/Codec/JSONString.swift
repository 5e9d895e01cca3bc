/// Text as a JSON string literal (RFC 8259, section 7): the quotation mark, the reverse solidus and the
/// control characters escaped, everything else as it is.
///
/// Most text needs no escape, and is appended whole; text that does is appended in runs between its
/// escapes. Every character escaped is ASCII, so a run never splits a character.
public enum JSONString {
    /// Appends `text`, quoted, to `output`.
    public static func append(_ text: String, to output: inout String) {
        output += "\""
        var text = text
        guard let first = text.withUTF8({ $0.firstIndex(where: needsEscape) }) else {
            output += text
            output += "\""
            return
        }
        text.withUTF8 { bytes in
            var start = 0
            for index in first..<bytes.count where needsEscape(bytes[index]) {
                if start < index { output += String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self) }
                output += escape(bytes[index])
                start = index + 1
            }
            if start < bytes.count { output += String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self) }
        }
        output += "\""
    }

    /// `text`, quoted.
    public static func quoted(_ text: String) -> String {
        var output = ""
        append(text, to: &output)
        return output
    }

    private static func needsEscape(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5C }

    private static func escape(_ byte: UInt8) -> String {
        switch byte {
        case 0x22: return "\\\""
        case 0x5C: return "\\\\"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        default:
            let code = String(byte, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - code.count) + code
        }
    }
}
