import Core
import Foundation
import Runtime
import Synchronization

/// Asks the shards, through management's `queue`, when a task of each product queued now would start,
/// every 200 ms while the load runs: the estimates (US9268605) that `--estimates` then holds against
/// the waits that happened.
final class EstimateSampler: Sendable {
    /// One answer: when it was asked (ms since the epoch), and each product's estimate in ms (nil: none).
    struct Sample: Sendable {
        var time: UInt64
        var estimates: [String: Int64?]
    }

    static let interval: useconds_t = 200_000

    private let samples = Mutex<[Sample]>([])
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init(target: LoadTarget) {
        let endpoint = target.api
        let context = target.context
        // A Result, not `try?`, which would make a cluster without keys (nil) look like a key not read.
        let curve = Result { try target.apiCurve() }
        let thread = Thread { [self] in
            defer { finished.signal() }
            guard case .success(let curve) = curve, let client = try? APIClient(endpoint: endpoint, context: context, curve: curve) else { return }
            while !stopping.load(ordering: .relaxed) {
                let asked = UInt64(Date().timeIntervalSince1970 * 1000)
                if let reply = try? client.call("queue", .object([]), timeout: 5000), reply.status.isSuccess {
                    var estimates: [String: Int64?] = [:]
                    for shard in reply.body["shards"]?.array ?? [] {
                        for product in shard["products"]?.array ?? [] {
                            guard let name = product["product"]?.string else { continue }
                            estimates[name] = product["estimate"]?.integer
                        }
                    }
                    // The answer reflects the shard's state between the ask and the answer: stamped halfway.
                    let answered = UInt64(Date().timeIntervalSince1970 * 1000)
                    let sample = Sample(time: (asked + answered) / 2, estimates: estimates)
                    self.samples.withLock { $0.append(sample) }
                }
                usleep(Self.interval)
            }
        }
        thread.name = "estimates"
        thread.start()
    }

    /// Stops asking; returns every sample, oldest first.
    func stop() -> [Sample] {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
        return samples.withLock { $0 }
    }
}

/// The estimates held against what happened: for each job, the estimate for its product asked last
/// before it was queued (at most 250 ms before), against its wait (started − queued).
struct EstimateAccuracy {
    struct Group {
        var name: String
        /// Signed errors (wait − estimate), ms, sorted by size.
        var errors: [Double]
        /// The waits the errors are of, ms.
        var waits: [Double]

        var count: Int { errors.count }
        func absolute(_ fraction: Double) -> Double {
            let sizes = errors.map(abs).sorted()
            guard !sizes.isEmpty else { return 0 }
            return sizes[min(sizes.count - 1, Int(Double(sizes.count - 1) * fraction + 0.5))]
        }
        var bias: Double { errors.isEmpty ? 0 : errors.reduce(0, +) / Double(errors.count) }
        /// The share of estimates within max(100 ms, a quarter of the wait) of it.
        var close: Double {
            guard !errors.isEmpty else { return 0 }
            return Double(zip(errors, waits).count { abs($0) <= max(100, $1 / 4) }) / Double(errors.count)
        }
        var meanWait: Double { waits.isEmpty ? 0 : waits.reduce(0, +) / Double(waits.count) }
    }

    var groups: [Group]
    /// Jobs with no estimate to hold them against: none asked shortly before, or none could be made.
    var unmatched: Int

    init(samples: [EstimateSampler.Sample], jobs: [Observation.Job], products: [String], groupOf: (Int) -> String) {
        var byGroup: [String: Group] = [:]
        var order: [String] = []
        var unmatched = 0
        let times = samples.map(\.time)
        for job in jobs where job.record.queued > 0 && job.record.started > 0 {
            // The last sample at or before the job was queued.
            var low = 0, high = times.count
            while low < high {
                let middle = (low + high) / 2
                if times[middle] <= job.record.queued { low = middle + 1 } else { high = middle }
            }
            let name = products[job.product]
            guard low > 0, job.record.queued - times[low - 1] <= 250, let estimate = samples[low - 1].estimates[name] ?? nil else {
                unmatched += 1
                continue
            }
            let group = groupOf(job.product)
            if byGroup[group] == nil {
                byGroup[group] = Group(name: group, errors: [], waits: [])
                order.append(group)
            }
            let wait = Double(job.record.started - job.record.queued)
            byGroup[group]!.errors.append(wait - Double(estimate))
            byGroup[group]!.waits.append(wait)
        }
        groups = order.map { byGroup[$0]! }
        self.unmatched = unmatched
    }

    var lines: [String] {
        var lines = ["wait estimates (a task queued now starts in E, asked every 200 ms), against the waits that followed:"]
        lines.append("  PRODUCTS              JOBS   MEAN WAIT   |ERROR| p50     p90     p99   BIAS (wait − E)   WITHIN max(100 ms, 25%)")
        for group in groups {
            lines.append(
                "  " + group.name.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + String(format: "%8d %9.0f ms %9.0f %7.0f %7.0f %10.0f ms %18.1f%%", group.count, group.meanWait, group.absolute(0.5),
                        group.absolute(0.9), group.absolute(0.99), group.bias, group.close * 100))
        }
        if unmatched > 0 { lines.append("  \(unmatched) jobs had no estimate asked in the 250 ms before they were queued, or none could be made") }
        return lines
    }
}
