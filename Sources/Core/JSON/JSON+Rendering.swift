import Wire

extension JSON {
    /// The value as JSON text: compact on one line, or indented by two spaces per level.
    public func rendered(pretty: Bool = false) -> String {
        var output = ""
        render(into: &output, pretty: pretty, indent: "")
        return output
    }

    private func render(into output: inout String, pretty: Bool, indent: String) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .number(let text): output += text
        case .string(let text): JSONString.append(text, to: &output)
        case .array(let elements):
            if elements.isEmpty {
                output += "[]"
                return
            }
            let inner = indent + "  "
            output += "["
            for (offset, element) in elements.enumerated() {
                if offset > 0 { output += "," }
                if pretty { output += "\n" + inner }
                element.render(into: &output, pretty: pretty, indent: inner)
            }
            if pretty { output += "\n" + indent }
            output += "]"
        case .object(let members):
            if members.isEmpty {
                output += "{}"
                return
            }
            let inner = indent + "  "
            output += "{"
            for (offset, member) in members.enumerated() {
                if offset > 0 { output += "," }
                if pretty { output += "\n" + inner }
                JSONString.append(member.key, to: &output)
                output += pretty ? ": " : ":"
                member.value.render(into: &output, pretty: pretty, indent: inner)
            }
            if pretty { output += "\n" + indent }
            output += "}"
        }
    }
}
