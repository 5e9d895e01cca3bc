import Foundation
import Core
import Runtime
import Store
import Testing

@Suite struct ClusterFileTests {
    static let good = """
        {"data": "/var/lib/baton", "durability": "full", "heartbeat": "500ms",
         "management": {"api": "tcp://10.0.0.1:7700"},
         "orchestrator": {"ops": "tcp://10.0.0.1:7710", "events": "tcp://10.0.0.1:7711"},
         "shards": [
           {"id": 1, "submit": "tcp://10.0.0.2:7721", "work": "tcp://10.0.0.2:7722", "events": "tcp://10.0.0.2:7723"},
           {"id": 2, "submit": "tcp://10.0.0.3:7721", "work": "tcp://10.0.0.3:7722", "events": "tcp://10.0.0.3:7723", "data": "/srv/s2"}],
         "pools": [{"name": "general", "slots": 16}, {"name": "gpu", "slots": 2, "tags": ["gpu"], "shards": [1], "workers": 3}]}
        """

    func problems(_ text: String) -> [String] {
        switch ClusterFile.parse(text, file: "c.json") {
        case .success: []
        case .failure(let error): error.problems
        }
    }

    @Test func aCompleteFileIsRead() throws {
        let cluster = try ClusterFile.parse(Self.good, file: "c.json").get()
        #expect(cluster.durability == .full)
        #expect(cluster.heartbeat == 500)
        #expect(cluster.management.data == "/var/lib/baton/management")
        #expect(cluster.shards.map(\.id) == [1, 2])
        #expect(cluster.shard(2)?.data == "/srv/s2")
        #expect(cluster.pool("general")?.shards == [1, 2])
        #expect(cluster.pool("gpu")?.shards == [1])
        #expect(cluster.pool("gpu")?.workers == 3)
        #expect(cluster.timer.data == "/var/lib/baton/timer")
        #expect(cluster.orchestrator.data == "/var/lib/baton/orchestrator")
        #expect(cluster.storePath(of: .orchestrator) == "/var/lib/baton/orchestrator/orchestrator.db")
        #expect(cluster.storePath(of: .shard(id: 2)) == "/srv/s2/shard.db")
        #expect(cluster.deprecations.isEmpty)
    }

    @Test func whatTheFileLeavesOutTakesTheDefaultsEveryServiceShares() throws {
        let cluster = try ClusterFile.parse(Self.good.replacingOccurrences(of: #""heartbeat": "500ms","#, with: ""), file: "c.json").get()
        #expect(cluster.heartbeat == Defaults.heartbeat)
        #expect(cluster.durability == .full)
        #expect(cluster.shard(1)?.headroom == Defaults.headroom && cluster.shard(1)?.fairness == .fair)
        #expect(cluster.pool("general")?.drain == Defaults.drain && cluster.pool("general")?.workers == 1)
        #expect(cluster.timer.grace == Defaults.timerGrace)
        // baton dev's shape is a cluster of the same kind, with the same defaults.
        let dev = try EmbeddedCluster.Options(data: "/d").configuration()
        #expect(dev.heartbeat == cluster.heartbeat && dev.durability == Database.defaultSynchronous)
        #expect(dev.pools.map(\.slots) == [Defaults.slots] && dev.shard(1)?.headroom == Defaults.headroom)
        #expect(dev.shard(1)?.data == "/d/shard-1" && dev.storePath(of: .management) == "/d/management/management.db")
    }

    @Test func metricsAddressesAreReadCheckedAndGivenToEachService() throws {
        let text = Self.good
            .replacing(#""api": "tcp://10.0.0.1:7700"}"#, with: #""api": "tcp://10.0.0.1:7700", "metrics": ":9700"}"#)
            .replacing(#"{"name": "gpu", "slots": 2,"#, with: #"{"name": "gpu", "metrics": "10.0.0.9:9750", "slots": 2,"#)
        let cluster = try ClusterFile.parse(text, file: "c.json").get()
        #expect(cluster.management.metrics == "127.0.0.1:9700")
        let environment = ServiceEnvironment(log: Log(service: "test", level: .error))
        var open = cluster
        open.security = .none
        let third = try ServicePlan(.worker(pool: "gpu", index: 3), of: open, environment: environment)
        #expect(third.metrics?.host == "10.0.0.9")
        #expect(third.metrics?.port == 9752, "worker 3 serves two ports above its pool's")
        #expect(try ServicePlan(.orchestrator, of: open, environment: environment).metrics == nil)

        let clash = Self.good.replacing(#""api": "tcp://10.0.0.1:7700"}"#, with: #""api": "tcp://10.0.0.1:7700", "metrics": "127.0.0.1:9751"}"#)
            .replacing(#"{"name": "gpu", "slots": 2,"#, with: #"{"name": "gpu", "metrics": "127.0.0.1:9750", "slots": 2,"#)
        #expect(problems(clash).contains { $0.contains("pool \"gpu\": field \"metrics\": port 9751 of 127.0.0.1 is also used by management metrics") }, "\(problems(clash))")
        let bad = Self.good.replacing(#""api": "tcp://10.0.0.1:7700"}"#, with: #""api": "tcp://10.0.0.1:7700", "metrics": "example.com:80"}"#)
        #expect(problems(bad).contains { $0.contains(#"management: field "metrics": "example.com:80" is not an HTTP address: "example.com" is not an IPv4 address"#) }, "\(problems(bad))")
    }

    @Test func aPoolsDrainIsRead() throws {
        let text = Self.good.replacingOccurrences(of: #"{"name": "general", "slots": 16}"#, with: #"{"name": "general", "slots": 16, "drain": "2m"}"#)
        #expect(try ClusterFile.parse(text, file: "c.json").get().pool("general")?.drain == 120_000)
    }

    @Test func securityIsKeysInTheDataFolderUnlessTheFileSaysOtherwise() throws {
        #expect(try ClusterFile.parse(Self.good, file: "c.json").get().security == .keys(folder: "/var/lib/baton/keys"))
        let folder = Self.good.replacingOccurrences(of: #""heartbeat": "500ms","#, with: #""heartbeat": "500ms", "security": {"keys": "/etc/baton/keys"},"#)
        #expect(try ClusterFile.parse(folder, file: "c.json").get().security == .keys(folder: "/etc/baton/keys"))
        let none = Self.good.replacingOccurrences(of: #""heartbeat": "500ms","#, with: #""heartbeat": "500ms", "security": "none","#)
        #expect(try ClusterFile.parse(none, file: "c.json").get().security == ClusterConfiguration.Security.none)
        let wrong = Self.good.replacingOccurrences(of: #""heartbeat": "500ms","#, with: #""heartbeat": "500ms", "security": "off","#)
        #expect(problems(wrong) == [#"c.json:1:84: field "security": expected "none" or {"keys": "FOLDER"}, found "off""#])
    }

    @Test func retentionIsThirtyDaysAndTheAuditLogsLongerUnlessTheFileSaysOtherwise() throws {
        let cluster = try ClusterFile.parse(Self.good, file: "c.json").get()
        #expect(cluster.retention == 30 * 86_400_000 && cluster.auditRetention == 400 * 86_400_000)
        let short = Self.good.replacingOccurrences(of: #""heartbeat": "500ms","#, with: #""heartbeat": "500ms", "retention": "10m", "audit_retention": "7d","#)
        let shortened = try ClusterFile.parse(short, file: "c.json").get()
        #expect(shortened.retention == 600_000 && shortened.auditRetention == 7 * 86_400_000)
        #expect(cluster.eventRetention == 86_400_000)
        let events = Self.good.replacingOccurrences(of: #""heartbeat": "500ms","#, with: #""heartbeat": "500ms", "event_retention": "1h","#)
        #expect(try ClusterFile.parse(events, file: "c.json").get().eventRetention == 3_600_000)
    }

    @Test func anEventLogKeepsFourGiBUnlessTheFileSaysOtherwise() throws {
        #expect(try ClusterFile.parse(Self.good, file: "c.json").get().eventLogSize == 4 << 30)
        func sized(_ size: String) -> String {
            Self.good.replacingOccurrences(of: #""heartbeat": "500ms","#, with: #""heartbeat": "500ms", "event_log_size": \#(size),"#)
        }
        #expect(try ClusterFile.parse(sized(#""512MiB""#), file: "c.json").get().eventLogSize == 512 << 20)
        #expect(try ClusterFile.parse(sized(#""2GB""#), file: "c.json").get().eventLogSize == 2_000_000_000)
        #expect(problems(sized(#""lots""#)).first?.hasSuffix(#"field "event_log_size": "lots" is not a size (write e.g. "512MiB", "4GiB", "100MB")"#) == true)
        #expect(problems(sized(#""10kB""#)).first?.hasSuffix(#"field "event_log_size": "10kB" is out of range (from 1MiB to 1024TiB)"#) == true)
        #expect(try ClusterFile.parse(sized("2097152"), file: "c.json").get().eventLogSize == 2 << 20)
        #expect(problems(sized("true")).first?.hasSuffix(#"field "event_log_size": expected a size in a string such as "4GiB", found a Boolean"#) == true)
    }

    @Test func sizesAreReadInBinaryAndDecimalUnits() {
        #expect(SizeText.parse("4GiB") == 4 << 30 && SizeText.parse("100MB") == 100_000_000 && SizeText.parse("7") == 7)
        #expect(SizeText.parse("1kB") == 1000 && SizeText.parse("3KiB") == 3072 && SizeText.parse("12B") == 12)
        for bad in ["", "GiB", "-1MiB", "1.5GiB", "1 GiB", "99999999999TiB", "4gib"] { #expect(SizeText.parse(bad) == nil, "\(bad)") }
        #expect(SizeText.format(4 << 30) == "4GiB" && SizeText.format(1536 << 20) == "1536MiB" && SizeText.format(1000) == "1000B")
    }

    @Test func aPoolMayHaveNoWorkersOfBatonsOwnAndBeLimitedToProducts() throws {
        let text = Self.good.replacingOccurrences(
            of: #""shards": [1], "workers": 3}"#, with: #""shards": [1], "workers": 0, "products": ["payments", "risk"]}"#)
        let cluster = try ClusterFile.parse(text, file: "c.json").get()
        #expect(cluster.pool("gpu")?.workers == 0)
        #expect(cluster.pool("gpu")?.products == ["payments", "risk"] && cluster.pool("general")?.products == nil)
        #expect(!cluster.roles.contains { if case .worker(pool: "gpu", index: _) = $0 { true } else { false } })
    }

    @Test func theOrchestratorsOldSectionNameIsReadWithAWarning() throws {
        let old = Self.good.replacingOccurrences(of: #""orchestrator": {"#, with: #""flow": {"#)
        let cluster = try ClusterFile.parse(old, file: "c.json").get()
        #expect(cluster.orchestrator.ops == "tcp://10.0.0.1:7710")
        #expect(cluster.deprecations == [#"c.json: the section "flow" is now called "orchestrator"; the old name will stop working in the next release"#])
        let both = Self.good.replacingOccurrences(of: #""orchestrator": {"#, with: #""flow": {"ops": "tcp://10.0.0.1:7790", "events": "tcp://10.0.0.1:7791"}, "orchestrator": {"#)
        #expect(problems(both) == [#"c.json:3:10: field "flow": the old name of "orchestrator", which this file also has: keep one"#])
    }

    @Test func theOneMachineClusterInDeployIsValid() throws {
        let text = try String(contentsOfFile: "\(root)/deploy/local/cluster.json", encoding: .utf8)
        #expect(problems(text) == [])
        let example = try String(contentsOfFile: "\(root)/deploy/cluster.example.json", encoding: .utf8)
        #expect(problems(example) == [])
    }

    @Test func aMissingEndpointIsNamed() {
        let text = Self.good.replacingOccurrences(of: #", "work": "tcp://10.0.0.3:7722""#, with: "")
        #expect(problems(text) == ["c.json:6:4: shard 2: field \"work\": missing: the endpoint this socket binds and clients connect to"])
    }

    @Test func aDuplicateShardIDIsNamedWithTheFirstOnesLine() {
        let text = Self.good.replacingOccurrences(of: #"{"id": 2, "submit""#, with: #"{"id": 1, "submit""#)
        #expect(problems(text) == ["c.json:6:11: shard 1: field \"id\": shard 1 is already defined at line 5"])
    }

    @Test func unknownFieldsAreNamedWithSuggestions() {
        let text = Self.good.replacingOccurrences(of: #""durability": "full""#, with: #""durabilty": "full""#)
            .replacingOccurrences(of: #"{"name": "general", "slots": 16}"#, with: #"{"name": "general", "slot": 16}"#)
        #expect(
            problems(text) == [
                "c.json:1:28: field \"durabilty\": unknown field (did you mean \"durability\"?)",
                "c.json:7:32: pool \"general\": field \"slot\": unknown field (did you mean \"slots\"?)",
            ])
    }

    @Test func everyOtherMistakeIsReportedToo() {
        let text = """
            {"data": "", "durability": "sometimes",
             "management": {"api": "inproc://api"},
             "orchestrator": {"ops": "tcp://10.0.0.9:1", "events": "tcp://10.0.0.9:1"},
             "shards": [{"id": 0, "submit": "tcp://10.0.0.9", "work": "tcp://10.0.0.9:3", "events": "tcp://10.0.0.9:4"}],
             "pools": [{"name": "p", "shards": [9], "slots": 0}, {"name": "p"}]}
            """
        #expect(
            problems(text) == [
                "c.json:1:10: field \"data\": must not be empty",
                "c.json:1:28: field \"durability\": expected \"off\", \"normal\" or \"full\", found \"sometimes\"",
                "c.json:2:24: management: field \"api\": \"inproc://api\" is not an endpoint processes can share (write tcp://HOST:PORT or ipc://PATH)",
                "c.json:3:56: orchestrator: field \"events\": tcp://10.0.0.9:1 is also used by orchestrator ops",
                "c.json:4:20: shards[0]: field \"id\": expected a whole number from 1 to 65535, found 0",
                "c.json:4:33: shards[0]: field \"submit\": \"tcp://10.0.0.9\": it has no port (write tcp://HOST:PORT)",
                "c.json:5:50: pool \"p\": field \"slots\": expected a whole number from 1 to 1024, found 0",
                "c.json:5:37: pool \"p\": field \"shards\": no shard 9 is defined",
                "c.json:5:63: pool \"p\": field \"name\": pool \"p\" is already defined at line 5",
            ])
    }

    /// Found by an operator: port 0 gave a cluster that was "up" and ran nothing (each start chose another
    /// port, and the orchestrator sent to port 0); a port out of range was said to be missing; `localhost`
    /// passed, and failed at the start as "No such device"; and a metrics address on an API's port passed,
    /// so that the second process could not bind. Each is refused in the file, naming the field.
    @Test func anEndpointsHostAndPortAreCheckedAgainstEveryOtherAddress() {
        func problem(_ endpoint: String) -> [String] {
            problems(Self.good.replacing(#""api": "tcp://10.0.0.1:7700"}"#, with: #""api": "\#(endpoint)"}"#)).filter { $0.contains("management") }
        }
        #expect(problem("tcp://10.0.0.1:0").first?.hasSuffix(#""tcp://10.0.0.1:0": port 0 is chosen at random at each start, and no client could know it: give a port from 1 to 65535"#) == true, "\(problem("tcp://10.0.0.1:0"))")
        #expect(problem("tcp://10.0.0.1:99999").first?.hasSuffix("port 99999 is out of range: give one from 1 to 65535") == true)
        #expect(problem("tcp://10.0.0.1:*").first?.hasSuffix(#"its port "*" is not a number from 1 to 65535"#) == true)
        #expect(problem("tcp://localhost:7700").first?.hasSuffix(#""localhost" is not an IP address: a process binds to an address, not a name (write 127.0.0.1 for this machine)"#) == true)
        #expect(problem("tcp://:7700").first?.contains("it has no host") == true)
        #expect(problem("tcp://[::1]:7700").isEmpty, "\(problem("tcp://[::1]:7700"))")
        let clash = Self.good.replacing(#""api": "tcp://10.0.0.1:7700"}"#, with: #""api": "tcp://127.0.0.1:7700"}"#)
            .replacing(#"{"name": "gpu", "slots": 2,"#, with: #"{"name": "gpu", "metrics": "127.0.0.1:7700", "slots": 2,"#)
        #expect(problems(clash).contains { $0.contains(#"pool "gpu": field "metrics": port 7700 of 127.0.0.1 is also used by management api"#) }, "\(problems(clash))")
    }

    @Test func aShardsHeadroomIsReadAndRefusedUnderFIFO() throws {
        let text = Self.good.replacingOccurrences(of: #""data": "/srv/s2"}"#, with: #""data": "/srv/s2", "headroom": 2}"#)
        let cluster = try ClusterFile.parse(text, file: "c.json").get()
        #expect(cluster.shard(1)?.headroom == 0)
        #expect(cluster.shard(2)?.headroom == 2)
        let fifo = Self.good.replacingOccurrences(of: #""data": "/srv/s2"}"#, with: #""data": "/srv/s2", "fairness": "fifo", "headroom": 2}"#)
        #expect(problems(fifo) == [#"c.json:6:162: shard 2: field "headroom": applies to fair dispatch only; this shard is "fifo""#])
        let negative = Self.good.replacingOccurrences(of: #""data": "/srv/s2"}"#, with: #""data": "/srv/s2", "headroom": -1}"#)
        #expect(problems(negative).count == 1)
    }

    @Test func notJSONIsRefusedWithItsPosition() {
        #expect(problems("{\n  \"data\": }") == ["c.json:2:11: invalid JSON: expected a value, found '}'"])
    }

    let root: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()
}
