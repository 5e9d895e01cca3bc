import Core
import Foundation
import Runtime
import Wire

/// The commands that talk to a running Baton: apply, start, status, runs, flows, products, schedule,
/// calendars, history and the operator actions.
enum ClientCommands {
    static func apply(files: [String], target: Target, json: Bool, console: any Console) throws(CommandFailure) -> ExitCode {
        var entries: [JSON] = []
        for file in files {
            let text: String
            switch TextFile.read(file) {
            case .success(let read): text = read
            case .failure(let unreadable): throw CommandFailure(code: .failure, message: "\(file): \(unreadable)")
            }
            var entry: [(String, JSON)] = [("path", .string(file)), ("text", .string(text))]
            if let calendar = CalendarFiles.name(of: file) { entry.append(("calendar", .string(calendar))) }
            entries.append(.object(entry))
        }
        let body = try Client(target).call("apply", .object([("files", .array(entries))]))
        if json {
            console.out(body.rendered(pretty: true))
        } else {
            for calendar in body["calendars"]?.array ?? [] {
                let changed = calendar["changed"]?.bool == true
                console.out(
                    "\(changed ? "applied" : "unchanged") calendar \(calendar["calendar"]?.string ?? "?") v\(calendar["version"]?.integer ?? 0) (\(calendar["holidays"]?.integer ?? 0) holidays)")
            }
            for flow in body["flows"]?.array ?? [] {
                let name = flow["flow"]?.string ?? "?"
                let version = flow["version"]?.integer ?? 0
                let changed = flow["changed"]?.bool == true
                var line = "\(changed ? "applied" : "unchanged") \(name) v\(version) (\(flow["jobs"]?.integer ?? 0) jobs, shard \(flow["shard"]?.integer ?? 0))"
                if let schedule = flow["schedule"]?.string { line += "; schedule \(schedule)" }
                console.out(line)
            }
        }
        return .success
    }

    /// `schedule`: a flow's next firings with their business dates, where it stands, and its latest firings.
    static func schedule(flow: String, next: Int, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let body = try Client(target).call("schedule", .object([("flow", .string(flow)), ("next", .number(next))]))
        if json {
            console.out(body.rendered(pretty: true))
            return .success
        }
        console.out("\(flow) v\(body["version"]?.integer ?? 0): \(body["summary"]?.string ?? "")")
        console.out(
            "fired \(body["fired"]?.integer ?? 0), missed \(body["missed"]?.integer ?? 0), skipped \(body["skipped"]?.integer ?? 0)"
                + "; decided up to \(Formatting.time(body["since"]?.integer ?? 0))")
        if let error = body["error"]?.string { console.out("cannot fire: \(error)") }
        let upcoming = body["next"]?.array ?? []
        if next > 0 {
            if upcoming.isEmpty {
                console.out("no firings ahead")
            } else {
                var rows = [["NEXT", "LOCAL TIME", "BUSINESS DATE"]]
                for firing in upcoming {
                    rows.append([
                        Formatting.time(firing["instant"]?.integer ?? 0), firing["local"]?.string ?? "", firing["date"]?.string ?? "",
                    ])
                }
                console.out("")
                for line in Formatting.table(rows) { console.out(line) }
            }
        }
        let recent = (body["recent"]?.array ?? []).reversed()
        if !recent.isEmpty {
            var rows = [["FIRED", "LOCAL TIME", "BUSINESS DATE", "OUTCOME", "RUN", "DETAIL"]]
            for firing in recent {
                let run = firing["run"]?.integer ?? 0
                var detail = firing["detail"]?.string ?? ""
                let missed = firing["missed_before"]?.integer ?? 0
                if missed > 0 { detail = "\(missed) missed before it" + (detail.isEmpty ? "" : "; " + detail) }
                rows.append([
                    Formatting.time(firing["instant"]?.integer ?? 0), firing["local"]?.string ?? "", firing["date"]?.string ?? "",
                    firing["outcome"]?.string ?? "", run == 0 ? "-" : String(run), detail,
                ])
            }
            console.out("")
            for line in Formatting.table(rows) { console.out(line) }
        }
        return .success
    }

    /// `calendars`: every business calendar, the flows on it and its next holidays.
    static func calendars(next: Int, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let body = try Client(target).call("calendars", .object([("next", .number(next))]))
        if json {
            console.out(body.rendered(pretty: true))
            return .success
        }
        var rows = [["CALENDAR", "VERSION", "WEEKEND", "LISTS", "FLOWS", "NEXT HOLIDAYS"]]
        for calendar in body["calendars"]?.array ?? [] {
            let builtIn = calendar["built_in"]?.bool == true
            let first = calendar["first"]?.string ?? ""
            let last = calendar["last"]?.string ?? ""
            let holidays = (calendar["next"]?.array ?? []).map { holiday in
                let name = holiday["name"]?.string ?? ""
                return (holiday["date"]?.string ?? "") + (name.isEmpty ? "" : " \(name)")
            }
            let flows = (calendar["flows"]?.array ?? []).compactMap(\.string)
            rows.append([
                calendar["calendar"]?.string ?? "?", builtIn ? "built-in" : "v\(calendar["version"]?.integer ?? 0)",
                (calendar["weekend"]?.array ?? []).compactMap(\.string).joined(separator: " "),
                first.isEmpty ? "-" : "\(first)..\(last)", flows.isEmpty ? "-" : flows.joined(separator: ", "),
                holidays.isEmpty ? "-" : holidays.joined(separator: ", "),
            ])
        }
        for line in Formatting.table(rows) { console.out(line) }
        return .success
    }

    static func start(
        flow: String, params: [String: String], key: String?, priority: UInt8?, wait: Bool, json: Bool, target: Target,
        console: any Console
    ) throws(CommandFailure) -> ExitCode {
        let client = try Client(target)
        var request: [(String, JSON)] = [("flow", .string(flow)), ("params", .strings(params))]
        if let key { request.append(("key", .string(key))) }
        if let priority { request.append(("priority", .string(RunPriority.name(priority)))) }
        let started = try client.call("start", .object(request))
        guard let run = started["run"]?.integer else { throw CommandFailure(code: .unavailable, message: "the reply named no run") }
        // The same start sent again under its key: the run it started then, not a new one.
        let repeated = started["repeated"]?.bool == true
        if !json, started["held"]?.bool == true {
            console.out("product \(flow.split(separator: "/").first ?? "") is held: the run waits until it is released (baton release)")
        }
        if !wait {
            let said = repeated ? "run \(run) of \(flow) was started before with this key" : "started run \(run) of \(flow)"
            console.out(json ? started.rendered(pretty: true) : said + " (entry moment \(started["moment"]?.integer ?? 0))")
            return .success
        }
        if !json { console.out("run \(run) of \(flow) \(repeated ? "was started before with this key" : "started"); waiting for it to end") }
        let final = try RunWatcher(client: client, console: json ? SilentConsole() : console).watch(UInt64(run), goesOn: true)
        if json {
            console.out(final.rendered(pretty: true))
        } else {
            console.out("")
            for line in Formatting.runDetail(final) { console.out(line) }
        }
        return final["run"]?["state"]?.string == "succeeded" ? .success : .failure
    }

    static func status(run: UInt64?, jobs: Int?, json: Bool, watch: Bool = false, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let client = try Client(target)
        guard let run else {
            let body = try client.call("runs", .object([("limit", .number(20))]))
            let runs = body["runs"]?.array ?? []
            if json {
                console.out(body.rendered(pretty: true))
            } else if runs.isEmpty {
                console.out("no runs yet: start one with `baton start PRODUCT/FLOW`")
            } else {
                let active = runs.filter { !["succeeded", "failed", "stopped"].contains($0["state"]?.string ?? "") }
                console.out("\(active.count) run\(active.count == 1 ? "" : "s") in progress; the latest \(runs.count):")
                for line in Formatting.runList(runs) { console.out(line) }
            }
            return .success
        }
        if watch {
            let final = try RunWatcher(client: client, console: console).watch(run, showing: true, goesOn: true)
            console.out("")
            for line in Formatting.runDetail(final) { console.out(line) }
            return final["run"]?["state"]?.string == "succeeded" ? .success : .failure
        }
        let body = client.withWaits(try client.status(run, jobs: jobs))
        if json {
            console.out(body.rendered(pretty: true))
        } else {
            for line in Formatting.runDetail(body) { console.out(line) }
            if let next = body["next"]?.integer {
                let more = (body["run"]?["jobs"]?.integer ?? next) - next
                console.out("and \(more) more job\(more == 1 ? "" : "s"): baton status \(run) --jobs N shows the first N")
            }
        }
        return .success
    }

    static func runs(_ query: RunsQuery, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        var request: [(String, JSON)] = [("limit", .number(query.limit))]
        if let product = query.product { request.append(("product", .string(product))) }
        if let flow = query.flow { request.append(("flow", .string(flow))) }
        if let state = query.state { request.append(("state", .string(state))) }
        if let before = query.before { request.append(("before", .number(before))) }
        // Further back than the epoch is every run there is.
        if let within = query.within { request.append(("since", .number(max(0, Int64(Date().timeIntervalSince1970 * 1000) - within)))) }
        let body = try Client(target).call("runs", .object(request))
        if json {
            console.out(body.rendered(pretty: true))
        } else if (body["runs"]?.array ?? []).isEmpty {
            console.out("no runs" + (query.state.map { " \($0)" } ?? "") + (query.within.map { " started in the last \(DurationText.format($0))" } ?? ""))
        } else {
            for line in Formatting.runList(body["runs"]?.array ?? []) { console.out(line) }
            if let next = body["next"]?.integer { console.out("more: baton runs --before \(next) (with the same filters)") }
        }
        return .success
    }

    /// The request of a paged listing.
    static func page(limit: Int?, after: String?) -> JSON {
        var request: [(String, JSON)] = []
        if let limit { request.append(("limit", .number(limit))) }
        if let after { request.append(("after", .string(after))) }
        return .object(request)
    }

    static func flows(limit: Int?, after: String?, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let body = try Client(target).call("flows", page(limit: limit, after: after))
        if json {
            console.out(body.rendered(pretty: true))
            return .success
        }
        var rows = [["FLOW", "VERSION", "JOBS", "SHARD", "APPLIED"]]
        for flow in body["flows"]?.array ?? [] {
            rows.append([
                flow["flow"]?.string ?? "?", String(flow["version"]?.integer ?? 0), String(flow["jobs"]?.integer ?? 0),
                String(flow["shard"]?.integer ?? 0), Formatting.time(flow["applied"]?.integer ?? 0),
            ])
        }
        for line in Formatting.table(rows) { console.out(line) }
        if let next = body["next"]?.string { console.out("more: baton flows --after \(next)") }
        return .success
    }
}

extension ClientCommands {
    /// `products`: every product with its shard and its share of the shard's workers.
    static func products(limit: Int?, after: String?, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let body = try Client(target).call("products", page(limit: limit, after: after))
        if json {
            console.out(body.rendered(pretty: true))
            return .success
        }
        var rows = [["PRODUCT", "SHARD", "FLOWS", "JOBS/S", "HELD", "WEIGHT", "CAP", "RATE", "BURST", "PRIORITY", "KEY WEIGHTS", "MOVE"]]
        for product in body["products"]?.array ?? [] {
            let cap = product["cap"]?.integer ?? 0
            let rate = product["rate"]?.integer ?? 0
            let burst = product["burst"]?.integer ?? 0
            let keys = (product["key_weights"]?.members ?? []).map { "\($0.key)=\($0.value.integer ?? 1)" }
            rows.append([
                product["product"]?.string ?? "?", String(product["shard"]?.integer ?? 0), String(product["flows"]?.integer ?? 0),
                String(format: "%.2f", product["load"]?.double ?? 0), product["held"]?.bool == true ? "held" : "-",
                String(product["weight"]?.integer ?? 1), cap == 0 ? "-" : String(cap), rate == 0 ? "-" : "\(rate)/h",
                burst == 0 ? "-" : String(burst), product["priority_over_fairness"]?.bool == true ? "over fairness" : "-",
                keys.isEmpty ? "-" : keys.joined(separator: " "), move(product["move"]),
            ])
        }
        for line in Formatting.table(rows) { console.out(line) }
        if let next = body["next"]?.string { console.out("more: baton products --after \(next)") }
        for shard in body["drained"]?.array ?? [] {
            let id = shard.integer ?? 0
            console.out("shard \(id) is drained: no new product is bound to it and none moves onto it (`baton undrain \(id)` opens it again)")
        }
        return .success
    }

    /// A product's move in a few words: `to shard 2 (asked)`, or `finishing on shard 1: 3 runs`.
    private static func move(_ move: JSON?) -> String {
        guard let move else { return "-" }
        if let to = move["to"]?.integer { return "to shard \(to) (asked)" }
        let finishing = (move["finishing"]?.array ?? []).map { entry in
            let runs = entry["open_runs"]?.integer ?? 0
            return "shard \(entry["shard"]?.integer ?? 0): \(runs) run\(runs == 1 ? "" : "s")"
        }
        return "finishing on " + finishing.joined(separator: ", ")
    }

    /// Every product, read page after page, the cluster's shards, and those drained: for `drain` and `rebalance`.
    static func everyProduct(from client: Client) throws(CommandFailure) -> (products: [JSON], shards: [UInt32], drained: Set<UInt32>) {
        var products: [JSON] = []
        var shards: [UInt32] = []
        var drained: Set<UInt32> = []
        var after: String?
        repeat {
            let body = try client.call("products", page(limit: 10_000, after: after))
            products += body["products"]?.array ?? []
            shards = (body["shards"]?.array ?? []).compactMap { $0.integer.map(UInt32.init) }
            drained = Set((body["drained"]?.array ?? []).compactMap { $0.integer.map(UInt32.init) })
            after = body["next"]?.string
        } while after != nil
        return (products, shards, drained)
    }

    /// Calls an admin method that changes something, with a request ID made up for it, sent again with the
    /// same ID if management does not answer: the first call may have been applied and its answer lost.
    static func callOnce(_ client: Client, _ method: String, _ fields: [(String, JSON)], request: String) throws(CommandFailure) -> JSON {
        let body = JSON.object(fields + [("request", .string(request))])
        do {
            return try client.call(method, body)
        } catch where error.code == .unavailable {
            return try client.call(method, body)
        }
    }

    /// `drain SHARD`: marks the shard drained in management (no new product is bound to it, and none
    /// moves onto it, until `undrain`), then moves every product bound to it, one at a time, the most
    /// loaded first, to the shard not drained with the least load then (measured, as `products` gives
    /// it), then the fewest products. Its open runs finish on the drained shard. Drained again, it moves
    /// what is left on it (an interrupted drain goes on).
    static func drain(shard: UInt32, actor: String, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let client = try Client(target)
        let (_, shards, drainedBefore) = try everyProduct(from: client)
        guard shards.contains(shard) else {
            throw CommandFailure(code: .usage, message: "shard \(shard) is not one of the cluster's (\(shards.map(String.init).joined(separator: ", ")))")
        }
        let others = shards.filter { $0 != shard }
        guard !others.isEmpty else { throw CommandFailure(code: .failure, message: "shard \(shard) is the cluster's only shard: there is nowhere to move to") }
        guard others.contains(where: { !drainedBefore.contains($0) }) else {
            throw CommandFailure(
                code: .failure,
                message: "every other shard is drained (\(others.map(String.init).joined(separator: ", "))): there is nowhere to move shard \(shard)'s "
                    + "products; `baton undrain SHARD` opens one again")
        }
        // Marked first, so that no product is bound to it or moved onto it while its products leave.
        let marked = try callOnce(
            client, "drain", [("shard", .number(shard)), ("actor", .string(actor))], request: "drain-\(shard)-\(UInt64.random(in: 1...UInt64.max))")
        if !json { console.out(marked["detail"]?.string ?? "shard \(shard) is drained") }
        let (products, _, drained) = try everyProduct(from: client)
        let open = shards.filter { !drained.contains($0) }
        guard !open.isEmpty else {
            throw CommandFailure(code: .failure, message: "every shard is drained now: there is nowhere to move shard \(shard)'s products; `baton undrain SHARD` opens one again")
        }
        var load = Dictionary(uniqueKeysWithValues: open.map { ($0, (jobs: 0.0, products: 0)) })
        for product in products {
            guard let bound = product["shard"]?.integer, load[UInt32(bound)] != nil else { continue }
            load[UInt32(bound)]!.jobs += product["load"]?.double ?? 0
            load[UInt32(bound)]!.products += 1
        }
        let leaving = products.filter { $0["shard"]?.integer == Int64(shard) }
            .compactMap { product in product["product"]?.string.map { ($0, product["load"]?.double ?? 0) } }
            .sorted { ($1.1, $0.0) < ($0.1, $1.0) }
        var moved: [JSON] = []
        for (product, jobs) in leaving {
            let to = open.min { (load[$0]!.jobs, load[$0]!.products, $0) < (load[$1]!.jobs, load[$1]!.products, $1) }!
            let reply = try callOnce(
                client, "move", [("product", .string(product)), ("to", .number(to)), ("actor", .string(actor))],
                request: "drain-\(shard)-\(product)-\(UInt64.random(in: 1...UInt64.max))")
            load[to]!.jobs += jobs
            load[to]!.products += 1
            moved.append(.object([("product", .string(product)), ("to", .number(to)), ("detail", reply["detail"] ?? .string(""))]))
            if !json { console.out(reply["detail"]?.string ?? "product \(product) moves to shard \(to)") }
        }
        if json {
            console.out(JSON.object([("shard", .number(shard)), ("drained", .bool(true)), ("moved", .array(moved))]).rendered(pretty: true))
        } else if leaving.isEmpty {
            console.out("no product is bound to shard \(shard)")
        } else {
            console.out("shard \(shard) takes no new runs; its open runs finish there (baton products shows them)")
        }
        return .success
    }

    /// `undrain SHARD`: opens a drained shard again, to new products and to moves.
    static func undrain(shard: UInt32, actor: String, json: Bool, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        let reply = try callOnce(
            try Client(target), "undrain", [("shard", .number(shard)), ("actor", .string(actor))],
            request: "undrain-\(shard)-\(UInt64.random(in: 1...UInt64.max))")
        console.out(json ? reply.rendered(pretty: true) : reply["detail"]?.string ?? "shard \(shard) is open again")
        return .success
    }

    /// An operator action: sent with a request ID (made up when not given, and the same for the retry after
    /// a timeout) so that it applies once, and printed as the orchestrator answered it.
    static func act(_ action: OperatorAction, target: Target, console: any Console) throws(CommandFailure) -> ExitCode {
        var body: [(String, JSON)] = [("actor", .string(action.actor))]
        let request = action.request ?? "cli-\(UInt64.random(in: 1...UInt64.max))"
        body.append(("request", .string(request)))
        if let run = action.run { body.append(("run", .number(run))) }
        if let product = action.product { body.append(("product", .string(product))) }
        if let job = action.job { body.append(("job", .string(job))) }
        if action.downstream { body.append(("downstream", .bool(true))) }
        if action.fresh { body.append(("fresh", .bool(true))) }
        for (field, value) in action.policy.sorted(by: { $0.key < $1.key }) { body.append((field, .number(value))) }
        if let flag = action.priorityOverFairness { body.append(("priority_over_fairness", .bool(flag))) }
        if !action.keyWeights.isEmpty {
            body.append(("key_weights", .object(action.keyWeights.sorted { $0.key < $1.key }.map { ($0.key, .number($0.value)) })))
        }
        if let priority = action.priority { body.append(("priority", .string(RunPriority.name(priority)))) }
        if let to = action.to { body.append(("to", .number(to))) }
        let client = try Client(target)
        let reply: JSON
        do {
            reply = try client.call(action.method, .object(body))
        } catch where error.code == .unavailable {
            // The first call may have been applied and its answer lost: the same request ID applies it once.
            reply = try client.call(action.method, .object(body))
        }
        if action.json {
            console.out(reply.rendered(pretty: true))
        } else {
            console.out(reply["detail"]?.string ?? "done")
        }
        return .success
    }

    /// `history`: who did what to a run or a product, or what one actor did, oldest first.
    static func history(
        run: UInt64?, product: String?, actor: String?, page: HistoryPage, json: Bool, target: Target, console: any Console
    ) throws(CommandFailure) -> ExitCode {
        var body: [(String, JSON)] = []
        if let run { body.append(("run", .number(run))) }
        if let product { body.append(("product", .string(product))) }
        if let actor { body.append(("actor", .string(actor))) }
        if let limit = page.limit { body.append(("limit", .number(limit))) }
        if let before = page.before { body.append(("before", .number(before))) }
        let reply = try Client(target).call("history", .object(body))
        if json {
            console.out(reply.rendered(pretty: true))
            return .success
        }
        let actions = reply["actions"]?.array ?? []
        guard !actions.isEmpty else {
            console.out(
                run.map { "no operator actions on run \($0)" } ?? product.map { "no operator actions on product \($0)" }
                    ?? "no operator actions by \(actor ?? "")")
            return .success
        }
        var rows = [["TIME", "ACTOR", "ACTION", "ON", "OUTCOME", "DETAIL"]]
        for entry in actions {
            // A refusal grouped over many requests (a viewer's, say) is on no one run or product.
            let product = entry["product"]?.string ?? ""
            var subject = (entry["run"]?.integer ?? 0) > 0 ? "run \(entry["run"]?.integer ?? 0)" : product.isEmpty ? "-" : "product \(product)"
            if let job = entry["job"]?.string, !job.isEmpty { subject += " job \(job)" }
            if let options = entry["options"]?.string, !options.isEmpty { subject += " (\(options))" }
            var detail = entry["detail"]?.string ?? ""
            if let comment = entry["comment"]?.string, !comment.isEmpty { detail = detail.isEmpty ? comment : "\(detail); \(comment)" }
            rows.append([
                Formatting.time(entry["time"]?.integer ?? 0), entry["actor"]?.string ?? "", entry["action"]?.string ?? "",
                subject, entry["outcome"]?.string ?? "", detail,
            ])
        }
        for line in Formatting.table(rows) { console.out(line) }
        if let next = reply["next"]?.integer { console.out("older actions: the same command with --before \(next)") }
        return .success
    }
}

/// A console that discards everything.
final class SilentConsole: Console {
    func out(_ text: String) {}
    func err(_ text: String) {}
}
