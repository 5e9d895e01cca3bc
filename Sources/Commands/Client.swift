import Core
import Foundation
import Runtime
import Wire

/// A client command's failure, with the exit status it means.
struct CommandFailure: Error {
    var code: ExitCode
    var message: String
}

/// Connects client commands to a running Baton and maps its answers to exit statuses.
struct Client {
    let api: APIClient

    /// Finds the management API: `--api`, `BATON_API`, a cluster file's (with its keys, when it has them),
    /// or the `api` file in the data folder.
    init(_ target: Target) throws(CommandFailure) {
        var endpoint = target.api
        var curve: (pair: KeyPair, serverKey: String)?
        if endpoint != nil, target.identity != nil {
            throw CommandFailure(
                code: .usage,
                message: "--identity needs --config FILE, not --api: the cluster file says where management's public key is")
        }
        if endpoint == nil, let file = target.config {
            let cluster = try Cluster.load(file)
            endpoint = cluster.management.api
            do {
                curve = try ClusterKeys.client(of: cluster, key: target.identity)
            } catch {
                throw CommandFailure(code: .failure, message: "\(error)")
            }
        }
        if endpoint == nil {
            let file = "\(target.data)/api"
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw CommandFailure(
                    code: .unavailable,
                    message: "no running Baton found: \(file) does not exist. Start one with `baton dev`, or give --api ENDPOINT.")
            }
            endpoint = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        do {
            api = try APIClient(endpoint: endpoint!, curve: curve)
        } catch {
            throw CommandFailure(code: .unavailable, message: "cannot connect to \(endpoint!): \(error)")
        }
    }

    /// Calls a method; a refusal or silence becomes a ``CommandFailure``.
    func call(_ method: String, _ body: JSON = .object([]), timeout: Int = 10_000) throws(CommandFailure) -> JSON {
        let reply: APIClient.Reply
        do {
            reply = try api.call(method, body, timeout: timeout)
        } catch {
            throw CommandFailure(code: .unavailable, message: "\(error)")
        }
        guard reply.status.isSuccess else {
            throw CommandFailure(code: reply.status.rawValue >= 500 ? .unavailable : .refused, message: reply.errorText)
        }
        return reply.body
    }
}

/// Shows a run's progress as its jobs change state, until it ends.
struct RunWatcher {
    let client: Client
    let console: any Console
    /// How often to ask for the run's status, in milliseconds: often enough for a person.
    var interval: UInt32 = 100

    /// Prints each job's changes of state; returns the final status.
    func watch(_ run: UInt64) throws(CommandFailure) -> JSON {
        var seen: [String: String] = [:]
        let began = Date()
        var width = 0
        while true {
            let status = try client.call("status", .object([("run", .number(run))]))
            let jobs = status["jobs"]?.array ?? []
            width = max(width, jobs.map { ($0["job"]?.string ?? "").count }.max() ?? 0)
            for job in jobs {
                let name = job["job"]?.string ?? "?"
                let state = job["state"]?.string ?? "?"
                let attempts = job["attempts"]?.integer ?? 0
                let key = "\(state)/\(attempts)"
                guard seen[name] != key, state != "waiting" else { continue }
                seen[name] = key
                let elapsed = String(format: "%6.2fs", Date().timeIntervalSince(began))
                var line = "\(elapsed)  \(name.padding(toLength: width + 1)) \(state)"
                if attempts > 1 { line += " (attempt \(attempts))" }
                if ["retrying", "failed", "skipped"].contains(state), let detail = job["detail"]?.string, !detail.isEmpty {
                    line += ": \(detail)"
                }
                console.out(line)
            }
            let state = status["run"]?["state"]?.string ?? ""
            if ["succeeded", "failed", "stopped"].contains(state) { return status }
            usleep(interval * 1000)
        }
    }
}
