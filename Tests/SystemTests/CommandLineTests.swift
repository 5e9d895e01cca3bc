import Foundation
import Glibc
import Testing

/// The `baton` executable as a user runs it: `baton dev` in one process, the client commands in others.
@Suite(.serialized) struct CommandLineTests {
    /// The `baton` built beside the test bundle.
    static let baton = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("baton").path

    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `baton` with `arguments` to completion, from the repository's root.
    func baton(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.baton)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self), errors: String(decoding: err, as: UTF8.self))
    }

    @Test func theQuickStartWorksAsWrittenAgainstARealDevProcess() throws {
        try withTemporaryFolder { folder in
            let data = "\(folder)/data"
            let dev = Process()
            dev.executableURL = URL(fileURLWithPath: Self.baton)
            dev.arguments = ["dev", "--data", data, "--quiet"]
            dev.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
            let output = Pipe()
            dev.standardOutput = output
            dev.standardError = FileHandle.nullDevice
            try dev.run()
            defer { if dev.isRunning { kill(dev.processIdentifier, SIGKILL) } }
            // Block on the banner: dev prints it once every service is ready and DIR/api is written.
            var banner = ""
            while !banner.contains("Press Ctrl-C") {
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                banner += String(decoding: chunk, as: UTF8.self)
            }
            #expect(banner.contains("management API: tcp://127.0.0.1:"))
            #expect(FileManager.default.fileExists(atPath: "\(data)/api"))

            let applied = try baton(["apply", "--data", data, "examples/payments-end-of-day.json"])
            #expect(applied.status == 0, "\(applied.errors)")
            #expect(applied.output == "applied payments/end-of-day v1 (4 jobs, shard 1)\n")

            let run = try baton(["start", "--data", data, "payments/end-of-day", "--wait"])
            #expect(run.status == 0, "\(run.output)\(run.errors)")
            #expect(run.output.contains("check    succeeded (attempt 2)"))
            #expect(run.output.contains("run 1  payments/end-of-day v1  succeeded"))

            let status = try baton(["status", "1", "--json"], environment: ["BATON_API": try String(contentsOfFile: "\(data)/api", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)])
            #expect(status.status == 0)
            #expect(status.output.contains("\"state\": \"succeeded\""))

            let runs = try baton(["runs", "--data", data])
            #expect(runs.output.split(separator: "\n").count == 2)

            let unknown = try baton(["start", "--data", data, "payments/nightly"])
            #expect(unknown.status == 4)
            #expect(unknown.errors.contains("unknown flow \"nightly\" of product \"payments\""))

            let undeclared = try baton(["start", "--data", data, "payments/end-of-day", "--param", "colour=red"])
            #expect(undeclared.status == 4)
            #expect(undeclared.errors.contains("parameter \"colour\" is not declared"))

            // A second dev on the same data is refused: two processes never share the stores.
            let second = try baton(["dev", "--data", data])
            #expect(second.status == 1)
            #expect(second.errors.contains("another Baton process is using"))

            kill(dev.processIdentifier, SIGINT)
            dev.waitUntilExit()
            #expect(dev.terminationStatus == 0)
            #expect(!FileManager.default.fileExists(atPath: "\(data)/api"))
        }
    }

    @Test func clientCommandsWithoutARunningBatonExitThree() throws {
        try withTemporaryFolder { folder in
            let outcome = try baton(["status", "--data", folder])
            #expect(outcome.status == 3)
            #expect(outcome.errors.contains("no running Baton found"))
        }
    }

    @Test func theDemoRunsTheExampleToSuccess() throws {
        try withTemporaryFolder { folder in
            let demo = try baton(["demo", "--data", "\(folder)/demo"])
            #expect(demo.status == 0, "\(demo.output)\(demo.errors)")
            #expect(demo.output.contains("Every job succeeded."))
            let table = demo.output.split(separator: "\n").filter { $0.hasPrefix("check ") }
            #expect(table.count == 1 && table[0].contains("succeeded  -     2"), "\(table)")
            // The README shows what the demo prints: the same table header, rows and last line, but
            // for the timings and the data folder.
            let readme = try String(contentsOfFile: "\(repositoryRoot)/README.md", encoding: .utf8)
            let shown = readme.components(separatedBy: "`make demo` ends like this:\n\n```\n")[1].components(separatedBy: "```")[0]
            func shape(_ text: String) -> [String] {
                text.split(separator: "\n").drop { !$0.hasPrefix("JOB ") }.map {
                    $0.replacingOccurrences(of: #"\d+m?s\b"#, with: "T", options: .regularExpression)
                        .replacingOccurrences(of: #" +"#, with: " ", options: .regularExpression)
                        .replacingOccurrences(of: "\(folder)/demo", with: ".baton-demo")
                }
            }
            #expect(shape(shown).count == 6 && shape(shown) == shape(demo.output), "README: \(shown)\ndemo: \(demo.output)")
        }
    }
}
