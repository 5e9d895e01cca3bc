/// Business calendar files: `NAME.cal`, applied as the calendar NAME.
enum CalendarFiles {
    /// The calendar a file defines, by its name; nil for a flow file.
    static func name(of path: String) -> String? {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        guard file.hasSuffix(".cal"), file.count > 4 else { return nil }
        return String(file.dropLast(4))
    }
}
