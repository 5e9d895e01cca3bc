import Core
import Foundation
import Runtime
import Synchronization
import Testing
import Wire

/// A full disk or a read-only store stops a service with a clear message, and nothing it could not
/// store is acknowledged.
@Suite(.serialized) struct StoreFailureTests {
    /// Turns the shard's write faults on from the test's thread.
    final class FaultSwitch: Sendable {
        let code = Atomic<Int32>(0)
        func fault(_ sql: String) -> Int32? {
            let code = code.load(ordering: .relaxed)
            return code == 0 ? nil : code
        }
    }

    @Test(arguments: [(Int32(13), "the disk is full"), (Int32(8), "the store became read-only")])
    func aFailedCommitStopsTheShardBeforeItAcknowledgesAnything(code: Int32, cause: String) throws {
        try withTemporaryFolder { folder in
            let faults = FaultSwitch()
            var options = EmbeddedCluster.Options(data: folder)
            options.shardFault = { faults.fault($0) }
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([String(contentsOfFile: "\(repositoryRoot)/examples/payments-end-of-day.json", encoding: .utf8)])
            #expect(try client.waitForRun(try client.start("payments/end-of-day"))["run"]?["state"]?.string == "succeeded")

            faults.code.store(code, ordering: .relaxed)
            let run = try client.start("payments/end-of-day")
            let deadline = SystemClock().now().adding(milliseconds: 10_000)
            while cluster.failure == nil && SystemClock().now() < deadline { usleep(10_000) }
            let failure = try #require(cluster.failure)
            #expect(failure.name == "shard-1")
            let message = "\(failure.error)"
            #expect(message.contains("cannot commit to \(folder)/shard-1/shard.db: \(cause)"), "\(message)")
            #expect(message.contains("stopping without acknowledging anything of this turn"))
            // The shard never reported the job it could not store: the orchestrator still has it as sent.
            let status = try client.call("status", .object([("run", .number(run))]))
            #expect(job(status.body, "extract")?["state"]?.string == "submitted")
        }
    }

    @Test func aShardWhoseDataFolderCannotBeWrittenRefusesToStartAndSaysWhy() throws {
        try withTemporaryFolder { folder in
            // /sys refuses new folders, even to root.
            let config = "\(folder)/cluster.json"
            let text = try String(contentsOfFile: "\(repositoryRoot)/deploy/local/cluster.json", encoding: .utf8)
                .replacingOccurrences(of: "\".baton-cluster\"", with: "\"/sys/baton-test\", \"security\": \"none\"")
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let (status, output) = try runProgram(CommandLineTests.baton, ["shard", "--config", config, "--id", "1"])
            #expect(status == 1)
            #expect(output.contains("cannot create /sys/baton-test/shard-1"), "\(output)")
        }
    }

    @Test func anInvalidClusterFileIsRefusedNamingTheFileAndTheField() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            let text = try String(contentsOfFile: "\(repositoryRoot)/deploy/local/cluster.json", encoding: .utf8)
                .replacingOccurrences(of: #""id": 2"#, with: #""id": 1"#)
                .replacingOccurrences(of: #""durability""#, with: #""durabilty""#)
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let (status, output) = try runProgram(CommandLineTests.baton, ["shard", "--config", config, "--id", "1"])
            #expect(status == 1)
            #expect(output.contains("\(config):3:3: field \"durabilty\": unknown field (did you mean \"durability\"?)"), "\(output)")
            #expect(output.contains("\(config):10:12: shard 1: field \"id\": shard 1 is already defined at line 9"), "\(output)")
        }
    }
}
