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

    @Test func storesOfTheEarlierLayoutAreAdoptedAndKeepEverything() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.timer = false
            let run: UInt64
            do {
                let cluster = try EmbeddedCluster(options)
                defer { cluster.stop() }
                let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
                try client.apply([String(contentsOfFile: "\(repositoryRoot)/examples/payments-end-of-day.json", encoding: .utf8)])
                run = try client.start("payments/end-of-day")
                #expect(try client.waitForRun(run)["run"]?["state"]?.string == "succeeded")
            }
            // Put every store where an earlier `baton dev` kept it.
            let layout = try options.configuration()
            let moves = [
                (layout.storePath(of: .management)!, "\(folder)/management.db"),
                (layout.storePath(of: .orchestrator)!, "\(folder)/flow.db"),
                (layout.storePath(of: .shard(id: 1))!, "\(folder)/shard-1.db"),
            ]
            for (current, old) in moves {
                #expect(rename(current, old) == 0)
                for suffix in ["-wal", "-shm"] { _ = rename(current + suffix, old + suffix) }
            }

            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            for (current, old) in moves {
                #expect(FileManager.default.fileExists(atPath: current), "\(current) adopted")
                #expect(!FileManager.default.fileExists(atPath: old), "\(old) moved")
            }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            let status = try client.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded", "\(status.rendered(pretty: true))")
            #expect(job(status, "check")?["attempts"]?.integer == 2)
            // The adopted stores go on: a second run gets the next ID.
            #expect(try client.start("payments/end-of-day") == run + 1)
        }
    }
}
