// The operations protocol: management's DEALER to the orchestrator's ROUTER.
//
//     operations = *( C:OPERATION-REQUEST S:OPERATION-RESULT / C:RUN-QUERY S:RUN-DETAIL )

/// An operator or timer action on a run, committed by management before it is sent; idempotent by `request`.
public struct OperationRequest: WireValue {
    /// The request's ID; a repeated ID is answered again and applied once.
    public var request: UInt64
    /// What to do.
    public var action: OperationAction
    /// The run; for `start`, the ID management assigned to the new run.
    public var run: UInt64
    /// The product: of the new run (`start`), of the run acted on, or the one held, released or
    /// given a policy.
    public var product: String
    /// The flow (for `start`).
    public var flow: String
    /// The flow's version (for `start`).
    public var version: UInt32
    /// The shard the product is bound to (for `start` and `set-policy`).
    public var shard: UInt32
    /// The job, for `rerun-job` and `mark-succeeded`; empty otherwise.
    public var job: String
    /// Bit 0 (`downstream`): `rerun-job` also reruns every job after it.
    public var options: UInt8
    /// The run's job entry moment (for `start`, and for reruns that take a fresh one).
    public var moment: UInt64
    /// The run's parameters (for `start`), defaults already applied; bounded as a job-spec's are.
    public var params: [String: String]
    /// The flow definition as canonical JSON (for `start`); empty otherwise.
    public var definition: String
    /// For `set-policy`: the product's new policy (its product is `product`); empty otherwise.
    public var policy: ProductPolicy
    /// For `start` and `set-priority`: the run's priority (``RunPriority``).
    public var priority: UInt8

    public init(
        request: UInt64, action: OperationAction, run: UInt64, product: String = "", flow: String = "",
        version: UInt32 = 0, shard: UInt32 = 0, job: String = "", options: UInt8 = 0, moment: UInt64 = 0,
        params: [String: String] = [:], definition: String = "",
        policy: ProductPolicy = ProductPolicy(product: ""), priority: UInt8 = RunPriority.normal
    ) {
        self.request = request
        self.action = action
        self.run = run
        self.product = product
        self.flow = flow
        self.version = version
        self.shard = shard
        self.job = job
        self.options = options
        self.moment = moment
        self.params = params
        self.definition = definition
        self.policy = policy
        self.priority = priority
    }

    /// The `downstream` bit of `options`.
    public static let downstream: UInt8 = 1

    public static let minimumSize = 8 + 1 + 8 + 1 + 1 + 4 + 4 + 1 + 1 + 8 + 4 + 4 + ProductPolicy.minimumSize + 1

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number1(action.rawValue)
        writer.number8(run)
        writer.string(product)
        writer.string(flow)
        writer.number4(version)
        writer.number4(shard)
        writer.string(job)
        writer.number1(options)
        writer.number8(moment)
        writer.hash(params)
        writer.longstr(definition)
        policy.encode(to: &writer)
        writer.number1(priority)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        action = try reader.enumeration("action", OperationAction.init(rawValue:))
        run = try reader.number8("run")
        product = try reader.string("product")
        flow = try reader.string("flow")
        version = try reader.number4("version")
        shard = try reader.number4("shard")
        job = try reader.string("job")
        options = try reader.number1("options")
        moment = try reader.number8("moment")
        params = try reader.parameters("params")
        definition = try reader.longstr("definition", limit: Limits.chunk)
        policy = try ProductPolicy(from: &reader)
        priority = try reader.number1("priority")
        if priority > RunPriority.last { throw .invalidValue(field: "priority", value: UInt64(priority)) }
    }
}

/// The answer to OPERATION-REQUEST, sent once its effect is committed.
public struct OperationResult: WireValue {
    /// The request answered.
    public var request: UInt64
    /// 200 or 202, or why not.
    public var status: Status
    /// What was done, or what was wrong, in words.
    public var detail: String

    public init(request: UInt64, status: Status, detail: String = "") {
        self.request = request
        self.status = status
        self.detail = detail
    }

    public static let minimumSize = 8 + 2 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number2(status.rawValue)
        writer.longstr(detail)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        status = Status(rawValue: try reader.number2("status"))
        detail = try reader.longstr("detail")
    }
}

/// Asks the orchestrator for a run's status and a page of its jobs.
public struct RunQuery: WireValue {
    /// The request's ID, echoed in RUN-DETAIL.
    public var request: UInt64
    /// The run.
    public var run: UInt64
    /// The position, in the flow's order, of the first job wanted (0 for the first).
    public var first: UInt32
    /// At most this many jobs (0 for the run's status alone); a larger limit is taken as ``pageLimit``.
    public var limit: UInt32

    /// The most jobs one RUN-DETAIL carries.
    public static let pageLimit: UInt32 = 10_000
    /// RUN-DETAIL stops adding jobs once its jobs take this many octets, so that a page rendered as
    /// JSON stays well within an API reply.
    public static let pageOctets = 2 << 20

    public init(request: UInt64, run: UInt64, first: UInt32 = 0, limit: UInt32 = RunQuery.pageLimit) {
        self.request = request
        self.run = run
        self.first = first
        self.limit = limit
    }

    public static let minimumSize = 24

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number8(run)
        writer.number4(first)
        writer.number4(limit)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        run = try reader.number8("run")
        first = try reader.number4("first")
        limit = try reader.number4("limit")
    }

    /// The jobs a page carries from `jobs`: from ``first``, at most ``limit`` (and ``pageLimit``) of them,
    /// and no more than ``pageOctets`` as encoded, though always one if any is left.
    public func page(of jobs: some Collection<JobStatus>) -> [JobStatus] {
        let wanted = Int(min(limit, Self.pageLimit))
        var page: [JobStatus] = []
        var writer = FrameWriter()
        for job in jobs.dropFirst(Int(first)).prefix(wanted) {
            job.encode(to: &writer)
            if writer.bytes.count > Self.pageOctets && !page.isEmpty { break }
            page.append(job)
        }
        return page
    }
}

/// The answer to RUN-QUERY.
public struct RunDetail: WireValue {
    /// The request answered.
    public var request: UInt64
    /// 200, or 404 when the orchestrator does not know the run.
    public var status: Status
    /// The run's status (meaningless unless `status` is 200).
    public var run: RunStatus
    /// The position of the first job in `jobs`, in the flow's order.
    public var first: UInt32
    /// Jobs of the run in the flow's order, from `first`: as many as the query asked for, unless the
    /// page's size limit ended it sooner. The run's `jobs` says how many there are in all.
    public var jobs: [JobStatus]

    public init(request: UInt64, status: Status, run: RunStatus, first: UInt32 = 0, jobs: [JobStatus]) {
        self.request = request
        self.status = status
        self.run = run
        self.first = first
        self.jobs = jobs
    }

    public static let minimumSize = 8 + 2 + RunStatus.minimumSize + 4 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(request)
        writer.number2(status.rawValue)
        run.encode(to: &writer)
        writer.number4(first)
        writer.values(jobs)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        request = try reader.number8("request")
        status = Status(rawValue: try reader.number2("status"))
        run = try RunStatus(from: &reader)
        first = try reader.number4("first")
        jobs = try reader.values("jobs", limit: Int(RunQuery.pageLimit))
    }
}
