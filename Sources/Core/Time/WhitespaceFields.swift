extension Array where Element == Character {
    /// The runs of characters between white space, with the 1-based column each starts at: the fields of a
    /// cron expression, the words of a calendar file's line.
    func whitespaceSeparatedFields() -> [(text: ArraySlice<Character>, column: Int)] {
        var fields: [(text: ArraySlice<Character>, column: Int)] = []
        var index = 0
        while index < count {
            if self[index].isWhitespace {
                index += 1
                continue
            }
            let start = index
            while index < count, !self[index].isWhitespace { index += 1 }
            fields.append((self[start..<index], start + 1))
        }
        return fields
    }
}
