import Core
import Glibc
import HTTP
import Store

/// A cluster file that cannot be used, with every problem found in it.
public struct ClusterFileError: Error, CustomStringConvertible, Sendable {
    /// One line per problem: `file:line:column: section: field "name": what is wrong`.
    public var problems: [String]

    public var description: String { problems.joined(separator: "\n") }
}

/// Reads cluster files.
///
/// ```json
/// {"data": "/var/lib/baton", "durability": "normal",
///  "management": {"api": "tcp://10.0.0.1:7700"},
///  "orchestrator": {"ops": "tcp://10.0.0.1:7710", "events": "tcp://10.0.0.1:7711"},
///  "shards": [{"id": 1, "submit": "tcp://10.0.0.2:7721", "work": "tcp://10.0.0.2:7722", "events": "tcp://10.0.0.2:7723"}],
///  "pools": [{"name": "general", "slots": 8}]}
/// ```
public enum ClusterFile {
    static let topFields = [
        "data", "durability", "heartbeat", "retention", "audit_retention", "event_retention", "event_log_size", "security", "management", "orchestrator", "flow", "shards",
        "pools", "timer",
    ]

    /// Parses and validates a cluster file, reporting every problem at once.
    public static func parse(_ text: String, file: String) -> Result<ClusterConfiguration, ClusterFileError> {
        let root: JSON
        do {
            root = try JSONParser.parse(text)
        } catch {
            return .failure(ClusterFileError(problems: ["\(file):\(error.position): invalid JSON: \(error.message)"]))
        }
        var reader = ClusterReader()
        let configuration = reader.cluster(root, file: file)
        let problems = reader.fields.issues.map { issue in
            var line = file + (issue.position == .none ? ":" : ":\(issue.position):")
            if let subject = issue.subject { line += " \(subject):" }
            if let field = issue.field { line += " field \"\(field)\":" }
            return line + " " + issue.message
        }
        if let configuration, problems.isEmpty { return .success(configuration) }
        return .failure(ClusterFileError(problems: problems))
    }
}

/// Walks a parsed cluster file.
struct ClusterReader {
    var fields = FieldReader()
    /// Every endpoint seen, with where, so that two sockets never claim the same one.
    var endpoints: [String: String] = [:]
    /// Every shard ID defined, even by an entry with other problems, for the pools to be checked against.
    var shardIDs: [UInt32] = []

    mutating func cluster(_ root: JSON, file: String) -> ClusterConfiguration? {
        guard let object = root.members else {
            fields.report(root.position, "a cluster file holds one JSON object, found \(root.kindDescription)")
            return nil
        }
        let top = fields.members(of: object, allowed: ClusterFile.topFields, subject: nil)
        let data = top["data"].map { fields.nonEmptyString($0, field: "data", subject: nil) } ?? {
            fields.report(root.position, field: "data", "missing: the folder where services keep their data")
            return nil
        }()
        var durability = Database.defaultSynchronous
        if let value = top["durability"] {
            switch value.string {
            case "off": durability = .off
            case "normal": durability = .normal
            case "full": durability = .full
            default:
                fields.report(value.position, field: "durability", "expected \"off\", \"normal\" or \"full\", found \(value.string.map { "\"\($0)\"" } ?? value.kindDescription)")
            }
        }
        let heartbeat = top["heartbeat"].flatMap { fields.duration($0, field: "heartbeat", subject: nil, allowZero: false, maximum: 60_000) }
        // Any length up to ten years: short ones are for soak tests.
        let retention = top["retention"].flatMap { fields.duration($0, field: "retention", subject: nil, allowZero: false, maximum: 3650 * 86_400_000) }
        let auditRetention = top["audit_retention"].flatMap {
            fields.duration($0, field: "audit_retention", subject: nil, allowZero: false, maximum: 3650 * 86_400_000)
        }
        let eventRetention = top["event_retention"].flatMap {
            fields.duration($0, field: "event_retention", subject: nil, allowZero: false, maximum: 3650 * 86_400_000)
        }
        // At least 1 MiB, so that a log keeps more than its last message or two.
        let eventLogSize = top["event_log_size"].flatMap { fields.size($0, field: "event_log_size", subject: nil, minimum: 1 << 20, maximum: 1 << 50) }
        let base = data ?? ""
        let management: ClusterConfiguration.Management? = section(top["management"], "management", at: root.position) { reader, members, position in
            let api = reader.endpoint(members["api"], field: "api", subject: "management", at: position)
            let folder = reader.folder(members["data"], subject: "management") ?? DataLayout.management(under: base)
            var management = api.map { ClusterConfiguration.Management(api: $0, data: folder) }
            management?.metrics = reader.httpAddress(members["metrics"], subject: "management")
            return management
        }
        // The orchestrator's section was called "flow" before; the old name is read, with a warning.
        var deprecations: [String] = []
        var orchestratorName = "orchestrator"
        if top["orchestrator"] == nil, top["flow"] != nil {
            orchestratorName = "flow"
            deprecations.append("\(file): the section \"flow\" is now called \"orchestrator\"; the old name will stop working in the next release")
        } else if let flow = top["flow"] {
            fields.report(flow.position, field: "flow", "the old name of \"orchestrator\", which this file also has: keep one")
        }
        let orchestrator: ClusterConfiguration.Orchestrator? = section(top[orchestratorName], orchestratorName, at: root.position) { reader, members, position in
            let ops = reader.endpoint(members["ops"], field: "ops", subject: orchestratorName, at: position)
            let events = reader.endpoint(members["events"], field: "events", subject: orchestratorName, at: position)
            let folder = reader.folder(members["data"], subject: orchestratorName) ?? DataLayout.orchestrator(under: base)
            let metrics = reader.httpAddress(members["metrics"], subject: orchestratorName)
            guard let ops, let events else { return nil }
            var orchestrator = ClusterConfiguration.Orchestrator(ops: ops, events: events, data: folder)
            orchestrator.metrics = metrics
            return orchestrator
        }
        let shards = shardList(top["shards"], at: root.position, base: base)
        let pools = poolList(top["pools"], shards: shardIDs, base: base)
        let timer: ClusterConfiguration.Timer? = section(top["timer"] ?? JSON(.object([]), at: root.position), "timer", at: root.position) { reader, members, _ in
            var timer = ClusterConfiguration.Timer(data: reader.folder(members["data"], subject: "timer") ?? DataLayout.timer(under: base))
            if let grace = members["grace"].flatMap({ reader.fields.duration($0, field: "grace", subject: "timer", allowZero: false, maximum: 86_400_000) }) {
                timer.grace = grace
            }
            timer.metrics = reader.httpAddress(members["metrics"], subject: "timer")
            return timer
        }
        guard let data, let management, let orchestrator, let shards, let pools, let timer else { return nil }
        var cluster = ClusterConfiguration(
            file: file, data: data, management: management, orchestrator: orchestrator, shards: shards, pools: pools, timer: timer)
        cluster.durability = durability
        if let heartbeat { cluster.heartbeat = UInt32(heartbeat) }
        if let retention { cluster.retention = retention }
        if let auditRetention { cluster.auditRetention = auditRetention }
        if let eventRetention { cluster.eventRetention = eventRetention }
        if let eventLogSize { cluster.eventLogSize = eventLogSize }
        cluster.deprecations = deprecations
        if let security = security(top["security"], base: base) { cluster.security = security }
        return cluster
    }

    static let sectionFields: [String: [String]] = [
        "management": ["api", "data", "metrics"], "orchestrator": ["ops", "events", "data", "metrics"], "flow": ["ops", "events", "data", "metrics"],
        "timer": ["data", "grace", "metrics"],
    ]

    /// A required object section.
    mutating func section<T>(
        _ value: JSON?, _ name: String, at owner: JSON.Position, _ read: (inout ClusterReader, [String: JSON], JSON.Position) -> T?
    ) -> T? {
        guard let value else {
            fields.report(owner, field: name, "missing")
            return nil
        }
        guard let object = value.members else {
            fields.report(value.position, field: name, "expected an object, found \(value.kindDescription)")
            return nil
        }
        let members = fields.members(of: object, allowed: Self.sectionFields[name] ?? [], subject: name)
        return read(&self, members, value.position)
    }

    mutating func shardList(_ value: JSON?, at owner: JSON.Position, base: String) -> [ClusterConfiguration.Shard]? {
        guard let value else {
            fields.report(owner, field: "shards", "missing: a cluster needs at least one shard")
            return nil
        }
        guard let elements = value.array, !elements.isEmpty else {
            fields.report(value.position, field: "shards", value.array != nil ? "a cluster needs at least one shard, and this array is empty" : "expected an array of at least one shard, found \(value.kindDescription)")
            return nil
        }
        var shards: [ClusterConfiguration.Shard] = []
        var complete = true
        var seen: [UInt32: Int] = [:]
        for (index, element) in elements.enumerated() {
            var subject = "shards[\(index)]"
            guard let object = element.members else {
                fields.report(element.position, subject: subject, "expected a shard object, found \(element.kindDescription)")
                complete = false
                continue
            }
            // The ID first, so that every problem of the entry can name the shard.
            if let number = object.first(where: { $0.key == "id" })?.value.integer, (1...65535).contains(number) {
                subject = "shard \(number)"
            }
            let members = fields.members(of: object, allowed: ["id", "submit", "work", "events", "data", "fairness", "headroom", "metrics"], subject: subject)
            var id: UInt32?
            if let idValue = members["id"] {
                if let number = fields.integer(idValue, field: "id", subject: subject, in: 1...65535) {
                    id = UInt32(number)
                    shardIDs.append(UInt32(number))
                    if let line = seen[UInt32(number)] {
                        fields.report(idValue.position, subject: subject, field: "id", "shard \(number) is already defined at line \(line)")
                        id = nil
                    } else {
                        seen[UInt32(number)] = idValue.position.line
                    }
                }
            } else {
                fields.report(element.position, subject: subject, field: "id", "missing")
            }
            let submit = endpoint(members["submit"], field: "submit", subject: subject, at: element.position)
            let work = endpoint(members["work"], field: "work", subject: subject, at: element.position)
            let events = endpoint(members["events"], field: "events", subject: subject, at: element.position)
            let folder = folder(members["data"], subject: subject)
            let metrics = httpAddress(members["metrics"], subject: subject)
            var fairness: Fairness?
            if let value = members["fairness"] {
                if let name = value.string, let mode = Fairness(rawValue: name) {
                    fairness = mode
                } else {
                    let choices = Fairness.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
                    fields.report(value.position, subject: subject, field: "fairness", "expected \(choices), found \(value.string.map { "\"\($0)\"" } ?? value.kindDescription)")
                    complete = false
                }
            }
            var headroom: Int?
            if let value = members["headroom"] {
                if let number = fields.integer(value, field: "headroom", subject: subject, in: 0...100_000) {
                    headroom = number
                    if fairness == .fifo && number > 0 {
                        fields.report(value.position, subject: subject, field: "headroom", "applies to fair dispatch only; this shard is \"fifo\"")
                        complete = false
                    }
                } else {
                    complete = false
                }
            }
            guard let id, let submit, let work, let events else {
                complete = false
                continue
            }
            var shard = ClusterConfiguration.Shard(
                id: id, submit: submit, work: work, events: events, data: folder ?? DataLayout.shard(id, under: base))
            if let fairness { shard.fairness = fairness }
            if let headroom { shard.headroom = headroom }
            shard.metrics = metrics
            shards.append(shard)
        }
        return complete ? shards : nil
    }

    mutating func poolList(_ value: JSON?, shards: [UInt32], base: String) -> [ClusterConfiguration.Pool]? {
        guard let value else { return [] }
        guard let elements = value.array else {
            fields.report(value.position, field: "pools", "expected an array of worker pools, found \(value.kindDescription)")
            return nil
        }
        var pools: [ClusterConfiguration.Pool] = []
        var complete = true
        var seen: [String: Int] = [:]
        for (index, element) in elements.enumerated() {
            var subject = "pools[\(index)]"
            guard let object = element.members else {
                fields.report(element.position, subject: subject, "expected a pool object, found \(element.kindDescription)")
                complete = false
                continue
            }
            if let name = object.first(where: { $0.key == "name" })?.value.string, Names.isValid(name) {
                subject = "pool \"\(name)\""
            }
            let members = fields.members(
                of: object, allowed: ["name", "slots", "shards", "tags", "products", "commands", "workers", "drain", "data", "metrics"], subject: subject)
            let name = fields.requiredName(members["name"], field: "name", subject: subject, at: element.position)
            if let name {
                if let line = seen[name] {
                    fields.report(members["name"]!.position, subject: subject, field: "name", "pool \"\(name)\" is already defined at line \(line)")
                } else {
                    seen[name] = members["name"]!.position.line
                }
            }
            let slots = members["slots"].flatMap { fields.integer($0, field: "slots", subject: subject, in: 1...1024) }
            let workers = members["workers"].flatMap { fields.integer($0, field: "workers", subject: subject, in: 0...256) }
            let drain = members["drain"].flatMap { fields.duration($0, field: "drain", subject: subject, allowZero: true, maximum: 3_600_000) }
            var poolShards = shards
            if let list = members["shards"] {
                poolShards = []
                for item in list.array ?? [] {
                    guard let id = fields.integer(item, field: "shards", subject: subject, in: 1...65535) else { continue }
                    if !shards.contains(UInt32(id)) {
                        fields.report(item.position, subject: subject, field: "shards", "no shard \(id) is defined")
                    }
                    poolShards.append(UInt32(id))
                }
                if list.array == nil {
                    fields.report(list.position, subject: subject, field: "shards", "expected an array of shard IDs, found \(list.kindDescription)")
                }
            }
            let tags = members["tags"].flatMap { fields.nameList($0, field: "tags", subject: subject) } ?? []
            var commands: Bool?
            if let value = members["commands"] {
                if let flag = value.bool { commands = flag } else {
                    fields.report(value.position, subject: subject, field: "commands", "expected true or false, found \(value.kindDescription)")
                }
            }
            let folder = folder(members["data"], subject: subject)
            let metrics = httpAddress(members["metrics"], subject: subject, ports: workers ?? 1)
            guard let name else {
                complete = false
                continue
            }
            var pool = ClusterConfiguration.Pool(name: name, shards: poolShards, data: folder ?? DataLayout.pool(name, under: base))
            pool.tags = tags
            if let products = members["products"] {
                pool.products = fields.nameList(products, field: "products", subject: subject).map(Set.init)
            }
            if let slots { pool.slots = slots }
            if let workers { pool.workers = workers }
            if let drain { pool.drain = drain }
            if let commands { pool.commands = commands }
            pool.metrics = metrics
            pools.append(pool)
        }
        return complete ? pools : nil
    }

    /// `security`: `"none"`, or `{"keys": "FOLDER"}` (the default, with the folder `DATA/keys`).
    mutating func security(_ value: JSON?, base: String) -> ClusterConfiguration.Security? {
        guard let value else { return nil }
        if value.string == "none" { return ClusterConfiguration.Security.none }
        guard let object = value.members else {
            fields.report(value.position, field: "security", "expected \"none\" or {\"keys\": \"FOLDER\"}, found \(value.string.map { "\"\($0)\"" } ?? value.kindDescription)")
            return nil
        }
        let members = fields.members(of: object, allowed: ["keys"], subject: "security")
        let folder = members["keys"].flatMap { fields.nonEmptyString($0, field: "keys", subject: "security") } ?? DataLayout.keys(under: base)
        return .keys(folder: folder)
    }

    /// A ZeroMQ endpoint that processes can share: `tcp://HOST:PORT` or `ipc://PATH`, used once in the file.
    mutating func endpoint(_ value: JSON?, field: String, subject: String, at owner: JSON.Position) -> String? {
        guard let value else {
            fields.report(owner, subject: subject, field: field, "missing: the endpoint this socket binds and clients connect to")
            return nil
        }
        guard let text = fields.nonEmptyString(value, field: field, subject: subject) else { return nil }
        guard text.hasPrefix("tcp://") || text.hasPrefix("ipc://") else {
            fields.report(
                value.position, subject: subject, field: field,
                "\"\(text)\" is not an endpoint processes can share (write tcp://HOST:PORT or ipc://PATH)")
            return nil
        }
        var port: (host: String, number: Int)?
        if text.hasPrefix("tcp://") {
            switch Self.tcpAddress(text) {
            case .success(let address): port = address
            case .failure(let problem):
                fields.report(value.position, subject: subject, field: field, "\"\(text)\": \(problem.message)")
                return nil
            }
        }
        if let other = endpoints[text] {
            fields.report(value.position, subject: subject, field: field, "\(text) is also used by \(other)")
            return nil
        }
        // One port of one address, whether ZeroMQ or HTTP binds it (found by an operator: a metrics address on
        // an API's port passed, and the second process to start could not bind).
        if let port {
            let key = "port \(port.host):\(port.number)"
            if let other = endpoints[key] {
                fields.report(value.position, subject: subject, field: field, "port \(port.number) of \(port.host) is also used by \(other)")
                return nil
            }
            endpoints[key] = "\(subject) \(field)"
        }
        endpoints[text] = "\(subject) \(field)"
        return text
    }

    /// The host and port of `tcp://HOST:PORT`, or what is wrong with it: ZeroMQ binds to an address (a name
    /// such as `localhost` fails at the start, as "No such device"), and a port chosen at random by each
    /// start (`0`, `*`) is one no client could know (found by an operator: a cluster "up" with port 0 ran
    /// nothing, its orchestrator sending to port 0 for ever).
    static func tcpAddress(_ text: String) -> Result<(host: String, number: Int), ClusterFileProblem> {
        let rest = text.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":") else { return .failure(ClusterFileProblem("it has no port (write tcp://HOST:PORT)")) }
        var host = String(rest[..<colon])
        let portText = String(rest[rest.index(after: colon)...])
        guard !portText.isEmpty else { return .failure(ClusterFileProblem("it has no port (write tcp://HOST:PORT)")) }
        guard let number = Int(portText), portText.allSatisfy(\.isASCII) else {
            return .failure(ClusterFileProblem("its port \"\(portText)\" is not a number from 1 to 65535"))
        }
        guard number != 0 else {
            return .failure(ClusterFileProblem("port 0 is chosen at random at each start, and no client could know it: give a port from 1 to 65535"))
        }
        guard (1...65535).contains(number) else { return .failure(ClusterFileProblem("port \(number) is out of range: give one from 1 to 65535")) }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return .failure(ClusterFileProblem("it has no host (write tcp://HOST:PORT, HOST an address such as 127.0.0.1)")) }
        var v4 = in_addr()
        var v6 = in6_addr()
        guard inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 else {
            return .failure(ClusterFileProblem("\"\(host)\" is not an IP address: a process binds to an address, not a name (write 127.0.0.1 for this machine)"))
        }
        return .success((host, number))
    }

    /// `metrics`: the HTTP address (`HOST:PORT`) a service serves `/metrics` on; a pool's workers take
    /// `ports` ports from it, one each. No two services may share a port.
    mutating func httpAddress(_ value: JSON?, subject: String, ports: Int = 1) -> String? {
        guard let value, let text = fields.nonEmptyString(value, field: "metrics", subject: subject) else { return nil }
        let address: HTTPServer.Configuration
        do {
            address = try HTTPServer.Configuration(address: text)
        } catch {
            fields.report(value.position, subject: subject, field: "metrics", "\(error)")
            return nil
        }
        guard address.port > 0, Int(address.port) + max(ports, 1) - 1 <= 65535 else {
            fields.report(value.position, subject: subject, field: "metrics", "\"\(text)\" needs a port from 1 to \(65536 - max(ports, 1)) (one for each of \(max(ports, 1)) workers)")
            return nil
        }
        for port in Int(address.port)..<(Int(address.port) + max(ports, 1)) {
            let key = "port \(address.host):\(port)"
            if let other = endpoints[key] {
                fields.report(value.position, subject: subject, field: "metrics", "port \(port) of \(address.host) is also used by \(other)")
                return nil
            }
            endpoints[key] = "\(subject) metrics"
        }
        return "\(address.host):\(address.port)"
    }

    mutating func folder(_ value: JSON?, subject: String) -> String? {
        guard let value else { return nil }
        return fields.nonEmptyString(value, field: "data", subject: subject)
    }
}

/// What is wrong with one value of a cluster file, in a sentence.
struct ClusterFileProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
