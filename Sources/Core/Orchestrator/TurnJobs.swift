/// The jobs an orchestrator's turn touched, each once, in the order first touched, with what the turn
/// did to each: the rows the turn writes (``OrchestratorCore/finishTurn(now:)``).
///
/// A turn that starts a run of 5,000 jobs touches 5,000. Three sets of jobs, each hashing every job
/// with the standard library's seeded SipHash and growing through every size each turn, took 7% of a
/// loaded orchestrator's samples (`Set.insert` and `Hasher.init`); here a job is marked in one table
/// that keeps its size between turns, and a multiplication spreads the run IDs and job indices, which
/// are the cluster's own.
struct TurnJobs {
    /// What a turn did to a job.
    struct Marks: OptionSet {
        let rawValue: UInt8
        /// Its row changed: written this turn unless its first release may wait for its end.
        static let changed = Marks(rawValue: 1)
        /// It was released: sent to its shard.
        static let released = Marks(rawValue: 2)
        /// It succeeded.
        static let succeeded = Marks(rawValue: 4)
    }

    /// The jobs touched, in the order first touched (never removed), and what the turn did to each, side by side.
    private(set) var refs = TurnSet<OrchestratorCore.JobRef>()
    private(set) var marks: [Marks] = []

    var isEmpty: Bool { refs.isEmpty }

    /// Adds `marks` to the job's.
    mutating func mark(_ ref: OrchestratorCore.JobRef, _ marks: Marks) {
        if let index = refs.index(of: ref) {
            self.marks[index].formUnion(marks)
        } else {
            refs.insert(ref)
            self.marks.append(marks)
        }
    }

    /// Empties it for the next turn, keeping the room of a turn of ordinary size.
    mutating func clearForNextTurn(keptCapacity: Int = 4096) {
        refs.clearForNextTurn(keptCapacity: keptCapacity)
        if marks.capacity <= keptCapacity { marks.removeAll(keepingCapacity: true) } else { marks = [] }
    }
}

extension OrchestratorCore.JobRef: PlaceKey {
    /// The run's ID spread over 64 bits, plus the job's index: distinct for the jobs of a run.
    var placeHash: UInt64 { run &* 0xC2B2_AE3D_27D4_EB4F &+ UInt64(truncatingIfNeeded: job) }
    static var placeholder: Self { Self(run: 0, job: 0) }
}
