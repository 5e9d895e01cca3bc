import Wire

/// How large parameters may be, so that every job of a run can be carried to its shard: a job-spec holds
/// the run's parameters merged with the job's own, at most ``Limits/parameters`` octets (`docs/flows.md`).
public enum ParameterLimits {
    /// The longest value of one parameter, in octets (64 KiB).
    public static let value = Limits.parameterValue
    /// A job's own parameters, as its flow file declares them, names and values together (64 KiB).
    public static let job = 64 << 10
    /// A run's parameters, the flow's defaults with those given, names and values together (192 KiB):
    /// with any job's own, within what a job-spec carries.
    public static let run = Limits.parameters - job
    /// The octets `business_date` takes in a scheduled run's parameters.
    public static let businessDate = "business_date".utf8.count + "YYYY-MM-DD".utf8.count

    /// What is too large in a run's parameters, each naming its limit; empty when they fit.
    public static func problems(ofRun params: [String: String]) -> [String] {
        var problems: [String] = []
        for (name, value) in params.sorted(by: { $0.key < $1.key }) where value.utf8.count > Self.value {
            problems.append("parameter \"\(name)\" is \(value.utf8.count) octets, more than the \(Self.value) a parameter's value may be")
        }
        let size = Limits.size(ofParameters: params)
        if size > Self.run {
            problems.append("the run's parameters take \(size) octets (names and values), more than the \(Self.run) a run's may")
        }
        return problems
    }
}
