import Core
import Foundation
import Glibc
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
        let (endpoint, curve) = try Self.resolve(target)
        do {
            api = try APIClient(endpoint: endpoint, curve: curve)
        } catch {
            throw CommandFailure(code: .unavailable, message: "cannot connect to \(endpoint): \(error)")
        }
    }

    /// Where the management API of `target` is, and the keys to speak to it with, if the cluster has keys.
    static func resolve(_ target: Target) throws(CommandFailure) -> (endpoint: String, curve: (pair: KeyPair, serverKey: String)?) {
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
            // `baton dev` holds its data folder's lock while it runs: a file left by one that ended is found out at once.
            guard DataLock.isHeld(target.data) else {
                throw CommandFailure(
                    code: .unavailable,
                    message: "no running Baton found: \(file) is left from a `baton dev` that has stopped (nothing holds \(target.data)/lock). Start one with `baton dev`, or give --api ENDPOINT.")
            }
            endpoint = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return (endpoint!, curve)
    }

    /// Calls a method; a refusal or silence becomes a ``CommandFailure``.
    func call(_ method: String, _ body: JSON = .object([]), timeout: Int = 10_000) throws(CommandFailure) -> JSON {
        let reply: APIClient.Reply
        do {
            reply = try api.call(method, body, timeout: timeout)
        } catch let refused as APIClient.Refused {
            throw CommandFailure(code: .refused, message: "\(refused)")
        } catch {
            throw CommandFailure(code: .unavailable, message: "\(error)")
        }
        guard reply.status.isSuccess else {
            throw CommandFailure(code: reply.status.rawValue >= 500 ? .unavailable : .refused, message: reply.errorText)
        }
        return reply.body
    }
}

extension Client {
    /// `status` of a run with at most `jobs` of its jobs (all when nil), read a page at a time, as one
    /// reply: its `next` is there when jobs were left out.
    func status(_ run: UInt64, jobs wanted: Int? = nil) throws(CommandFailure) -> JSON {
        var from: Int64 = 0
        var jobs: [JSON] = []
        while true {
            let limit = min(Self.page, (wanted ?? Int.max) - jobs.count)
            let page = try call("status", .object([("run", .number(run)), ("from", .number(from)), ("limit", .number(limit))]))
            jobs += page["jobs"]?.array ?? []
            // The run as of the last page read: each page is a moment of its own.
            let reply: [(String, JSON)] = [("run", page["run"] ?? .object([])), ("jobs", .array(jobs))]
            guard let next = page["next"]?.integer else { return .object(reply) }
            // A page that did not move on would be asked for again for ever.
            if let wanted, jobs.count >= wanted { return .object(reply + [("next", .number(next))]) }
            guard next > from else { return .object(reply + [("next", .number(next))]) }
            from = next
        }
    }

    /// A run's `status` with, for each of its jobs waiting at its shard, why and when its next task
    /// should start (`waiting`: the `why` and `estimate` of the API's `waits`), while the run is open; as
    /// it was if the shard does not say.
    func withWaits(_ status: JSON) -> JSON {
        let state = status["run"]?["state"]?.string ?? ""
        guard let run = status["run"]?["run"]?.integer, ["running", "paused", "partly-failed"].contains(state) else { return status }
        var why: [String: JSON] = [:]
        if let waits = try? api.call("waits", .object([("run", .number(run))]), timeout: 7000), waits.status.isSuccess {
            for job in waits.body["jobs"]?.array ?? [] {
                guard let name = job["job"]?.string, let reason = job["why"], reason.string != "running" else { continue }
                why[name] = .object([("why", reason), ("estimate", job["estimate"] ?? .null)])
            }
        }
        // Jobs not at the shard: held back with the run, not yet acknowledged, or waiting for their predecessors.
        let jobs = status["jobs"]?.array ?? []
        let states = Dictionary(jobs.compactMap { job in job["job"]?.string.map { ($0, job["state"]?.string ?? "") } }) { first, _ in first }
        var after: [String: [String]] = [:]
        if jobs.contains(where: { $0["state"]?.string == "waiting" }), state != "paused", let flow = status["run"]?["flow"]?.string,
            let definition = try? api.call("flow", .object([("flow", .string(flow)), ("version", status["run"]?["version"] ?? .null)]), timeout: 5000),
            definition.status.isSuccess
        {
            for job in definition.body["definition"]?["jobs"]?.array ?? [] {
                guard let name = job["name"]?.string else { continue }
                after[name] = (job["after"]?.array ?? []).compactMap(\.string)
            }
        }
        for job in jobs {
            guard let name = job["job"]?.string, why[name] == nil else { continue }
            var reason: String?
            switch job["state"]?.string {
            case "waiting" where state == "paused": reason = "the run is paused, or its product held: nothing new starts"
            case "waiting":
                let pending = (after[name] ?? []).filter { states[$0] != "succeeded" }
                if !pending.isEmpty { reason = "waits for " + pending.joined(separator: ", ") }
            case "submitted": reason = "sent to shard \(status["run"]?["shard"]?.integer ?? 0), not yet acknowledged: sent again until it is"
            default: break
            }
            if let reason { why[name] = .object([("why", .string(reason)), ("estimate", .null)]) }
        }
        guard !why.isEmpty, case .object(var members) = status.value, let index = members.firstIndex(where: { $0.key == "jobs" }) else { return status }
        let told = jobs.map { job -> JSON in
            guard let name = job["job"]?.string, let waiting = why[name], case .object(var fields) = job.value else { return job }
            fields.append(JSON.Member(key: "waiting", value: waiting))
            return JSON(.object(fields))
        }
        members[index] = JSON.Member(key: "jobs", value: .array(told))
        return JSON(.object(members))
    }

    /// The most jobs one `status` reply holds.
    static let page = 10_000
}

/// Shows a run's progress as its jobs change state, until it ends: the changes of its first
/// ``watched`` jobs, so that watching a run of very many jobs does not read them all ten times a second.
struct RunWatcher {
    let client: Client
    let console: any Console
    /// How often to ask for the run's status, in milliseconds: often enough for a person.
    var interval: UInt32 = 100
    /// The jobs whose changes are shown.
    static let watched = 1000

    /// Prints each job's changes of state; returns the final status. With `showing`, first the run as it
    /// stands (`status --watch`); a run that has ended is returned at once. With `goesOn`, Ctrl-C says that
    /// the run goes on, and how to see or stop it (not for `baton demo`, whose cluster ends with it).
    func watch(_ run: UInt64, showing: Bool = false, goesOn: Bool = false) throws(CommandFailure) -> JSON {
        var seen: [String: String] = [:]
        let began = Date()
        var width = 0
        if goesOn { Interrupt.tell("\nrun \(run) goes on: `baton status \(run) --watch` follows it again, `baton stop \(run)` stops it\n") }
        defer { if goesOn { Interrupt.reset() } }
        if showing {
            let status = client.withWaits(try client.status(run, jobs: Self.watched))
            let state = status["run"]?["state"]?.string ?? ""
            if ["succeeded", "failed", "stopped"].contains(state) { return status["next"] == nil ? status : try client.status(run) }
            for line in Formatting.runDetail(status) { console.out(line) }
            console.out("")
            for job in status["jobs"]?.array ?? [] {
                seen[job["job"]?.string ?? "?"] = "\(job["state"]?.string ?? "?")/\(job["attempts"]?.integer ?? 0)"
            }
            console.out("following run \(run); Ctrl-C stops watching, not the run")
        }
        while true {
            let status = try client.status(run, jobs: Self.watched)
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
            if ["succeeded", "failed", "stopped"].contains(state) { return status["next"] == nil ? status : try client.status(run) }
            usleep(interval * 1000)
        }
    }
}

/// What Ctrl-C says while a command follows a run: that the run goes on. The words are made before the
/// handler is set, which only writes them and exits, as a signal handler may.
enum Interrupt {
    nonisolated(unsafe) static var message: [UInt8] = []

    static func tell(_ text: String) {
        message = Array(text.utf8)
        signal(SIGINT) { _ in
            Interrupt.message.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
            _exit(130)
        }
        // A mask inherited from whatever started this process must not keep Ctrl-C from arriving.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static func reset() { signal(SIGINT, SIG_DFL) }
}
