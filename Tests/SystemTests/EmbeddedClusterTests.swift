import Core
import Foundation
import Runtime
import Testing
import Wire

@Suite(.serialized) struct EmbeddedClusterTests {
    @Test func theExampleFlowRunsToSuccessWithTheRetriedJobShowingTwoAttempts() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([String(contentsOfFile: "\(repositoryRoot)/examples/payments-end-of-day.json", encoding: .utf8)])
            let run = try client.start("payments/end-of-day")
            let status = try client.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded", "\(status.rendered(pretty: true))")
            #expect(job(status, "check")?["attempts"]?.integer == 2)
            #expect(job(status, "extract")?["attempts"]?.integer == 1)
            let output = job(status, "extract")?["output"]?.string ?? ""
            let path = String(output.drop { $0 != ":" }.dropFirst())
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "extracting the north ledger\n")
        }
    }
}
