import Core
import Foundation
import Runtime
import Testing
import Wire
import ZeroMQ

/// Inputs over their limits are refused where they arrive, with the limit named where the sender can be
/// told; what is accepted within them runs, however large.
@Suite(.serialized) struct BoundsSystemTests {
    @Test func aShardSentASubmitOfFourBillionPartitionsStaysUpAndCountsItMalformed() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            let step = StepSpec(name: "s", kind: .command, action: "true", partitions: .max)
            let job = JobSpec(run: 99, job: "bomb", product: "p", flow: "f", moment: 1, type: "t", steps: [step])
            let frame = Message.submit(Submit(jobs: [job])).encoded()
            #expect(frame.count < 150)
            let push = try ZeroMQ.Socket(cluster.context, type: .push)
            defer { push.close() }
            try push.connect(cluster.shardAddresses[0].submit)
            try push.send(frame)
            try waitUntil("the shard to count the SUBMIT as malformed") { cluster.counters["shard-1"]!.malformed == 1 }

            // The shard is still serving: a run goes through it.
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([String(contentsOfFile: "\(repositoryRoot)/examples/payments-end-of-day.json", encoding: .utf8)])
            let status = try client.waitForRun(try client.start("payments/end-of-day"))
            #expect(status["run"]?["state"]?.string == "succeeded")
            #expect(cluster.counters["shard-1"]!.malformed == 1)
        }
    }

    @Test func aRunWithATwoMiBParameterIsRefusedAtStartNamingTheLimit() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([#"{"product": "big", "flow": "params", "jobs": [{"name": "a", "handler": "noop"}]}"#])
            let body = JSON.object([
                ("flow", .string("big/params")), ("params", .object([("blob", .string(String(repeating: "x", count: 2 << 20)))])),
            ])
            let reply = try client.call("start", body)
            #expect(reply.status == .tooLarge)
            #expect(reply.errorText.contains("parameter \"blob\" is 2097152 octets, more than the 65536 a parameter's value may be"), "\(reply.errorText)")
            #expect(try client.call("runs").body["runs"]?.array?.isEmpty == true)
        }
    }

    /// 400 jobs that each carry 190 KiB of parameters: 76 MB of submissions, more than one frame may be,
    /// so the orchestrator splits its SUBMITs by size. (The shard's core tests split its TASKS by size;
    /// here a worker of 40 slots takes the tasks 7.6 MB at a time.)
    @Test func aRunAsLargeAsTheLimitsAllowStartsAndRuns() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 1
            options.slots = 40
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            let jobs = JSON.array((0..<400).map { .object([("name", .string("job\($0)")), ("handler", .string("noop"))]) })
            try client.apply([JSON.object([("product", .string("big")), ("flow", .string("wide")), ("jobs", jobs)]).rendered()])
            let value = String(repeating: "v", count: 63 << 10)
            let params = ["first": value, "second": value, "third": value]
            #expect(Limits.size(ofParameters: params) <= ParameterLimits.run)
            #expect(400 * Limits.size(ofParameters: params) > Limits.frame)
            let status = try client.waitForRun(try client.start("big/wide", params: params), limit: 120_000)
            #expect(status["run"]?["state"]?.string == "succeeded", "\(status["run"]?.rendered() ?? "") \(status["jobs"]?.array?.first?.rendered() ?? "")")
            #expect(status["run"]?["succeeded"]?.integer == 400)
            for service in ["management", "orchestrator", "shard-1"] {
                #expect(cluster.counters[service]!.malformed == 0, "\(service) dropped a frame")
            }
        }
    }
}
