import Core
import Foundation
import Runtime
import Synchronization

/// The options of `baton bench --listings`.
public struct ListingBenchOptions: Equatable, Sendable {
    /// Products, and flows spread over them.
    public var products = 10_000
    public var flows = 100_000
    /// Runs started before the listings are measured, and starts timed against them.
    public var runs = 2000
    public var starts = 300
    /// Where to keep the cluster's data; a temporary folder, removed afterwards, if nil.
    public var keep: String?

    public init() {}
}

/// `baton bench --listings`: a cluster of processes holding many products and flows. It times the first
/// page of `products`, `flows` and `runs`, and `start`, alone and while another client lists without
/// pause: management answers one request at a time, so a listing must not hold up a start.
enum ListingBench {
    static func run(_ options: ListingBenchOptions, console: any Console) throws(CommandFailure) -> ExitCode {
        let folder = options.keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("baton-listings-\(UUID().uuidString)").path
        defer { if options.keep == nil { try? FileManager.default.removeItem(atPath: folder) } }
        var bench = BenchOptions()
        bench.workers = 1
        bench.slots = 64  // The shape its figures were measured with.
        let (config, cluster) = try up(in: folder) { try Bench.clusterFile(bench, security: .keys, data: $0) }
        defer { _ = try? Up.down(config: config, console: SilentConsole()) }
        let client = try connect(cluster)
        console.out("Baton listings benchmark: \(options.products) products, \(options.flows) flows, \(options.runs) runs, CURVE on")

        // The products and flows, applied a thousand flows at a time.
        let clock = ContinuousClock()
        let applying = clock.now
        var batch: [JSON] = []
        for index in 0..<options.flows {
            let product = "product-\(index % options.products)"
            let text = JSON.object([
                ("product", .string(product)), ("flow", .string("flow-\(index / options.products)")),
                ("jobs", .array([.object([("name", .string("only")), ("handler", .string("noop")), ("type", .string("noop"))])])),
            ]).rendered()
            batch.append(.object([("path", .string("\(product)/\(index)")), ("text", .string(text))]))
            if batch.count == 1000 || index == options.flows - 1 {
                let reply = try call(client, "apply", .object([("files", .array(batch))]), timeout: 120_000)
                guard reply.status == .ok else { throw CommandFailure(code: .failure, message: "apply failed: \(reply.errorText)") }
                batch = []
            }
        }
        console.out(String(format: "applied in %.1f s", seconds(since: applying, clock)))
        for index in 0..<options.runs {
            _ = try call(client, "start", .object([("flow", .string("product-\(index % options.products)/flow-0"))]))
        }

        // Each listing's first page, and start, alone.
        let requests: [(String, JSON)] = [
            ("products", .object([])), ("flows", .object([])), ("runs", .object([])),
        ]
        var alone: [String: [Double]] = [:]
        for _ in 0..<20 {
            for (method, body) in requests { alone[method, default: []].append(try timed(client, method, body)) }
        }
        for index in 0..<options.starts {
            alone["start", default: []].append(try timed(client, "start", .object([("flow", .string("product-\(index % options.products)/flow-0"))])))
        }

        // Start again, while another client asks for the listings without pause.
        let lister = try connect(cluster)
        let stop = Atomic<Bool>(false)
        let listed = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        let listerBox = ClientBox(client: lister)
        Thread.detachNewThread {
            while !stop.load(ordering: .acquiring) {
                for (method, body) in requests where (try? listerBox.client.call(method, body)) != nil { listed.add(1, ordering: .relaxed) }
            }
            done.signal()
        }
        var contended: [Double] = []
        for index in 0..<options.starts {
            contended.append(try timed(client, "start", .object([("flow", .string("product-\(index % options.products)/flow-0"))])))
        }
        stop.store(true, ordering: .releasing)
        done.wait()

        console.out("first page, alone (20 of each; start \(options.starts)):")
        for method in ["products", "flows", "runs", "start"] { console.out(line(method, alone[method] ?? [])) }
        console.out("start while another client listed without pause (\(listed.load(ordering: .relaxed)) listings meanwhile):")
        console.out(line("start", contended))
        return .success
    }

    /// Holds a client for the listing thread, its only user.
    /// Writes the cluster file `text(data folder)` in `folder` and starts its processes with `baton up`;
    /// returns the file's path and the cluster. The caller takes it down.
    static func up(in folder: String, _ text: (_ data: String) throws -> String) throws(CommandFailure) -> (config: String, cluster: ClusterConfiguration) {
        let config = "\(folder)/cluster.json"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try text("\(folder)/data").write(toFile: config, atomically: true, encoding: .utf8)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot prepare \(folder): \(error)")
        }
        let cluster = try Cluster.load(config)
        _ = try Up.up(config: config, console: SilentConsole())
        return (config, cluster)
    }

    private struct ClientBox: @unchecked Sendable { let client: APIClient }

    static func connect(_ cluster: ClusterConfiguration) throws(CommandFailure) -> APIClient {
        do {
            return try APIClient(endpoint: cluster.management.api, curve: try ClusterKeys.client(of: cluster, key: nil))
        } catch {
            throw CommandFailure(code: .unavailable, message: "\(error)")
        }
    }

    static func call(_ client: APIClient, _ method: String, _ body: JSON, timeout: Int = 10_000) throws(CommandFailure) -> APIClient.Reply {
        do {
            return try client.call(method, body, timeout: timeout)
        } catch {
            throw CommandFailure(code: .unavailable, message: "\(method): \(error)")
        }
    }

    /// How long one call took, in milliseconds; it must succeed.
    static func timed(_ client: APIClient, _ method: String, _ body: JSON) throws(CommandFailure) -> Double {
        let clock = ContinuousClock()
        let begun = clock.now
        let reply = try call(client, method, body)
        guard reply.status.isSuccess else { throw CommandFailure(code: .failure, message: "\(method) failed: \(reply.errorText)") }
        return seconds(since: begun, clock) * 1000
    }

    static func seconds(since instant: ContinuousClock.Instant, _ clock: ContinuousClock) -> Double {
        let elapsed = clock.now - instant
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func line(_ label: String, _ values: [Double]) -> String {
        String(
            format: "  %@ p50 %.2f ms, p99 %.2f ms, max %.2f ms", label.padding(toLength: 9, withPad: " ", startingAt: 0), Bench.percentile(values, 0.5), Bench.percentile(values, 0.99),
            values.max() ?? 0)
    }
}
