/// Renders messages as the field listings of `docs/protocol.md`, so that a test can check the
/// specification's examples against the codec.
///
/// ```
/// RECEIPT
///   tasks:
///     - task: 7
///       attempt: 1
/// ```
///
/// Field names are the Swift property names in kebab case, the one spelling rule between the code
/// and the specification.
public enum Listing {
    /// The listing of a message: its name, then its fields indented by two spaces.
    public static func render(_ message: Message) -> String {
        var lines = [message.id.name]
        if let body = message.body { fields(of: body, indent: "  ", into: &lines) }
        return lines.joined(separator: "\n")
    }

    /// The field names of a wire value, in the order of its frame table.
    public static func fieldNames(of value: any WireValue) -> [String] {
        Mirror(reflecting: value).children.compactMap { $0.label.map(kebabCase) }
    }

    private static func fields(of value: any WireValue, indent: String, into lines: inout [String]) {
        for child in Mirror(reflecting: value).children {
            guard let label = child.label else { continue }
            let name = kebabCase(label)
            if let list = child.value as? [any WireValue] {
                if list.isEmpty {
                    lines.append("\(indent)\(name): []")
                    continue
                }
                lines.append("\(indent)\(name):")
                for element in list {
                    var elementLines: [String] = []
                    fields(of: element, indent: "", into: &elementLines)
                    for (index, line) in elementLines.enumerated() {
                        lines.append("\(indent)  \(index == 0 ? "- " : "  ")\(line)")
                    }
                }
            } else if let nested = child.value as? any WireValue {
                lines.append("\(indent)\(name):")
                fields(of: nested, indent: indent + "  ", into: &lines)
            } else {
                lines.append("\(indent)\(name): \(scalar(child.value))")
            }
        }
    }

    private static func scalar(_ value: Any) -> String {
        switch value {
        case let text as String: JSONString.quoted(text)
        case let texts as [String]: "[" + texts.map(JSONString.quoted).joined(separator: ", ") + "]"
        case let hash as [String: String]:
            "{" + hash.keys.sorted().map { "\(JSONString.quoted($0)): \(JSONString.quoted(hash[$0]!))" }.joined(separator: ", ") + "}"
        case let octets as [UInt8]: "<" + octets.map(hex).joined(separator: " ") + ">"
        case let status as Status: String(status.rawValue)
        case let enumeration as any WireEnumeration: enumeration.name
        default: String(describing: value)
        }
    }

    private static func hex(_ octet: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(octet >> 4)], digits[Int(octet & 0xF)]])
    }
}

/// A one-octet enumeration of the protocol, listed by its name in the specification.
public protocol WireEnumeration {
    /// The value's name in the specification (`timed-out`).
    var name: String { get }
}

extension WireEnumeration {
    public var name: String { kebabCase(String(describing: self)) }
}

extension ActionKind: WireEnumeration {}
extension Outcome: WireEnumeration {}
extension JobState: WireEnumeration {}
extension RunState: WireEnumeration {}
extension OperationAction: WireEnumeration {}
extension ControlAction: WireEnumeration {}
