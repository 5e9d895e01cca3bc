import Core
import Foundation

/// How the CLI shows times, durations and tables.
enum Formatting {
    /// `2026-11-22 09:03:00` in local time, for milliseconds since the epoch; `-` for 0.
    static func time(_ milliseconds: Int64) -> String {
        guard milliseconds > 0 else { return "-" }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// `12ms`, `1.6s`, `2m03s`, `1h02m`.
    static func duration(_ milliseconds: Int64) -> String {
        if milliseconds < 1000 { return "\(max(0, milliseconds))ms" }
        if milliseconds < 60_000 { return String(format: "%.1fs", Double(milliseconds) / 1000) }
        let seconds = milliseconds / 1000
        if seconds < 3600 { return String(format: "%dm%02ds", seconds / 60, seconds % 60) }
        return String(format: "%dh%02dm", seconds / 3600, seconds / 60 % 60)
    }

    /// The duration between two wire times, `-` if either is unset.
    static func span(_ start: Int64?, _ end: Int64?) -> String {
        guard let start, let end, start > 0, end >= start else { return "-" }
        return duration(end - start)
    }

    /// Rows aligned in columns, two spaces apart; the last column is not padded.
    static func table(_ rows: [[String]]) -> [String] {
        guard let width = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 1) }
                .joined(separator: " ")
        }
    }

    /// Where an attempt's output went, without this host's name, and relative to the working directory
    /// when it is below it.
    static func output(_ location: String) -> String {
        guard let colon = location.firstIndex(of: ":") else { return location }
        let host = String(location[..<colon])
        guard host == ProcessInfo.processInfo.hostName || host == localHost else { return location }
        let path = String(location[location.index(after: colon)...])
        let here = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(here) ? String(path.dropFirst(here.count)) : path
    }

    static let localHost: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// The lines of `status RUN`: a summary, then a table of jobs.
    static func runDetail(_ body: JSON) -> [String] {
        let run = body["run"] ?? .object([])
        let state = run["state"]?.string ?? "?"
        let started = run["started"]?.integer ?? 0
        let finished = run["finished"]?.integer ?? 0
        var lines = [
            "run \(run["run"]?.integer ?? 0)  \(run["flow"]?.string ?? "?") v\(run["version"]?.integer ?? 0)  \(state)"
                + (finished > 0 ? " in \(span(started, finished))" : ""),
            "started \(time(started))  shard \(run["shard"]?.integer ?? 0)  entry moment \(run["moment"]?.integer ?? 0)"
                + priority(run["priority"]),
        ]
        if let detail = run["detail"]?.string, !detail.isEmpty { lines.append("detail: \(detail)") }
        lines.append("")
        lines += table(jobRows(body))
        return lines
    }

    /// `  priority 1` for a run not at the default priority 3; empty otherwise.
    static func priority(_ value: JSON?) -> String {
        if let text = value?.string { return "  priority \(text)" }
        guard let number = value?.integer, number != 3 else { return "" }
        return "  priority \(number)"
    }

    /// One row per job: its state, the step it is at (for jobs of several steps), its tasks by state
    /// (partitions of the current step; `done` counts earlier steps' too), how long it took, and its output
    /// or why it is in its state.
    static func jobRows(_ body: JSON) -> [[String]] {
        var rows = [["JOB", "STATE", "STEP", "ATTEMPTS", "TASKS", "DURATION", "OUTPUT / DETAIL"]]
        for job in body["jobs"]?.array ?? [] {
            let tasks = job["tasks"] ?? .object([])
            let counts = [("done", "succeeded"), ("running", "running"), ("waiting", "pending"), ("failed", "failed")].compactMap {
                label, field -> String? in
                let count = tasks[field]?.integer ?? 0
                return count > 0 ? "\(count) \(label)" : nil
            }
            let state = job["state"]?.string ?? "?"
            let steps = job["steps"]?.integer ?? 1
            let detail = job["detail"]?.string ?? ""
            let output = Formatting.output(job["output"]?.string ?? "")
            // A detail says why a job did not succeed, or, for one succeeded without an attempt, that an
            // operator marked it so.
            let marked = state == "succeeded" && (job["attempts"]?.integer ?? 0) == 0
            var last = (["failed", "skipped", "retrying", "cancelled"].contains(state) || marked) && !detail.isEmpty ? detail : output
            if let waiting = job["waiting"], let why = waiting["why"]?.string {
                last = why + (waiting["estimate"]?.integer.map { "; starts in about \(duration($0))" } ?? "")
            }
            let started = job["started"]?.integer ?? 0
            let finished = job["finished"]?.integer ?? 0
            let took = state == "running" && started > 0 && finished == 0
                ? duration(Int64(Date().timeIntervalSince1970 * 1000) - started) + "…" : span(job["started"]?.integer, job["finished"]?.integer)
            rows.append([
                job["job"]?.string ?? "?", state, steps > 1 ? "\((job["step"]?.integer ?? 0) + 1)/\(steps)" : "-",
                String(job["attempts"]?.integer ?? 0), counts.isEmpty ? "-" : counts.joined(separator: ", "),
                took, last.isEmpty ? "-" : last,
            ])
        }
        return rows
    }

    /// The lines of a list of runs.
    static func runList(_ runs: [JSON]) -> [String] {
        var rows = [["RUN", "FLOW", "STATE", "JOBS", "STARTED", "DURATION"]]
        for run in runs {
            let jobs = run["jobs"]?.integer ?? 0
            rows.append([
                String(run["run"]?.integer ?? 0), run["flow"]?.string ?? "?", run["state"]?.string ?? "?",
                "\(run["succeeded"]?.integer ?? 0)/\(jobs)", time(run["started"]?.integer ?? 0),
                span(run["started"]?.integer, (run["finished"]?.integer).flatMap { $0 > 0 ? $0 : nil }),
            ])
        }
        return table(rows)
    }
}
