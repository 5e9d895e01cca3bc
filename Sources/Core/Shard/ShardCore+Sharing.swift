import Wire

/// What jobs held in memory share of their specs: a deep queue keeps one copy of what its jobs have alike.
extension ShardCore {
    /// Gives a job the copy of its steps that jobs held before it share, or makes its own the one shared.
    /// By their encoding, not by `==`: strings equal in Unicode but not in octets (a name in two
    /// normalisation forms) are different steps to run. Only small steps are shared, and the table is
    /// emptied when what it keeps (``Octets/held``) would pass ``sharedStepsBudget``: what it keeps after
    /// their jobs have gone is bounded.
    mutating func shareSteps(of job: inout ShardJob) {
        guard job.spec.steps.count <= 4 else { return }
        var size = 4
        for step in job.spec.steps { size += step.encodedSize }
        guard size <= 4096 else { return }
        // Encoded into the one scratch frame, and looked up without a copy: a job costs no allocation here
        // unless its steps are new.
        stepsScratch.reset()
        stepsScratch.number4(UInt32(job.spec.steps.count))
        for step in job.spec.steps { step.encode(to: &stepsScratch) }
        if let shared = sharedSteps[Octets(stepsScratch.bytes)] {
            job.spec.steps = shared
            return
        }
        let key = Octets(exactly: stepsScratch.bytes)
        if sharedStepsOctets + key.held > Self.sharedStepsBudget {
            sharedSteps.removeAll(keepingCapacity: true)
            sharedStepsOctets = 0
        }
        sharedSteps[key] = job.spec.steps
        sharedStepsOctets += key.held
    }

    /// A part of a spec that jobs may share (``shareParts(of:)``).
    enum SharedPart {
        case string(String)
        case strings([String])
        case parameters([String: String])
    }

    /// Gives a job the copies of its spec's product, flow, type, fairness key, tags, parameters and inputs
    /// that jobs held before it share, or makes its own the ones shared: a run's jobs name one product and
    /// one flow, and carry its parameters, each decoded into storage of its own. Only what takes room of
    /// its own is looked up (a string of more than 15 octets, which Swift does not keep inline; a list or
    /// map that is not empty), and only what encodes to 4 kB or less. By encoding, as steps are, and within
    /// the same kind of budget.
    mutating func shareParts(of job: inout ShardJob) {
        share(&job.spec.product, field: 0)
        share(&job.spec.flow, field: 1)
        share(&job.spec.type, field: 2)
        share(&job.spec.fairnessKey, field: 3)
        share(&job.spec.tags, field: 4)
        if !job.spec.params.isEmpty, Self.encodedSize(of: job.spec.params) <= Self.largestShared {
            stepsScratch.reset()
            stepsScratch.number1(5)
            stepsScratch.hash(job.spec.params)
            if case .parameters(let shared)? = shared(.parameters(job.spec.params)) { job.spec.params = shared }
        }
        share(&job.spec.inputs, field: 6)
    }

    /// The largest encoding of a part that is shared: one larger is neither encoded nor kept.
    static let largestShared = 4096

    static func encodedSize(of strings: [String]) -> Int { strings.reduce(4) { $0 + 4 + $1.utf8.count } }

    static func encodedSize(of parameters: [String: String]) -> Int {
        parameters.reduce(4) { $0 + 1 + $1.key.utf8.count + 4 + $1.value.utf8.count }
    }

    private mutating func share(_ value: inout String, field: UInt8) {
        guard value.utf8.count > 15, value.utf8.count + 5 <= Self.largestShared else { return }
        stepsScratch.reset()
        stepsScratch.number1(field)
        stepsScratch.longstr(value)
        if case .string(let shared)? = shared(.string(value)) { value = shared }
    }

    private mutating func share(_ list: inout [String], field: UInt8) {
        guard !list.isEmpty, Self.encodedSize(of: list) <= Self.largestShared else { return }
        stepsScratch.reset()
        stepsScratch.number1(field)
        stepsScratch.strings(list)
        if case .strings(let shared)? = shared(.strings(list)) { list = shared }
    }

    /// The part shared under the field and encoding in the scratch frame, if jobs held before share one;
    /// if not, `part` becomes the one shared and nil is returned.
    private mutating func shared(_ part: SharedPart) -> SharedPart? {
        if let shared = sharedParts[Octets(stepsScratch.bytes)] { return shared }
        let key = Octets(exactly: stepsScratch.bytes)
        if sharedPartsOctets + key.held > Self.sharedStepsBudget {
            sharedParts.removeAll(keepingCapacity: true)
            sharedPartsOctets = 0
        }
        sharedParts[key] = part
        sharedPartsOctets += key.held
        return nil
    }

    /// Octets as a dictionary's key, hashed at once rather than one element at a time as an array is.
    struct Octets: Hashable, Sendable {
        var bytes: [UInt8]
        /// A key over `bytes` as they are: for a lookup, without a copy.
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        /// A key of its own: a copy of `bytes` in storage their size, not sharing a scratch frame's, whose
        /// room it would otherwise keep, whatever its size, for as long as the key is kept.
        init(exactly bytes: [UInt8]) { self.bytes = bytes.withUnsafeBufferPointer { Array($0) } }
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
        /// What the key and the value it names keep, counted against a table's budget: the encoding twice
        /// (the key, and the value it encodes) and 64 octets for the two allocations and the table's slot.
        var held: Int { 2 * bytes.count + 64 }
    }
}
