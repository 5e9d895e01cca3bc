@testable import Commands
import Core
import Testing

@Suite struct LogsHeaderTests {
    /// Found by a new user after a move: an attempt that ran on the shard its run was handed over from was
    /// shown "on :", its worker unknown to the shard asked. It says where it ran instead.
    @Test func anAttemptWhoseWorkerIsUnknownHereSaysItRanOnTheShardTheRunMovedFrom() throws {
        let moved = try JSONParser.parse(#"{"attempt": 1, "worker": "", "state": "away", "step": 0, "partition": 0}"#)
        #expect(LogsCommand.header(moved, job: "a", partitioned: false) == "== a attempt 1 on the shard its run moved from: away ==")
        let here = try JSONParser.parse(#"{"attempt": 2, "worker": "vm/dev/1", "state": "succeeded", "exit": 0, "step": 1, "partition": 3}"#)
        #expect(LogsCommand.header(here, job: "b", partitioned: true) == "== b[step 2 3] attempt 2 on vm/dev/1: succeeded, exit 0 ==")
    }
}

@Suite struct LogsFollowTests {
    /// Found by a new user after a move: `logs --follow` of an attempt still running on the shard its run
    /// was handed over from (`away`) returned at once with no output, as if it had ended.
    @Test func anAttemptAwayIsFollowedUntilItEndsAsOneRunningHere() throws {
        for (state, underway) in [("running", true), ("away", true), ("succeeded", false), ("retrying", false), ("lost", false), ("cancelled", false)] {
            let attempt = try JSONParser.parse(#"{"attempt": 1, "worker": "", "state": "\#(state)", "step": 0, "partition": 0}"#)
            #expect(LogsCommand.underway(attempt) == underway, "\(state)")
        }
    }
}

@Suite struct StatusRowsTests {
    /// Found by a new user: a job marked succeeded by an operator showed "-", with nothing saying why it
    /// succeeded without an attempt; one that ran shows its output as ever.
    @Test func aJobMarkedSucceededSaysSo() throws {
        let body = try JSONParser.parse(#"""
            {"jobs": [
              {"job": "j1", "state": "succeeded", "attempts": 0, "detail": "marked succeeded by an operator", "output": ""},
              {"job": "j2", "state": "succeeded", "attempts": 2, "detail": "exit status 3", "output": ""},
              {"job": "j3", "state": "failed", "attempts": 1, "detail": "exit status 3", "output": "h:/l/j3.1.log"}]}
            """#)
        #expect(Formatting.jobRows(body).dropFirst().map(\.last) == ["marked succeeded by an operator", "-", "exit status 3"])
    }
}
