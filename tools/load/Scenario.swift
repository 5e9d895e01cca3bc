import Core

/// The shapes of load `baton-load` can put on a cluster: which flow each product gets, and which
/// product each run goes to.
enum Scenario: String, CaseIterable {
    case independent
    case chains
    case fanout
    case partitioned
    case noisy

    /// The flow's name in every product.
    var flow: String { rawValue }
}

/// A scenario with its sizes: the flow files to apply and the products of the runs.
struct Workload {
    let scenario: Scenario
    /// `load-1` … `load-N`; under `noisy`, `load-1` is the noisy one.
    let products: [String]
    let jobs: Int
    let partitions: Int
    let jobMilliseconds: Int
    /// Under `noisy`, start only the light products' runs.
    let lightOnly: Bool

    init(_ options: LoadOptions) {
        scenario = options.scenario
        products = (1...options.products).map { "load-\($0)" }
        jobs = options.jobs
        partitions = options.partitions
        jobMilliseconds = options.jobMilliseconds
        lightOnly = options.lightOnly
    }

    /// Jobs in one run: a run has ended when this many of its jobs are final.
    var jobsPerRun: Int {
        switch scenario {
        case .independent, .chains: jobs
        case .fanout: jobs + 2
        case .partitioned, .noisy: 1
        }
    }

    /// The product of the run started `index`-th (from 0).
    ///
    /// Under `noisy`, nine runs in ten go to the noisy product and every tenth to the light ones in
    /// turn, so that the shares are exact at every multiple of ten runs, not only on average.
    func product(ofRun index: Int) -> Int {
        guard scenario == .noisy else { return index % products.count }
        if lightOnly { return 1 + index % (products.count - 1) }
        guard index % 10 == 9 else { return 0 }
        return 1 + (index / 10) % (products.count - 1)
    }

    /// The management API's `apply` body: one flow file per product, all the same but for the product.
    var applyBody: JSON {
        let files = products.map { product -> JSON in
            let text = JSON.object([("product", .string(product)), ("flow", .string(scenario.flow)), ("jobs", .array(jobDefinitions))])
            return .object([("path", .string("baton-load/\(product)/\(scenario.flow).json")), ("text", .string(text.rendered()))])
        }
        return .object([("files", .array(files))])
    }

    /// The jobs of the scenario's flow, as a flow file lists them.
    var jobDefinitions: [JSON] {
        switch scenario {
        case .independent:
            return (1...jobs).map { job("j\($0)") }
        case .chains:
            return (1...jobs).map { job("c\($0)", after: $0 == 1 ? [] : ["c\($0 - 1)"]) }
        case .fanout:
            let middle = (1...jobs).map { "f\($0)" }
            return [job("head")] + middle.map { job($0, after: ["head"]) } + [job("tail", after: middle)]
        case .partitioned:
            return [job("split", partitions: partitions)]
        case .noisy:
            return [job("work")]
        }
    }

    /// One job that sleeps `jobMilliseconds` at its worker, or does nothing when that is 0.
    private func job(_ name: String, after: [String] = [], partitions: Int = 1) -> JSON {
        var members: [(String, JSON)] = [("name", .string(name))]
        if jobMilliseconds > 0 {
            members.append(("handler", .string("sleep")))
            members.append(("params", .object([("ms", .string(String(jobMilliseconds)))])))
        } else {
            members.append(("handler", .string("noop")))
        }
        if !after.isEmpty { members.append(("after", .array(after.map { .string($0) }))) }
        if partitions > 1 { members.append(("partitions", .number(partitions))) }
        return .object(members)
    }
}
