/// The rules for names of products, flows, jobs, handlers, types, tags and parameters.
public enum Names {
    /// Products, flows, jobs, handlers, job types and tags: 1 to 64 of `A–Z a–z 0–9 . _ -`,
    /// starting with a letter or digit. They appear in paths, environment values and wire `string`s.
    public static func isValid(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard (1...64).contains(utf8.count), isAlphanumeric(utf8[0]) else { return false }
        return utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// Parameters: 1 to 64 of `A–Z a–z 0–9 _`, not starting with a digit, because each becomes
    /// the environment variable `BATON_PARAM_<name>`.
    public static func isValidParameter(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard (1...64).contains(utf8.count), !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(utf8[0]) else { return false }
        return utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo.
    public static func suggestion(for name: String, among candidates: some Sequence<String>) -> String? {
        // Two edits catch a dropped or doubled letter in a short word; a shared start of four letters
        // catches a shortened one ("retry" for "retries").
        let scored = candidates.map { ($0, editDistance(name, $0)) }.filter { candidate, distance in
            distance <= max(2, name.count / 3) || zip(name, candidate).prefix { $0 == $1 }.count >= 4
        }
        return scored.min { $0.1 < $1.1 }?.0
    }

    /// Levenshtein distance over characters.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
