import Core
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
            let (dev, banner) = try startDev(data: data)
            defer { if dev.isRunning { kill(dev.processIdentifier, SIGKILL) } }
            #expect(banner.contains("management API: tcp://127.0.0.1:"))
            // Without keys, and saying so: it listens on loopback only.
            #expect(banner.contains("keyless:"), "\(banner)")
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

            // A start sent again under its key says it is the run started before; another start under it is refused.
            let keyed = try baton(["start", "--data", data, "payments/end-of-day", "--key", "eod-1"])
            #expect(keyed.output.hasPrefix("started run 2 of payments/end-of-day"), "\(keyed.output)\(keyed.errors)")
            let again = try baton(["start", "--data", data, "payments/end-of-day", "--key", "eod-1"])
            #expect(again.output.hasPrefix("run 2 of payments/end-of-day was started before with this key"), "\(again.output)\(again.errors)")
            let other = try baton(["start", "--data", data, "payments/end-of-day", "--key", "eod-1", "--param", "region=south"])
            #expect(other.status == 4 && other.errors.contains("key \"eod-1\" started run 2 of payments/end-of-day, whose parameter \"region\""), "\(other.errors)")

            // A held product says so in the products table.
            #expect(try baton(["hold", "--data", data, "payments"]).status == 0)
            let products = try baton(["products", "--data", data])
            #expect(products.output.contains("HELD") && products.output.split(separator: "\n").last?.contains(" held ") == true, "\(products.output)")
            // A run started meanwhile says it waits.
            let waiting = try baton(["start", "--data", data, "payments/end-of-day"])
            #expect(waiting.output.hasPrefix("product payments is held: the run waits until it is released"), "\(waiting.output)")
            #expect(try baton(["release", "--data", data, "payments"]).status == 0)

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

    /// A run of more jobs than one `status` reply holds: `baton status` reads every page, and `--jobs`
    /// shows the first few and says how many more there are.
    @Test func theStatusOfARunOfMoreJobsThanAPageShowsEveryJob() throws {
        try withTemporaryFolder { folder in
            let data = "\(folder)/data"
            let count = 10_050
            let jobs = (0..<count).map { #"{"name": "j\#($0)", "handler": "noop"}"# }.joined(separator: ", ")
            try #"{"product": "big", "flow": "wide", "jobs": [\#(jobs)]}"#.write(toFile: "\(folder)/wide.json", atomically: true, encoding: .utf8)
            let (dev, _) = try startDev(data: data, ["--slots", "64"])
            defer { if dev.isRunning { kill(dev.processIdentifier, SIGKILL) } }

            let applied = try baton(["apply", "--data", data, "\(folder)/wide.json"])
            #expect(applied.status == 0, "\(applied.errors)")
            let run = try baton(["start", "--data", data, "big/wide", "--wait"])
            #expect(run.status == 0, "\(run.errors)")
            // The watcher follows the first 1,000 jobs; the final table has them all.
            #expect(run.output.split(separator: "\n").filter { $0.hasSuffix(" succeeded") }.count == 1000)
            #expect(run.output.contains("\nj10049 "))

            let all = try baton(["status", "--data", data, "1"])
            let rows = all.output.split(separator: "\n").filter { $0.hasPrefix("j") }
            #expect(rows.count == count && rows.first?.hasPrefix("j0 ") == true && rows.last?.hasPrefix("j10049 ") == true)
            #expect(!all.output.contains("more job"))

            let json = try JSONParser.parse(try baton(["status", "--data", data, "1", "--json"]).output)
            #expect(json["jobs"]?.array?.count == count && json["next"] == nil)

            let few = try baton(["status", "--data", data, "1", "--jobs", "3"])
            #expect(few.output.split(separator: "\n").filter { $0.hasPrefix("j") }.map { $0.prefix(3) } == ["j0 ", "j1 ", "j2 "])
            #expect(few.output.contains("and 10047 more jobs: baton status 1 --jobs N shows the first N"))
            let page = try JSONParser.parse(try baton(["status", "--data", data, "1", "--jobs", "10001", "--json"]).output)
            #expect(page["jobs"]?.array?.count == 10_001 && page["next"]?.integer == 10_001)

            kill(dev.processIdentifier, SIGINT)
            dev.waitUntilExit()
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
            // Run again in its own folder, it empties it and succeeds again.
            #expect(try baton(["demo", "--data", "\(folder)/demo"]).status == 0)
        }
    }

    /// Found by an explorer: the demo emptied the folder of a running `baton dev` (its lock file with it),
    /// and any folder named, whatever it held. It refuses both, and leaves them as they were.
    @Test func theDemoLeavesARunningBatonsFolderAndAnyOtherAlone() throws {
        try withTemporaryFolder { folder in
            let (dev, _) = try startDev(data: "\(folder)/dev")
            defer {
                dev.interrupt()
                dev.waitUntilExit()
            }
            let before = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/dev").sorted()
            let running = try baton(["demo", "--data", "\(folder)/dev"])
            #expect(running.status == 1 && running.errors.contains("another Baton process is using \(folder)/dev"), "\(running.errors)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(folder)/dev").sorted() == before)
            try FileManager.default.createDirectory(atPath: "\(folder)/mine/sub", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: "\(folder)/mine/precious.txt", contents: Data("keep".utf8))
            let other = try baton(["demo", "--data", "\(folder)/mine"])
            #expect(other.status == 1 && other.errors.contains("holds files no demo made (precious.txt, sub)"), "\(other.errors)")
            #expect(FileManager.default.fileExists(atPath: "\(folder)/mine/precious.txt"))
        }
    }
}
