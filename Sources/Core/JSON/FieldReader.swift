/// One problem found while reading fields out of a JSON document.
public struct FieldIssue: Equatable, Sendable {
    /// Where in the document.
    public var position: JSON.Position
    /// What the field belongs to, as the document's validator names it (a job, a shard); nil for the top.
    public var subject: String?
    /// The field, or nil when the problem is not about one field.
    public var field: String?
    /// What is wrong, and what would be right.
    public var message: String
}

/// Reads typed fields out of parsed JSON, collecting an issue for each field that is missing, unknown,
/// repeated or wrong, instead of stopping at the first: the shared half of validating flow files and
/// cluster files.
public struct FieldReader: Sendable {
    /// Every issue found so far, in the order found.
    public private(set) var issues: [FieldIssue] = []

    public init() {}

    /// Records an issue.
    public mutating func report(_ at: JSON.Position, subject: String? = nil, field: String? = nil, _ message: String) {
        issues.append(FieldIssue(position: at, subject: subject, field: field, message: message))
    }

    /// The members of `object` by key, reporting repeated and unknown keys.
    public mutating func members(of object: [JSON.Member], allowed: [String], subject: String?) -> [String: JSON] {
        var byKey: [String: JSON] = [:]
        var firstPosition: [String: JSON.Position] = [:]
        for member in object {
            if let first = firstPosition[member.key] {
                report(member.keyPosition, subject: subject, field: member.key, "given twice (first at line \(first.line))")
                continue
            }
            firstPosition[member.key] = member.keyPosition
            guard allowed.contains(member.key) else {
                var message = "unknown field"
                if let suggestion = Names.suggestion(for: member.key, among: allowed) {
                    message += " (did you mean \"\(suggestion)\"?)"
                } else {
                    message += " (known fields: \(allowed.joined(separator: ", ")))"
                }
                report(member.keyPosition, subject: subject, field: member.key, message)
                continue
            }
            byKey[member.key] = member.value
        }
        return byKey
    }

    /// A required name: missing, mistyped or invalid is an issue.
    public mutating func requiredName(_ value: JSON?, field: String, subject: String?, at owner: JSON.Position) -> String? {
        guard let value else {
            report(owner, subject: subject, field: field, "missing")
            return nil
        }
        return name(value, field: field, subject: subject)
    }

    /// A name (see ``Names``) in a string.
    public mutating func name(_ value: JSON, field: String, subject: String?) -> String? {
        guard let text = value.string else {
            report(value.position, subject: subject, field: field, "expected a name in a string, found \(value.kindDescription)")
            return nil
        }
        guard Names.isValid(text) else {
            report(
                value.position, subject: subject, field: field,
                "\"\(text)\" is not a valid name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)")
            return nil
        }
        return text
    }

    /// A string that is not blank.
    public mutating func nonEmptyString(_ value: JSON, field: String, subject: String?) -> String? {
        guard let text = value.string else {
            report(value.position, subject: subject, field: field, "expected a string, found \(value.kindDescription)")
            return nil
        }
        guard !text.allSatisfy(\.isWhitespace) else {
            report(value.position, subject: subject, field: field, "must not be empty")
            return nil
        }
        guard !text.utf8.contains(0) else {
            report(value.position, subject: subject, field: field, Self.nul)
            return nil
        }
        return text
    }

    /// Why a string with a NUL is refused: a command line or an environment variable ends at it, so that
    /// what ran would be a prefix of what was written (found by an explorer: `echo x\u0000y; ...` ran `echo x`).
    public static let nul = "contains a NUL (\\u0000), where a command line or a variable would end: what ran would be cut short"

    /// A string, if the field is present.
    public mutating func optionalString(_ value: JSON?, field: String, subject: String?) -> String? {
        guard let value else { return nil }
        guard let text = value.string else {
            report(value.position, subject: subject, field: field, "expected a string, found \(value.kindDescription)")
            return nil
        }
        guard !text.utf8.contains(0) else {
            report(value.position, subject: subject, field: field, Self.nul)
            return nil
        }
        return text
    }

    /// A whole number within `range`.
    public mutating func integer(_ value: JSON, field: String, subject: String?, in range: ClosedRange<Int>) -> Int? {
        guard let number = value.integer, let whole = Int(exactly: number), range.contains(whole) else {
            var found = value.integer.map { "\($0)" } ?? value.kindDescription
            // `1.0` and `1e1` are whole, but not as a count is written.
            if value.integer == nil, case .number(let text) = value.value {
                found = value.double.map { $0.rounded() == $0 } == true ? "\(text) (write a whole number without a point or an exponent)" : text
            }
            report(
                value.position, subject: subject, field: field,
                "expected a whole number from \(range.lowerBound) to \(range.upperBound), found \(found)")
            return nil
        }
        return whole
    }

    /// A duration in a string such as `30s` (see ``DurationText``), from 0 (with `allowZero`, else
    /// from 1 ms) to `maximum`.
    public mutating func duration(_ value: JSON, field: String, subject: String?, allowZero: Bool, maximum: Int64) -> Int64? {
        guard let text = value.string else {
            report(
                value.position, subject: subject, field: field,
                "expected a duration in a string such as \"30s\", found \(value.kindDescription)")
            return nil
        }
        guard let milliseconds = DurationText.parse(text) else {
            report(
                value.position, subject: subject, field: field,
                "\"\(text)\" is not a duration (write e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\", \"2d\")")
            return nil
        }
        guard milliseconds > 0 || allowZero, milliseconds <= maximum else {
            let lowest = allowZero ? "from 0" : "more than 0"
            report(value.position, subject: subject, field: field, "\"\(text)\" is out of range (\(lowest), at most \(DurationText.format(maximum)))")
            return nil
        }
        return milliseconds
    }

    /// A size in a string such as `4GiB` (see ``SizeText``), or a whole number of octets, from `minimum`
    /// to `maximum` octets.
    public mutating func size(_ value: JSON, field: String, subject: String?, minimum: Int64, maximum: Int64) -> Int64? {
        guard let text = value.string ?? value.integer.map(String.init) else {
            report(value.position, subject: subject, field: field, "expected a size in a string such as \"4GiB\", found \(value.kindDescription)")
            return nil
        }
        guard let octets = SizeText.parse(text) else {
            report(value.position, subject: subject, field: field, "\"\(text)\" is not a size (write e.g. \"512MiB\", \"4GiB\", \"100MB\")")
            return nil
        }
        guard (minimum...maximum).contains(octets) else {
            report(
                value.position, subject: subject, field: field,
                "\"\(text)\" is out of range (from \(SizeText.format(minimum)) to \(SizeText.format(maximum)))")
            return nil
        }
        return octets
    }

    /// An array of distinct names.
    public mutating func nameList(_ value: JSON, field: String, subject: String?) -> [String]? {
        guard let elements = value.array else {
            report(value.position, subject: subject, field: field, "expected an array of names, found \(value.kindDescription)")
            return nil
        }
        var names: [String] = []
        var seen: Set<String> = []
        for element in elements {
            guard let name = name(element, field: field, subject: subject) else { continue }
            if seen.insert(name).inserted {
                names.append(name)
            } else {
                report(element.position, subject: subject, field: field, "lists \"\(name)\" twice")
            }
        }
        return names
    }

    /// Parameters: an object whose values are strings, numbers or Booleans, kept as text.
    public mutating func parameters(_ value: JSON, subject: String?) -> [String: String]? {
        guard let object = value.members else {
            report(value.position, subject: subject, field: "params", "expected an object of parameters, found \(value.kindDescription)")
            return nil
        }
        var params: [String: String] = [:]
        for member in object {
            let field = "params.\(member.key)"
            guard Names.isValidParameter(member.key) else {
                report(
                    member.keyPosition, subject: subject, field: field,
                    "not a valid parameter name (letters, digits and '_', not starting with a digit)")
                continue
            }
            if params[member.key] != nil {
                report(member.keyPosition, subject: subject, field: field, "given twice")
                continue
            }
            switch member.value.value {
            case .string(let text) where text.utf8.contains(0): report(member.value.position, subject: subject, field: field, Self.nul)
            case .string(let text): params[member.key] = text
            case .number(let text): params[member.key] = text
            case .bool(let flag): params[member.key] = flag ? "true" : "false"
            default:
                report(
                    member.value.position, subject: subject, field: field,
                    "expected a string, number or Boolean, found \(member.value.kindDescription)")
            }
        }
        return params
    }
}
