import Core
import Foundation
import Glibc
import Runtime
import Testing
import Wire

/// `baton dev` and a cluster of processes are the same services planned from the same configuration:
/// `baton dev --config` runs a cluster file whole, the renamed commands still answer to their old
/// names, and stores of the earlier layout are adopted where they are kept now.
@Suite(.serialized) struct OneWiringTests {
    @Test func devRunsAClusterFileWholeWithItsEndpointsAndFolders() throws {
        try withTemporaryFolder { folder in
            let data = "\(folder)/data"
            let config = "\(folder)/cluster.json"
            // The old section name, to see the warning too.
            let text = try ChaosTests.clusterFile(data: data).replacingOccurrences(of: #""orchestrator""#, with: #""flow""#)
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let cluster = try ClusterFile.parse(text, file: config).get()
            let dev = Process()
            dev.executableURL = URL(fileURLWithPath: CommandLineTests.baton)
            dev.arguments = ["dev", "--config", config, "--quiet"]
            dev.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
            let output = Pipe()
            let errors = Pipe()
            dev.standardOutput = output
            dev.standardError = errors
            try dev.run()
            defer { if dev.isRunning { kill(dev.processIdentifier, SIGKILL) } }
            var banner = ""
            while !banner.contains("Press Ctrl-C") {
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                banner += String(decoding: chunk, as: UTF8.self)
            }
            #expect(banner.contains("2 shards, 2 workers × 8 slots"), "\(banner)")
            #expect(banner.contains("management API: \(cluster.management.api)"), "\(banner)")

            let early = try runProgram(CommandLineTests.baton, ["start", "--config", config, "payments/end-of-day"])
            #expect(early.status == 4, "nothing applied yet: \(early.output)")
            let applied = try runProgram(CommandLineTests.baton, ["apply", "--config", config, "examples/payments-end-of-day.json"])
            #expect(applied.status == 0, "\(applied.output)")
            let started = try runProgram(CommandLineTests.baton, ["start", "--config", config, "payments/end-of-day", "--wait"])
            #expect(started.status == 0, "\(started.output)")
            #expect(started.output.contains("succeeded"))

            // Every service keeps its store where the cluster file's processes would.
            for role in [ServiceRole.management, .orchestrator, .shard(id: 1), .shard(id: 2)] {
                let path = try #require(cluster.storePath(of: role))
                #expect(FileManager.default.fileExists(atPath: path), "\(path)")
            }
            kill(dev.processIdentifier, SIGINT)
            dev.waitUntilExit()
            #expect(dev.terminationStatus == 0)
            let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(said.contains(#"the section "flow" is now called "orchestrator""#), "\(said)")
        }
    }

    @Test func theOldCommandNamesStillWorkWithAWarning() throws {
        let flow = try runProgram(CommandLineTests.baton, ["flow", "--help"])
        #expect(flow.status == 0)
        #expect(flow.output.contains("`baton flow` is now `baton orchestrator`"))
        #expect(flow.output.contains("usage: baton orchestrator --config FILE"))
        let manager = try runProgram(CommandLineTests.baton, ["manager", "--help"])
        #expect(manager.output.contains("`baton manager` is now `baton management`"))
        #expect(manager.output.contains("usage: baton management --config FILE"))
        let help = try runProgram(CommandLineTests.baton, ["help", "flow"])
        #expect(help.output.contains("usage: baton orchestrator --config FILE"))
    }

    @Test func storesOfTheEarlierLayoutAreAdoptedByBatonDevAndKeepEverything() throws {
        try withTemporaryFolder { folder in
            let data = "\(folder)/data"
            let first = try startDev(data: data).process
            defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
            #expect(try runProgram(CommandLineTests.baton, ["apply", "--data", data, "examples/payments-end-of-day.json"]).status == 0)
            let run = try runProgram(CommandLineTests.baton, ["start", "--data", data, "payments/end-of-day", "--wait"])
            #expect(run.status == 0, "\(run.output)")
            // Killed, not stopped: whatever the stores' logs still hold must move with them.
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            // Every store where an earlier `baton dev` kept it, with its write-ahead log if it has one.
            let layout = try EmbeddedCluster.Options(data: data).configuration()
            let moves = [
                (layout.storePath(of: .management)!, "\(data)/management.db"),
                (layout.storePath(of: .orchestrator)!, "\(data)/flow.db"),
                (layout.storePath(of: .shard(id: 1))!, "\(data)/shard-1.db"),
            ]
            for (current, old) in moves {
                #expect(rename(current, old) == 0)
                for suffix in ["-wal", "-shm"] { _ = rename(current + suffix, old + suffix) }
            }

            let second = try startDev(data: data).process
            defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
            for (current, old) in moves {
                #expect(FileManager.default.fileExists(atPath: current), "\(current) adopted")
                #expect(!FileManager.default.fileExists(atPath: old), "\(old) moved")
            }
            let status = try runProgram(CommandLineTests.baton, ["status", "--data", data, "1"])
            #expect(status.status == 0 && status.output.contains("succeeded"), "\(status.output)")
            // The adopted stores go on: the next run gets the next ID.
            let next = try runProgram(CommandLineTests.baton, ["start", "--data", data, "payments/end-of-day", "--json"])
            #expect(next.output.contains("\"run\": 2"), "\(next.output)")
            kill(second.processIdentifier, SIGINT)
            second.waitUntilExit()
            #expect(second.terminationStatus == 0)
        }
    }
}
