import Foundation
import Glibc
import Runtime

/// `baton up` and `baton down`: a one-machine cluster as background processes.
///
/// Each process is started with its output appended to `<data>/logs/<name>.log`, in a process group of
/// its own (so a Ctrl-C in this terminal does not reach it), and with a pipe on descriptor 3 on which
/// it writes "ready" once its sockets are bound and its store is open. Its PID goes to
/// `<data>/run/<name>.pid`, which `down` reads.
///
/// Management, the orchestrator and the workers read the cluster's shards at their start. `up` records,
/// in `<data>/run/<name>.shards`, the shards each was started with; a later `up` after the cluster file
/// gained (or changed) a shard restarts those whose shards changed, so that adding a shard is: name it in
/// the file, and `baton up`. Each survives its restart, as every Baton process does. A file that drops a
/// shard products are still bound to is refused before anything starts or stops, as management would
/// refuse it at its start.
enum Up {
    struct Process {
        var name: String
        var arguments: [String]
        /// How to tell that it runs: by the lock of the folder it holds, or, for a process an earlier
        /// release started under an old name, by its command line (`baton flow ...`).
        var known: Known
        /// The shards it reads at its start, as one line for each (ID and endpoints); nil for a process
        /// that reads none but its own (a shard, a timer).
        var shards: String? = nil

        enum Known {
            case folder(String)
            case command(String)
        }
    }

    /// Every process of the cluster, in start order (``ClusterConfiguration/roles``).
    static func processes(_ cluster: ClusterConfiguration) -> [Process] {
        cluster.roles.compactMap { role in
            guard let (name, folder) = try? ServicePlan.place(of: role, in: cluster) else { return nil }
            return Process(
                name: name, arguments: arguments(role) + ["--config", cluster.file], known: .folder(folder), shards: shards(read: role, in: cluster))
        }
    }

    /// The shards `role` reads at its start, one line each: every shard for management and the
    /// orchestrator, its pool's for a worker; nil for the others.
    static func shards(read role: ServiceRole, in cluster: ClusterConfiguration) -> String? {
        let ids: [UInt32]
        switch role {
        case .management, .orchestrator: ids = cluster.shards.map(\.id)
        case .worker(let pool, _): ids = cluster.pool(pool ?? "")?.shards ?? cluster.shards.map(\.id)
        case .shard, .timer: return nil
        }
        return cluster.shards.filter { ids.contains($0.id) }.sorted { $0.id < $1.id }
            .map { "shard \($0.id) \($0.submit) \($0.work) \($0.events)\n" }.joined()
    }

    /// The processes an earlier release started under names this one no longer uses, for `down` after an
    /// upgrade: the orchestrator was `baton flow`, with its pid in `run/flow.pid`.
    static let legacyProcesses = [Process(name: "flow", arguments: [], known: .command("flow"))]

    /// The command line that runs `role`.
    static func arguments(_ role: ServiceRole) -> [String] {
        switch role {
        case .management: ["management"]
        case .orchestrator: ["orchestrator"]
        case .shard(let id): ["shard", "--id", String(id)]
        case .worker(let pool, let index): ["worker"] + (pool.map { ["--pool", $0] } ?? []) + ["--index", String(index)]
        case .timer(let index): ["timer", "--index", String(index)]
        }
    }

    static func up(config file: String, console: any Console) throws(CommandFailure) -> ExitCode {
        let cluster = try Cluster.load(file, console: console)
        // A one-machine cluster runs encrypted from its first start: the keys it lacks are made here.
        do {
            let made = try ClusterKeys.createMissing(in: cluster)
            if case .keys(let folder) = cluster.security, !made.isEmpty {
                console.out("made the keys of \(made.joined(separator: ", ")) in \(folder)/ (NAME.key public, NAME.secret private)")
            }
        } catch {
            throw CommandFailure(code: .failure, message: "cannot make the cluster's keys: \(error)")
        }
        if cluster.security == .none {
            console.err("warning: \(file) says \"security\": \"none\": connections are not encrypted, and anyone who reaches a port can act on the cluster")
        }
        // Management refuses to start with a file that drops a shard products are bound to; asked first, of
        // its store, so that nothing is stopped for a restart that would fail (found by an operator: `up`
        // restarted management without the shard, and every run of those products failed at once).
        if let store = cluster.storePath(of: .management),
            let refusal = try? ManagementService.refusal(store: store, shards: cluster.shards.map(\.id))
        {
            throw CommandFailure(code: .failure, message: "\(file): \(refusal). Nothing was started or stopped.")
        }
        let run = "\(cluster.data)/run"
        let logs = "\(cluster.data)/logs"
        do {
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot create \(run) or \(logs): \(error.localizedDescription)")
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var started: [(name: String, pid: pid_t)] = []
        var before: [String] = []
        for process in processes(cluster) {
            let pidFile = "\(run)/\(process.name).pid"
            if isRunning(process) {
                // A process killed a moment ago holds its lock until the kernel has torn it down, which takes
                // a while for a large one: wait for that, and start it again, rather than call it running.
                if let holder = lockHolder(of: process), isDying(holder) {
                    console.out("\(process.name) (pid \(holder)) is dying; waiting for it to be gone")
                    if !waitUntilStopped(process, milliseconds: 60_000) {
                        throw CommandFailure(code: .failure, message: "\(process.name) (pid \(holder)) was killed but still holds its data folder after 60 s")
                    }
                } else if let shards = process.shards, let was = try? String(contentsOfFile: "\(run)/\(process.name).shards", encoding: .utf8),
                    was != shards, let pid = readPID(pidFile)
                {
                    // It read other shards at its start: it is started again, to read the file's.
                    console.out("restarting \(process.name) (pid \(pid)): the shards it serves changed since it started")
                    kill(pid, SIGTERM)
                    if !waitUntilStopped(process, milliseconds: 30_000) {
                        kill(pid, SIGKILL)
                        _ = waitUntilStopped(process, milliseconds: 60_000)
                    }
                } else {
                    console.out("\(process.name) is already running (pid \(readPID(pidFile).map(String.init) ?? "?"))")
                    before.append(process.name)
                    continue
                }
            }
            let log = "\(logs)/\(process.name).log"
            let pid: pid_t
            do {
                pid = try start(executable, process.arguments, log: log, name: process.name)
            } catch {
                // Half a cluster is worse than none: what this command started is stopped again.
                for (name, pid) in started.reversed() {
                    kill(pid, SIGTERM)
                    if !waitUntilGone(pid, milliseconds: 10_000) { kill(pid, SIGKILL) }
                    try? FileManager.default.removeItem(atPath: "\(run)/\(name).pid")
                }
                var message = error.message
                if !started.isEmpty { message += "\nstopped what this command had started: \(started.map(\.name).joined(separator: ", "))" }
                if !before.isEmpty { message += "\nstill running from before: \(before.joined(separator: ", "))" }
                throw CommandFailure(code: error.code, message: message)
            }
            started.append((process.name, pid))
            try? "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
            if let shards = process.shards { try? shards.write(toFile: "\(run)/\(process.name).shards", atomically: true, encoding: .utf8) }
            console.out("started \(process.name) (pid \(pid), log \(log))")
        }
        console.out("the cluster is up; its management API is \(cluster.management.api). `baton down --config \(file)` stops it.")
        return .success
    }

    /// Starts one process and waits until it says it is ready; if it dies first, shows why.
    static func start(_ executable: String, _ arguments: [String], log: String, name: String) throws(CommandFailure) -> pid_t {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw CommandFailure(code: .failure, message: "cannot create a pipe") }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        defer { close(ends[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        let argv = ([executable] + arguments).map { $0.withCString { strdup($0) } } + [nil]
        var environment = ProcessInfo.processInfo.environment
        environment["BATON_READY_FD"] = "3"
        let envp = environment.map { "\($0.key)=\($0.value)".withCString { strdup($0) } } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(ends[1])
        guard code == 0 else { throw CommandFailure(code: .failure, message: "cannot start \(name): \(String(cString: strerror(code)))") }
        var poller = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        var said = [UInt8](repeating: 0, count: 16)
        let ready = poll(&poller, 1, 30_000) > 0 && read(ends[0], &said, said.count) > 0
        guard ready else {
            kill(pid, SIGKILL)
            let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(5).joined(separator: "\n") ?? ""
            throw CommandFailure(code: .failure, message: "\(name) did not start; the end of \(log):\n\(tail)")
        }
        return pid
    }

    static func down(config file: String, console: any Console) throws(CommandFailure) -> ExitCode {
        let cluster = try Cluster.load(file, console: console)
        var stopped = 0
        // A process an earlier release started under its old name is stopped too, with the orchestrator.
        let running = legacyProcesses + processes(cluster)
        // Workers drain for their pool's drain time; give every process 5 s more, then make sure.
        let patience = (cluster.pools.map(\.drain).max() ?? 0) + 5000
        // Every worker at once, so that none takes new tasks while another drains and the drains do not
        // add up (found by an operator: ten workers took ten drains); then the rest, in reverse order.
        let reversed = Array(running.reversed())
        let waves = [reversed.filter { $0.arguments.first == "worker" }] + reversed.filter { $0.arguments.first != "worker" }.map { [$0] }
        for wave in waves {
            var signalled: [(process: Process, pid: pid_t, file: String)] = []
            for process in wave {
                let pidFile = "\(cluster.data)/run/\(process.name).pid"
                guard let pid = readPID(pidFile) else { continue }
                guard isRunning(process, pid: pid) else {
                    try? FileManager.default.removeItem(atPath: pidFile)
                    continue
                }
                if kill(pid, SIGTERM) == 0 { signalled.append((process, pid, pidFile)) }
            }
            var waited: Int64 = 0
            while signalled.contains(where: { isRunning($0.process, pid: $0.pid) }) && waited < patience {
                usleep(50_000)
                waited += 50
            }
            for (process, pid, pidFile) in signalled {
                try? FileManager.default.removeItem(atPath: pidFile)
                if isRunning(process, pid: pid) {
                    kill(pid, SIGKILL)
                    console.out("killed \(process.name) (pid \(pid)): it did not stop within \(patience / 1000) s")
                } else {
                    console.out("stopped \(process.name) (pid \(pid))")
                }
                stopped += 1
            }
        }
        if stopped == 0 { console.out("nothing of \(file) was running") }
        return .success
    }

    /// Whether the process runs: whether it holds its data folder's lock (a PID alone is not enough: a
    /// killed process whose parent has exited may linger as a zombie, and PIDs are reused; a lock dies
    /// with its holder), or, for one known by its command, whether `pid` is a live `baton` running it.
    static func isRunning(_ process: Process, pid: pid_t? = nil) -> Bool {
        switch process.known {
        case .folder(let folder):
            let descriptor = open("\(folder)/lock", O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            return flock(descriptor, LOCK_EX | LOCK_NB) != 0
        case .command(let command):
            guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                stat.split(separator: ")").last?.split(separator: " ").first != "Z",
                let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { return false }
            let arguments = line.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.count > 1 && arguments[0].hasSuffix("baton") && arguments[1] == command
        }
    }

    /// The process that holds `process`'s data folder's lock, from `/proc/locks`.
    static func lockHolder(of process: Process) -> pid_t? {
        guard case .folder(let folder) = process.known else { return nil }
        return lockHolder(ofFile: "\(folder)/lock")
    }

    /// The process holding an `flock` on `path`, from `/proc/locks` (`1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF`).
    static func lockHolder(ofFile path: String) -> pid_t? {
        var status = stat()
        guard stat(path, &status) == 0, let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", fields[5].split(separator: ":").last == Substring(String(status.st_ino)) else { continue }
            return pid_t(fields[4])
        }
        return nil
    }

    /// Whether `pid` is on its way out: a zombie, or killed and still being torn down (SIGKILL pending).
    static func isDying(_ pid: pid_t) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        return isDying(status: status)
    }

    /// ``isDying(_:)`` from the text of `/proc/PID/status`.
    static func isDying(status: String) -> Bool {
        for line in status.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "State" where parts[1].hasPrefix("Z") || parts[1].hasPrefix("X"): return true
            case "SigPnd", "ShdPnd":
                // Signal N is bit N - 1 of the mask.
                if let mask = UInt64(parts[1], radix: 16), mask & (1 << (UInt64(SIGKILL) - 1)) != 0 { return true }
            default: continue
            }
        }
        return false
    }

    /// Waits until `process` no longer holds its lock; false if it still does after `milliseconds`.
    static func waitUntilStopped(_ process: Process, milliseconds: Int64) -> Bool {
        var waited: Int64 = 0
        while isRunning(process) {
            guard waited < milliseconds else { return false }
            usleep(20_000)
            waited += 20
        }
        return true
    }

    /// Waits until `pid` has exited (and been reaped, or is a zombie); false if not after `milliseconds`.
    static func waitUntilGone(_ pid: pid_t, milliseconds: Int64) -> Bool {
        var waited: Int64 = 0
        while kill(pid, 0) == 0 && !isDying(pid) {
            guard waited < milliseconds else { return false }
            usleep(20_000)
            waited += 20
        }
        return true
    }

    static func readPID(_ file: String) -> pid_t? {
        (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
