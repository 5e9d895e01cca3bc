import Commands
import Foundation
import Testing

@Suite struct ValidateCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs `body` with a fresh temporary directory, then checks it is gone.
    func withDirectory(_ body: (URL) throws -> Void) rethrows {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-cli-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(at: directory)
            #expect(!FileManager.default.fileExists(atPath: directory.path))
        }
        try body(directory)
    }

    func write(_ text: String, _ name: String, in directory: URL) -> String {
        let path = directory.appendingPathComponent(name).path
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func everyExampleFlowIsValid() throws {
        let examples = Self.root.appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".json") || $0.hasSuffix(".cal") }
        #expect(files.contains("cn-banks.cal"))
        let console = CapturedConsole()
        let code = Baton.main(["validate"] + files.map { examples.appendingPathComponent($0).path }, console: console)
        #expect(code == .success, "\(console.errors)")
        #expect(console.errors.isEmpty)
    }

    @Test func calendarsAndSchedulesAreCheckedWithTheLineAndColumnOfEachMistake() {
        withDirectory { directory in
            let calendar = write("weekend sat sun\n2026-01-01 New Year\n2026-13-01 Nope\nworkday\n2026-01-01 Again\n", "bank.cal", in: directory)
            let flow = write(
                """
                {"product": "p", "flow": "f",
                 "schedule": {"cron": "0 18 * * FRY", "zone": "Europe/Lundon", "overlap": "wait"},
                 "jobs": [{"name": "a", "run": "true"}]}
                """, "f.json", in: directory)
            let good = write("2026-12-25 Christmas Day\n", "uk.cal", in: directory)
            let console = CapturedConsole()
            #expect(Baton.main(["validate", calendar, flow, good], console: console) == .failure)
            // Every line at fault is named, as a flow file's problems all are.
            #expect(console.output == ["FAIL  \(calendar): 3 problems", "FAIL  \(flow): 3 problems", "ok    \(good): calendar uk, 1 holiday"])
            #expect(Array(console.errors.prefix(3)) == [
                "\(calendar):3:1: \"2026-13-01\" is not a date",
                "\(calendar):4:1: workday needs a date (YYYY-MM-DD)",
                "\(calendar):5:1: 2026-01-01 is listed twice (first on line 2)",
            ], "\(console.errors)")
            #expect(console.errors.contains { $0.hasPrefix("\(flow):2:33: field \"schedule.cron\": \"0 18 * * FRY\": column 10 (day-of-week)") }, "\(console.errors)")
            #expect(console.errors.contains { $0.hasPrefix("\(flow):2:47: field \"schedule.zone\": unknown time zone \"Europe/Lundon\"") }, "\(console.errors)")
            #expect(console.errors.contains { $0.hasPrefix("\(flow):2:75: field \"schedule.overlap\": expected \"allow\", \"skip\", \"queue\" or \"replace\", found \"wait\"") }, "\(console.errors)")
        }
    }

    @Test func aFileWithACycleFailsNamingTheJobsOfTheCycle() {
        withDirectory { directory in
            let path = write(
                """
                {"product": "p", "flow": "f", "jobs": [
                  {"name": "a", "run": "true", "after": ["b"]},
                  {"name": "b", "run": "true", "after": ["a"]}]}
                """, "cycle.json", in: directory)
            let console = CapturedConsole()
            #expect(Baton.main(["validate", path], console: console) == .failure)
            #expect(console.output == ["FAIL  \(path): 1 problem"])
            #expect(console.errors == ["\(path):2:3: job \"a\": field \"after\": the jobs \"a\" → \"b\" → \"a\" form a cycle, so none of them can start"])
        }
    }

    @Test func aFileWithSeveralMistakesReportsThemAll() {
        withDirectory { directory in
            let path = write(
                """
                {"product": "p", "flow": "f", "colour": "red", "jobs": [
                  {"name": "a", "run": "true", "retries": "two"},
                  {"name": "b", "after": ["c"], "handler": "h", "timeout": "soon"}]}
                """, "bad.json", in: directory)
            let console = CapturedConsole()
            #expect(Baton.main(["validate", path], console: console) == .failure)
            #expect(console.errors.count == 4)
            #expect(console.output == ["FAIL  \(path): 4 problems"])
        }
    }

    @Test func validAndInvalidFilesTogetherExitNonZeroAndReportEach() {
        withDirectory { directory in
            let good = write(#"{"product": "p", "flow": "f", "jobs": [{"name": "a", "run": "true"}]}"#, "good.json", in: directory)
            let missing = directory.appendingPathComponent("missing.json").path
            let console = CapturedConsole()
            #expect(Baton.main(["validate", good, missing], console: console) == .failure)
            #expect(console.output == ["ok    \(good): p/f, 1 job", "FAIL  \(missing): 1 problem"])
            #expect(console.errors == ["\(missing): no such file"])
        }
    }

    /// Found by an operator: a folder given as a file was "no such file, or not UTF-8 text", and a count
    /// written `1.0` was "found a number". Each says what it is.
    @Test func aFolderTextNotUTF8AndACountWithAPointAreEachNamed() {
        withDirectory { directory in
            let folder = directory.appendingPathComponent("flows").path
            try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let latin = directory.appendingPathComponent("latin.json").path
            _ = FileManager.default.createFile(atPath: latin, contents: Data([0x7B, 0xE9, 0x7D]))
            let point = write(#"{"product": "p", "flow": "f", "jobs": [{"name": "a", "run": "true", "retries": 1.0}]}"#, "point.json", in: directory)
            let console = CapturedConsole()
            #expect(Baton.main(["validate", folder, latin, point], console: console) == .failure)
            #expect(console.errors == [
                "\(folder): is a folder: give the files in it (\(folder)/*.json)", "\(latin): is not UTF-8 text",
                "\(point):1:80: job \"a\": field \"retries\": expected a whole number from 0 to 100, found 1.0 (write a whole number without a point or an exponent)",
            ])
        }
    }

    @Test func jsonOutputGivesOneObjectPerFile() {
        withDirectory { directory in
            let bad = write(#"{"product": "p", "flow": "f", "jobs": [{"name": "a"}]}"#, "bad.json", in: directory)
            let console = CapturedConsole()
            #expect(Baton.main(["validate", "--json", bad], console: console) == .failure)
            #expect(console.output.count == 1)
            #expect(console.output[0].contains("\"valid\":false"))
            #expect(console.output[0].contains("\"job\":\"a\""))
        }
    }

    @Test func usageErrorsExitTwo() {
        let console = CapturedConsole()
        #expect(Baton.main(["validate"], console: console) == .usage)
        #expect(console.errors.first == "baton: give at least one flow file or calendar file")
    }
}
