import Wire

/// A request of the management API, read as far as it can be without management's state.
enum ManagementRequest {
    case apply(ApplyRequest)
    case start(StartRequest)
    case status(StatusRequest)
    /// Runs, newest first, from the store.
    case runs(RunListing)
    case flows(Page)
    case products(Page)
    case action(ActionRequest)
    /// `drain` and `undrain`: done by management alone, at once.
    case drain(DrainRequest)
    case history(HistoryRequest)
    /// `known`: the generation of schedules a timer already has.
    case schedules(known: String?)
    case fire(FireRequest)
    case schedule(flow: String, next: Int)
    case calendars(next: Int)
    /// `flow`: a flow's definition, its latest version unless one is named.
    case flow(String, version: UInt32?)
    /// `workers`, `queue`, `waits`: asked of shards.
    case shards(ShardQueryRequest)
    case ping
    /// `keys`: the keys management trusts now (admin).
    case keys
}

/// `apply`: the files, each a flow file, a calendar, or a problem to report with those of the others.
struct ApplyRequest {
    enum File {
        case flow(path: String, text: String)
        case calendar(name: String, path: String, text: String)
        case unreadable(APIProblem)
    }

    var files: [File]

    init(_ fields: ManagementAPI.Fields) throws(APIRefusal) {
        guard let files = fields["files"]?.array, !files.isEmpty else {
            throw APIRefusal(.badRequest, "apply needs \"files\": an array of {\"path\", \"text\"} (with \"calendar\": NAME for a calendar)")
        }
        self.files = files.enumerated().map { index, file in
            guard let text = file["text"]?.string else { return .unreadable(APIProblem("file #\(index + 1): missing \"text\"")) }
            let path = file["path"]?.string ?? "file #\(index + 1)"
            guard let calendar = file["calendar"] else { return .flow(path: path, text: text) }
            guard let name = calendar.string, Names.isValid(name) else {
                return .unreadable(
                    APIProblem("\(path): \"calendar\" must be a name (1 to 64 letters, digits, '.', '_' or '-'), not \(calendar.rendered())"))
            }
            return .calendar(name: name, path: path, text: text)
        }
    }
}

/// `start`. A flow name that is not `PRODUCT/FLOW` is refused only once a `key` already used has been answered
/// with its run; parameters and the priority are reported together, with the parameters the flow does not declare.
struct StartRequest {
    /// One parameter given, with what is wrong with it, if anything.
    struct Parameter {
        var name: String
        /// The value as text, or why it cannot be one.
        var value: Result<String, APIProblem>
        /// Why the name cannot be a parameter's; one the flow does not declare is reported as undeclared instead.
        var nameProblem: APIProblem?
    }

    /// The flow as given, `PRODUCT/FLOW`.
    var flow: String
    /// The client's idempotency key; empty for none.
    var key: String
    var target: Result<(product: String, flow: String), APIRefusal>
    var params: [Parameter]
    var priority: Result<UInt8, APIProblem>?

    init(_ fields: ManagementAPI.Fields) throws(APIRefusal) {
        guard let flow = fields["flow"]?.string else { throw APIRefusal(.badRequest, "start needs \"flow\": \"PRODUCT/FLOW\"") }
        self.flow = flow
        key = fields["key"]?.string ?? ""
        guard key.utf8.count <= 255 else { throw APIRefusal(.badRequest, "\"key\" is at most 255 octets, not \(key.utf8.count)") }
        // An empty key would be no key: two starts under it, two runs.
        guard fields["key"] == nil || !key.isEmpty else { throw APIRefusal(.badRequest, "\"key\" is 1 to 255 octets, not empty: give a key, or none") }
        let parts = flow.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        target = parts.count == 2 ? .success((parts[0], parts[1])) : .failure(APIRefusal(.badRequest, "\"\(flow)\" is not PRODUCT/FLOW"))
        var named: Set<String> = []
        params = (fields["params"]?.members ?? []).map { member in
            guard named.insert(member.key).inserted else {
                return Parameter(name: member.key, value: .failure(APIProblem("parameter \"\(member.key)\": given twice")), nameProblem: nil)
            }
            let value: Result<String, APIProblem>
            switch member.value.value {
            case .string(let text) where text.utf8.contains(0): value = .failure(APIProblem("parameter \"\(member.key)\": \(FieldReader.nul)"))
            case .string(let text): value = .success(text)
            case .number(let text): value = .success(text)
            case .bool(let flag): value = .success(flag ? "true" : "false")
            default: value = .failure(APIProblem("parameter \"\(member.key)\": expected a string, number or Boolean"))
            }
            let nameProblem = Names.isValidParameter(member.key)
                ? nil : APIProblem("parameter \"\(member.key)\": not a valid name (letters, digits and '_', not starting with a digit)")
            return Parameter(name: member.key, value: value, nameProblem: nameProblem)
        }
        priority = fields["priority"].map(ManagementAPI.priority)
    }
}

/// An operator action. Its fields are read when it arrives, but each refusal waits its turn: an action sent
/// again with a `request` ID already used is answered with the first one's outcome whatever options it
/// carries (on another run, product or job, it is refused), and an unknown run or product is named before
/// a wrong option.
struct ActionRequest {
    /// What an action acts on.
    enum Target {
        case run(UInt64)
        case product(String)
    }

    /// Who asks, and about what.
    struct Subject {
        /// The actor the client names; empty if it names none.
        var actor: String
        var target: Target
    }

    /// What the action says beyond its subject.
    struct Details {
        /// The job, for rerun-job and mark-succeeded.
        var job = ""
        /// The new priority, for set-priority.
        var priority: UInt8?
        /// Whether a rerun-job reruns the jobs after it too.
        var downstream = false
        /// The policy fields of a set-policy.
        var policy: PolicyChange?
        /// The shard a move goes to.
        var shard: UInt32?
    }

    /// The fields every action on a run reads, and every action on a product.
    static let runFields = ["request", "actor", "run", "fresh"]
    static let productFields = ["request", "actor", "product", "fresh"]

    /// The API method, as the audit log records it.
    var method: String
    var action: OperationAction
    /// The client's request ID; empty for none.
    var key: String
    var subject: Result<Subject, APIRefusal>
    var details: Result<Details, APIRefusal>
    /// Whether a rerun takes a new entry moment.
    var fresh: Result<Bool, APIRefusal>

    init(_ action: OperationAction, _ fields: ManagementAPI.Fields) {
        let method = fields.method
        self.method = method
        self.action = action
        let key = fields["request"]?.string ?? ""
        self.key = key
        let onProduct = action == .hold || action == .release || action == .setPolicy || action == .move
        subject = Result { () throws(APIRefusal) in
            guard key.utf8.count <= 255 else { throw APIRefusal(.badRequest, "\"request\" is at most 255 octets") }
            // Management names the audit entries of requests without an ID `#N`: a client's may not look alike.
            guard !key.hasPrefix("#") else { throw APIRefusal(.badRequest, "\"request\" may not start with '#', which management's own IDs do") }
            // Checked for a cluster without keys by ``ManagementCore``: with keys, the key's name is the actor.
            let actor = fields["actor"]?.string ?? ""
            guard actor.utf8.count <= 255 else { throw APIRefusal(.badRequest, "\"actor\" is at most 255 octets") }
            if onProduct {
                guard let product = fields["product"]?.string else { throw APIRefusal(.badRequest, "\(method) needs \"product\": a product's name") }
                return Subject(actor: actor, target: .product(product))
            }
            guard let run = fields["run"]?.integer, run > 0 else { throw APIRefusal(.badRequest, "\(method) needs \"run\": a run ID") }
            return Subject(actor: actor, target: .run(UInt64(run)))
        }
        details = Result { () throws(APIRefusal) in
            var details = Details()
            if action == .setPolicy {
                do throws(APIProblem) {
                    details.policy = try PolicyChange(fields)
                } catch {
                    throw APIRefusal(.badRequest, "set-policy: \(error.message)")
                }
            }
            if action == .rerunJob || action == .markSucceeded {
                guard let job = fields["job"]?.string, !job.isEmpty else { throw APIRefusal(.badRequest, "\(method) needs \"job\": the job's name") }
                details.job = job
            }
            if action == .setPriority {
                guard let value = fields["priority"] else {
                    throw APIRefusal(.badRequest, "set-priority needs \"priority\": 1 (first) to 5, or \"urgent\"")
                }
                switch ManagementAPI.priority(value) {
                case .success(let priority): details.priority = priority
                case .failure(let problem): throw APIRefusal(.badRequest, "set-priority: \(problem.message)")
                }
            }
            if action == .move {
                guard let shard = fields["to"]?.integer, (1...Int64(UInt16.max)).contains(shard) else {
                    throw APIRefusal(.badRequest, "move needs \"to\": the ID of the shard to move to (1 to 65535)")
                }
                details.shard = UInt32(shard)
            }
            details.downstream = action == .rerunJob && fields["downstream"]?.bool == true
            return details
        }
        fresh = Result { () throws(APIRefusal) in
            guard fields["fresh"]?.bool == true else { return false }
            guard action == .rerunFailed || action == .rerunJob else {
                throw APIRefusal(.badRequest, "\"fresh\" applies to rerun and rerun-job only")
            }
            return true
        }
    }
}

/// `drain` or `undrain`: the shard, who asks, and the client's request ID. A shard not of the cluster is
/// refused by ``ManagementCore``, which knows the shards.
struct DrainRequest {
    static let fields = ["shard", "actor", "request"]

    /// The API method, as the audit log records it.
    var method: String
    /// True to drain the shard, false to open it again.
    var drained: Bool
    var shard: UInt32
    /// The client's request ID; empty for none.
    var key: String
    /// The actor the client names; empty if it names none.
    var actor: String

    init(drained: Bool, _ fields: ManagementAPI.Fields) throws(APIRefusal) {
        method = fields.method
        self.drained = drained
        guard let shard = fields["shard"]?.integer, (1...Int64(UInt16.max)).contains(shard) else {
            throw APIRefusal(.badRequest, "\(method) needs \"shard\": the ID of a shard of the cluster (1 to 65535)")
        }
        self.shard = UInt32(shard)
        key = fields["request"]?.string ?? ""
        guard key.utf8.count <= 255 else { throw APIRefusal(.badRequest, "\"request\" is at most 255 octets") }
        guard !key.hasPrefix("#") else { throw APIRefusal(.badRequest, "\"request\" may not start with '#', which management's own IDs do") }
        actor = fields["actor"]?.string ?? ""
        guard actor.utf8.count <= 255 else { throw APIRefusal(.badRequest, "\"actor\" is at most 255 octets") }
    }
}

/// The fields a `set-policy` gives, to be set over the product's policy.
struct PolicyChange {
    static let fields = ["weight", "cap", "rate", "burst", "priority_over_fairness", "key_weights"]

    var limits: [(path: WritableKeyPath<ProductPolicy, UInt32>, value: UInt32)] = []
    var priorityOverFairness: Bool?
    /// Weights of fairness keys, in the order given; 1 removes a key's, 1 being every key's default.
    var keyWeights: [(key: String, weight: UInt32)]?

    init(_ fields: ManagementAPI.Fields) throws(APIProblem) {
        let limits: [(String, WritableKeyPath<ProductPolicy, UInt32>, ClosedRange<Int64>)] = [
            ("weight", \.weight, Int64(ProductPolicy.weights.lowerBound)...Int64(ProductPolicy.weights.upperBound)),
            ("cap", \.cap, 0...Int64(UInt32.max)), ("rate", \.rate, 0...Int64(UInt32.max)), ("burst", \.burst, 0...Int64(UInt32.max)),
        ]
        for (name, path, range) in limits {
            guard let value = fields[name] else { continue }
            guard let number = value.integer, range.contains(number) else {
                throw APIProblem("\"\(name)\" takes a whole number from \(range.lowerBound) to \(range.upperBound), not \(value.rendered())")
            }
            self.limits.append((path, UInt32(number)))
        }
        if let value = fields["priority_over_fairness"] {
            guard let flag = value.bool else { throw APIProblem("\"priority_over_fairness\" takes true or false, not \(value.rendered())") }
            priorityOverFairness = flag
        }
        if let value = fields["key_weights"] {
            guard let members = value.members else {
                throw APIProblem("\"key_weights\" takes an object of fairness keys and weights, like {\"acme\": 3}")
            }
            var weights: [(key: String, weight: UInt32)] = []
            for member in members {
                guard !member.key.isEmpty, member.key.utf8.count <= FairnessKey.maximumLength else {
                    throw APIProblem("a fairness key is 1 to \(FairnessKey.maximumLength) octets, not \"\(member.key)\"")
                }
                guard let number = member.value.integer, ProductPolicy.weights.contains(UInt32(clamping: max(0, number))), number > 0 else {
                    throw APIProblem("the weight of key \"\(member.key)\" takes a whole number from 1 to 10000, not \(member.value.rendered())")
                }
                weights.append((member.key, UInt32(number)))
            }
            keyWeights = weights
        }
        guard !self.limits.isEmpty || priorityOverFairness != nil || keyWeights != nil else {
            throw APIProblem("give at least one of \"weight\", \"cap\", \"rate\", \"burst\", \"priority_over_fairness\" and \"key_weights\"")
        }
    }

    /// The policy with these fields set over `current`'s; refused when it would weigh too many fairness keys.
    func applied(over current: ProductPolicy) -> Result<ProductPolicy, APIProblem> {
        var policy = current
        for limit in limits { policy[keyPath: limit.path] = limit.value }
        if let priorityOverFairness { policy.priorityOverFairness = priorityOverFairness ? 1 : 0 }
        if let keyWeights {
            // Given weights replace or add to those set.
            var weights = Dictionary(policy.keyWeights.map { ($0.key, $0.weight) }, uniquingKeysWith: { _, last in last })
            for given in keyWeights { weights[given.key] = given.weight == 1 ? nil : given.weight }
            guard weights.count <= ProductPolicy.keyWeightLimit else {
                return .failure(APIProblem("at most \(ProductPolicy.keyWeightLimit) fairness keys may have a weight"))
            }
            policy.keyWeights = weights.sorted { $0.key < $1.key }.map { KeyWeight(key: $0.key, weight: $0.value) }
        }
        return .success(policy)
    }
}

/// `history`: the audit log of a run, or of a product.
struct HistoryRequest {
    enum Subject {
        case run(UInt64)
        case product(String)
        case actor(String)
    }

    var subject: Subject
    var limit: Int
    /// Only actions older than this one: the `next` of the page before.
    var before: UInt64?

    init(_ fields: ManagementAPI.Fields) throws(APIRefusal) {
        limit = try Page.limit(fields, method: "history", default: Page.defaultLimit)
        if let given = fields["before"] {
            guard let id = given.integer, id > 0 else {
                throw APIRefusal(.badRequest, "history: \"before\" takes an action's ID, a whole number from 1, not \(given.rendered())")
            }
            before = UInt64(id)
        }
        if let run = fields["run"]?.integer, run > 0 {
            subject = .run(UInt64(run))
        } else if let product = fields["product"]?.string {
            subject = .product(product)
        } else if let actor = fields["actor"]?.string, !actor.isEmpty {
            subject = .actor(actor)
        } else {
            throw APIRefusal(.badRequest, "history needs \"run\": a run ID, \"product\": a product's name, or \"actor\": who acted")
        }
    }
}

/// `fire`: a timer says a firing of a flow is due.
struct FireRequest {
    var flow: String
    var instant: Timestamp
    /// False to record the firing, and every one before it not yet decided, as missed.
    var run: Bool
    /// The timer, as it names itself; empty if it does not.
    var timer: String

    init(_ fields: ManagementAPI.Fields) throws(APIRefusal) {
        guard let flow = fields["flow"]?.string, let milliseconds = fields["instant"]?.integer else {
            throw APIRefusal(.badRequest, "fire needs \"flow\": \"PRODUCT/FLOW\" and \"instant\": the firing's time in milliseconds")
        }
        let run = fields["run"]
        if let run, run.bool == nil {
            throw APIRefusal(.badRequest, "\"run\" is true (start a run) or false (record the firing as missed), not \(run.rendered())")
        }
        let timer = fields["timer"]?.string ?? ""
        guard timer.utf8.count <= 255 else { throw APIRefusal(.badRequest, "\"timer\" is at most 255 octets") }
        self.flow = flow
        self.instant = Timestamp(milliseconds: milliseconds)
        self.run = run?.bool ?? true
        self.timer = timer
    }
}
