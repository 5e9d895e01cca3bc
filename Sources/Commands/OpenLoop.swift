import Core
import Foundation
import Runtime
import Store

/// The open-loop phases of `baton bench`: runs started at a fixed rate, whatever the cluster does, at
/// 25%, 50% and 90% of the throughput just measured, each for `--open-loop` seconds. Each run is 50
/// pairs of `stamp` jobs, so each phase yields steps (a job's successor handed out after it) and queue
/// waits (a job started after it was queued) under a load that is not saturating.
enum OpenLoop {
    static let pairs = 50
    static let fractions = [0.25, 0.5, 0.9]

    static func measure(_ options: BenchOptions, cluster: ClusterConfiguration, client: Client, capacity: Double, console: any Console) throws(CommandFailure) {
        console.out(String(format: "open loop: runs of %d steps started at a fixed rate, %d s at each load, of the %.0f jobs/s measured:", pairs, options.openLoop, capacity))
        var rows = [["LOAD", "JOBS/S ASKED", "STARTED", "STEP p50", "p99", "p99.9", "QUEUE WAIT p50", "p99", "p99.9"]]
        for fraction in fractions {
            let runsPerSecond = capacity * fraction / Double(pairs * 2)
            let watch: SuccessWatch
            do {
                watch = try SuccessWatch(cluster)
            } catch {
                throw CommandFailure(code: .failure, message: "cannot watch the shards' events: \(error)")
            }
            // Each start at its moment; one late (the API slow) goes at once, and the next keep their moments.
            let count = max(1, Int((runsPerSecond * Double(options.openLoop)).rounded()))
            let began = Date()
            var runs: [UInt64] = []
            for index in 0..<count {
                let due = began.addingTimeInterval(Double(index) / runsPerSecond)
                let wait = due.timeIntervalSinceNow
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
                let body = try client.call("start", .object([("flow", .string("bench\(index % options.shards + 1)/pairs"))]))
                if let run = body["run"]?.integer { runs.append(UInt64(run)) }
            }
            let achieved = Double(runs.count * pairs * 2) / max(Date().timeIntervalSince(began), 0.001)
            _ = try Bench.waitAll(runs, client: client)
            let published = watch.stop()
            var latencies = StepLatencies()
            var waits: [Double] = []
            for shard in cluster.shards {
                try latencies.read(store: "\(shard.data)/shard.db", runs: Set(runs), length: 2, published: published)
                waits += try queueWaits(store: "\(shard.data)/shard.db", runs: Set(runs))
            }
            let steps = latencies.handedAfterPublished
            func ms(_ values: [Double], _ fraction: Double) -> String { String(format: "%.2f ms", Bench.percentile(values, fraction)) }
            rows.append([
                "\(Int(fraction * 100))%", String(format: "%.0f (%.0f)", capacity * fraction, achieved), String(runs.count * pairs * 2),
                ms(steps, 0.5), ms(steps, 0.99), ms(steps, 0.999), ms(waits, 0.5), ms(waits, 0.99), ms(waits, 0.999),
            ])
        }
        for line in Formatting.table(rows) { console.out("  " + line) }
        console.out("  (a step: the predecessor's success published → the successor handed to a worker; in brackets, the rate achieved)")
    }

    /// Each job's wait in the queue, in milliseconds: handed to a worker after it was queued.
    static func queueWaits(store path: String, runs: Set<UInt64>) throws(CommandFailure) -> [Double] {
        do {
            let store = try ShardStore(path: path)
            defer { store.database.close() }
            let rows = try store.database.prepare("SELECT run, started - queued FROM jobs WHERE started > 0 AND queued > 0 AND job LIKE 'p%'")
            defer { rows.reset() }
            var waits: [Double] = []
            while try rows.step() {
                if runs.contains(UInt64(rows.int64(0))) { waits.append(Double(rows.int64(1))) }
            }
            return waits
        } catch {
            throw CommandFailure(code: .failure, message: "cannot read \(path): \(error)")
        }
    }
}
