import Core
import Foundation
import Glibc
import Runtime

/// `baton dev`: every service in this process until Ctrl-C.
enum Dev {
    static func run(_ options: DevOptions, console: any Console) throws(CommandFailure) -> ExitCode {
        let lock = try DataLock(options.data)
        defer { lock.release() }
        // Block the stop signals before any service thread starts, so that threads inherit the mask and
        // only this thread receives them, through sigtimedwait.
        var signals = StopSignals()
        var cluster: EmbeddedCluster
        var settings = EmbeddedCluster.Options(data: options.data)
        settings.shards = options.shards
        settings.workers = options.workers
        settings.slots = options.slots
        settings.api = "tcp://127.0.0.1:\(options.port == 0 ? "*" : String(options.port))"
        settings.log = options.quiet ? .warning : .info
        do {
            cluster = try EmbeddedCluster(settings)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot start: \(error)")
        }
        let endpoint = cluster.api.last ?? ""
        let file = "\(options.data)/api"
        do {
            try (endpoint + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            cluster.stop()
            throw CommandFailure(code: .failure, message: "cannot write \(file): \(error)")
        }
        console.out("""
            Baton is running: \(options.shards) shard\(options.shards == 1 ? "" : "s"), \(options.workers) worker\(options.workers == 1 ? "" : "s") × \(options.slots) slots, data in \(options.data)/
            management API: \(endpoint)  (written to \(file))
            Try:  baton apply examples/payments-end-of-day.json
                  baton start payments/end-of-day --wait
            Press Ctrl-C to stop.
            """)
        var code = ExitCode.success
        while true {
            if let signal = signals.wait(milliseconds: 500) {
                console.out("\nstopping (\(signal == SIGINT ? "interrupt" : "terminate"))")
                break
            }
            if let failure = cluster.failure {
                console.err("baton: \(failure.name) stopped: \(failure.error)")
                code = .failure
                break
            }
        }
        cluster.stop()
        try? FileManager.default.removeItem(atPath: file)
        return code
    }
}

/// SIGINT, SIGTERM and SIGHUP, blocked in every thread and taken synchronously by one.
struct StopSignals {
    private var set = sigset_t()

    init() {
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The signal received, or nil after `milliseconds`.
    mutating func wait(milliseconds: Int) -> Int32? {
        var timeout = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        let signal = sigtimedwait(&set, nil, &timeout)
        return signal > 0 ? signal : nil
    }
}

/// An exclusive lock on a data folder, so that two processes never share its stores.
final class DataLock {
    private var descriptor: Int32

    init(_ folder: String) throws(CommandFailure) {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot create \(folder): \(error.localizedDescription)")
        }
        descriptor = open("\(folder)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CommandFailure(code: .failure, message: "cannot open \(folder)/lock: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw CommandFailure(code: .failure, message: "another Baton process is using \(folder) (it holds \(folder)/lock); stop it first")
        }
    }

    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }
}
