import Wire

/// What jobs held in memory share of their specs: a deep queue keeps one copy of what its jobs have alike.
extension ShardCore {
    /// Gives a job the copy of its steps that jobs held before it share, or makes its own the one shared.
    /// By their encoding, not by `==`: strings equal in Unicode but not in octets (a name in two
    /// normalisation forms) are different steps to run. Only small steps are shared, and at most
    /// ``sharedStepsBudget`` octets of them, the table emptied when full: what it keeps after their jobs
    /// have gone is bounded.
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
        let key = Octets(Array(stepsScratch.bytes))
        if sharedStepsOctets + key.bytes.count > Self.sharedStepsBudget {
            sharedSteps.removeAll(keepingCapacity: true)
            sharedStepsOctets = 0
        }
        sharedSteps[key] = job.spec.steps
        sharedStepsOctets += key.bytes.count
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
    /// map that is not empty), so a job of short names and no parameters costs nothing here. By encoding,
    /// as steps are, and within the same kind of budget.
    mutating func shareParts(of job: inout ShardJob) {
        share(&job.spec.product, field: 0)
        share(&job.spec.flow, field: 1)
        share(&job.spec.type, field: 2)
        share(&job.spec.fairnessKey, field: 3)
        if !job.spec.tags.isEmpty {
            stepsScratch.reset()
            stepsScratch.number1(4)
            stepsScratch.strings(job.spec.tags)
            if case .strings(let shared)? = shared(.strings(job.spec.tags)) { job.spec.tags = shared }
        }
        if !job.spec.params.isEmpty {
            stepsScratch.reset()
            stepsScratch.number1(5)
            stepsScratch.hash(job.spec.params)
            if case .parameters(let shared)? = shared(.parameters(job.spec.params)) { job.spec.params = shared }
        }
        if !job.spec.inputs.isEmpty {
            stepsScratch.reset()
            stepsScratch.number1(6)
            stepsScratch.strings(job.spec.inputs)
            if case .strings(let shared)? = shared(.strings(job.spec.inputs)) { job.spec.inputs = shared }
        }
    }

    private mutating func share(_ value: inout String, field: UInt8) {
        guard value.utf8.count > 15 else { return }
        stepsScratch.reset()
        stepsScratch.number1(field)
        stepsScratch.longstr(value)
        if case .string(let shared)? = shared(.string(value)) { value = shared }
    }

    /// The part shared under the field and encoding in the scratch frame, if jobs held before share one;
    /// if not, `part` becomes the one shared (unless its encoding is over 4 kB) and nil is returned.
    private mutating func shared(_ part: SharedPart) -> SharedPart? {
        if let shared = sharedParts[Octets(stepsScratch.bytes)] { return shared }
        guard stepsScratch.bytes.count <= 4096 else { return nil }
        let key = Octets(Array(stepsScratch.bytes))
        if sharedPartsOctets + key.bytes.count > Self.sharedStepsBudget {
            sharedParts.removeAll(keepingCapacity: true)
            sharedPartsOctets = 0
        }
        sharedParts[key] = part
        sharedPartsOctets += key.bytes.count
        return nil
    }

    /// Octets as a dictionary's key, hashed at once rather than one element at a time as an array is.
    struct Octets: Hashable, Sendable {
        var bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }
}
