import Core
import Foundation
import Runtime
import Testing
import Wire

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
