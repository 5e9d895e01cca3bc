import Foundation
internal import Glibc

/// Starts commands as `/bin/sh -c COMMAND` in a new process group, with their output in a log file.
///
/// posix_spawn, not fork: the worker is multithreaded and holds ZeroMQ's descriptors (all close-on-exec).
/// The child gets default signal dispositions and an empty signal mask, whatever the worker blocks.
enum CommandRunner {
    /// Starts `command`; returns the child's PID, which is also its process group's ID.
    static func spawn(command: String, environment: [String: String], output path: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)

        let arguments = ["/bin/sh", "-c", command].map { $0.withCString { strdup($0) } } + [nil]
        let variables = environment.map { "\($0.key)=\($0.value)".withCString { strdup($0) } } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, "/bin/sh", &actions, &attributes, arguments, variables)
        guard code == 0 else { throw ServiceError("cannot start /bin/sh: \(String(cString: strerror(code)))") }
        return pid
    }

    /// Waits for the child to end; its exit status, or minus the signal that ended it.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        // WIFEXITED and WEXITSTATUS are macros Swift cannot import.
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : -signal
    }

    /// Signals the whole process group, so that a command's own children stop too.
    static func signal(_ group: pid_t, _ signal: Int32) {
        _ = kill(-group, signal)
    }

    /// The last `limit` octets of a file, as text (invalid UTF-8 repaired), never more than `limit` octets.
    static func tail(of path: String, limit: Int = 4096) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(limit) ? size - UInt64(limit) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        var text = String(decoding: data, as: UTF8.self)
        // Repairing invalid sequences can lengthen the text: drop from the front until it fits.
        while text.utf8.count > limit { text.removeFirst() }
        return text
    }
}
