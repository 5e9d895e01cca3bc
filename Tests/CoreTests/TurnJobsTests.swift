@testable import Core
import Testing

/// The jobs an orchestrator's turn touched, and what it did to each.
@Suite struct TurnJobsTests {
    typealias JobRef = OrchestratorCore.JobRef

    @Test func eachJobIsKeptOnceInTheOrderFirstTouchedWithEverythingDoneToIt() {
        var jobs = TurnJobs()
        jobs.mark(JobRef(run: 7, job: 2), .changed)
        jobs.mark(JobRef(run: 3, job: 0), .succeeded)
        jobs.mark(JobRef(run: 7, job: 2), [.changed, .released])
        jobs.mark(JobRef(run: 3, job: 0), .changed)
        jobs.mark(JobRef(run: 7, job: 3), .changed)
        #expect(Array(jobs.refs) == [JobRef(run: 7, job: 2), JobRef(run: 3, job: 0), JobRef(run: 7, job: 3)])
        #expect(jobs.marks == [[.changed, .released], [.changed, .succeeded], [.changed]])
    }

    /// A turn of a whole run of jobs, then a small one: the second sees none of the first.
    @Test func aTurnStartsEmptyAfterAnyOther() {
        var jobs = TurnJobs()
        for run in UInt64(1)...3 {
            for job in 0..<5000 { jobs.mark(JobRef(run: run, job: job), .changed) }
        }
        #expect(jobs.refs.count == 15_000 && Set(jobs.refs.map(\.run)) == [1, 2, 3])
        jobs.clearForNextTurn()
        #expect(jobs.isEmpty)
        jobs.mark(JobRef(run: 2, job: 4999), .succeeded)
        #expect(Array(jobs.refs) == [JobRef(run: 2, job: 4999)] && jobs.marks == [.succeeded])
        // Within the room kept between turns, the same.
        for job in 0..<100 { jobs.mark(JobRef(run: 9, job: job), .changed) }
        jobs.clearForNextTurn()
        jobs.mark(JobRef(run: 9, job: 50), .released)
        #expect(Array(jobs.refs) == [JobRef(run: 9, job: 50)] && jobs.marks == [.released])
    }
}
