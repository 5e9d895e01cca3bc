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
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".json") }
        #expect(!files.isEmpty)
        let console = CapturedConsole()
        let code = Baton.main(["validate"] + files.map { examples.appendingPathComponent($0).path }, console: console)
        #expect(code == .success, "\(console.errors)")
        #expect(console.errors.isEmpty)
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
        #expect(console.errors.first == "baton: give at least one flow file")
    }
}
