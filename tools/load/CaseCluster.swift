import Core
import Foundation
import Runtime
import Store
import Wire
import ZeroMQ

/// The embedded cluster one fairness case runs on, in a temporary folder, and what the case does to it
/// through the management API; after ``stop()``, the tasks its shards recorded.
final class CaseCluster {
    /// A run to start: its flow, parameters and priority (1 to 5; nil for the default).
    struct Start {
        var flow: String
        var params: [String: String] = [:]
        var priority: Int?
    }

    let folder: String
    let shards: Int
    private var cluster: EmbeddedCluster?
    private var client: APIClient?

    init(shards: Int = 1, workers: Int = 4, slots: Int = 4, headroom: Int) throws(LoadFailure) {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-fairness-\(UUID().uuidString)").path
        self.shards = shards
        var options = EmbeddedCluster.Options(data: folder)
        options.shards = shards
        options.workers = workers
        options.slots = slots
        options.headroom = headroom
        options.timer = false
        options.api = nil
        // The shards log each starving episode as a warning: counted here instead, off the report.
        options.log = .error
        do {
            let cluster = try EmbeddedCluster(options)
            self.cluster = cluster
            client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
        } catch {
            close()
            throw LoadFailure(.unavailable, "cannot start an embedded cluster in \(folder): \(error)")
        }
    }

    /// Calls management; a refusal is a failure of the case.
    @discardableResult
    func call(_ method: String, _ body: JSON) throws(LoadFailure) -> JSON {
        guard let client else { throw LoadFailure(.failure, "the cluster has stopped") }
        let reply: APIClient.Reply
        do {
            reply = try client.call(method, body)
        } catch {
            throw LoadFailure(.unavailable, "\(method): \(error)")
        }
        guard reply.status.isSuccess else { throw LoadFailure(.unavailable, "management refused \(method):\n\(reply.errorText)") }
        return reply.body
    }

    /// Applies flow files given as JSON, in one `apply`.
    func apply(_ flows: [JSON]) throws(LoadFailure) {
        let files = flows.enumerated().map { index, flow in
            JSON.object([("path", .string("fairness/flow\(index).json")), ("text", .string(flow.rendered()))])
        }
        try call("apply", .object([("files", .array(files))]))
    }

    /// Sets a product's policy: `fields` as `set-policy` takes them.
    func setPolicy(_ product: String, _ fields: [(String, JSON)]) throws(LoadFailure) {
        try call("set-policy", .object([("product", .string(product))] + fields + [("actor", .string("baton-load"))]))
    }

    /// The shard each product is bound to.
    func bindings() throws(LoadFailure) -> [String: Int] {
        let products = try call("products", .object([]))["products"]?.array ?? []
        return Dictionary(products.map { ($0["product"]?.string ?? "", Int($0["shard"]?.integer ?? 0)) }) { first, _ in first }
    }

    /// Starts the runs all at once, their requests pipelined on one connection, so that management
    /// takes them together and no product's work reaches the shard a turn before the others'.
    /// Returns their IDs, in the order given.
    func start(_ starts: [Start]) throws(LoadFailure) -> [UInt64] {
        guard let cluster else { throw LoadFailure(.failure, "the cluster has stopped") }
        do {
            let socket = try Socket(cluster.context, type: .dealer)
            defer { socket.close() }
            try socket.setMaxMessageSize(Int64(Limits.frame + 1024))
            try socket.connect(cluster.api[0])
            for (index, start) in starts.enumerated() {
                var body: [(String, JSON)] = [("flow", .string(start.flow)), ("params", .strings(start.params))]
                if let priority = start.priority { body.append(("priority", .number(priority))) }
                let request = APIRequest(request: UInt64(index + 1), method: "start", body: JSON.object(body).rendered())
                guard try socket.send(Message.apiRequest(request).encoded(), dontWait: false) else {
                    throw LoadFailure(.unavailable, "cannot send a start to management")
                }
            }
            var runs = [UInt64?](repeating: nil, count: starts.count)
            var poller = Poller()
            _ = poller.add(socket)
            let deadline = Handlers.microseconds() + 10_000_000
            while runs.contains(nil) {
                guard Handlers.microseconds() < deadline else { throw LoadFailure(.unavailable, "management did not answer a start within 10 s") }
                _ = try poller.poll(timeoutMilliseconds: 100)
                while let frames = try socket.receive(dontWait: true) {
                    guard frames.count == 1, case .apiReply(let reply)? = try? Message.decode(frames[0]),
                        (1...UInt64(starts.count)).contains(reply.request)
                    else { continue }
                    let body = (try? JSONParser.parse(reply.body)) ?? .object([])
                    guard reply.status.isSuccess, let run = body["run"]?.integer else {
                        throw LoadFailure(.unavailable, "management refused to start \(starts[Int(reply.request) - 1].flow): \(reply.body)")
                    }
                    runs[Int(reply.request) - 1] = UInt64(run)
                }
            }
            return runs.compactMap { $0 }
        } catch let failure as LoadFailure {
            throw failure
        } catch {
            throw LoadFailure(.unavailable, "cannot start runs: \(error)")
        }
    }

    /// Waits until at least one of `runs` has ended (asking every 20 ms); returns those that have.
    /// A run that did not succeed, or no end within `limit` seconds, fails the case.
    func waitForFirstEnd(of runs: [UInt64], limit: Double) throws(LoadFailure) -> [UInt64] {
        let deadline = Date().addingTimeInterval(limit)
        while Date() < deadline {
            var ended: [UInt64] = []
            for run in runs {
                let state = try call("status", .object([("run", .number(run))]))["run"]?["state"]?.string ?? ""
                switch state {
                case "succeeded": ended.append(run)
                case "failed", "stopped": throw LoadFailure(.failure, "run \(run) \(state)")
                default: break
                }
            }
            if !ended.isEmpty { return ended }
            if let failure = cluster?.failure { throw LoadFailure(.failure, "\(failure.name) stopped: \(failure.error)") }
            usleep(20_000)
        }
        throw LoadFailure(.failure, "none of runs \(runs.map(String.init).joined(separator: ", ")) ended within \(Int(limit)) s")
    }

    /// Starving episodes the shards have counted.
    var starvingEpisodes: Int {
        guard let cluster else { return 0 }
        return (1...shards).reduce(0) { $0 + (cluster.counters["shard-\($1)"]?.starving ?? 0) }
    }

    /// Stops the cluster, whatever work is left, and reads back every task its shards handed out; a task
    /// still running then ends at the moment of the stop.
    func stop() throws(LoadFailure) -> [TaskSpan] {
        let stopped = SystemClock().now().milliseconds
        if let failure = cluster?.failure { throw LoadFailure(.failure, "\(failure.name) stopped: \(failure.error)") }
        client = nil
        cluster?.stop()
        cluster = nil
        var spans: [TaskSpan] = []
        for shard in 1...shards {
            let path = DataLayout.shardStore(in: DataLayout.shard(UInt32(shard), under: folder))
            do {
                let store = try ShardStore(path: path)
                defer { store.database.close() }
                let rows = try store.database.prepare(
                    "SELECT j.run, j.job, j.queued, t.started, t.finished FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.started > 0")
                defer { rows.reset() }
                while try rows.step() {
                    let finished = rows.int64(4)
                    spans.append(
                        TaskSpan(
                            run: UInt64(rows.int64(0)), job: rows.text(1), queued: rows.int64(2), started: rows.int64(3),
                            finished: finished > 0 ? finished : stopped))
                }
            } catch {
                throw LoadFailure(.failure, "cannot read \(path): \(error)")
            }
        }
        return spans
    }

    /// Stops the cluster if it still runs and removes its folder.
    func close() {
        client = nil
        cluster?.stop()
        cluster = nil
        try? FileManager.default.removeItem(atPath: folder)
    }

    deinit { close() }
}
