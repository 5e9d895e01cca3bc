import Core
import Foundation
import Glibc
import Runtime
import Store
import Testing
import Wire
import ZeroMQ

/// Flows through every service, over real sockets and real SQLite files, in one process.
@Suite(.serialized) struct FlowExecutionTests {
    enum Transport: String, CaseIterable, CustomStringConvertible {
        case inproc, tcp
        var description: String { rawValue }
    }

    /// A command that records its start and end in the trace file, doing `work` in between.
    static func traced(_ work: String = "true") -> String {
        #"echo "start $BATON_JOB $BATON_ATTEMPT" >> "$BATON_PARAM_trace"; \#(work) || exit $?; echo "end $BATON_JOB $BATON_ATTEMPT" >> "$BATON_PARAM_trace""#
    }

    /// a → (b, c, flaky) → d → five fan-out jobs → fanin; lonely stands alone. flaky fails twice first.
    static var flow: String {
        var jobs: [JSON] = [
            traceJob("a", after: []), traceJob("b", after: ["a"]), traceJob("c", after: ["a"]),
            traceJob("flaky", after: ["a"], work: #"[ "$BATON_ATTEMPT" -ge 3 ]"#, retries: 2),
            traceJob("d", after: ["b", "c", "flaky"]), traceJob("lonely", after: []),
        ]
        for index in 1...5 { jobs.append(traceJob("fan\(index)", after: ["d"])) }
        jobs.append(traceJob("fanin", after: (1...5).map { "fan\($0)" }))
        return JSON.object([
            ("product", .string("trace")), ("flow", .string("shape")), ("params", .object([("trace", .string(""))])),
            ("jobs", .array(jobs)),
        ]).rendered()
    }

    static func traceJob(_ name: String, after: [String], work: String = "true", retries: Int = 0) -> JSON {
        .object([
            ("name", .string(name)), ("after", .array(after.map(JSON.string))), ("run", .string(traced(work))),
            ("retries", .number(retries)), ("backoff", .string("20ms")),
        ])
    }

    @Test(arguments: Transport.allCases)
    func jobsRunAfterTheirPredecessorsOnceEachAndRetriesAreCounted(over transport: Transport) throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.overTCP = transport == .tcp
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([Self.flow])
            let trace = "\(folder)/trace"
            let run = try client.start("trace/shape", params: ["trace": trace])
            let status = try client.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "succeeded", "\(status.rendered(pretty: true))")

            let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            let definition = try FlowFile.parse(Self.flow, file: "shape").get()
            let graph = FlowGraph(definition)
            for (index, name) in graph.names.enumerated() {
                let firstStart = try #require(lines.firstIndex { $0[0] == "start" && $0[1] == name }, "\(name) never started")
                for predecessor in graph.predecessors[index] {
                    let lastEnd = try #require(lines.lastIndex { $0[0] == "end" && $0[1] == graph.names[predecessor] })
                    #expect(lastEnd < firstStart, "\(name) started before \(graph.names[predecessor]) ended")
                }
                let starts = lines.filter { $0[0] == "start" && $0[1] == name }.count
                let expected = name == "flaky" ? 3 : 1
                #expect(starts == expected, "\(name) started \(starts) times")
                #expect(job(status, name)?["attempts"]?.integer == Int64(expected))
                #expect(job(status, name)?["state"]?.string == "succeeded")
            }
            // Each job was submitted to the shard once: one row per job in the shard's store, read once the
            // shard has stopped (it keeps its file to itself while it runs).
            cluster.stop()
            let store = try ShardStore(path: "\(folder)/shard-1/shard.db")
            let rows = try store.database.prepare("SELECT job, COUNT(*) FROM jobs WHERE run = ? GROUP BY job")
            rows.bind(1, Int64(run))
            var counts: [String: Int] = [:]
            while try rows.step() { counts[rows.text(0)] = rows.int(1) }
            rows.reset()
            store.database.close()
            #expect(counts == Dictionary(uniqueKeysWithValues: graph.names.map { ($0, 1) }))
        }
    }

    @Test func aTimeoutKillsTheRunawayProcessGroupAndFailsTheRunWhileOtherBranchesFinish() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            let flow = JSON.object([
                ("product", .string("ops")), ("flow", .string("runaway")),
                ("jobs", .array([
                    .object([("name", .string("stuck")), ("timeout", .string("1s")),
                             ("run", .string(#"sleep 300 & echo $! > "$BATON_PARAM_pidfile"; wait"#))]),
                    .object([("name", .string("after-stuck")), ("after", .array([.string("stuck")])), ("run", .string("true"))]),
                    .object([("name", .string("independent")), ("run", .string("true"))]),
                ])),
            ]).rendered()
            try client.apply([flow])
            let pidfile = "\(folder)/sleep.pid"
            let run = try client.start("ops/runaway", params: ["pidfile": pidfile])
            let status = try client.waitForRun(run)
            #expect(status["run"]?["state"]?.string == "failed")
            #expect(job(status, "stuck")?["state"]?.string == "failed")
            #expect(job(status, "stuck")?["detail"]?.string?.hasPrefix("timed out after 1s") == true)
            #expect(job(status, "after-stuck")?["state"]?.string == "skipped")
            #expect(job(status, "independent")?["state"]?.string == "succeeded")
            // The shell's child, in the same process group, is signalled with it. The job's end is reported
            // once the shell has exited, which can be a moment before its child has: waited for, with a bound.
            let pid = try #require(Int32(String(contentsOfFile: pidfile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            try waitUntil("sleep \(pid) to end with its timed-out job", limit: 10) { !isRunning(pid) }
        }
    }

    @Test func underFailRunAFailureCancelsRunningJobsAndSkipsTheRest() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            let flow = JSON.object([
                ("product", .string("ops")), ("flow", .string("strict")), ("on_failure", .string("fail-run")),
                ("jobs", .array([
                    .object([("name", .string("long")), ("run", .string(#"sleep 300 & echo $! > "$BATON_PARAM_pidfile"; wait"#))]),
                    .object([("name", .string("after-long")), ("after", .array([.string("long")])), ("run", .string("true"))]),
                    .object([("name", .string("bad")), ("after", .array([.string("wait-for-long")])), ("run", .string("exit 7"))]),
                    .object([("name", .string("wait-for-long")), ("run", .string(#"while [ ! -s "$BATON_PARAM_pidfile" ]; do sleep 0.05; done"#))]),
                ])),
            ]).rendered()
            try client.apply([flow])
            let pidfile = "\(folder)/long.pid"
            let status = try client.waitForRun(try client.start("ops/strict", params: ["pidfile": pidfile]))
            #expect(status["run"]?["state"]?.string == "failed")
            #expect(status["run"]?["detail"]?.string?.contains("fail-run") == true)
            #expect(job(status, "bad")?["state"]?.string == "failed")
            #expect(job(status, "after-long")?["state"]?.string == "skipped")
            // The cancellation reaches the worker, which stops the attempt's process group.
            let clock = SystemClock()
            let deadline = clock.now().adding(milliseconds: 10_000)
            var long = job(status, "long")?["state"]?.string
            while long != "cancelled" && clock.now() < deadline {
                long = job(try client.call("status", .object([("run", .number(1))])).body, "long")?["state"]?.string
                usleep(20_000)
            }
            #expect(long == "cancelled")
            let pid = try #require(Int32(String(contentsOfFile: pidfile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(!isRunning(pid))
        }
    }

    @Test func badStartsAreRefusedClearlyAndChangeNothing() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([String(contentsOfFile: "\(repositoryRoot)/examples/payments-end-of-day.json", encoding: .utf8)])
            let cases: [(JSON, Status, String)] = [
                (.object([("flow", .string("payments/nightly"))]), .notFound, "unknown flow \"nightly\" of product \"payments\""),
                (.object([("flow", .string("treasury/end-of-day"))]), .notFound, "unknown product \"treasury\""),
                (.object([("flow", .string("payments/end-of-day")), ("params", .object([("regoin", .string("x"))]))]), .invalid,
                 "parameter \"regoin\" is not declared by payments/end-of-day (it declares: region)"),
            ]
            for (body, status, message) in cases {
                let reply = try client.call("start", body)
                #expect(reply.status == status)
                #expect(reply.errorText.contains(message), "\(reply.errorText)")
            }
            #expect(try client.call("runs").body["runs"]?.array?.isEmpty == true)
        }
    }

    @Test func malformedFramesAreDroppedAndCountedWhileEveryoneElseIsServed() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            let shard = try ZeroMQ.Socket(cluster.context, type: .dealer)
            try shard.connect(cluster.shardAddresses[0].work)
            let api = try ZeroMQ.Socket(cluster.context, type: .dealer)
            try api.connect(cluster.api[0])
            try shard.send(Array("not baton at all".utf8))
            try shard.send([0x42, 0x54, 0x4E, 0x01, 0x05, 0xFF])  // RESULTS cut short.
            try api.send([0x42, 0x54, 0x4E, 0x01, 0x7F])  // No such message.
            // A worker of another version is told so.
            try shard.send([0x42, 0x54, 0x4E, 0x02, 0x01])
            try shard.setReceiveTimeout(milliseconds: 5000)
            let reply = try #require(try shard.receive())
            guard case .disconnect(let disconnect) = try Message.decode(reply[0]) else { Issue.record("no DISCONNECT"); return }
            #expect(disconnect.status == .versionNotSupported)
            #expect(disconnect.reason == "protocol version 2 is not supported; this shard speaks 1")

            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([String(contentsOfFile: "\(repositoryRoot)/examples/payments-end-of-day.json", encoding: .utf8)])
            let status = try client.waitForRun(try client.start("payments/end-of-day"))
            #expect(status["run"]?["state"]?.string == "succeeded")
            #expect(cluster.counters["shard-1"]!.malformed == 3)
            #expect(cluster.counters["management"]!.malformed == 1)
        }
    }

    @Test func everyRouterAnswersAFrameOfAnotherVersionWithDisconnect505AndCountsIt() throws {
        try withTemporaryFolder { folder in
            let cluster = try EmbeddedCluster(EmbeddedCluster.Options(data: folder))
            defer { cluster.stop() }
            // Each ROUTER the protocol covers, the name it answers with, and the counters of its service.
            let routers = [
                (cluster.api[0], "this management service speaks 1", "management"),
                (cluster.orchestratorOps, "this orchestrator speaks 1", "orchestrator"),
                (cluster.shardAddresses[0].work, "this shard speaks 1", "shard-1"),
            ]
            for (endpoint, speaks, service) in routers {
                let before = cluster.counters[service]!.malformed
                let peer = try ZeroMQ.Socket(cluster.context, type: .dealer)
                defer { peer.close() }
                try peer.connect(endpoint)
                try peer.setReceiveTimeout(milliseconds: 5000)
                try peer.send([0x42, 0x54, 0x4E, 0x02, 0x30, 0x00])
                let reply = try #require(try peer.receive(), "\(service) did not answer")
                guard case .disconnect(let disconnect) = try Message.decode(reply[0]) else {
                    Issue.record("\(service) answered something other than DISCONNECT")
                    continue
                }
                #expect(disconnect.status == .versionNotSupported)
                #expect(disconnect.reason == "protocol version 2 is not supported; \(speaks)", "\(service)")
                #expect(cluster.counters[service]!.malformed == before + 1, "\(service) counted it")
            }
        }
    }
}
