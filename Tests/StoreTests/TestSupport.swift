import Foundation
import Store
import Testing

/// Runs `body` with a fresh directory from mkdtemp under /tmp, then deletes it and checks that it is gone.
func withTemporaryDirectory<T>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: (String) throws -> T
) throws -> T {
    var template = Array("/tmp/baton-store-XXXXXX".utf8CString)
    guard let path = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    let directory = String(cString: path)
    defer {
        try? FileManager.default.removeItem(atPath: directory)
        #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) left behind",
                sourceLocation: sourceLocation)
    }
    return try body(directory)
}

/// The names in `directory`, sorted.
func contents(of directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
}

/// The size of the file at `path` in bytes.
func fileSize(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.size] as? NSNumber)?.intValue ?? -1
}

extension Database {
    /// The first column of the first row of `sql`, or `.null` when there is no row.
    func scalar(_ sql: String) throws -> SQLValue {
        let statement = try prepare(sql)
        defer { statement.reset() }
        return try statement.step() ? statement.value(0) : .null
    }

    /// The number of rows in `table`.
    func count(_ table: String) throws -> Int64 {
        guard case .integer(let count) = try scalar("SELECT count(*) FROM \(table)") else { return -1 }
        return count
    }
}
