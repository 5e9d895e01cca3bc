public import Core
import Foundation
import Glibc
import Wire

/// The options of `baton bench --selection`.
public struct SelectionBenchOptions: Equatable, Sendable {
    /// Products with work waiting.
    public var products = 10_000
    /// Tasks waiting per product, kept topped up.
    public var backlog = 20
    /// Tasks one worker request asks for: its credit.
    public var batch = 64
    /// Worker requests measured.
    public var requests = 20_000
    public var fairness = Fairness.fair
    /// Slots held back for products under their share; when given, the worker's credit is all the
    /// shard's free slots, and each request's tasks run until after the next request.
    public var headroom: Int?

    public init() {}
}

/// `baton bench --selection`: the shard's choice of tasks for one worker request, in-process, on the
/// same FairQueue the shard runs. Every product has a backlog; a tenth of them are capped and a tenth
/// rate-limited, their job types' costs differ (1 to 50 ms), a fifth of their tasks need a tag the
/// worker has, and every task handed out ends and is replaced before the next request, so the queue
/// stays as full as it started.
enum SelectionBench {
    static func run(_ options: SelectionBenchOptions, console: any Console) -> ExitCode {
        var tuning = FairQueue.Tuning()
        tuning.fairness = options.fairness
        tuning.headroom = options.headroom ?? 0
        var queue = FairQueue(tuning: tuning)
        var now = Timestamp(milliseconds: 1_800_000_000_000)
        let plain = Requirement(kind: .command, handler: "", tags: [])
        let tagged = Requirement(kind: .command, handler: "", tags: ["ssd"])
        let worker = Capabilities(commands: true, handlers: [], tags: ["ssd"])
        var owner: [UInt64] = []  // Task ID → product index.
        var pending = Set<UInt64>()
        var next: UInt64 = 0
        func add(_ product: Int, count: Int) {
            var batch: [(task: UInt64, order: UInt64, ticket: UInt32)] = []
            for _ in 0..<count {
                batch.append((next, next, 1))
                owner.append(UInt64(product))
                pending.insert(next)
                next += 1
            }
            let work = FairQueue.Work(
                product: "p\(product)", requirement: product % 5 == 0 ? tagged : plain, type: "type-\(product % 50)",
                priority: Int16(product % 3))
            queue.enqueue(batch, as: work, now: now)
        }
        for product in 0..<options.products {
            if product % 10 == 1 { queue.setPolicy(ProductPolicy(product: "p\(product)", cap: 4), now: now) }
            if product % 10 == 2 { queue.setPolicy(ProductPolicy(product: "p\(product)", rate: 36_000, burst: 2), now: now) }
            add(product, count: options.backlog)
        }
        var times: [Double] = []
        times.reserveCapacity(options.requests)
        var handed = 0
        var running: [(task: UInt64, charge: FairQueue.Charge)] = []
        func end(_ tasks: [(task: UInt64, charge: FairQueue.Charge)]) {
            for (task, charge) in tasks {
                let product = Int(owner[Int(task)])
                let duration = Int64(product % 50 + 1)
                queue.measured(charge, duration: duration)
                queue.ended(charge, ran: duration, now: now)
                add(product, count: 1)
            }
        }
        for _ in 0..<options.requests {
            now = now.adding(milliseconds: 1)
            let free = options.headroom == nil ? nil : options.batch
            let start = monotonic()
            let picks = queue.select(limit: options.batch, capabilities: worker, free: free, now: now) { task, _ in pending.contains(task) }
            times.append(monotonic() - start)
            let tasks = picks.flatMap { pick in pick.tasks.map { ($0, pick.charge) } }
            for (task, _) in tasks { pending.remove(task) }
            handed += tasks.count
            if options.headroom == nil {
                end(tasks)
            } else {
                end(running)
                running = tasks
            }
        }
        times.sort()
        func percentile(_ p: Double) -> Double { times[min(times.count - 1, Int(Double(times.count) * p))] * 1e6 }
        let mean = times.reduce(0, +) / Double(times.count) * 1e6
        console.out(
            "selection (\(options.fairness.rawValue)\(options.headroom.map { ", headroom \($0)" } ?? "")): \(options.products) products with \(options.backlog) tasks waiting each, "
                + "\(options.requests) worker requests of \(options.batch) tasks")
        console.out(
            String(format: "  per request: mean %.1f µs, p50 %.1f µs, p99 %.1f µs, max %.1f µs; %.2f µs per task handed out (%d handed out)",
                mean, percentile(0.5), percentile(0.99), (times.last ?? 0) * 1e6, mean * Double(options.requests) / Double(max(handed, 1)), handed))
        return .success
    }

    static func monotonic() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
