import Core
import Foundation
import Glibc
import Runtime
import Store
import Wire
import ZeroMQ

/// `baton bench --recovery`: how soon a shard that restarts with a deep queue hands out work again.
///
/// It fills one shard's store with `jobs` pending one-task jobs through the shard's own core and store
/// (the rows a shard writes for them, the event log's included), 10,000 a turn, with `durability full`.
/// Then it starts the shard as its own process (`baton shard --id 1`), with a worker already connecting to its
/// `work` socket, and measures from the start of the process to the first TASKS the worker receives, and
/// the process's resident memory then.
enum RecoveryBench {
    static func run(jobs: Int, longNames: Bool = false, keep: String?, console: any Console) throws(CommandFailure) -> ExitCode {
        let folder = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("baton-recovery-\(UUID().uuidString)").path
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: folder) } }
        var options = BenchOptions()
        options.shards = 1
        options.slots = 64  // The shape its figures were measured with.
        let config = "\(folder)/cluster.json"
        let cluster: ClusterConfiguration
        let store: String
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Bench.clusterFile(options, security: .none, data: "\(folder)/data").write(toFile: config, atomically: true, encoding: .utf8)
            cluster = try Cluster.load(config)
            let place = try ServicePlan.place(of: .shard(id: 1), in: cluster)
            try FileManager.default.createDirectory(atPath: place.folder, withIntermediateDirectories: true)
            store = DataLayout.shardStore(in: place.folder)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot prepare \(folder): \(error)")
        }
        console.out(
            "Baton recovery benchmark: a shard restarts with \(jobs) pending one-task jobs, durability full"
                + (longNames ? ", their product, flow and type named at length and two run parameters each" : ""))

        let began = Date()
        do {
            try fill(store, jobs: jobs, longNames: longNames)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot fill the shard's store: \(error)")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: store)[.size] as? Int) ?? 0
        console.out(String(format: "filled in %.1f s: a store of %.0f MB", Date().timeIntervalSince(began), Double(size) / 1_048_576))

        let measured = try restart(config: config, work: cluster.shards[0].work)
        // The store's pages the shard has mapped count as resident too; the kernel can take them back at
        // will, the heap it cannot.
        func said(_ memory: Memory) -> String {
            String(
                format: "%.0f MB resident (%.0f MB at most): %.0f MB its heap, %.0f MB files mapped; %.0f octets of heap a pending job",
                Double(memory.resident) / 1_048_576, Double(memory.peak) / 1_048_576, Double(memory.anonymous) / 1_048_576,
                Double(memory.file) / 1_048_576, Double(memory.anonymous) / Double(max(1, jobs)))
        }
        console.out(String(format: "first task handed out %.2f s after the shard's process started", measured.seconds))
        console.out("shard's memory then: \(said(measured.first))")
        console.out(String(format: "every job back in the queue %.2f s after the start", measured.wholeSeconds))
        console.out("shard's memory then: \(said(measured.whole))")
        return .success
    }

    /// Writes `jobs` pending one-task jobs into the shard store at `path`, as the shard would for the
    /// SUBMITs of 100 runs of jobs with no predecessor. With `longNames`, the product, flow and type are
    /// named as a bank might name them (24, 21 and 46 octets, each more than Swift keeps inline), and each
    /// job carries its run's two parameters.
    static func fill(_ path: String, jobs: Int, longNames: Bool = false) throws {
        let store = try ShardStore(path: path, synchronous: .full)
        let (epoch, snapshot) = try store.open()
        var now = Timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        var core = ShardCore(configuration: ShardConfiguration(shard: 1), epoch: epoch, restoring: snapshot, now: now)
        let perRun = max(1, jobs / 100)
        var made = 0
        while made < jobs {
            let batch = (made..<min(jobs, made + 10_000)).map { index in
                let run = UInt64(index / perRun + 1)
                // Each job's strings and parameters its own, as each decoded submission's are.
                let (product, flow) = longNames ? ("retail-payments-clearing", "end-of-day-settlement") : ("recovery", "queue")
                let params = longNames ? ["business_date": "2026-12-07", "region": "emea-north-\(run)"] : [:]
                return JobSpec(
                    run: run, job: "j\(index % perRun)", product: String(decoding: Array(product.utf8), as: UTF8.self),
                    flow: String(decoding: Array(flow.utf8), as: UTF8.self), moment: UInt64(now.milliseconds) * 1000,
                    type: product + "/" + flow, params: params, steps: [StepSpec(name: "j", kind: .handler, action: "noop")])
            }
            core.submitted(batch, lookup: SubmissionLookup(), now: now)
            _ = try store.commit(core.finishTurn(now: now), now: now)
            made += batch.count
            now = now.adding(milliseconds: 1)
        }
    }

    /// Starts the shard's process on `config` with a worker connecting to `work`; the time from its start
    /// to the worker's first TASKS, and the process's resident and peak memory then.
    /// When a restarted shard handed out its first task, and its memory then; and when its whole queue
    /// was back, and its memory then.
    struct Restart {
        var seconds: Double
        var first: Memory
        var whole: Memory
        var wholeSeconds: Double
    }

    /// A process's resident memory, its peak, and the resident memory of its heap (anonymous) and of the
    /// files it maps, in octets.
    typealias Memory = (resident: Int, peak: Int, anonymous: Int, file: Int)

    static func restart(config: String, work: String) throws(CommandFailure) -> Restart {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["shard", "--config", config, "--id", "1"]
        // The shard's log says when its whole queue is back (it serves the first jobs before).
        let log = "\((config as NSString).deletingLastPathComponent)/shard.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: log) ?? FileHandle.nullDevice
        do {
            let context = try Context()
            defer { context.shutdown() }
            let worker = try Socket(context, type: .dealer)
            defer { worker.close() }
            try worker.setLinger(milliseconds: 0)
            try worker.setReceiveTimeout(milliseconds: 500)
            // Connected before the shard binds: the READY waits in the pipe and is delivered once it does.
            try worker.connect(work)
            _ = try worker.send(Message.ready(Ready(worker: "recovery", session: 1, slots: 1, heartbeat: 60_000, handlers: ["noop"])).encoded())
            let started = Date()
            try process.run()
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            while Date().timeIntervalSince(started) < 120 {
                guard process.isRunning else {
                    throw CommandFailure(code: .failure, message: "the shard's process ended (status \(process.terminationStatus)) before it handed out a task")
                }
                guard let frames = try worker.receive(), let message = try? Message.decode(frames.last ?? []) else { continue }
                if case .tasks = message {
                    let seconds = Date().timeIntervalSince(started)
                    let first = memory(of: process.processIdentifier)
                    while Date().timeIntervalSince(started) < 120 && process.isRunning {
                        let said = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                        if said.contains("every job restored is back in the queue") {
                            let whole = memory(of: process.processIdentifier)
                            return Restart(seconds: seconds, first: first, whole: whole, wholeSeconds: Date().timeIntervalSince(started))
                        }
                        _ = try worker.receive()  // Waits up to the receive timeout, taking the tasks handed out meanwhile.
                    }
                    throw CommandFailure(code: .failure, message: "the shard did not say its whole queue was back within 120 s of its start")
                }
            }
            throw CommandFailure(code: .failure, message: "the shard handed out no task within 120 s of its start")
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(code: .failure, message: "cannot restart the shard: \(error)")
        }
    }

    /// A process's ``Memory``, from `/proc`.
    static func memory(of pid: Int32) -> Memory {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func kilobytes(_ field: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }) else { return 0 }
            return (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0) * 1024
        }
        return (kilobytes("VmRSS:"), kilobytes("VmHWM:"), kilobytes("RssAnon:"), kilobytes("RssFile:") + kilobytes("RssShmem:"))
    }
}
