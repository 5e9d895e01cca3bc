import Foundation
import Testing

/// The whole cluster in virtual time (`docs/testing.md`), run as `baton simulate` runs it: a child process
/// with deterministic hashing, so that each seed is the same run here as anywhere. A few seeds hold every
/// invariant, a seed replays exactly, and each invariant catches the defect planted for it. One at a time,
/// so as not to take both cores from the suites that time real processes.
@Suite(.serialized) struct SimulationTests {
    static let baton = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("baton").path

    func simulate(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.baton)
        process.arguments = ["simulate"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Seeds 1 to 12, six at a time: odd seeds cross the autumn change of clocks, even ones the spring's.
    /// Seeds found defects over time (3, 6, 8, 9 and 11 runs that never ended after a rerun-job or a mark;
    /// 39 a run paused at its shard after it ended while held; 1051 a pause lost from the orchestrator's
    /// store; 7177 a false alarm of the checker). A seed draws another run once the simulator or Baton
    /// changes, so each defect has a test of its own, in the cores and stores; these seeds, about a minute
    /// and a half in all, show that today's code holds every invariant under faults. `make simulate` runs
    /// as many more as anyone likes.
    @Test(arguments: [(1, 6), (7, 6)])
    func everyInvariantHoldsUnderFaults(first: Int, count: Int) throws {
        let (status, output) = try simulate(["--seed", String(first), "--seeds", String(count)])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").filter { $0.hasPrefix("seed ") }
        #expect(lines.count == count && lines.allSatisfy { $0.contains(": ok, trace ") }, "\(output)")
        // Every seed drew faults and a real load, and checked backlogged products' shares.
        for line in lines {
            #expect(!line.contains(" 0 crashes") && !line.contains(" 0 partitions") && !line.contains(" 0 firings"), "\(line)")
            #expect(!line.contains("; 0 backlogged pairs"), "\(line)")
        }
    }

    /// Under `durability normal`, power losses take stores back to their last sync: the cluster goes on,
    /// every run ends and management's view of each is the orchestrator's. Seed 41037 found a run whose
    /// new shard lost the commits that took its relayed ends (`HandOverTests` holds the fix).
    @Test(arguments: [(21, 4), (41037, 1)])
    func theClusterGoesOnAfterPowerLossesUnderDurabilityNormal(first: Int, count: Int) throws {
        let (status, output) = try simulate(["--seed", String(first), "--seeds", String(count), "--durability", "normal"])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").filter { $0.hasPrefix("seed ") }
        #expect(lines.count == count && lines.allSatisfy { $0.contains(": ok, trace ") }, "\(output)")
        #expect(lines.contains { !$0.contains(" 0 power losses") }, "no seed drew a power loss: \(output)")
    }

    @Test func aSeedReplaysEventForEvent() throws {
        func digest(_ seed: Int) throws -> String {
            let (_, output) = try simulate(["--seed", String(seed), "--duration", "3m", "--heal", "2m", "--verbose"])
            return output
        }
        let first = try digest(4)
        #expect(first.contains("seed 4: ok, trace "))
        // The whole output, the trace included, but for how long it took.
        func events(_ output: String) -> [Substring] { output.split(separator: "\n").dropLast() }
        #expect(events(try digest(4)) == events(first))
        #expect(events(try digest(5)) != events(first))
    }

    @Test(arguments: [
        ("release-early", "was submitted before its predecessor"),
        ("lease-after-success", "after its success"),
        ("succeed-twice", "succeeded twice"),
        ("strand-run", "never ended: it is still paused"),
        ("lose-run-end", "but the orchestrator has had it"),
        ("garble", "received a frame it could not decode"),
        ("forge-as-holder", "took a forged result from a worker that did not hold its lease"),
        ("double-lease", " and to worker-"),
        ("moment-back", "has entry moment 1, not after run 1's"),
        ("answer-twice", "(answered again, differently)"),
        ("busy-loop", "timer-1 took 2,000 turns in one virtual second"),
        ("damage-store", "management's store is damaged"),
        ("release-twice", "was released again, as generation"),
        ("lose-commit", "succeeded twice"),
    ])
    func eachInvariantCatchesItsPlantedDefect(fault: String, says: String) throws {
        let (status, output) = try simulate(["--seed", "2", "--plant", fault, "--duration", "3m", "--heal", "2m"])
        #expect(status == 1)
        #expect(output.contains("seed 2: FAILED: ") && output.contains(says), "\(fault): \(output)")
        #expect(output.contains("VIOLATION") && output.contains("replay: baton simulate --seed 2 --duration 3m --heal 2m --plant \(fault)"))
    }

    /// The schedule's check needs an instant due after the flows' apply and two minutes before the end.
    @Test func theScheduleCheckCatchesALostFiring() throws {
        let (status, output) = try simulate(["--seed", "2", "--plant", "skip-firing"])
        #expect(status == 1)
        #expect(output.contains("seed 2: FAILED: ") && output.contains("schedule did not fire at"), "\(output)")
    }

    /// These need a seed's full length: the fairness check's backlog phase runs once faults stop, with
    /// four minutes to heal, a move must be answered before a run starts after it, and a run handed over
    /// (seed 3 moves products and hands runs over).
    @Test(arguments: [
        (2, "drop-weights", "both were backlogged: they differ by", "planted: the orchestrator sends backlog-"),
        (3, "ignore-move", "after answering its move to shard", "planted: management starts run"),
        (3, "lease-after-hand-over", "after handing run", "planted: shard-"),
    ])
    func theLongerChecksCatchTheirPlantedDefects(seed: Int, fault: String, says: String, planted: String) throws {
        let (status, output) = try simulate(["--seed", String(seed), "--plant", fault])
        #expect(status == 1)
        #expect(output.contains("seed \(seed): FAILED: ") && output.contains(says), "\(output)")
        #expect(output.contains(planted), "\(output)")
    }

    @Test func aPlantedFaultThatDoesNotExistIsAUsageError() throws {
        let (status, output) = try simulate(["--plant", "nothing"])
        #expect(status == 2)
        #expect(output.contains(#"no planted fault "nothing" (there are: release-early, lease-after-success, succeed-twice, strand-run, lose-run-end, garble, skip-firing, double-lease, moment-back, answer-twice, forge-as-holder, drop-weights, ignore-move, busy-loop, damage-store, release-twice, lease-after-hand-over, lose-commit)"#))
    }
}
