import Core
import Foundation
import Glibc
import Runtime

/// The options of `baton simulate`.
public struct SimulateOptions: Equatable, Sendable {
    /// The first seed, and how many seeds from it.
    public var seed: UInt64 = 1
    public var seeds = 1
    /// Virtual time with faults, then to heal, in milliseconds.
    public var duration: Int64 = 8 * 60_000
    public var heal: Int64 = 4 * 60_000
    public var planted: String?
    /// `full`: a power loss keeps every commit, as a crash does; `normal`: it may lose the last second's.
    public var durability = "full"
    /// Print every seed's trace, not only a failing one's.
    public var verbose = false
    public var keep: String?
    /// A process whose every message goes in the trace.
    public var watch: String?

    public init() {}
}

/// `baton simulate`: the whole cluster in one thread and in virtual time, with faults from a seed,
/// checking the invariants of `docs/testing.md`; a failure prints its seed, its trace and the broken
/// invariant, and replays with `--seed`.
enum Simulate {
    static let hashing = "SWIFT_DETERMINISTIC_HASHING"

    static func run(_ options: SimulateOptions, console: any Console) throws(CommandFailure) -> ExitCode {
        // Swift seeds its hashing at random in each process, and the order of a dictionary with it: set
        // to be the same in every process, a seed replays exactly, here and on any machine.
        if getenv(hashing) == nil {
            setenv(hashing, "1", 1)
            let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
            execv("/proc/self/exe", arguments)
            throw CommandFailure(code: .failure, message: "cannot run again with \(hashing)=1: \(String(cString: strerror(errno)))")
        }
        var planted: Simulation.PlantedFault?
        if let name = options.planted {
            guard let fault = Simulation.PlantedFault(rawValue: name) else {
                let names = Simulation.PlantedFault.allCases.map(\.rawValue).joined(separator: ", ")
                throw CommandFailure(code: .usage, message: "baton simulate: no planted fault \"\(name)\" (there are: \(names))")
            }
            planted = fault
        }
        let root = options.keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("baton-simulate-\(getpid())").path
        defer { if options.keep == nil { try? FileManager.default.removeItem(atPath: root) } }
        var failed: [UInt64] = []
        var simulated: Int64 = 0
        let began = Date()
        for seed in options.seed..<(options.seed + UInt64(options.seeds)) {
            var simulation = Simulation.Options(seed: seed, folder: "\(root)/seed-\(seed)")
            simulation.duration = options.duration
            simulation.heal = options.heal
            simulation.planted = planted
            simulation.powerLoss = options.durability == "normal"
            simulation.watch = options.watch
            let report: Simulation.Report
            do {
                report = try Simulation(simulation).run()
            } catch {
                throw CommandFailure(code: .failure, message: "seed \(seed): the simulator stopped: \(error)")
            }
            simulated += report.virtualMilliseconds
            if let violation = report.violation {
                failed.append(seed)
                console.out("seed \(seed): FAILED: \(violation)")
                console.out("the trace that led to it (virtual seconds from the start):")
                for line in report.trace { console.out("  " + line) }
                console.out("replay: baton simulate --seed \(seed)" + replayOptions(options))
            } else {
                console.out("seed \(seed): ok, trace \(String(format: "%016llx", report.digest)): \(report.counts)")
                if options.verbose { for line in report.trace { console.out("  " + line) } }
            }
            if options.keep == nil { try? FileManager.default.removeItem(atPath: "\(root)/seed-\(seed)") }
        }
        let hours = Double(simulated) / 3_600_000
        let outcome = failed.isEmpty ? "every invariant held" : "failed: seeds \(failed.map(String.init).joined(separator: " "))"
        console.out(
            "\(options.seeds) seed\(options.seeds == 1 ? "" : "s"), \(String(format: "%.1f", hours)) simulated hours in "
                + "\(String(format: "%.0f", Date().timeIntervalSince(began))) s: \(outcome)")
        return failed.isEmpty ? .success : .failure
    }

    /// The options a run was given that change what a seed draws, to replay it with.
    static func replayOptions(_ options: SimulateOptions) -> String {
        let defaults = SimulateOptions()
        var text = ""
        if options.duration != defaults.duration { text += " --duration \(DurationText.format(options.duration))" }
        if options.heal != defaults.heal { text += " --heal \(DurationText.format(options.heal))" }
        if let planted = options.planted { text += " --plant \(planted)" }
        if options.durability != defaults.durability { text += " --durability \(options.durability)" }
        return text
    }
}
