import Commands
import Testing

@Suite struct CommandParserTests {
    func parse(_ line: String) throws(UsageError) -> Command {
        try CommandParser.parse(line.split(separator: " ").map(String.init))
    }

    @Test func noArgumentsOrHelpAsksForTheGeneralUsage() throws {
        #expect(try parse("") == .help(topic: nil))
        #expect(try parse("--help") == .help(topic: nil))
        #expect(try parse("-h") == .help(topic: nil))
        #expect(try parse("help") == .help(topic: nil))
        #expect(try parse("help validate") == .help(topic: "validate"))
    }

    @Test func everyCommandAcceptsHelp() throws {
        for name in Usage.commands.keys where name != "help" {
            #expect(try parse("\(name) --help") == .help(topic: name))
            #expect(try parse("\(name) -h") == .help(topic: name))
        }
    }

    @Test func validateTakesFilesAndJSON() throws {
        #expect(try parse("validate a.json b.json") == .validate(files: ["a.json", "b.json"], json: false))
        #expect(try parse("validate --json a.json") == .validate(files: ["a.json"], json: true))
        #expect(try parse("validate a.json --json") == .validate(files: ["a.json"], json: true))
        #expect(try parse("validate -- --json") == .validate(files: ["--json"], json: false))
    }

    @Test func versionTakesNothing() throws {
        #expect(try parse("version") == .version)
        #expect(try parse("--version") == .version)
        #expect(throws: UsageError("unexpected argument \"x\"", command: "version")) { try parse("version x") }
    }

    @Test func mistakesAreUsageErrorsNamingWhatWasWrong() {
        #expect(throws: UsageError("give at least one flow file", command: "validate")) { try parse("validate") }
        #expect(throws: UsageError("unknown option --jsn", command: "validate")) { try parse("validate --jsn a") }
        #expect(throws: UsageError("--json takes no value", command: "validate")) { try parse("validate --json=1 a") }
        #expect(throws: UsageError("unknown command \"validat\" (did you mean \"validate\"?)")) { try parse("validat") }
        #expect(throws: UsageError("unknown command \"frobnicate\"")) { try parse("frobnicate") }
        #expect(throws: UsageError("unknown command \"nope\"")) { try parse("help nope") }
    }
}
