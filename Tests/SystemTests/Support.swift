import Core
import Foundation
import Runtime
import Testing
import Wire
import Glibc

/// A fresh temporary folder for one test, removed afterwards (and checked gone).
func withTemporaryFolder<T>(_ body: (String) throws -> T) throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("baton-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer {
        try? FileManager.default.removeItem(atPath: path)
        #expect(!FileManager.default.fileExists(atPath: path), "the test left \(path) behind")
    }
    return try body(path)
}

/// The repository's root, for its examples.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

extension APIClient {
    /// Applies flow files given as text; expects success.
    func apply(_ texts: [String]) throws {
        let files = texts.enumerated().map { JSON.object([("path", .string("flow\($0.offset).json")), ("text", .string($0.element))]) }
        let reply = try call("apply", .object([("files", .array(files))]))
        guard reply.status == .ok else { throw ServiceError("apply failed: \(reply.errorText)") }
    }

    /// Starts a run; returns its ID.
    func start(_ flow: String, params: [String: String] = [:]) throws -> UInt64 {
        let reply = try call("start", .object([("flow", .string(flow)), ("params", .strings(params))]))
        guard reply.status == .ok, let run = reply.body["run"]?.integer else { throw ServiceError("start failed: \(reply.errorText)") }
        return UInt64(run)
    }

    /// Waits until the run is final, asking every 20 ms; the time limit only guards against a hang.
    func waitForRun(_ run: UInt64, limit: Int64 = 60_000) throws -> JSON {
        let clock = SystemClock()
        let deadline = clock.now().adding(milliseconds: limit)
        while clock.now() < deadline {
            let reply = try call("status", .object([("run", .number(run))]))
            if reply.status == .ok, let state = reply.body["run"]?["state"]?.string,
                ["succeeded", "failed", "stopped"].contains(state)
            {
                return reply.body
            }
            usleep(20_000)
        }
        throw ServiceError("run \(run) did not end within \(limit / 1000) s")
    }
}

/// The job of `status` named `name`.
func job(_ status: JSON, _ name: String) -> JSON? {
    status["jobs"]?.array?.first { $0["job"]?.string == name }
}

/// Runs a program to completion and returns its exit status and its output (standard output and error
/// together), with posix_spawn and a blocking waitpid of that child, from `directory`.
func runProgram(_ path: String, _ arguments: [String], in directory: String = repositoryRoot, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let capture = FileManager.default.temporaryDirectory.appendingPathComponent("baton-output-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: capture) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, capture, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let script = "cd \"$0\" && exec \"$@\""
    let argv = (["/bin/sh", "-c", script, directory, path] + arguments).map { $0.withCString { strdup($0) } } + [nil]
    let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let envp = merged.map { "\($0.key)=\($0.value)".withCString { strdup($0) } } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let code = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, envp)
    guard code == 0 else { throw ServiceError("cannot start \(path): \(String(cString: strerror(code)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let output = (try? String(contentsOfFile: capture, encoding: .utf8)) ?? ""
    return (status & 0x7F == 0 ? (status >> 8) & 0xFF : -(status & 0x7F), output)
}

/// Waits until `condition` holds, checking every 10 ms; the limit only guards against a hang, and
/// running into it fails with `what`.
func waitUntil(_ what: @autoclosure () -> String, limit: TimeInterval = 30, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(limit)
    while Date() < deadline {
        if try condition() { return }
        usleep(10_000)
    }
    throw ServiceError("waited \(Int(limit)) s in vain for \(what())")
}

/// Waits until process `pid` has exited (a zombie not yet reaped counts: it holds no files and no
/// locks any more). A process killed with SIGKILL exits a moment after the signal.
func waitUntilExited(_ pid: pid_t) throws {
    try waitUntil("process \(pid) to exit") {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // `pid (name) state ...`: the state follows the name's closing parenthesis.
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }
}


extension APIClient {
    /// A client of `cluster`'s management, with the cluster's local admin key when it has keys.
    convenience init(cluster: ClusterConfiguration) throws {
        try self.init(endpoint: cluster.management.api, curve: ClusterKeys.client(of: cluster, key: nil))
    }
}

/// Starts `baton dev --quiet` on `data`, with `arguments`; returns once it printed its banner, which it
/// does once every service is ready and DIR/api is written.
func startDev(data: String, _ arguments: [String] = []) throws -> (process: Process, banner: String) {
    try startServing(["dev", "--data", data, "--quiet"] + arguments)
}

/// Starts `baton` with `arguments`, a command that serves until Ctrl-C (`dev`, `web`); returns once it
/// printed its banner, which ends "Press Ctrl-C to stop." once it serves.
func startServing(_ arguments: [String]) throws -> (process: Process, banner: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLineTests.baton)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    var banner = ""
    while !banner.contains("Press Ctrl-C") {
        let chunk = output.fileHandleForReading.availableData
        guard !chunk.isEmpty else { throw ServiceError("baton \(arguments[0]) stopped before it was ready: \(banner)") }
        banner += String(decoding: chunk, as: UTF8.self)
    }
    return (process, banner)
}

/// A GET of `path` from 127.0.0.1:`port` over a plain socket, Connection: close: the status code and the body.
func httpGet(port: UInt16, _ path: String) throws -> (code: Int, body: String) {
    let (code, _, body) = try httpRequest(port: port, "GET", path)
    return (code, body)
}

/// A request to 127.0.0.1:`port` over a plain socket, Connection: close: the status code, the head and the body.
func httpRequest(port: UInt16, _ method: String, _ path: String, headers: [String: String] = [:], body: String = "") throws -> (code: Int, head: String, body: String) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw ServiceError("cannot connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n"
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
    let request = Array((text + "\r\n" + body).utf8)
    _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = recv(descriptor, &chunk, chunk.count, 0)
        if count <= 0 { break }
        received += chunk[0..<count]
    }
    let response = String(decoding: received, as: UTF8.self)
    guard let split = response.range(of: "\r\n\r\n"), let code = Int(response.split(separator: " ").dropFirst().first ?? "") else {
        throw ServiceError("no HTTP response from 127.0.0.1:\(port)\(path): \"\(response.prefix(200))\"")
    }
    return (code, String(response[..<split.lowerBound]), String(response[split.upperBound...]))
}

/// Runs `promtool` with `arguments`, the file `input` on its standard input if given: its exit status and output.
func promtool(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
    guard let found = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw ServiceError("promtool is not installed: it comes with Debian's prometheus package, which `make test` installs")
    }
    let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
    return try runProgram("/bin/sh", ["-c", "\(found) \(quoted)" + (input.map { " < '\($0)'" } ?? "")])
}

/// A cluster of processes from ``ChaosTests/clusterFile(data:)`` in `folder`, started with `baton up` for
/// `body` and stopped with `baton down` after it, whatever `body` does; `body` gets the cluster file, the
/// configuration read back from it, and an API client.
func withProcessCluster<T>(in folder: String, _ body: (_ config: String, _ cluster: ClusterConfiguration, _ client: APIClient) throws -> T) throws -> T {
    let config = "\(folder)/cluster.json"
    try ChaosTests.clusterFile(data: "\(folder)/data").write(toFile: config, atomically: true, encoding: .utf8)
    let (status, output) = try ChaosTests.baton(["up", "--config", config])
    defer { _ = try? ChaosTests.baton(["down", "--config", config]) }
    guard status == 0 else { throw ServiceError("baton up failed: \(output)") }
    guard case .success(let cluster) = ClusterFile.parse(try String(contentsOfFile: config, encoding: .utf8), file: config) else {
        throw ServiceError("the generated cluster file is invalid")
    }
    return try body(config, cluster, try APIClient(cluster: cluster))
}

/// Whether `pid` is a live process (a zombie waiting for its parent counts as dead).
func isRunning(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    let state = stat.split(separator: ")").last?.split(separator: " ").first
    return state != "Z"
}

/// Kills shard `shard` of a cluster of processes (``withProcessCluster(in:_:)``) with SIGKILL, waits until
/// it has exited, and starts it again with `baton up`.
func killAndRestartShard(_ shard: Int64, of cluster: ClusterConfiguration, config: String) throws {
    try killAndRestart("shard-\(shard)", of: cluster, config: config)
}

/// Kills process `name` (`orchestrator`, `shard-1`, ...) of a cluster of processes with SIGKILL, waits until
/// it has exited, runs `whileDown`, and starts it again with `baton up`.
func killAndRestart(_ name: String, of cluster: ClusterConfiguration, config: String, whileDown: () throws -> Void = {}) throws {
    let pidFile = "\(cluster.data)/run/\(name).pid"
    guard let pid = pid_t((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw ServiceError("no process ID in \(pidFile)")
    }
    guard Glibc.kill(pid, SIGKILL) == 0 else { throw ServiceError("cannot kill \(name), process \(pid)") }
    try waitUntilExited(pid)
    try whileDown()
    let (status, output) = try ChaosTests.baton(["up", "--config", config])
    guard status == 0 else { throw ServiceError("restarting \(name): \(output)") }
}
