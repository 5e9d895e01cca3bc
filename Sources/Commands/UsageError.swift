/// A command line that cannot be run, and why; `baton` prints it with the command's usage and exits 2.
public struct UsageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public var message: String
    /// The command whose usage to print, or nil for the general usage.
    public var command: String?

    public init(_ message: String, command: String? = nil) {
        self.message = message
        self.command = command
    }

    public var description: String { message }
}
