// baton-load: puts a Baton cluster under load through its management API and measures queue waits,
// throughput and fairness from its shards' event streams. `baton-load --help` says how.
import Core
import Foundation
import Runtime

/// Measures one scenario and prints the report; returns the exit status.
func measure(_ options: LoadOptions) throws(LoadFailure) -> Int32 {
    let workload = Workload(options)
    let target = try LoadTarget.open(options.target)
    defer { target.close() }
    let observation = try observe(options, workload: workload, target: target)
    if let failure = target.failure { throw LoadFailure(.failure, "the embedded cluster broke: \(failure)") }
    let report = LoadReport(options: options, workload: workload, observation: observation, target: target)
    print(options.json ? report.json.rendered(pretty: true) : report.text)
    if let path = options.svg {
        do {
            try WaitPlot(report: report).svg.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw LoadFailure(.failure, "cannot write the plot to \(path): \(error)")
        }
        if !options.json { print("plot: \(path)") }
    }
    return observation.runsFailed > 0 ? LoadFailure.Code.failure.rawValue : 0
}

/// Applies the workload's flows, subscribes to the shards, and drives the load; every socket it opens
/// is closed when it returns, before the cluster may be stopped.
func observe(_ options: LoadOptions, workload: Workload, target: LoadTarget) throws(LoadFailure) -> Observation {
    do {
        let client = try target.apiClient()
        let reply = try client.call("apply", workload.applyBody)
        guard reply.status.isSuccess else {
            throw LoadFailure(.unavailable, "management refused the load's flows:\n\(reply.errorText)")
        }
        if let cap = options.noisyCap {
            let body = JSON.object([
                ("product", .string(workload.products[0])), ("cap", .number(cap)), ("actor", .string("baton-load")),
            ])
            let capped = try client.call("set-policy", body)
            guard capped.status.isSuccess else {
                throw LoadFailure(.unavailable, "management refused the noisy product's cap:\n\(capped.errorText)")
            }
        }
    } catch let failure as LoadFailure {
        throw failure
    } catch {
        throw LoadFailure(.unavailable, "cannot apply the load's flows at \(target.api): \(error)")
    }
    let watch: JobWatch
    let driver: LoadDriver
    do {
        watch = try JobWatch(target: target, jobsPerRun: workload.jobsPerRun)
        driver = try LoadDriver(options: options, workload: workload, target: target, watch: watch)
    } catch {
        throw LoadFailure(.unavailable, "cannot open the load's sockets: \(error)")
    }
    defer {
        driver.close()
        watch.close()
    }
    try watch.waitForPublishers(seconds: 5)
    let sampler = options.estimates ? EstimateSampler(target: target) : nil
    var observation = try driver.run()
    observation.estimates = sampler?.stop() ?? []
    return observation
}

/// Runs the fairness cases asked for and prints their table; returns the exit status.
func benchmarkFairness(_ options: FairnessOptions) throws(LoadFailure) -> Int32 {
    // Progress on a terminal only: a program reading the output gets the report alone.
    let progress = isatty(STDERR_FILENO) == 1
    var results: [CaseResult] = []
    for fairnessCase in options.cases {
        if progress { FileHandle.standardError.write(Data("baton-load fairness: \(fairnessCase.name)...\n".utf8)) }
        do {
            results.append(try fairnessCase.measure(quick: options.quick))
        } catch {
            throw LoadFailure(error.code, "case \(fairnessCase.name): \(error.description)")
        }
    }
    let report = FairnessReport(quick: options.quick, results: results)
    print(options.json ? report.json.rendered(pretty: true) : report.text)
    return report.within ? 0 : LoadFailure.Code.failure.rawValue
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    if FairnessOptions.isCommand(arguments) {
        guard let options = try FairnessOptions.parse(arguments) else {
            print(FairnessOptions.help)
            exit(0)
        }
        exit(try benchmarkFairness(options))
    }
    guard let options = try LoadOptions.parse(arguments) else {
        print(LoadOptions.help)
        exit(0)
    }
    exit(try measure(options))
} catch let error as LoadUsageError {
    let help = FairnessOptions.isCommand(arguments) ? "`baton-load fairness --help` for its cases and options" : "`baton-load --help` for the scenarios and options"
    FileHandle.standardError.write(Data("baton-load: \(error)\nRun \(help).\n".utf8))
    exit(2)
} catch let failure as LoadFailure {
    FileHandle.standardError.write(Data("baton-load: \(failure)\n".utf8))
    exit(failure.code.rawValue)
}
