import Core
import Wire

/// Fair dispatch, checked once faults stop: products with deep backlogs on one shard get worker time in
/// proportion to their weights, within the bound `docs/api.md` states.
///
/// The workload applies two backlog products for each shard, sets their weights, and starts one run of
/// each: a job of many partitions whose tasks run for a time drawn per product, so that their costs
/// differ. The check watches each shard's committed turns: when each attempt of every product was leased
/// and when it ended. For each pair of backlog products on one shard, the window runs from when both have
/// had a result (each type's cost is measured) until either has handed out its last partition once (to
/// then, it had tasks queued: it was backlogged). Over the window, and over each of its halves and
/// quarters (the bound holds over any stretch), with W each one's worker time in it and w its weight:
///
///     |W_A / w_A − W_B / w_B| ≤ (2 (1 + S) + e) × d / min(w_A, w_B)
///
/// S is the most tasks of the two running at once in the window, e the sum of their tasks running at its
/// two edges, and d the longest run time of a task of theirs: the shard serves the product of the lowest
/// pass (worker time over weight), so their passes part by at most a task's charge and the corrections
/// of the tasks out, and the worker time in a window differs from what the passes count by the tasks cut
/// by its edges.
final class FairnessCheck {
    /// The backlog products' weights, as management confirmed them; their runs, by run ID, with whether
    /// each is the warm-up.
    var weights: [String: UInt32] = [:]
    private var runs: [UInt64: (product: String, warmUp: Bool)] = [:]
    /// Partitions of each backlog run.
    let partitions: Int
    /// Whether the backlog phase began: attempts are recorded from then on.
    private(set) var watching = false

    private struct Attempt {
        var product: String
        var attempt: UInt16
        var leased: Int64
    }
    private struct Interval {
        var product: String
        var from: Int64
        var to: Int64
    }
    private struct TaskKey: Hashable {
        var shard: UInt32
        var task: UInt64
    }

    private var running: [TaskKey: Attempt] = [:]
    /// Every attempt of a backlog product that ended on each shard, in order of ending.
    private var ended: [UInt32: [Interval]] = [:]
    /// The partitions of each backlog product handed out at least once, by shard; when it handed out its
    /// last, and when its first attempt ended.
    private var handedOut: [UInt32: [String: Set<UInt64>]] = [:]
    private var exhausted: [UInt32: [String: Int64]] = [:]
    private var firstEnd: [UInt32: [String: Int64]] = [:]
    /// When each backlog product's warm-up task first ended, and its backlog's first task went out, by
    /// shard: a product whose cost was not measured before its backlog began is not checked.
    private var measured: [UInt32: [String: Int64]] = [:]
    private var firstLease: [UInt32: [String: Int64]] = [:]

    /// The pairs checked, and the largest share of its bound any pair used, for the report.
    private(set) var pairs = 0
    private(set) var worst = 0.0

    init(partitions: Int) { self.partitions = partitions }

    func begin() { watching = true }

    /// A shard's turn committed at `now` (virtual time): the backlog products' attempts leased and ended.
    func committed(_ turn: ShardTurn, shard: UInt32, now: Int64) {
        guard watching else { return }
        // A backlog product's run is known by its jobs, which the shard stores (or logs) before it hands out their tasks.
        for job in turn.jobs + turn.submissions where job.spec.product.hasPrefix("backlog-") && runs[job.spec.run] == nil {
            runs[job.spec.run] = (job.spec.product, job.spec.flow == "warm-up")
        }
        for task in turn.tasks + turn.leases {
            guard let (product, warmUp) = runs[task.job.run] else { continue }
            let key = TaskKey(shard: shard, task: task.id)
            if let open = running[key], task.state != .running || task.attempt != open.attempt {
                running[key] = nil
                ended[shard, default: []].append(Interval(product: open.product, from: open.leased, to: now))
                if warmUp {
                    if measured[shard]?[product] == nil { measured[shard, default: [:]][product] = now }
                } else if firstEnd[shard]?[product] == nil {
                    firstEnd[shard, default: [:]][product] = now
                }
            }
            guard task.state == .running, task.lease != nil, running[key] == nil else { continue }
            running[key] = Attempt(product: product, attempt: task.attempt, leased: now)
            if warmUp { continue }
            if firstLease[shard]?[product] == nil { firstLease[shard, default: [:]][product] = now }
            if handedOut[shard, default: [:]][product, default: []].insert(task.id).inserted,
                handedOut[shard]?[product]?.count == partitions
            {
                exhausted[shard, default: [:]][product] = now
            }
        }
    }

    /// At the end: each pair of backlog products on one shard within the bound. Nil if all are.
    func finalCheck() -> String? {
        for shard in handedOut.keys.sorted() {
            let products = (handedOut[shard] ?? [:]).keys.filter { weights[$0] != nil }.sorted()
            let intervals = ended[shard] ?? []
            for (i, a) in products.enumerated() {
                for b in products[(i + 1)...] {
                    let theirs = intervals.filter { $0.product == a || $0.product == b }
                    if let violation = check(a, b, on: shard, intervals: theirs) { return violation }
                }
            }
        }
        return nil
    }

    /// The pair `a` and `b` on `shard`, from the attempts of theirs that ended there.
    private func check(_ a: String, _ b: String, on shard: UInt32, intervals: [Interval]) -> String? {
        guard let firstA = firstEnd[shard]?[a], let firstB = firstEnd[shard]?[b] else { return nil }
        for product in [a, b] {
            guard let measured = measured[shard]?[product], let lease = firstLease[shard]?[product], measured < lease else { return nil }
        }
        let ends = [exhausted[shard]?[a], exhausted[shard]?[b]].compactMap { $0 }
        guard let to = ends.min() else { return nil }
        let from = max(firstA, firstB)
        // Too short a window says nothing: its bound is larger than what it holds.
        guard to - from >= 10_000 else { return nil }
        pairs += 1
        // The bound holds over any stretch: the window, its halves and its quarters are each checked.
        let length = to - from
        var windows = [(from, to)]
        for parts in [2, 4] where length / Int64(parts) >= 10_000 {
            for part in 0..<Int64(parts) { windows.append((from + length * part / Int64(parts), from + length * (part + 1) / Int64(parts))) }
        }
        for (start, end) in windows {
            if let violation = measure(a, b, on: shard, intervals: intervals, from: start, to: end, within: (from, to)) { return violation }
        }
        return nil
    }

    /// The pair's worker time over weight in the stretch `from` to `to` against the bound; a violation's
    /// description, naming the stretch within the whole window `within` when it is a part of it.
    private func measure(
        _ a: String, _ b: String, on shard: UInt32, intervals: [Interval], from: Int64, to: Int64, within window: (from: Int64, to: Int64)
    ) -> String? {
        var served = [a: 0.0, b: 0.0]
        var edges = 0
        var points: [(time: Int64, change: Int)] = []
        let longest = intervals.map { $0.to - $0.from }.max() ?? 0
        for interval in intervals {
            let start = max(interval.from, from)
            let end = min(interval.to, to)
            guard end > start else { continue }
            served[interval.product, default: 0] += Double(end - start)
            if interval.from < from { edges += 1 }
            if interval.to > to { edges += 1 }
            points.append((start, 1))
            points.append((end, -1))
        }
        // The most running at once: ends before starts at one instant.
        var concurrent = 0
        var most = 0
        for point in points.sorted(by: { ($0.time, $0.change) < ($1.time, $1.change) }) {
            concurrent += point.change
            most = max(most, concurrent)
        }
        let wa = Double(weights[a] ?? 1)
        let wb = Double(weights[b] ?? 1)
        let gap = abs(served[a]! / wa - served[b]! / wb)
        let bound = Double(2 * (1 + most) + edges) * Double(longest) / min(wa, wb)
        worst = max(worst, gap / bound)
        guard gap > bound else { return nil }
        let seconds = { (value: Double) in String(format: "%.1f s", value / 1000) }
        let stretch = (from, to) == window
            ? "in the \(seconds(Double(to - from))) both were backlogged"
            : "in the \(seconds(Double(to - from))) from \(seconds(Double(from - window.from))) into the \(seconds(Double(window.to - window.from))) both were backlogged"
        return "on shard-\(shard), \(a) (weight \(Int(wa))) had \(seconds(served[a]!)) of worker time and \(b) (weight \(Int(wb))) "
            + "\(seconds(served[b]!)) \(stretch): they differ by \(seconds(gap)) a weight, "
            + "over the bound of \(seconds(bound)) (\(most) running at most, \(edges) cut by the stretch, tasks up to \(longest) ms)"
    }
}
