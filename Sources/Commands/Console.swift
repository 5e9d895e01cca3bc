#if canImport(Glibc)
    import Glibc
#endif

/// Where a command writes: standard output for results, standard error for diagnostics.
public protocol Console: AnyObject {
    /// Writes `text` and a newline to standard output.
    func out(_ text: String)
    /// Writes `text` and a newline to standard error.
    func err(_ text: String)
    /// Writes `text` to standard output as it is, with no newline added (a log's octets).
    func outRaw(_ text: String)
}

extension Console {
    /// By lines, for a console that keeps lines.
    public func outRaw(_ text: String) {
        guard !text.isEmpty else { return }
        out(text.hasSuffix("\n") ? String(text.dropLast()) : text)
    }
}

/// The process's standard output and error.
public final class StandardConsole: Console {
    public init() {}

    public func out(_ text: String) { write(Self.printable(text) + "\n", to: STDOUT_FILENO) }
    public func err(_ text: String) { write(Self.printable(text) + "\n", to: STDERR_FILENO) }
    public func outRaw(_ text: String) { write(text, to: STDOUT_FILENO) }

    /// `text` with its control characters but newlines and tabs written out (`\r`, `\x1b`), so that what a
    /// job printed, shown in a table or a detail, cannot move the cursor or rewrite a line on the operator's
    /// terminal (found by an explorer: a failed job's last line, "\r\x1b[2K" and a forged row, showed it
    /// succeeded). Only `outRaw`, a log's octets as asked for, writes them as they are.
    static func printable(_ text: String) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
        }
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var shown = ""
        for scalar in text.unicodeScalars {
            guard isControl(scalar) else {
                shown.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\r": shown += "\\r"
            default: shown += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            }
        }
        return shown
    }

    /// Unbuffered, so that output and errors interleave in the order written, and nothing is lost at exit.
    private func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

/// A console that keeps what was written, for tests.
public final class CapturedConsole: Console {
    /// Lines written to standard output.
    public private(set) var output: [String] = []
    /// Lines written to standard error.
    public private(set) var errors: [String] = []

    public init() {}

    public func out(_ text: String) { output.append(text) }
    public func err(_ text: String) { errors.append(text) }
}

extension String {
    /// Padded on the left with zeros to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
