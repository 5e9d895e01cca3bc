import Core
import Glibc

/// Real zones for tests, read from the system's tzdata (`$TZDIR`, or `/usr/share/zoneinfo`), and hand-built
/// TZif files. Only tests read files: the core is given bytes.
enum TZdata {
    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String { "cannot read \(path): install tzdata" }
    }

    static var directory: String {
        if let value = getenv("TZDIR"), value.pointee != 0 { return String(cString: value) }
        return "/usr/share/zoneinfo"
    }

    /// The bytes of the zone's TZif file.
    static func bytes(_ name: String) throws -> [UInt8] {
        let path = "\(directory)/\(name)"
        guard let file = fopen(path, "rb") else { throw Missing(path: path) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return bytes
    }

    /// The zone, parsed from its TZif file.
    static func zone(_ name: String) throws -> Zone { try Zone.parse(tzif: try bytes(name), name: name) }

    /// The TZ rule in a TZif file's footer.
    static func footer(_ bytes: [UInt8]) -> String {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        return String(decoding: lines[lines.count - 2], as: UTF8.self)
    }

    /// A TZif file with one local time type per offset in `offsets` (type 0 first), transitions to types by
    /// index, and a footer (version 2 and later only).
    static func build(
        version: UInt8, transitions: [(at: Int64, type: Int)], offsets: [Int32], footer: String = ""
    ) -> [UInt8] {
        func be32(_ value: Int32) -> [UInt8] {
            (0..<4).reversed().map { UInt8(truncatingIfNeeded: UInt32(bitPattern: value) >> ($0 * 8)) }
        }
        func be64(_ value: Int64) -> [UInt8] {
            (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(bitPattern: value) >> ($0 * 8)) }
        }
        func header(_ version: UInt8) -> [UInt8] {
            var bytes = Array("TZif".utf8) + [version] + [UInt8](repeating: 0, count: 15)
            for count in [0, 0, 0, transitions.count, offsets.count, 4] { bytes += be32(Int32(count)) }
            return bytes
        }
        func block(timeSize: Int) -> [UInt8] {
            var bytes: [UInt8] = []
            for transition in transitions { bytes += timeSize == 4 ? be32(Int32(transition.at)) : be64(transition.at) }
            bytes += transitions.map { UInt8($0.type) }
            for offset in offsets { bytes += be32(offset) + [0, 0] }
            return bytes + Array("ZZZ\0".utf8)
        }
        var bytes = header(version) + block(timeSize: 4)
        if version != 0 { bytes += header(version) + block(timeSize: 8) + Array("\n\(footer)\n".utf8) }
        return bytes
    }
}

/// Seconds since the epoch of a date and time of day, UTC or local: `seconds("2026-03-08", 7, 0)`.
func seconds(_ date: String, _ hour: Int, _ minute: Int, _ second: Int = 0) -> Int64 {
    Int64(CivilDate(date)!.daysSinceEpoch) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
}

/// The instant of a date and time of day in UTC.
func utc(_ date: String, _ hour: Int, _ minute: Int, _ second: Int = 0) -> Timestamp {
    Timestamp(milliseconds: seconds(date, hour, minute, second) * 1000)
}
