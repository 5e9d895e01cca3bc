import Core
import Foundation
import Runtime
import Store
import Testing
import Wire

/// Command batches (a job's `"batch": N`): one process runs a batch of a job's tasks, through every
/// service over real sockets, real child processes and SQLite files.
@Suite(.serialized) struct CommandBatchTests {
    /// One attempt of a task as its shard recorded it.
    struct TaskRow {
        var generation: Int
        var partition: Int
        var state: TaskState?
        var attempt: Int
        var exitCode: Int
        var log: String
        var error: String
        var data: [UInt8]
    }

    /// The tasks of `job` in `run`, of every generation of the job, from the shard's store (read after the
    /// cluster stopped).
    static func tasks(_ folder: String, run: UInt64, job: String) throws -> [TaskRow] {
        let store = try ShardStore(path: "\(folder)/shard-1/shard.db")
        let statement = try store.database.prepare(
            """
            SELECT j.generation, t.partition, t.state, t.attempt, t.exit_code, t.log, t.error, t.data
            FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE j.run = ? AND j.job = ? ORDER BY j.generation, t.partition
            """)
        return try statement.rows(.integer(Int64(run)), .text(job)) { row in
            TaskRow(
                generation: row.int(0), partition: row.int(1), state: TaskState(rawValue: UInt8(row.int(2))), attempt: row.int(3),
                exitCode: row.int(4), log: row.text(5), error: row.text(6), data: row.blob(7))
        }
    }

    /// The path of a `host:path` log field.
    static func path(_ log: String) -> String {
        guard let colon = log.firstIndex(of: ":") else { return log }
        return String(log[log.index(after: colon)...])
    }

    /// The partitions a batch log's name says it holds: `<job>.batch-<first>-<last>.set-<set>.log`.
    static func range(_ log: String) -> ClosedRange<Int>? {
        let name = (path(log) as NSString).lastPathComponent
        // A rerun's logs carry `.rerun-N` after the job's name.
        let parts = name.split(separator: ".").filter { !$0.hasPrefix("rerun-") }
        guard parts.count == 4, parts[3] == "log", parts[2].hasPrefix("set-"), parts[1].hasPrefix("batch-") else { return nil }
        let bounds = parts[1].dropFirst(6).split(separator: "-").compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return nil }
        return bounds[0]...bounds[1]
    }

    /// Writes a script file and returns its path.
    static func script(_ folder: String, _ name: String, _ text: String) throws -> String {
        let path = "\(folder)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Splits each line of the batch file into its six fields, keeping empty ones (the shell's `read`
    /// with a tab in IFS would join them), as docs/flows.md shows.
    static let readBatch = #"""
        tab=$(printf '\t')
        while IFS= read -r line; do
            task=${line%%"$tab"*};      line=${line#*"$tab"}
            attempt=${line%%"$tab"*};   line=${line#*"$tab"}
            partition=${line%%"$tab"*}; line=${line#*"$tab"}
            key=${line%%"$tab"*};       line=${line#*"$tab"}
            result=${line%%"$tab"*};    inputs=${line#*"$tab"}
        """#

    @Test func aJobOfTwentyPartitionsRunsInBatchesOfAtMostFiveAndHandsItsResultsOn() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 2
            options.slots = 4
            options.timer = false
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            // Each batch writes one trace line: its size, then partition.attempt of each task. Partition 7
            // fails until the file `fixed` exists; every other task's result is `p<partition>`. A line that
            // is overridden, one that does not parse and one naming a stranger test the status file's rules.
            let batch = try Self.script(
                folder, "part.sh",
                #"""
                echo "per-task: ${BATON_TASK-unset} ${BATON_ATTEMPT-unset} ${BATON_PARTITION-unset} ${BATON_PARTITION_KEY-unset} ${BATON_RESULT-unset} ${BATON_INPUTS-unset}"
                echo "shared: $BATON_JOB $BATON_STEP_NAME $BATON_PARTITIONS $BATON_PARAM_dir"
                seen="$BATON_BATCH_SIZE"
                """# + "\n" + Self.readBatch + "\n" + #"""
                    seen="$seen $partition.$attempt"
                    if [ "$partition" = 7 ] && [ ! -e "$BATON_PARAM_dir/fixed" ]; then
                        printf '%s\tok\n%s\tfailed\tpartition 7 is not balanced\n' "$task" "$task" >> "$BATON_BATCH_STATUS"
                    else
                        printf 'p%s' "$partition" > "$result"
                        printf '%s\tfailed\tnot yet\n%s\tok\n' "$task" "$task" >> "$BATON_BATCH_STATUS"
                    fi
                done < "$BATON_BATCH"
                printf 'nonsense\n99999999\tok\n' >> "$BATON_BATCH_STATUS"
                echo "$seen" >> "$BATON_PARAM_dir/trace"
                """#)
            let gather = #"cut -f5 "$BATON_INPUTS/index" | while read f; do cat "$BATON_INPUTS/$f"; echo; done > "$BATON_PARAM_dir/sum""#
            try client.apply([
                DistributedJobTests.flow("ledger", "batched", [
                    .object([("name", .string("part")), ("run", .string("sh \"\(batch)\"")), ("partitions", .number(20)), ("batch", .number(5))]),
                    .object([("name", .string("sum")), ("after", .array([.string("part")])), ("inputs", .array([.string("part")])), ("run", .string(gather))]),
                ])
            ])

            // The first run: partition 7 fails, with the reason its batch gave; the others succeed.
            let run = try client.start("ledger/batched", params: ["dir": folder])
            let failed = try client.waitForRun(run)
            #expect(failed["run"]?["state"]?.string == "failed")
            let part = try #require(job(failed, "part"))
            #expect(part["tasks"]?["succeeded"]?.integer == 19 && part["tasks"]?["failed"]?.integer == 1, "\(part.rendered())")
            #expect(part["detail"]?.string == "partition 7 is not balanced", "\(part.rendered())")
            #expect(job(failed, "sum")?["state"]?.string == "skipped")
            let first = DistributedJobTests.trace("\(folder)/trace")
            #expect(first.allSatisfy { Int($0[0]) == $0.count - 1 }, "each batch saw BATON_BATCH_SIZE lines: \(first)")
            #expect(first.allSatisfy { (1...5).contains($0.count - 1) }, "no batch held more than 5 tasks: \(first)")
            #expect(first.flatMap { $0.dropFirst() }.sorted() == (0..<20).map { "\($0).1" }.sorted(), "every partition ran once, in one batch: \(first)")
            #expect(first.contains { $0.count > 2 }, "tasks went in batches: \(first)")

            // Rerun from failure: partition 7 runs again, alone, and succeeds; the results reach `sum`.
            #expect(FileManager.default.createFile(atPath: "\(folder)/fixed", contents: Data()))
            #expect(try DistributedJobTests.act(client, "rerun", [("run", .number(run))], request: "rerun-1").status == .ok)
            let succeeded = try client.waitForRun(run)
            #expect(succeeded["run"]?["state"]?.string == "succeeded", "\(succeeded.rendered())")
            let second = DistributedJobTests.trace("\(folder)/trace").dropFirst(first.count)
            #expect(second.map { $0.dropFirst().map { $0.split(separator: ".")[0] } } == [["7"]], "partition 7 alone: \(second)")
            #expect(try String(contentsOfFile: "\(folder)/sum", encoding: .utf8) == (0..<20).map { "p\($0)\n" }.joined())
            cluster.stop()

            // Each task's log is its batch's log, which holds what the batch printed and what the worker
            // ignored of its status file; the scratch folders are gone.
            // The rerun's generation copies the other partitions' results, without running them.
            let rows = try Self.tasks(folder, run: run, job: "part").filter { $0.generation == 0 || $0.partition == 7 }
            #expect(rows.count == 21)
            let failedRow = try #require(rows.first { $0.state == .failed })
            #expect(failedRow.partition == 7 && failedRow.error == "partition 7 is not balanced" && failedRow.exitCode == 0)
            for row in rows {
                let range = Self.range(row.log)
                #expect(range?.contains(row.partition) == true, "partition \(row.partition)'s log: \(row.log)")
                #expect(FileManager.default.fileExists(atPath: Self.path(row.log)), "\(row.log)")
                if row.state == .succeeded { #expect(row.data == Array("p\(row.partition)".utf8)) }
            }
            let last = try #require(rows.last { $0.partition == 7 })
            #expect(last.state == .succeeded && Self.range(last.log) == 7...7, "\(last)")
            let log = try String(contentsOfFile: Self.path(failedRow.log), encoding: .utf8)
            #expect(log.contains("per-task: unset unset unset unset unset unset\n"), "\(log)")
            #expect(log.contains("shared: part part 20 \(folder)\n"), "\(log)")
            #expect(
                log.hasSuffix(
                    "baton: ignored 2 lines of the batch status file: 1 not of the form task<TAB>ok or task<TAB>failed<TAB>why, "
                        + "1 naming a task not in the batch\n"), "\(log)")
            let left = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/pool-dev/logs/\(run)").filter { $0.hasSuffix(".d") }
            #expect(left.isEmpty, "scratch folders left: \(left)")
        }
    }

    @Test func tasksABatchDoesNotReportFailWithWhyAndAFailedProcessGivesItsExitStatus() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 1
            options.slots = 2
            options.timer = false
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            // `quiet` reports partition 0 only and exits 0. `crash` fails partition 0 in its own words,
            // reports partition 1 ok, prints why it gives up and exits 3.
            let quiet = try Self.script(
                folder, "quiet.sh",
                Self.readBatch + "\n" + #"""
                    if [ "$partition" = 0 ]; then printf '%s\tok\n' "$task" >> "$BATON_BATCH_STATUS"; fi
                done < "$BATON_BATCH"
                """#)
            let crash = try Self.script(
                folder, "crash.sh",
                Self.readBatch + "\n" + #"""
                    case "$partition" in
                        0) printf '%s\tfailed\trow 12 has no amount\n' "$task" >> "$BATON_BATCH_STATUS" ;;
                        1) printf 'done' > "$result"; printf '%s\tok\n' "$task" >> "$BATON_BATCH_STATUS" ;;
                    esac
                done < "$BATON_BATCH"
                echo "disk full"
                exit 3
                """#)
            try client.apply([
                DistributedJobTests.flow("ledger", "partial", [
                    .object([("name", .string("quiet")), ("run", .string("sh \"\(quiet)\"")), ("partitions", .number(4)), ("batch", .number(4))]),
                    .object([("name", .string("crash")), ("run", .string("sh \"\(crash)\"")), ("partitions", .number(4)), ("batch", .number(4))]),
                ])
            ])
            let run = try client.start("ledger/partial", params: ["dir": folder])
            let ended = try client.waitForRun(run)
            #expect(ended["run"]?["state"]?.string == "failed")
            cluster.stop()

            let quietRows = try Self.tasks(folder, run: run, job: "quiet")
            #expect(quietRows.map(\.state) == [.succeeded, .failed, .failed, .failed])
            #expect(quietRows.dropFirst().allSatisfy { $0.error == "the batch command did not report on this task" && $0.exitCode == 0 })

            let crashRows = try Self.tasks(folder, run: run, job: "crash")
            #expect(crashRows.map(\.state) == [.failed, .succeeded, .failed, .failed])
            #expect(crashRows.allSatisfy { $0.exitCode == 3 })
            #expect(crashRows[0].error == "row 12 has no amount")
            #expect(crashRows[1].data == Array("done".utf8))
            #expect(crashRows[2].error == "exit status 3: disk full" && crashRows[3].error == "exit status 3: disk full", "\(crashRows)")
        }
    }

    @Test func aBatchPastItsTimeoutIsStoppedAsOneAndEveryTaskTimesOut() throws {
        try withTemporaryFolder { folder in
            var options = EmbeddedCluster.Options(data: folder)
            options.workers = 1
            options.slots = 1
            options.timer = false
            let cluster = try EmbeddedCluster(options)
            defer { cluster.stop() }
            let client = try APIClient(endpoint: cluster.api[0], context: cluster.context)
            try client.apply([
                DistributedJobTests.flow("ledger", "slow", [
                    .object([
                        ("name", .string("slow")), ("run", .string("sleep 30")), ("partitions", .number(3)), ("batch", .number(3)),
                        ("timeout", .string("300ms")),
                    ])
                ])
            ])
            let run = try client.start("ledger/slow", params: ["dir": folder])
            let ended = try client.waitForRun(run, limit: 20_000)
            #expect(ended["run"]?["state"]?.string == "failed")
            cluster.stop()
            let rows = try Self.tasks(folder, run: run, job: "slow")
            #expect(rows.count == 3)
            #expect(rows.allSatisfy { $0.error == "timed out after 300ms" && $0.exitCode == -15 }, "\(rows)")
        }
    }
}
