/// The help texts: one general usage in beanstalkd's terse style, and one per command.
public enum Usage {
    /// Baton's version.
    public static let version = "0.1.0"

    /// The general usage.
    public static var general: String {
        var text = """
            usage: baton <command> [options] [arguments]

            Baton is a distributed batch-job scheduler. Commands:


            """
        for name in order {
            text += "  " + name.padding(toLength: 12) + commands[name]!.summary + "\n"
        }
        text += """

            Run "baton <command> --help" for a command's options.

            Exit status:
              0  success
              1  what was checked or run did not pass (an invalid flow, a failed run)
              2  the command line was wrong
              3  the service could not be reached
              4  the service refused the request
            """
        return text
    }

    /// One command's help.
    public struct Entry: Sendable {
        /// One line for the general usage.
        public var summary: String
        /// The full text for `baton <command> --help`.
        public var text: String
    }

    static let order = ["validate", "version", "help"]

    /// Every command's help, by name.
    public static let commands: [String: Entry] = [
        "validate": Entry(
            summary: "check flow files without a server",
            text: """
                usage: baton validate [--json] FILE...

                Checks each flow file and prints every problem found in it, with its line and column,
                the job and the field. No server is needed.

                Options:
                  --json   print one JSON object per file instead of text

                Exit status: 0 if every file is valid, 1 if any is not, 2 on a usage error.
                """),
        "version": Entry(
            summary: "print the version",
            text: """
                usage: baton version

                Prints Baton's version and the protocol version it speaks.
                """),
        "help": Entry(
            summary: "show help for a command",
            text: """
                usage: baton help [COMMAND]

                Prints the general usage, or the help of COMMAND.
                """),
    ]
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self + " " : self + String(repeating: " ", count: length - count)
    }
}
