/// What `baton` tells its caller by its exit status.
public enum ExitCode: Int32, Sendable, CaseIterable {
    /// Done: the flows are valid, the run succeeded, the service answered.
    case success = 0
    /// What was checked or run did not pass: an invalid flow file, a failed run.
    case failure = 1
    /// The command line was wrong.
    case usage = 2
    /// The service could not be reached, or did not answer in time.
    case unavailable = 3
    /// The service refused the request (unknown flow, invalid parameter, conflict).
    case refused = 4
}
