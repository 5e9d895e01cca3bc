import Core
import Foundation
import Glibc
import Testing

/// The commands that show a running Baton, as a user runs them against `baton dev`: `workers`, `queue`,
/// `logs`, `status` with why jobs wait and `--watch`, `runs --since`, Ctrl-C while following a run, and
/// a stale `.baton/api`.
@Suite(.serialized) struct ObservingCommandsTests {
    let cli = CommandLineTests()

    /// `gate` holds `hold` until the file `gate` appears; `nope` needs a handler no worker has.
    static let flow = #"""
        {"product": "ledger", "flow": "close", "params": {"gate": ""},
         "jobs": [
           {"name": "hold", "run": "echo holding; while [ ! -e \"$BATON_PARAM_gate\" ]; do sleep 0.02; done; echo released"},
           {"name": "nope", "handler": "ledger.nope"},
           {"name": "flaky", "run": "echo try $BATON_ATTEMPT; [ $BATON_ATTEMPT -ge 2 ]", "retries": 1, "backoff": "10ms"}]}
        """#

    @Test func aRunningClusterShowsItsWorkersQueueWaitsAndLogs() throws {
        try withTemporaryFolder { folder in
            let data = "\(folder)/data"
            let (dev, _) = try startDev(data: data, ["--no-web"])
            defer {
                dev.interrupt()
                dev.waitUntilExit()
            }
            try Self.flow.write(toFile: "\(folder)/flow.json", atomically: true, encoding: .utf8)
            let target = ["--data", data]
            #expect(try cli.baton(["apply"] + target + ["\(folder)/flow.json"]).status == 0)
            let gate = "\(folder)/gate"
            defer { _ = FileManager.default.createFile(atPath: gate, contents: nil) }
            let started = try cli.baton(["start"] + target + ["ledger/close", "--param", "gate=\(gate)", "--json"])
            let run = (try? JSONParser.parse(started.output))?["run"]?.integer ?? 0
            #expect(run > 0, "\(started.output) \(started.errors)")

            // flaky fails once, is retried, and succeeds; hold runs.
            try waitUntil("flaky to succeed") {
                try cli.baton(["status"] + target + [String(run), "--json"]).output.contains(#""state": "succeeded""#)
            }
            let status = try cli.baton(["status"] + target + [String(run)])
            #expect(status.output.contains("no worker offers the handler \"ledger.nope\""), "\(status.output)")
            #expect(status.output.split(separator: "\n").contains { $0.hasPrefix("hold") && $0.contains("running") && $0.contains("…") }, "\(status.output)")

            let workers = try cli.baton(["workers"] + target)
            #expect(workers.status == 0, "\(workers.errors)")
            #expect(workers.output.contains("\(run)/hold[0]#1"), "\(workers.output)")
            let queue = try cli.baton(["queue"] + target)
            #expect(queue.status == 0)
            #expect(queue.output.split(separator: "\n").contains { $0.contains("ledger") }, "\(queue.output)")

            // Each attempt's output, the failed one too.
            let first = try cli.baton(["logs"] + target + [String(run), "flaky", "--attempt", "1"])
            #expect(first.status == 0, "\(first.errors)")
            #expect(first.output == "try 1\n", "\(first.output)")
            let last = try cli.baton(["logs"] + target + [String(run), "flaky"])
            #expect(last.output == "try 2\n")
            let none = try cli.baton(["logs"] + target + [String(run), "flaky", "--attempt", "3"])
            #expect(none.status == 4)
            #expect(none.errors.contains("no attempt 3 (its attempts: 1, 2)"), "\(none.errors)")
            let unknown = try cli.baton(["logs"] + target + [String(run), "ghost"])
            #expect(unknown.errors.contains("run \(run) has no job \"ghost\" (its jobs: hold, nope, flaky)"), "\(unknown.errors)")

            // --follow shows what the running attempt writes until it ends.
            let follower = Process()
            follower.executableURL = URL(fileURLWithPath: CommandLineTests.baton)
            follower.arguments = ["logs"] + target + [String(run), "hold", "--follow"]
            follower.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
            let followed = Pipe()
            follower.standardOutput = followed
            try follower.run()
            var seen = ""
            while !seen.contains("holding") {
                let chunk = followed.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                seen += String(decoding: chunk, as: UTF8.self)
            }
            _ = FileManager.default.createFile(atPath: gate, contents: nil)
            seen += String(decoding: followed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            follower.waitUntilExit()
            #expect(seen == "holding\nreleased\n", "\(seen)")
            #expect(follower.terminationStatus == 0)

            let recent = try cli.baton(["runs"] + target + ["--since", "1h"])
            #expect(recent.output.contains("ledger/close"))
            let badSince = try cli.baton(["runs"] + target + ["--since", "soon"])
            #expect(badSince.status == 2)
            #expect(badSince.errors.contains("--since takes how far back"))
        }
    }

    @Test func ctrlCWhileFollowingARunSaysItGoesOn() throws {
        try withTemporaryFolder { folder in
            let data = "\(folder)/data"
            let (dev, _) = try startDev(data: data, ["--no-web"])
            defer {
                dev.interrupt()
                dev.waitUntilExit()
            }
            try Self.flow.write(toFile: "\(folder)/flow.json", atomically: true, encoding: .utf8)
            #expect(try cli.baton(["apply", "--data", data, "\(folder)/flow.json"]).status == 0)
            let gate = "\(folder)/gate"
            defer { _ = FileManager.default.createFile(atPath: gate, contents: nil) }
            let waiting = Process()
            waiting.executableURL = URL(fileURLWithPath: CommandLineTests.baton)
            waiting.arguments = ["start", "--data", data, "ledger/close", "--param", "gate=\(gate)", "--wait"]
            let output = Pipe()
            let errors = Pipe()
            waiting.standardOutput = output
            waiting.standardError = errors
            try waiting.run()
            var said = ""
            while !said.contains("hold") || !said.contains("running") {
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                said += String(decoding: chunk, as: UTF8.self)
            }
            kill(waiting.processIdentifier, SIGINT)
            let told = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            waiting.waitUntilExit()
            #expect(waiting.terminationStatus == 130)
            #expect(told.contains("run 1 goes on: `baton status 1 --watch` follows it again, `baton stop 1` stops it"), "\(told)")
            let status = try cli.baton(["status", "--data", data, "1", "--json"])
            #expect(status.output.contains(#""state": "running""#), "the run went on")
        }
    }

    @Test func aStaleApiFileIsRecognisedAtOnce() throws {
        try withTemporaryFolder { folder in
            try FileManager.default.createDirectory(atPath: "\(folder)/data", withIntermediateDirectories: true)
            try "tcp://127.0.0.1:9\n".write(toFile: "\(folder)/data/api", atomically: true, encoding: .utf8)
            // Told so, not "no answer" after the API's timeout.
            let status = try cli.baton(["status", "--data", "\(folder)/data"])
            #expect(status.status == 3)
            #expect(status.errors.contains("is left from a `baton dev` that has stopped"), "\(status.errors)")
        }
    }
}
