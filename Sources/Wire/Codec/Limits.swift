/// The largest values the codec accepts, as documented in `docs/protocol.md` ("Limits").
///
/// Each is checked as its field is read, before anything is allocated for it: a count before its list is
/// reserved, a length before its octets are copied, a number that makes the receiver do work (a step's
/// partitions) before the message is handed on.
public enum Limits {
    /// The largest frame a peer may send, in octets (64 MiB).
    public static let frame = 64 << 20
    /// The longest `longstr`, in octets (1 MiB).
    public static let longstr = 1 << 20
    /// The longest `bytes` field, in octets (16 MiB).
    public static let chunk = 16 << 20
    /// The most elements in one list, `strings` or `hash` (1,000,000).
    public static let listCount = 1_000_000

    /// The most partitions of one step (1,000,000), as `docs/flows.md` allows.
    public static let partitions = 1_000_000
    /// The longest partition key, in octets (1,024).
    public static let partitionKey = 1024
    /// The most steps of one job (1,000).
    public static let steps = 1000
    /// The longest `action`: a command line or a handler's name, in octets (64 KiB, half of what Linux
    /// lets one argument of `/bin/sh -c` be).
    public static let action = 64 << 10
    /// The longest value of one parameter, in octets (64 KiB): each becomes an environment variable.
    public static let parameterValue = 64 << 10
    /// The most octets of parameters one message carries for a run or a job, names and values together (256 KiB).
    public static let parameters = 256 << 10
    /// The largest job-spec, in octets (16 MiB), so that any one job fits in a SUBMIT.
    public static let jobSpec = 16 << 20
    /// The most jobs in one SUBMIT (1,000).
    public static let submitJobs = 1000
    /// The most partitions of the jobs of one SUBMIT, each job counted by its largest step (1,000,000):
    /// the most tasks one SUBMIT can make a shard hold at once.
    public static let submitPartitions = 1_000_000
    /// The most tasks in one claimed set a worker offers to take (1,000), as in a command batch.
    public static let setSize = 1000
    /// Tags and handlers a worker offers in READY, each, and the octets of one.
    public static let capabilities = 1000
    public static let capabilityName = 255
    /// The most of a worker's credit a shard holds (1,000,000).
    public static let credit = 1_000_000
    /// The longest `output` of a task-result, in octets (4 KiB): the tail of what the attempt printed.
    public static let output = 4096

    /// The size of parameters as the limits count it: the octets of their names and values.
    public static func size(ofParameters params: [String: String]) -> Int {
        params.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
    }
}
