extension Zone {
    /// The zone a TZif file (RFC 8536, versions 1–4) describes, named `name`.
    ///
    /// Reads the 64-bit data block and the footer's `TZ` rule when the version is 2 or later, the 32-bit block
    /// otherwise. Every count is checked against the bytes there are, so truncated or garbage input is refused
    /// with a `ZoneProblem`, never a crash.
    public static func parse(tzif bytes: [UInt8], name: String) throws(ZoneProblem) -> Zone {
        var reader = TZifReader(bytes: bytes)
        let first = try reader.header()
        if first.version == 1 {
            let data = try reader.data(first, timeSize: 4)
            return Zone(
                name: name, transitionTimes: data.times, transitionOffsets: data.offsets,
                initialOffset: data.initialOffset, rule: nil)
        }
        try reader.skip(first.dataLength(timeSize: 4), what: "version 1 data")
        let second = try reader.header()
        guard second.version == first.version else {
            throw ZoneProblem("TZif: the second header says version \(second.version), the first \(first.version)")
        }
        let data = try reader.data(second, timeSize: 8)
        let footer = try reader.footer()
        let rule: PosixZoneRule? = footer.isEmpty ? nil : try PosixZoneRule.parse(footer)
        return Zone(
            name: name, transitionTimes: data.times, transitionOffsets: data.offsets,
            initialOffset: data.initialOffset, rule: rule)
    }
}

/// Reads TZif headers, data blocks and the footer, checking every length before it reads.
private struct TZifReader {
    struct Header {
        var version: Int
        var isUTCCount: Int, isStandardCount: Int, leapCount: Int, timeCount: Int, typeCount: Int, charCount: Int

        func dataLength(timeSize: Int) -> Int {
            timeCount * (timeSize + 1) + typeCount * 6 + charCount + leapCount * (timeSize + 4) + isStandardCount
                + isUTCCount
        }
    }

    let bytes: [UInt8]
    var position = 0

    mutating func skip(_ count: Int, what: String) throws(ZoneProblem) {
        guard count <= bytes.count - position else {
            throw ZoneProblem("TZif: truncated in the \(what) (\(bytes.count) bytes)")
        }
        position += count
    }

    mutating func byte(_ what: String) throws(ZoneProblem) -> UInt8 {
        try skip(1, what: what)
        return bytes[position - 1]
    }

    mutating func integer(size: Int, _ what: String) throws(ZoneProblem) -> Int64 {
        try skip(size, what: what)
        var value: UInt64 = 0
        for byte in bytes[(position - size)..<position] { value = value << 8 | UInt64(byte) }
        // Two's complement of `size` bytes.
        return size == 8 ? Int64(bitPattern: value) : Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: value)))
    }

    mutating func header() throws(ZoneProblem) -> Header {
        guard bytes.count - position >= 44 else {
            throw ZoneProblem("TZif: truncated in a header (\(bytes.count) bytes)")
        }
        guard bytes[position..<(position + 4)].elementsEqual("TZif".utf8) else {
            throw ZoneProblem("not a TZif file (no \"TZif\" magic at byte \(position))")
        }
        let versionByte = bytes[position + 4]
        let version: Int
        switch versionByte {
        case 0: version = 1
        case UInt8(ascii: "2")...UInt8(ascii: "4"): version = Int(versionByte - UInt8(ascii: "0"))
        default: throw ZoneProblem("TZif: unsupported version byte \(versionByte)")
        }
        position += 20
        var counts: [Int] = []
        for _ in 0..<6 {
            let count = try integer(size: 4, "header")
            // Counts are unsigned 32-bit; anything longer than the file is caught when the data is read.
            guard count >= 0 else { throw ZoneProblem("TZif: a header count is too large") }
            counts.append(Int(count))
        }
        let header = Header(
            version: version, isUTCCount: counts[0], isStandardCount: counts[1], leapCount: counts[2],
            timeCount: counts[3], typeCount: counts[4], charCount: counts[5])
        guard header.typeCount >= 1 else { throw ZoneProblem("TZif: no local time types") }
        guard header.isUTCCount == 0 || header.isUTCCount == header.typeCount,
            header.isStandardCount == 0 || header.isStandardCount == header.typeCount
        else { throw ZoneProblem("TZif: the UT/local and standard/wall indicator counts must be 0 or the type count") }
        guard header.leapCount == 0 else {
            throw ZoneProblem("TZif: leap-second zones are not supported (use a zone without the \"right/\" prefix)")
        }
        return header
    }

    mutating func data(_ header: Header, timeSize: Int) throws(ZoneProblem)
        -> (times: [Int64], offsets: [Int], initialOffset: Int)
    {
        guard header.dataLength(timeSize: timeSize) <= bytes.count - position else {
            throw ZoneProblem("TZif: truncated in the version \(header.version) data (\(bytes.count) bytes)")
        }
        var times: [Int64] = []
        times.reserveCapacity(header.timeCount)
        for _ in 0..<header.timeCount {
            let time = try integer(size: timeSize, "transition times")
            guard times.last.map({ $0 < time }) ?? true else {
                throw ZoneProblem("TZif: transition times are not ascending")
            }
            times.append(time)
        }
        var typeIndices: [Int] = []
        for _ in 0..<header.timeCount {
            let index = Int(try byte("transition types"))
            guard index < header.typeCount else {
                throw ZoneProblem("TZif: transition type \(index) is not among the \(header.typeCount) types")
            }
            typeIndices.append(index)
        }
        var typeOffsets: [Int] = []
        for _ in 0..<header.typeCount {
            let offset = try integer(size: 4, "local time types")
            // RFC 8536 §3.2: -2^31 is invalid; real offsets stay within a day and a bit.
            guard (-89_999...93_599).contains(offset) else {
                throw ZoneProblem("TZif: UT offset \(offset) is out of range")
            }
            _ = try byte("local time types")  // is DST
            let designation = try byte("local time types")
            guard Int(designation) < header.charCount else {
                throw ZoneProblem(
                    "TZif: designation index \(designation) is outside the \(header.charCount) characters")
            }
            typeOffsets.append(Int(offset))
        }
        try skip(header.charCount + header.isStandardCount + header.isUTCCount, what: "designations and indicators")
        return (times, typeIndices.map { typeOffsets[$0] }, typeOffsets[0])
    }

    /// The footer's `TZ` string, between two newlines (empty when the zone has no rule).
    mutating func footer() throws(ZoneProblem) -> String {
        guard try byte("footer") == UInt8(ascii: "\n") else {
            throw ZoneProblem("TZif: the footer does not start with a newline")
        }
        let start = position
        while position < bytes.count, bytes[position] != UInt8(ascii: "\n") {
            guard bytes[position] >= 0x20, bytes[position] < 0x7f else {
                throw ZoneProblem("TZif: the footer holds a byte that is not printable ASCII")
            }
            position += 1
        }
        guard position < bytes.count else { throw ZoneProblem("TZif: truncated in the footer (\(bytes.count) bytes)") }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        position += 1
        return text
    }
}
