import Core
import Foundation
import Testing

/// `baton-load` as a user runs it: a child process that starts an embedded cluster, puts a small load
/// on it and reports.
@Suite(.serialized) struct LoadGeneratorTests {
    static let tool = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("baton-load").path

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runProgram(tool, arguments)
    }

    @Test func theNoisyScenarioReportsEachSidesWaitsAndFairnessAsJSON() throws {
        let (status, output) = try Self.run([
            "noisy", "--products", "5", "--workers", "1", "--slots", "2", "--rate", "200", "--runs", "100", "--duration", "5",
            "--job-ms", "1", "--headroom", "1", "--estimates", "--json",
        ])
        #expect(status == 0, "\(output)")
        let report = try JSONParser.parse(output)
        #expect(report["cluster"]?.string?.contains("headroom 1") == true, "\(output)")
        #expect(report["runs"]?["started"]?.integer == 100 && report["runs"]?["finished"]?.integer == 100, "\(output)")
        let products = report["products"]?.array ?? []
        #expect(products.count >= 2, "the noisy product and the light ones: \(output)")
        for product in products {
            let p50 = try #require(product["wait_p50_ms"]?.double, "\(product.rendered())")
            let p99 = try #require(product["wait_p99_ms"]?.double, "\(product.rendered())")
            #expect(p50 >= 0 && p99 >= p50, "\(product.rendered())")
            let atOnce = try #require(product["at_once"]?.double, "\(product.rendered())")
            #expect(atOnce >= 0 && atOnce <= 1, "\(product.rendered())")
        }
        let jain = try #require(report["fairness"]?["jain"]?.double, "\(output)")
        #expect(jain > 0 && jain <= 1)
        // The wait estimates asked while it ran, held against the waits: every job compared or counted out.
        let groups = report["estimates"]?["groups"]?.array ?? []
        let compared = groups.reduce(0) { $0 + ($1["jobs"]?.integer ?? 0) }
        #expect(compared + (report["estimates"]?["unmatched"]?.integer ?? 0) == 100, "\(output)")
        for group in groups { #expect((group["error_p50_ms"]?.double ?? -1) >= 0, "\(group.rendered())") }
    }

    /// Found by an explorer: against a cluster file with keys (the default), the load spoke without them,
    /// and after 10 s blamed management for not answering. It speaks with the folder's admin key, to
    /// management and to every shard's events.
    @Test func aRunningClusterWithKeysIsDrivenWithItsAdminKey() throws {
        try MoveTests.withCluster(shards: 2) { _, config, _ in
            let (status, output) = try Self.run([
                "independent", "--cluster", config, "--runs", "6", "--jobs", "2", "--products", "2", "--job-ms", "0", "--duration", "10",
                "--estimates", "--json",
            ])
            #expect(status == 0, "\(output)")
            let report = try JSONParser.parse(output)
            #expect(report["cluster"]?.string?.contains("with keys") == true, "\(output)")
            #expect(report["runs"]?["finished"]?.integer == 6, "\(output)")
        }
    }

    @Test func everyOtherScenarioRunsAndPrintsItsTable() throws {
        for arguments in [
            ["independent", "--runs", "4", "--jobs", "3"], ["chains", "--runs", "2", "--jobs", "3"],
            ["fanout", "--runs", "2", "--jobs", "3"], ["partitioned", "--runs", "2", "--partitions", "5"],
        ] {
            let (status, output) = try Self.run(arguments + ["--job-ms", "0", "--duration", "5"])
            #expect(status == 0, "\(arguments[0]): \(output)")
            #expect(output.contains("throughput") && output.contains("WAIT p50"), "\(arguments[0]): \(output)")
        }
    }

    @Test func theFairnessBenchmarkReportsEachCasesSharesWithinTolerance() throws {
        for name in ["weights", "cross-shard"] {
            let (status, output) = try Self.run(["fairness", "--quick", "--case", name, "--json"])
            #expect(status == 0, "\(name): \(output)")
            let report = try JSONParser.parse(output)
            #expect(report["benchmark"]?.string == "fairness" && report["quick"]?.bool == true, "\(output)")
            let cases = report["cases"]?.array ?? []
            #expect(cases.count == 1 && cases.first?["case"]?.string == name, "\(output)")
            let figures = cases.first?["figures"]?.array ?? []
            #expect(figures.count == 3, "three products: \(output)")
            for figure in figures {
                let expected = try #require(figure["expected"]?.double, "\(figure.rendered())")
                let measured = try #require(figure["measured"]?.double, "\(figure.rendered())")
                #expect(figure["unit"]?.string == "share" && figure["figure"]?.string?.hasPrefix("share of ") == true, "\(figure.rendered())")
                #expect(abs(measured - expected) <= expected * 0.1, "\(name): \(figure.rendered())")
                #expect(figure["within"]?.bool == true && figure["low"]?.double != nil && figure["high"]?.double != nil)
            }
            let sum = figures.compactMap { $0["measured"]?.double }.reduce(0, +)
            #expect(abs(sum - 1) < 0.01, "the shares of every product add up to 1: \(sum)")
            #expect(cases.first?["within"]?.bool == true && report["within"]?.bool == true)
            let expected = figures.compactMap { $0["expected"]?.double }
            #expect(expected.map { ($0 * (name == "weights" ? 6 : 3)).rounded() } == (name == "weights" ? [1, 2, 3] : [1, 1, 1]), "\(expected)")
        }
    }

    @Test func theFairnessBenchmarkNamesItsCasesAndRefusesOthers() throws {
        let wrong = try Self.run(["fairness", "--case", "weight"])
        #expect(wrong.status == 2, "\(wrong.output)")
        #expect(wrong.output.contains("unknown case \"weight\" (cases: weights, weights+headroom, costs,"), "\(wrong.output)")
        let option = try Self.run(["fairness", "--rate", "5"])
        #expect(option.status == 2 && option.output.contains("unknown option --rate for fairness"), "\(option.output)")
        let help = try Self.run(["fairness", "--help"])
        #expect(help.status == 0 && help.output.contains("usage: baton-load fairness") && help.output.contains("priority-over"), "\(help.output)")
        let general = try Self.run(["--help"])
        #expect(general.status == 0 && general.output.contains("baton-load fairness [--case NAME]"), "\(general.output)")
    }

    @Test func badInputIsRefusedWithWhatWasWrong() throws {
        let unknown = try Self.run(["noisey"])
        #expect(unknown.status == 2 && unknown.output.contains("unknown scenario \"noisey\""), "\(unknown.output)")
        let both = try Self.run(["independent", "--rate", "5", "--concurrency", "2"])
        #expect(both.status == 2 && both.output.contains("exclude each other"), "\(both.output)")
        let light = try Self.run(["chains", "--light-only"])
        #expect(light.status == 2 && light.output.contains("--light-only applies to noisy"), "\(light.output)")
        let headroom = try Self.run(["noisy", "--fairness", "fifo", "--headroom", "2"])
        #expect(headroom.status == 2 && headroom.output.contains("--headroom applies to --fairness fair only"), "\(headroom.output)")
    }
}
