import Core
import Testing

@Suite struct FlowFileTests {
    static let example = """
        {"product": "payments", "flow": "end-of-day", "params": {"region": "north"},
         "jobs": [
           {"name": "extract", "run": "echo extracting $BATON_PARAM_region"},
           {"name": "check",   "after": ["extract"], "run": "./check.sh", "retries": 2, "timeout": "30s"},
           {"name": "load",    "after": ["extract"], "handler": "load-ledger"},
           {"name": "report",  "after": ["check", "load"], "run": "echo done"}]}
        """

    func problems(_ text: String) -> [String] {
        switch FlowFile.parse(text, file: "f.json") {
        case .success: []
        case .failure(let error): error.problems.map(\.description)
        }
    }

    @Test func theIssuesExampleIsValid() throws {
        let flow = try FlowFile.parse(Self.example, file: "eod.json").get()
        #expect(flow.product == "payments")
        #expect(flow.flow == "end-of-day")
        #expect(flow.params == ["region": "north"])
        #expect(flow.jobs.map(\.name) == ["extract", "check", "load", "report"])
        #expect(flow.jobs[1].retries == 2)
        #expect(flow.jobs[1].timeout == 30_000)
        #expect(flow.jobs[2].action == .handler("load-ledger"))
        #expect(flow.jobs[3].after == ["check", "load"])
        // A job's type is its own, within its product, unless the flow declares one.
        #expect(flow.jobs[0].effectiveType(flow: flow.flow) == "end-of-day/extract")
        #expect(flow.jobs[2].effectiveType(flow: flow.flow) == "end-of-day/load")
    }

    @Test func canonicalJSONReadsBackToTheSameDefinition() throws {
        let flow = try FlowFile.parse(Self.example, file: "eod.json").get()
        let again = try FlowFile.parse(flow.json.rendered(), file: "canonical").get()
        #expect(again == flow)
        let full = """
            {"product": "p", "flow": "f", "description": "d", "jobs": [
              {"name": "a", "run": "true", "backoff": "2s", "priority": -3, "params": {"x": 1, "y": true},
               "type": "t", "tags": ["gpu"], "description": "job a"}]}
            """
        let rich = try FlowFile.parse(full, file: "f").get()
        #expect(rich.jobs[0].params == ["x": "1", "y": "true"])
        #expect(try FlowFile.parse(rich.json.rendered(), file: "c").get() == rich)
    }

    @Test func cycleIsReportedNamingItsJobsInOrder() {
        let text = """
            {"product": "p", "flow": "f", "jobs": [
              {"name": "a", "run": "true", "after": ["c"]},
              {"name": "b", "run": "true", "after": ["a"]},
              {"name": "c", "run": "true", "after": ["b"]},
              {"name": "d", "run": "true", "after": ["a"]}]}
            """
        #expect(
            problems(text) == [
                "f.json:2:3: job \"a\": field \"after\": the jobs \"a\" → \"c\" → \"b\" → \"a\" form a cycle, so none of them can start"
            ])
    }

    @Test func twoSeparateCyclesAreBothReported() {
        let text = """
            {"product": "p", "flow": "f", "jobs": [
              {"name": "a", "run": "true", "after": ["b"]}, {"name": "b", "run": "true", "after": ["a"]},
              {"name": "x", "run": "true", "after": ["y"]}, {"name": "y", "run": "true", "after": ["x"]}]}
            """
        let found = problems(text)
        #expect(found.count == 2)
        #expect(found[0].contains("\"a\" → \"b\" → \"a\""))
        #expect(found[1].contains("\"x\" → \"y\" → \"x\""))
    }

    @Test func jobAfterItselfIsReported() {
        let text = #"{"product": "p", "flow": "f", "jobs": [{"name": "a", "run": "true", "after": ["a"]}]}"#
        #expect(problems(text) == ["f.json:1:78: job \"a\": field \"after\": a job cannot run after itself"])
    }

    @Test func unknownDependencyIsReportedWithASuggestion() {
        let text = """
            {"product": "p", "flow": "f", "jobs": [
              {"name": "check", "run": "true"},
              {"name": "report", "after": ["chek", "nothing"], "run": "true"}]}
            """
        #expect(
            problems(text) == [
                "f.json:3:31: job \"report\": field \"after\": unknown job \"chek\" (did you mean \"check\"?)",
                "f.json:3:31: job \"report\": field \"after\": unknown job \"nothing\"",
            ])
    }

    @Test func duplicateJobNameIsReportedWithTheFirstOnesLine() {
        let text = """
            {"product": "p", "flow": "f", "jobs": [
              {"name": "load", "run": "true"},
              {"name": "load", "run": "false"}]}
            """
        #expect(problems(text) == ["f.json:3:3: job \"load\": field \"name\": the name is already used by the job at line 2"])
    }

    @Test func missingFieldsAreReported() {
        #expect(
            problems(#"{"jobs": [{"run": "true"}]}"#) == [
                "f.json:1:1: field \"product\": missing",
                "f.json:1:1: field \"flow\": missing",
                "f.json:1:11: job #1: field \"name\": missing",
            ])
        #expect(problems(#"{"product": "p", "flow": "f"}"#) == ["f.json:1:1: field \"jobs\": missing: a flow needs at least one job"])
        #expect(problems(#"{"product": "p", "flow": "f", "jobs": []}"#) == ["f.json:1:39: field \"jobs\": a flow needs at least one job"])
    }

    @Test func mistypedFieldsAreReportedWithWhatWasFound() {
        let text = """
            {"product": 7, "flow": "f", "params": [], "jobs": [
              {"name": "a", "run": "true", "retries": "two", "after": "b", "priority": 1.5, "tags": [1]},
              "not a job"]}
            """
        #expect(
            problems(text) == [
                "f.json:1:13: field \"product\": expected a name in a string, found a whole number",
                "f.json:1:39: field \"params\": expected an object of parameters, found an array",
                "f.json:2:59: job \"a\": field \"after\": expected an array of names, found a string",
                "f.json:2:43: job \"a\": field \"retries\": expected a whole number from 0 to 100, found a string",
                "f.json:2:76: job \"a\": field \"priority\": expected a whole number from -1000 to 1000, found 1.5",
                "f.json:2:90: job \"a\": field \"tags\": expected a name in a string, found a whole number",
                "f.json:3:3: job #2: expected a job object, found a string",
            ])
    }

    @Test func outOfRangeNumbersAreReported() {
        let text = #"{"product": "p", "flow": "f", "jobs": [{"name": "a", "run": "true", "retries": 101}]}"#
        #expect(problems(text) == ["f.json:1:80: job \"a\": field \"retries\": expected a whole number from 0 to 100, found 101"])
    }

    @Test func scheduleFieldsThatWouldBeIgnoredAreRefused() {
        let text = """
            {"product": "p", "flow": "f", "schedule": {"cron": "0 9 * * *", "calendar": "weekdays", "business_day": -1,
              "on_holiday": "next", "max_catch_up": 5}, "jobs": [{"name": "a", "run": "true"}]}
            """
        #expect(
            problems(text) == [
                "f.json:2:17: field \"schedule.on_holiday\": applies to the days the cron names; with business_day every firing is on a business day already",
                "f.json:2:41: field \"schedule.max_catch_up\": applies only with \"catch_up\": \"all\"",
            ])
    }

    /// Found by a new user: a schedule that can never fire was applied without a word, and seen only in
    /// `baton schedule`'s "no firings ahead".
    @Test func aScheduleThatCanNeverFireIsRefused() {
        let text = #"{"product": "p", "flow": "f", "schedule": {"cron": "0 0 30 2 *"}, "jobs": [{"name": "a", "run": "true"}]}"#
        #expect(problems(text) == ["f.json:1:57: field \"schedule.cron\": \"0 0 30 2 *\": column 5 (day-of-month): no date matches: February has no day 30, so it would never fire"])
    }

    @Test func unknownFieldsAreReportedWithASuggestion() {
        let text = """
            {"product": "p", "flow": "f", "shedule": "daily", "jobs": [
              {"name": "a", "run": "true", "retry": 2, "colour": "red"}]}
            """
        #expect(
            problems(text) == [
                "f.json:1:31: field \"shedule\": unknown field (did you mean \"schedule\"?)",
                "f.json:2:32: job \"a\": field \"retry\": unknown field (did you mean \"retries\"?)",
                "f.json:2:44: job \"a\": field \"colour\": unknown field (known fields: name, after, run, handler, partitions, steps, inputs, retries, timeout, backoff, priority, params, type, tags, description, on_failure, batch)",
            ])
    }

    @Test func repeatedFieldIsReported() {
        let text = #"{"product": "p", "flow": "f", "jobs": [{"name": "a", "run": "true", "run": "false"}]}"#
        #expect(problems(text) == ["f.json:1:69: job \"a\": field \"run\": given twice (first at line 1)"])
    }

    @Test func bothOrNeitherOfRunAndHandlerIsReported() {
        let text = """
            {"product": "p", "flow": "f", "jobs": [
              {"name": "both", "run": "true", "handler": "h"},
              {"name": "neither"}]}
            """
        #expect(
            problems(text) == [
                "f.json:2:3: job \"both\": give either \"run\" (a command) or \"handler\", not both",
                "f.json:3:3: job \"neither\": missing \"run\" (a command) or \"handler\": a job must run something",
            ])
    }

    @Test func malformedDurationsAreReported() {
        let text = """
            {"product": "p", "flow": "f", "jobs": [
              {"name": "a", "run": "true", "timeout": "30 seconds", "backoff": 5},
              {"name": "b", "run": "true", "timeout": "0s"}]}
            """
        #expect(
            problems(text) == [
                "f.json:2:43: job \"a\": field \"timeout\": \"30 seconds\" is not a duration (write e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\", \"2d\")",
                "f.json:2:68: job \"a\": field \"backoff\": expected a duration in a string such as \"30s\", found a whole number",
                "f.json:3:43: job \"b\": field \"timeout\": \"0s\" is out of range (more than 0, at most 7d)",
            ])
    }

    @Test func invalidNamesAreReported() {
        let text = """
            {"product": "pay ments", "flow": "-f", "params": {"1x": "a", "ok": {}}, "jobs": [
              {"name": "a/b", "run": "true", "handler": ""}]}
            """
        let found = problems(text)
        #expect(found.count == 6)
        #expect(found[0] == "f.json:1:13: field \"product\": \"pay ments\" is not a valid name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)")
        #expect(found.contains("f.json:1:51: field \"params.1x\": not a valid parameter name (letters, digits and '_', not starting with a digit)"))
        #expect(found.contains("f.json:1:68: field \"params.ok\": expected a string, number or Boolean, found an object"))
        #expect(found.contains { $0.hasPrefix("f.json:2:12: job #1: field \"name\": \"a/b\" is not a valid name") })
    }

    @Test func everyProblemOfAFileWithManyMistakesIsReportedAtOnce() {
        let text = """
            {"product": "payments", "flow": "eod", "jobs": [
              {"name": "extract", "run": "true", "retries": -1},
              {"name": "check", "after": ["extrac"], "run": "true", "timeout": "soon"},
              {"name": "check", "handler": "h", "run": "x"},
              {"name": "loop1", "after": ["loop2"], "run": "true"},
              {"name": "loop2", "after": ["loop1"], "run": "true", "colour": 1}]}
            """
        let found = problems(text)
        #expect(found.count == 6, "\(found)")
        #expect(found.contains { $0.contains("\"retries\"") })
        #expect(found.contains { $0.contains("\"timeout\"") })
        #expect(found.contains { $0.contains("not both") })
        #expect(found.contains { $0.contains("unknown job \"extrac\"") })
        #expect(found.contains { $0.contains("form a cycle") })
        #expect(found.contains { $0.contains("\"colour\"") })
    }

    @Test func invalidJSONIsReportedWithItsPosition() {
        #expect(problems("{\"product\": \"p\",\n  \"jobs\": [}") == ["f.json:2:12: invalid JSON: expected a value, found '}'"])
    }

    /// Found by an explorer: a NUL, escaped in valid JSON, was accepted in a command and a parameter, and
    /// cut what ran (`echo x\u0000y; echo z` ran `echo x`, and succeeded). Refused, naming the field.
    @Test func aNulInACommandOrAParameterIsRefused() {
        let found = problems(#"{"product": "p", "flow": "f", "params": {"p": "a\u0000b"}, "jobs": [{"name": "a", "run": "echo x\u0000y"}]}"#)
        #expect(found.count == 2, "\(found)")
        #expect(found.contains { $0.contains("field \"params.p\": contains a NUL") }, "\(found)")
        #expect(found.contains { $0.contains("job \"a\": field \"run\": contains a NUL") }, "\(found)")
    }

    @Test func failurePolicyIsReadForTheFlowAndEachJob() throws {
        let text = """
            {"product": "p", "flow": "f", "on_failure": "fail-run", "jobs": [
              {"name": "a", "run": "true"}, {"name": "b", "run": "true", "on_failure": "finish-branches"}]}
            """
        let flow = try FlowFile.parse(text, file: "f").get()
        #expect(flow.failurePolicy(of: 0) == .failRun)
        #expect(flow.failurePolicy(of: 1) == .finishBranches)
        #expect(try FlowFile.parse(flow.json.rendered(), file: "c").get() == flow)
        #expect(
            problems(#"{"product": "p", "flow": "f", "jobs": [{"name": "a", "run": "true", "on_failure": "stop"}]}"#)
                == ["f.json:1:83: job \"a\": field \"on_failure\": expected \"finish-branches\" or \"fail-run\", found \"stop\""])
    }

    @Test func partitionsStepsAndInputsAreParsed() throws {
        let text = """
            {"product": "p", "flow": "f", "jobs": [
              {"name": "a", "partitions": ["eu", "us"], "run": "extract"},
              {"name": "b", "after": ["a"], "inputs": ["a"], "steps": [
                {"name": "split", "run": "split", "partitions": 4},
                {"name": "merge", "handler": "merge"}]},
              {"name": "c", "after": ["b"], "partitions": 3, "steps": [{"name": "only", "run": "x"}]}]}
            """
        let flow = try FlowFile.parse(text, file: "f.json").get()
        #expect(flow.jobs[0].steps == [StepDefinition(name: "a", action: .command("extract"), partitions: .keys(["eu", "us"]))])
        #expect(flow.jobs[1].inputs == ["a"])
        #expect(flow.jobs[1].steps.map(\.name) == ["split", "merge"])
        #expect(flow.jobs[1].steps.map(\.partitions) == [.count(4), .count(1)])
        // A job's partitions are its steps' unless a step gives its own.
        #expect(flow.jobs[2].steps[0].partitions == .count(3))
        // The canonical form parses back to the same flow.
        #expect(try FlowFile.parse(flow.json.rendered(), file: "again").get() == flow)
    }

    @Test func badPartitionsStepsAndInputsAreEachReported() {
        let text = """
            {"product": "p", "flow": "f", "jobs": [
              {"name": "a", "run": "true", "partitions": 0},
              {"name": "b", "run": "true", "partitions": -3},
              {"name": "c", "steps": []},
              {"name": "d", "partitions": ["x", "x"], "run": "true"},
              {"name": "e", "run": "true", "steps": [{"name": "s", "run": "true"}]},
              {"name": "f", "run": "true", "inputs": ["g"]},
              {"name": "g", "run": "true", "partitions": []},
              {"name": "h", "steps": [{"name": "s", "run": "true"}, {"name": "s", "handler": "noop"}]}]}
            """
        #expect(
            problems(text) == [
                "f.json:2:46: job \"a\": field \"partitions\": expected a whole number from 1 to 1000000, found 0",
                "f.json:3:46: job \"b\": field \"partitions\": expected a whole number from 1 to 1000000, found -3",
                "f.json:4:26: job \"c\": field \"steps\": a job's steps must not be empty: give at least one, or a \"run\" or \"handler\" instead",
                "f.json:5:37: job \"d\": field \"partitions\": the key \"x\" is listed twice (at 1 and 2)",
                "f.json:6:41: job \"e\": field \"steps\": give either \"steps\" or one \"run\" or \"handler\", not both",
                "f.json:8:46: job \"g\": field \"partitions\": a list of partition keys must not be empty",
                "f.json:9:57: job \"h\" step \"s\": field \"name\": the name is already used by the step at line 9",
                "f.json:7:3: job \"f\": field \"inputs\": \"g\" does not run before \"f\": a job's inputs are results of jobs it runs after, directly or not",
            ])
    }
}
