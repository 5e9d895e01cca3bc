@testable import Commands
import Core
import Foundation
import Glibc
import Runtime
import Testing
import ZeroMQ

/// `baton up` against real processes: a cluster that cannot start whole is not left half started.
@Suite(.serialized) struct UpProcessTests {
    @Test func anUpThatFailsHalfWayStopsWhatItStarted() throws {
        try withTemporaryFolder { folder in
            let config = "\(folder)/cluster.json"
            let text = try ChaosTests.clusterFile(data: "\(folder)/data")
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let cluster = try SecurityTests.load(config)
            // Shard 2's submit endpoint is taken, so shard 2 cannot start, after shard 1 has.
            let context = try Context()
            defer { context.shutdown() }
            let squatter = try Socket(context, type: .pull)
            try squatter.setLinger(milliseconds: 0)
            try squatter.bind(cluster.shards[1].submit)
            defer { squatter.close() }

            let (status, output) = try ChaosTests.baton(["up", "--config", config])
            defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
            #expect(status != 0, "\(output)")
            #expect(output.contains("shard-2 did not start"), "\(output)")
            #expect(output.contains("stopped what this command had started: shard-1"), "\(output)")
            let shard1 = try #require(Up.processes(cluster).first { $0.name == "shard-1" })
            #expect(!Up.isRunning(shard1), "shard-1 was left running")
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/data/run/shard-1.pid"))

            // Once the endpoint is free, the same command starts everything.
            squatter.close()
            let (again, said) = try ChaosTests.baton(["up", "--config", config])
            #expect(again == 0, "\(said)")
            #expect(said.contains("started shard-1") && said.contains("started shard-2"), "\(said)")
        }
    }
}
