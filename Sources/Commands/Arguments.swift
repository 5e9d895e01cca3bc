/// Splits one command's arguments into flags, options and operands, the way Unix tools do:
/// `--json`, `--data DIR`, `--data=DIR`, `--` to end options. Options may repeat.
struct Arguments {
    var flags: Set<String> = []
    var options: [String: [String]] = [:]
    var operands: [String] = []

    /// Parses `arguments` for `command`, knowing which names are flags and which take a value.
    init(_ arguments: [String], command: String, flags known: Set<String>, options takingValue: Set<String>)
        throws(UsageError)
    {
        var index = 0
        var onlyOperands = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if onlyOperands || !argument.hasPrefix("-") || argument == "-" {
                operands.append(argument)
                continue
            }
            if argument == "--" {
                onlyOperands = true
                continue
            }
            var name = argument
            var inlineValue: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            if name == "-h" { name = "--help" }
            if known.contains(name) {
                if inlineValue != nil { throw UsageError("\(name) takes no value", command: command) }
                flags.insert(name)
            } else if takingValue.contains(name) {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else if index < arguments.count {
                    value = arguments[index]
                    index += 1
                } else {
                    throw UsageError("\(name) needs a value", command: command)
                }
                options[name, default: []].append(value)
            } else {
                throw UsageError("unknown option \(name)", command: command)
            }
        }
    }

    /// The option's value; an error if it was given more than once.
    func single(_ name: String, command: String) throws(UsageError) -> String? {
        guard let values = options[name] else { return nil }
        guard values.count == 1 else { throw UsageError("\(name) given more than once", command: command) }
        return values[0]
    }
}
