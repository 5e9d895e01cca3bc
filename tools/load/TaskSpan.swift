/// One task's time on a worker, as its shard recorded it, in milliseconds since the epoch.
struct TaskSpan {
    var run: UInt64
    var job: String
    /// When its job's tasks were queued at the shard.
    var queued: Int64
    /// When it was handed to a worker, and when it ended.
    var started: Int64
    var finished: Int64

    /// Its time within `window`, in milliseconds.
    func overlap(_ window: ClosedRange<Int64>) -> Int64 { max(0, min(finished, window.upperBound) - max(started, window.lowerBound)) }
}

extension [TaskSpan] {
    /// The end of the first of `runs` to end: its last task's end.
    func firstEnd(of runs: [UInt64]) -> Int64 {
        let ends = runs.map { run in self.filter { $0.run == run }.map(\.finished).max() ?? 0 }
        return ends.min() ?? 0
    }

    /// The first hand-out of any task of `runs`.
    func firstStart(of runs: [UInt64]) -> Int64 { filter { runs.contains($0.run) }.map(\.started).min() ?? 0 }

    /// While every one of `runs` had work: from the first hand-out to the end of the first of `ended`.
    func window(of runs: [UInt64], ended: [UInt64]) -> ClosedRange<Int64> {
        let start = firstStart(of: runs)
        return start...Swift.max(start, firstEnd(of: ended))
    }

    /// Each run's share of the worker time all of `runs` used within `window`.
    func shares(of runs: [UInt64], within window: ClosedRange<Int64>) -> [UInt64: Double] {
        var time: [UInt64: Int64] = [:]
        for span in self where runs.contains(span.run) { time[span.run, default: 0] += span.overlap(window) }
        let total = Double(time.values.reduce(0, +))
        return Dictionary(uniqueKeysWithValues: runs.map { ($0, total > 0 ? Double(time[$0] ?? 0) / total : 0) })
    }
}
