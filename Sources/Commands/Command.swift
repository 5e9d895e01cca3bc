/// One invocation of `baton`, parsed from its arguments and ready to run.
public enum Command: Equatable, Sendable {
    /// Print the general usage, or one command's.
    case help(topic: String?)
    /// Print the version.
    case version
    /// Check flow files without a server.
    case validate(files: [String], json: Bool)
}
