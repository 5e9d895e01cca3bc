public import Wire

/// A job's identity in a shard: a run's job, in one generation. Unique: a shard never queues the same
/// identity twice.
public struct JobIdentity: Hashable, Sendable, CustomStringConvertible {
    public var run: UInt64
    public var job: String
    public var generation: UInt32

    public init(run: UInt64, job: String, generation: UInt32) {
        self.run = run
        self.job = job
        self.generation = generation
    }

    public var description: String { generation == 0 ? "\(run)/\(job)" : "\(run)/\(job)#\(generation)" }
}

extension JobSpec {
    /// The job's identity.
    public var identity: JobIdentity { JobIdentity(run: run, job: job, generation: generation) }
}

extension JobStatus {
    /// The identity of the job this status describes.
    public var identity: JobIdentity { JobIdentity(run: run, job: job, generation: generation) }
}

extension JobIdentity {
    /// The job a CONTROL report-job asks about.
    public init(reporting control: Control) { self.init(run: control.run, job: control.job, generation: control.generation) }
}
