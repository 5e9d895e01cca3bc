import Core
import Foundation

/// `baton workers` and `baton queue`: what shards hold now, asked through management (`docs/api.md`).
enum ClusterCommands {
    /// The request for one shard, or for all.
    static func request(_ shard: UInt32?) -> JSON { .object(shard.map { [("shard", JSON.number($0))] } ?? []) }

    /// Each shard's answer, whether one shard was asked or all; and those that did not answer.
    static func answers(_ body: JSON, shard: UInt32?) -> (answers: [JSON], unanswered: [JSON]) {
        shard != nil ? ([body], []) : (body["shards"]?.array ?? [], body["unanswered"]?.array ?? [])
    }

    static func workers(shard: UInt32?, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let body = try Client(target).call("workers", request(shard))
        if json {
            console.out(body.rendered(pretty: true))
            return .success
        }
        let (shards, unanswered) = answers(body, shard: shard)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var rows = [["SHARD", "WORKER", "KEY", "LEASES", "FREE", "RUNS", "TAGS", "HEARD", "HOLDING"]]
        for answer in shards {
            for worker in answer["workers"]?.array ?? [] {
                let runs = ((worker["commands"]?.bool == true ? ["commands"] : []) + (worker["handlers"]?.array ?? []).compactMap(\.string))
                let tasks = (worker["tasks"]?.array ?? []).map { task in
                    "\(task["run"]?.integer ?? 0)/\(task["job"]?.string ?? "?")[\(task["partition"]?.integer ?? 0)]#\(task["attempt"]?.integer ?? 0)"
                }
                rows.append([
                    String(answer["shard"]?.integer ?? 0), worker["name"]?.string ?? "?", worker["key"]?.string ?? "-",
                    String(worker["leases"]?.integer ?? 0), String(worker["credit"]?.integer ?? 0), runs.joined(separator: ","),
                    (worker["tags"]?.array ?? []).compactMap(\.string).joined(separator: ",").ifEmpty("-"),
                    Formatting.duration(max(0, now - (worker["heard"]?.integer ?? now))) + " ago",
                    (tasks.prefix(3).joined(separator: " ") + (tasks.count > 3 ? " +\(tasks.count - 3)" : "")).ifEmpty("-"),
                ])
            }
        }
        if rows.count == 1 { console.out("no worker is registered with \(shard.map { "shard \($0)" } ?? "any shard")") } else {
            for line in Formatting.table(rows) { console.out(line) }
        }
        for missing in unanswered { console.err("baton: shard \(missing["shard"]?.integer ?? 0): \(missing["error"]?.string ?? "no answer")") }
        return unanswered.isEmpty ? .success : .unavailable
    }

    static func queue(shard: UInt32?, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let body = try Client(target).call("queue", request(shard))
        if json {
            console.out(body.rendered(pretty: true))
            return .success
        }
        let (shards, unanswered) = answers(body, shard: shard)
        var rows = [["SHARD", "PRODUCT", "WAITING", "RUNNING", "WAIT P50", "WAIT P99", "SERVED", "FAIR", "A NEW TASK STARTS", "WHY"]]
        for answer in shards {
            for product in answer["products"]?.array ?? [] {
                let paused = product["paused"]?.integer ?? 0
                let held = product["held"]?.bool == true
                rows.append([
                    String(answer["shard"]?.integer ?? 0), product["product"]?.string ?? "?",
                    String(product["pending"]?.integer ?? 0) + (paused > 0 ? " (+\(paused) paused)" : ""), String(product["running"]?.integer ?? 0),
                    product["wait_p50"]?.integer.map(Formatting.duration) ?? "-", product["wait_p99"]?.integer.map(Formatting.duration) ?? "-",
                    percent(product["served_share"]), percent(product["fair_share"]),
                    held ? "not while held" : product["estimate"]?.integer.map { $0 == 0 ? "at once" : "in about " + Formatting.duration($0) } ?? "unknown",
                    held ? "held by an operator (baton release \(product["product"]?.string ?? "PRODUCT"))" : product["why"]?.string ?? "",
                ])
            }
            let busy = answer["busy"]?.integer ?? 0
            let slots = answer["slots"]?.integer ?? 0
            console.out("shard \(answer["shard"]?.integer ?? 0): \(answer["workers"]?.integer ?? 0) workers, \(busy) of \(slots) slots busy, \(answer["starts_per_minute"]?.integer ?? 0) tasks handed out a minute")
        }
        if rows.count > 1 {
            console.out("")
            for line in Formatting.table(rows) { console.out(line) }
        }
        for missing in unanswered { console.err("baton: shard \(missing["shard"]?.integer ?? 0): \(missing["error"]?.string ?? "no answer")") }
        return unanswered.isEmpty ? .success : .unavailable
    }

    static func percent(_ value: JSON?) -> String {
        guard let share = value?.double else { return "-" }
        return "\(Int((share * 100).rounded()))%"
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
