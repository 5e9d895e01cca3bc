/// A request that cannot be served, with the status to answer and why (said in the response's body).
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPStatus
    public var reason: String

    public init(_ status: HTTPStatus, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status.code) \(status.reason): \(reason)" }
}

/// Reads HTTP/1.1 requests (RFC 9112) from the octets a connection has received, one at a time.
///
/// Strict where leniency has been a source of request smuggling: a body is framed by `Content-Length`
/// alone (`Transfer-Encoding` is refused with 501), two lengths must agree, a header name must be a token
/// with no space before its colon, and folded lines are refused. Lines may end in CRLF or LF alone.
/// Every bound of ``HTTPLimits`` is checked on the octets as they arrive, before more are kept.
public struct HTTPParser: Sendable {
    public let limits: HTTPLimits

    public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    /// Takes the first complete request out of `buffer` and returns it; nil (leaving `buffer` as it is)
    /// if more octets are needed. Throws the error to answer for a request that cannot be served: the
    /// connection then closes, since what follows it cannot be framed.
    public func next(from buffer: inout [UInt8]) throws(HTTPError) -> HTTPRequest? {
        // Empty lines before a request are ignored (RFC 9112, section 2.2), and dropped as they come, so
        // that a stream of them keeps nothing.
        var skipped = 0
        while skipped < buffer.count, buffer[skipped] == 10 || (buffer[skipped] == 13 && skipped + 1 < buffer.count && buffer[skipped + 1] == 10) {
            skipped += buffer[skipped] == 13 ? 2 : 1
        }
        if skipped > 0 { buffer.removeFirst(skipped) }
        let start = 0
        guard let (headEnd, bodyStart) = Self.endOfHead(buffer, from: start) else {
            let firstLine = buffer[start...].firstIndex(of: 10)
            if firstLine == nil, buffer.count - start > limits.requestLine {
                throw HTTPError(.uriTooLong, "the request line is longer than \(limits.requestLine) octets")
            }
            if buffer.count - start > limits.head {
                throw HTTPError(.headerFieldsTooLarge, "the request's header is longer than \(limits.head) octets")
            }
            return nil
        }
        guard headEnd - start <= limits.head else {
            throw HTTPError(.headerFieldsTooLarge, "the request's header is longer than \(limits.head) octets")
        }
        var lines = Self.lines(buffer[start..<headEnd])
        let requestLine = lines.removeFirst()
        guard requestLine.count <= limits.requestLine else {
            throw HTTPError(.uriTooLong, "the request line is longer than \(limits.requestLine) octets")
        }
        var request = try Self.requestLine(requestLine)
        guard lines.count <= limits.headerCount else {
            throw HTTPError(.headerFieldsTooLarge, "more than \(limits.headerCount) header fields")
        }
        for line in lines { request.headers.append(try Self.header(line)) }
        if request.minorVersion == 1, !request.headers.contains(where: { $0.name == "host" }) {
            throw HTTPError(.badRequest, "an HTTP/1.1 request needs a Host header field")
        }
        if request.headers.contains(where: { $0.name == "transfer-encoding" }) {
            throw HTTPError(.notImplemented, "Transfer-Encoding is not accepted: send the body with a Content-Length")
        }
        var length = 0
        let lengths = request.headers.filter { $0.name == "content-length" }.map(\.value)
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }) else { throw HTTPError(.badRequest, "Content-Length given twice with different values") }
            guard !first.isEmpty, first.utf8.count <= 18, first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(first) else {
                throw HTTPError(.badRequest, "Content-Length is not a number of octets: \"\(Self.printable(first))\"")
            }
            guard value <= limits.body else {
                throw HTTPError(.contentTooLarge, "the body is \(value) octets, more than the \(limits.body) a request may carry")
            }
            length = value
        }
        guard buffer.count - bodyStart >= length else { return nil }
        request.body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return request
    }

    /// Where the head ends (its last line's end, excluded) and the body starts, if the blank line has come.
    static func endOfHead(_ buffer: [UInt8], from start: Int) -> (Int, Int)? {
        var index = start
        while index < buffer.count {
            guard buffer[index] == 10 else {
                index += 1
                continue
            }
            // A line feed followed by an empty line (LF, or CR LF) ends the head.
            if index + 1 < buffer.count, buffer[index + 1] == 10 { return (index, index + 2) }
            if index + 2 < buffer.count, buffer[index + 1] == 13, buffer[index + 2] == 10 { return (index, index + 3) }
            index += 1
        }
        return nil
    }

    /// The head's lines, each without its CR.
    static func lines(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        head.split(separator: 10, omittingEmptySubsequences: false).map { line in
            line.last == 13 ? line.dropLast() : line
        }
    }

    static func requestLine(_ line: ArraySlice<UInt8>) throws(HTTPError) -> HTTPRequest {
        let parts = line.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw HTTPError(.badRequest, "the request line is not \"METHOD TARGET HTTP/1.1\"")
        }
        guard parts[0].allSatisfy(isTokenOctet) else { throw HTTPError(.badRequest, "the method is not a token") }
        let method = String(decoding: parts[0], as: UTF8.self)
        let version = String(decoding: parts[2], as: UTF8.self)
        let minor: Int
        switch version {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default:
            guard version.hasPrefix("HTTP/") else { throw HTTPError(.badRequest, "the request line does not end in an HTTP version") }
            throw HTTPError(.versionNotSupported, "\(printable(version)) is not supported: this server speaks HTTP/1.1")
        }
        let target = parts[1]
        guard target.first == UInt8(ascii: "/") else {
            throw HTTPError(.badRequest, "the target must be a path beginning with \"/\"")
        }
        guard target.allSatisfy({ $0 > 32 && $0 < 127 }) else { throw HTTPError(.badRequest, "the target has a character that must be percent-encoded") }
        let question = target.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = target[..<(question ?? target.endIndex)]
        guard let path = percentDecoded(rawPath, plusIsSpace: false), !path.contains("\0") else {
            throw HTTPError(.badRequest, "the path is not percent-encoded UTF-8")
        }
        var query: [String: String] = [:]
        if let question {
            for pair in target[(question + 1)...].split(separator: UInt8(ascii: "&")) {
                let equals = pair.firstIndex(of: UInt8(ascii: "="))
                guard let name = percentDecoded(pair[..<(equals ?? pair.endIndex)], plusIsSpace: true),
                    let value = percentDecoded(equals.map { pair[($0 + 1)...] } ?? [], plusIsSpace: true), !name.contains("\0"), !value.contains("\0")
                else { throw HTTPError(.badRequest, "the query is not percent-encoded UTF-8 without NUL") }
                query[name] = value
            }
        }
        return HTTPRequest(method: method, path: path, query: query, minorVersion: minor)
    }

    static func header(_ line: ArraySlice<UInt8>) throws(HTTPError) -> HTTPRequest.Header {
        if line.first == 32 || line.first == 9 { throw HTTPError(.badRequest, "folded header lines are not accepted") }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPError(.badRequest, "a header line has no colon: \"\(printable(String(decoding: line.prefix(40), as: UTF8.self)))\"")
        }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenOctet) else {
            throw HTTPError(.badRequest, "a header name is not a token: \"\(printable(String(decoding: name.prefix(40), as: UTF8.self)))\"")
        }
        let value = line[(colon + 1)...]
        // Field values are visible characters, spaces and tabs; obsolete octets above 127 are kept as Latin-1 would not be: refused.
        guard value.allSatisfy({ ($0 >= 32 && $0 != 127) || $0 == 9 }), let text = String(validating: value, as: UTF8.self) else {
            throw HTTPError(.badRequest, "the value of \(String(decoding: name, as: UTF8.self)) has a control character or is not UTF-8")
        }
        return HTTPRequest.Header(name: String(decoding: name, as: UTF8.self).lowercased(), value: String(Substring(text).trimmingSpaces()))
    }

    /// RFC 9110's tchar.
    static func isTokenOctet(_ octet: UInt8) -> Bool {
        switch octet {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(octet)
        }
    }

    /// `%XX` decoded (and `+` as a space in a query); nil if an escape is broken or the result not UTF-8.
    static func percentDecoded(_ octets: some Collection<UInt8>, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(octets.count)
        var iterator = octets.makeIterator()
        while let octet = iterator.next() {
            switch octet {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace: bytes.append(32)
            default: bytes.append(octet)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func hexValue(_ octet: UInt8) -> UInt8? {
        switch octet {
        case 48...57: octet - 48
        case 65...70: octet - 55
        case 97...102: octet - 87
        default: nil
        }
    }

    /// Text from a request, made safe to repeat in an error: printable ASCII, at most 60 characters.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.prefix(60).map { $0.value >= 32 && $0.value < 127 ? Character($0) : "?" })
    }
}
