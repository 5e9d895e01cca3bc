import Foundation
import Glibc
import Runtime

/// `baton up` and `baton down`: a one-machine cluster as background processes.
///
/// Each process is started with its output appended to `<data>/logs/<name>.log`, in a process group of
/// its own (so a Ctrl-C in this terminal does not reach it), and with a pipe on descriptor 3 on which
/// it writes "ready" once its sockets are bound and its store is open. Its PID goes to
/// `<data>/run/<name>.pid`, which `down` reads.
enum Up {
    struct Process {
        var name: String
        var arguments: [String]
    }

    /// Every process of the cluster, in start order: shards, the orchestrator, management, the timer, workers.
    static func processes(_ cluster: ClusterConfiguration) -> [Process] {
        var list = cluster.shards.map { Process(name: "shard-\($0.id)", arguments: ["shard", "--id", String($0.id)]) }
        list.append(Process(name: "flow", arguments: ["flow"]))
        list.append(Process(name: "management", arguments: ["manager"]))
        list.append(Process(name: "timer", arguments: ["timer"]))
        for pool in cluster.pools {
            for index in 1...pool.workers {
                list.append(Process(name: "worker-\(pool.name)-\(index)", arguments: ["worker", "--pool", pool.name, "--index", String(index)]))
            }
        }
        return list.map { Process(name: $0.name, arguments: $0.arguments + ["--config", cluster.file]) }
    }

    static func up(config file: String, console: any Console) throws(CommandFailure) -> ExitCode {
        let cluster = try Cluster.load(file)
        let run = "\(cluster.data)/run"
        let logs = "\(cluster.data)/logs"
        do {
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot create \(run) or \(logs): \(error.localizedDescription)")
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        for process in processes(cluster) {
            let pidFile = "\(run)/\(process.name).pid"
            if isRunning(process, cluster) {
                console.out("\(process.name) is already running (pid \(readPID(pidFile).map(String.init) ?? "?"))")
                continue
            }
            let log = "\(logs)/\(process.name).log"
            let pid = try start(executable, process.arguments, log: log, name: process.name)
            try? "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
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
        let cluster = try Cluster.load(file)
        var stopped = 0
        for process in processes(cluster).reversed() {
            let pidFile = "\(cluster.data)/run/\(process.name).pid"
            guard let pid = readPID(pidFile) else { continue }
            defer { try? FileManager.default.removeItem(atPath: pidFile) }
            guard isRunning(process, cluster), kill(pid, SIGTERM) == 0 else { continue }
            // Workers drain for up to 30 s; give every process a little more, then make sure.
            var waited = 0
            while isRunning(process, cluster) && waited < 35_000 {
                usleep(50_000)
                waited += 50
            }
            if isRunning(process, cluster) {
                kill(pid, SIGKILL)
                console.out("killed \(process.name) (pid \(pid)): it did not stop within 35 s")
            } else {
                console.out("stopped \(process.name) (pid \(pid))")
            }
            stopped += 1
        }
        if stopped == 0 { console.out("nothing of \(file) was running") }
        return .success
    }

    /// Whether the process holds its data folder's lock. A PID is not enough: a killed process whose
    /// parent has exited may linger as a zombie, and PIDs are reused; a lock dies with its holder.
    static func isRunning(_ process: Process, _ cluster: ClusterConfiguration) -> Bool {
        guard let folder = dataFolder(process, cluster) else { return false }
        let descriptor = open("\(folder)/lock", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return flock(descriptor, LOCK_EX | LOCK_NB) != 0
    }

    /// The folder a process locks, from its arguments.
    static func dataFolder(_ process: Process, _ cluster: ClusterConfiguration) -> String? {
        let arguments = process.arguments
        func value(_ option: String) -> String? {
            arguments.firstIndex(of: option).flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        }
        switch arguments.first {
        case "shard": return value("--id").flatMap(UInt32.init).flatMap(cluster.shard)?.data
        case "flow": return cluster.flow.data
        case "manager": return cluster.management.data
        case "timer": return Serve.timerFolder(cluster, value("--index").flatMap(Int.init) ?? 1)
        case "worker": return value("--pool").flatMap(cluster.pool).map { "\($0.data)/worker-\(value("--index") ?? "1")" }
        default: return nil
        }
    }

    static func readPID(_ file: String) -> pid_t? {
        (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
