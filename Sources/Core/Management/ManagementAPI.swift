import Wire

/// The management API (`docs/api.md`): JSON in, typed requests out; typed replies in, JSON out.
///
/// Each method is declared once, in ``methods``: its name, the fields of its request that it reads, and how it
/// reads them into a ``ManagementRequest``. What can be refused without management's state (a field missing or
/// of the wrong type, an unknown method, a body that is not a JSON object) is refused here, naming the field;
/// ``ManagementCore`` decides on typed requests and answers with a ``ManagementReply``, rendered here.
public enum ManagementAPI {
    /// One method of the API.
    public struct Method: Sendable {
        /// Its name, as API-REQUEST carries it.
        public let name: String
        /// The role a caller's key needs to call it, in a cluster with keys; nil for any caller.
        public let role: APIRole?
        /// The fields of the request's object that it reads; any other is refused.
        public let fields: [String]
        /// What each field's value must be, where it is not ``FieldKind/named(_:)``'s.
        let kinds: [String: FieldKind]
        let read: @Sendable (Fields) throws(APIRefusal) -> ManagementRequest

        init(
            _ name: String, role: APIRole?, fields: [String], kinds: [String: FieldKind] = [:],
            read: @escaping @Sendable (Fields) throws(APIRefusal) -> ManagementRequest
        ) {
            self.name = name
            self.role = role
            self.fields = fields
            self.kinds = kinds
            self.read = read
        }

        /// The kind of value field `field` takes.
        func kind(of field: String) -> FieldKind { kinds[field] ?? FieldKind.named(field) }
    }

    /// What a field's value must be. Checked for every field before the method reads any, so that a value of
    /// the wrong type is refused naming it, never read as absent (found by an explorer: a start's numeric
    /// `key` was dropped, and a retried start ran twice).
    enum FieldKind {
        case string, integer, boolean, object, array
        /// A run priority: a number or a name.
        case stringOrInteger

        /// The kind of each field by its name, the same in every method that reads it.
        static func named(_ field: String) -> FieldKind {
            switch field {
            case "run", "from", "limit", "next", "version", "to", "shard", "instant", "weight", "cap", "rate", "burst", "since", "until", "before":
                .integer
            case "downstream", "fresh", "priority_over_fairness": .boolean
            case "params", "key_weights": .object
            case "files": .array
            case "priority": .stringOrInteger
            default: .string
            }
        }

        func admits(_ value: JSON) -> Bool {
            switch self {
            case .string: value.string != nil
            case .integer: value.integer != nil
            case .boolean: value.bool != nil
            case .object: value.members != nil
            case .array: value.array != nil
            case .stringOrInteger: value.string != nil || value.integer != nil
            }
        }

        var name: String {
            switch self {
            case .string: "a string"
            case .integer: "a whole number"
            case .boolean: "true or false"
            case .object: "an object"
            case .array: "an array"
            case .stringOrInteger: "a string or a whole number"
            }
        }
    }

    /// Every method, in the order an unknown method's refusal lists them.
    public static let methods: [Method] = [
        Method("apply", role: .admin, fields: ["files"]) { fields throws(APIRefusal) in .apply(try ApplyRequest(fields)) },
        Method("start", role: .operator, fields: ["flow", "key", "params", "priority"]) { fields throws(APIRefusal) in
            .start(try StartRequest(fields))
        },
        Method("status", role: .viewer, fields: ["run", "from", "limit"]) { fields throws(APIRefusal) in .status(try StatusRequest(fields)) },
        Method("runs", role: .viewer, fields: ["limit", "product", "flow", "state", "since", "until", "before"]) { fields throws(APIRefusal) in
            .runs(try RunListing(fields))
        },
        Method("flows", role: .viewer, fields: ["limit", "after"]) { fields throws(APIRefusal) in .flows(try Page(fields, method: "flows")) },
        Method("flow", role: .viewer, fields: ["flow", "version"]) { fields throws(APIRefusal) in
            guard let flow = fields["flow"]?.string else { throw APIRefusal(.badRequest, "flow needs \"flow\": \"PRODUCT/FLOW\"") }
            var version: UInt32?
            if let given = fields["version"] {
                guard let number = given.integer, (1...Int64(UInt32.max)).contains(number) else {
                    throw APIRefusal(.badRequest, "flow: \"version\" takes a version number, not \(given.rendered())")
                }
                version = UInt32(number)
            }
            return .flow(flow, version: version)
        },
        Method("products", role: .viewer, fields: ["limit", "after"]) { fields throws(APIRefusal) in
            .products(try Page(fields, method: "products"))
        },
        Method("stop", role: .operator, fields: ActionRequest.runFields) { .action(ActionRequest(.stop, $0)) },
        Method("pause", role: .operator, fields: ActionRequest.runFields) { .action(ActionRequest(.pause, $0)) },
        Method("resume", role: .operator, fields: ActionRequest.runFields) { .action(ActionRequest(.resume, $0)) },
        Method("rerun", role: .operator, fields: ActionRequest.runFields) { .action(ActionRequest(.rerunFailed, $0)) },
        Method("rerun-job", role: .operator, fields: ActionRequest.runFields + ["job", "downstream"]) { .action(ActionRequest(.rerunJob, $0)) },
        Method("mark-succeeded", role: .operator, fields: ActionRequest.runFields + ["job"]) { .action(ActionRequest(.markSucceeded, $0)) },
        Method("hold", role: .operator, fields: ActionRequest.productFields) { .action(ActionRequest(.hold, $0)) },
        Method("release", role: .operator, fields: ActionRequest.productFields) { .action(ActionRequest(.release, $0)) },
        Method("set-policy", role: .admin, fields: ActionRequest.productFields + PolicyChange.fields) { .action(ActionRequest(.setPolicy, $0)) },
        Method("move", role: .admin, fields: ActionRequest.productFields + ["to"]) { .action(ActionRequest(.move, $0)) },
        Method("drain", role: .admin, fields: DrainRequest.fields) { fields throws(APIRefusal) in .drain(try DrainRequest(drained: true, fields)) },
        Method("undrain", role: .admin, fields: DrainRequest.fields) { fields throws(APIRefusal) in .drain(try DrainRequest(drained: false, fields)) },
        Method("set-priority", role: .operator, fields: ActionRequest.runFields + ["priority"]) { .action(ActionRequest(.setPriority, $0)) },
        Method("workers", role: .viewer, fields: ["shard"]) { fields throws(APIRefusal) in .shards(try ShardQueryRequest(kind: "workers", fields)) },
        Method("queue", role: .viewer, fields: ["shard"]) { fields throws(APIRefusal) in .shards(try ShardQueryRequest(kind: "queue", fields)) },
        Method("waits", role: .viewer, fields: ["run"]) { fields throws(APIRefusal) in .shards(try ShardQueryRequest(kind: "waits", fields)) },
        Method("attempts", role: .viewer, fields: ["run", "job"]) { fields throws(APIRefusal) in .shards(try ShardQueryRequest(kind: "attempts", fields)) },
        Method("history", role: .viewer, fields: ["run", "product", "actor", "limit", "before"]) { fields throws(APIRefusal) in
            .history(try HistoryRequest(fields))
        },
        Method("schedule", role: .viewer, fields: ["flow", "next"]) { fields throws(APIRefusal) in
            guard let flow = fields["flow"]?.string else { throw APIRefusal(.badRequest, "schedule needs \"flow\": \"PRODUCT/FLOW\"") }
            return .schedule(flow: flow, next: try listLength(fields, default: 10))
        },
        Method("calendars", role: .viewer, fields: ["next"]) { fields throws(APIRefusal) in .calendars(next: try listLength(fields, default: 3)) },
        Method("schedules", role: .timer, fields: ["known"]) { fields in .schedules(known: fields["known"]?.string) },
        Method("fire", role: .timer, fields: ["flow", "instant", "run", "timer"], kinds: ["run": .boolean]) { fields throws(APIRefusal) in
            .fire(try FireRequest(fields))
        },
        Method("keys", role: .admin, fields: []) { _ in .keys },
        Method("ping", role: nil, fields: []) { _ in .ping },
    ]

    /// A request's object as its method reads it.
    struct Fields {
        /// The method's name, for errors.
        let method: String
        let declared: [String]
        let body: JSON

        /// The field named, if the request has it. A method reads only the fields its entry in ``methods`` declares.
        subscript(field: String) -> JSON? {
            assert(declared.contains(field), "\(method) reads \"\(field)\", which its entry in ManagementAPI.methods does not declare")
            return body[field]
        }
    }

    /// Reads an API-REQUEST into a typed request, or the refusal to answer it with.
    static func request(_ request: APIRequest) -> Result<ManagementRequest, APIRefusal> {
        let body: JSON
        do {
            body = request.body.isEmpty ? .object([]) : try JSONParser.parse(request.body)
        } catch {
            return .failure(APIRefusal(.badRequest, "the request body is not valid JSON: \(error)"))
        }
        guard body.members != nil else { return .failure(APIRefusal(.badRequest, "the request body must be a JSON object")) }
        guard let method = methods.first(where: { $0.name == request.method }) else {
            let names = methods.map(\.name).joined(separator: ", ")
            return .failure(APIRefusal(.notFound, "unknown method \"\(request.method)\" (methods: \(names))"))
        }
        if let refusal = refusal(of: body, by: method) { return .failure(refusal) }
        return Result { () throws(APIRefusal) in try method.read(Fields(method: method.name, declared: method.fields, body: body)) }
    }

    /// Why `method` refuses the fields of `body` before reading them, if it does: a field it does not read
    /// (a typo would otherwise ask for another action than meant, and be audited as meant), or one whose
    /// value is of another kind than it takes.
    static func refusal(of body: JSON, by method: Method) -> APIRefusal? {
        var seen: Set<String> = []
        for member in body.members ?? [] {
            // Given twice, one of the two would be read and the other dropped: which, a reader cannot tell.
            guard seen.insert(member.key).inserted else {
                return APIRefusal(.badRequest, "\(method.name): \"\(member.key)\" is given twice")
            }
            guard method.fields.contains(member.key) else {
                let reads = method.fields.isEmpty ? "it takes no field" : "it reads " + method.fields.joined(separator: ", ")
                let guess = Names.suggestion(for: member.key, among: method.fields).map { " (did you mean \"\($0)\"?)" } ?? ""
                return APIRefusal(.badRequest, "\(method.name): unknown field \"\(member.key)\"\(guess); \(reads)")
            }
            let kind = method.kind(of: member.key)
            guard kind.admits(member.value) else {
                return APIRefusal(.badRequest, "\(method.name): \"\(member.key)\" takes \(kind.name), not \(member.value.rendered())")
            }
        }
        return nil
    }

    /// A request's `next`: how many to list, 0 to 1000.
    static func listLength(_ fields: Fields, default value: Int) throws(APIRefusal) -> Int {
        guard let given = fields["next"] else { return value }
        guard let count = given.integer, (0...1000).contains(count) else {
            throw APIRefusal(.badRequest, "\"next\" takes a whole number from 0 to 1000, not \(given.rendered())")
        }
        return Int(count)
    }

    /// A run priority as the API gives it: 1 (first) to 5, as a number or a string, or `"urgent"`.
    static func priority(_ value: JSON) -> Result<UInt8, APIProblem> {
        let text = value.string ?? value.integer.map(String.init)
        guard let text, let priority = RunPriority.parse(text) else {
            return .failure(APIProblem("\"priority\" takes 1 (first) to 5 (last), or \"urgent\", not \(value.rendered())"))
        }
        return .success(priority)
    }
}

/// A request refused: its status, what is wrong in a sentence, and every problem when there are several.
struct APIRefusal: Error {
    var status: Status
    var error: String
    var problems: [String]

    init(_ status: Status, _ error: String, problems: [String] = []) {
        self.status = status
        self.error = error
        self.problems = problems
    }
}

/// One problem of a request, reported with the others in a refusal's `problems`, or alone as its error.
struct APIProblem: Error {
    var message: String

    init(_ message: String) { self.message = message }
}
