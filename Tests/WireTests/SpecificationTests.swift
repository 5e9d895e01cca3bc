import Foundation
import Testing
import Wire

/// Ties `docs/protocol.md` to the codec, as zproto's generated code ties a model to its codec.
@Suite struct SpecificationTests {
    static let specification: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try! String(contentsOf: root.appendingPathComponent("docs/protocol.md"), encoding: .utf8)
    }()

    /// The `###` sections of the specification, by heading.
    static let sections: [String: String] = {
        var result: [String: String] = [:]
        for chunk in specification.components(separatedBy: "\n### ").dropFirst() {
            let heading = String(chunk.prefix { $0 != "\n" })
            let body = chunk.components(separatedBy: "\n## ").first!
            result[heading] = body
        }
        return result
    }()

    /// The first column of the first table in `text`, header row excluded.
    static func tableFields(_ text: String) -> [String] {
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| ") }
        return rows.dropFirst().map { row in
            row.split(separator: "|")[0].trimmingCharacters(in: .whitespaces)
        }.filter { !$0.hasPrefix("---") }
    }

    static func fencedBlocks(_ text: String, language: String) -> [String] {
        text.components(separatedBy: "```\(language)\n").dropFirst().map { $0.components(separatedBy: "\n```")[0] }
    }

    static func section(for id: MessageID) -> String? {
        sections["\(id.name) (0x\(String(format: "%02x", id.rawValue)))"]
    }

    @Test func messageTableAndCodecListTheSameMessages() {
        let table = Self.specification.components(separatedBy: "## Message table")[1]
            .components(separatedBy: "\n## ")[0]
        let rows = table.split(separator: "\n").filter { $0.hasPrefix("| 0x") }.map { row in
            row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let specified = Set(rows.map { "\($0[0]) \($0[1])" })
        let coded = Set(MessageID.allCases.map { "0x\(String(format: "%02x", $0.rawValue)) \($0.name)" })
        #expect(specified == coded, "in the specification only: \(specified.subtracting(coded)); in the codec only: \(coded.subtracting(specified))")
    }

    @Test(arguments: MessageID.allCases)
    func frameTableListsTheMessagesFieldsInOrder(id: MessageID) throws {
        let section = try #require(Self.section(for: id), "no section \"### \(id.name) (0x..)\"")
        var factory = MessageFactory(seed: 1)
        let fields = factory.message(id).body.map(Listing.fieldNames) ?? []
        #expect(Self.tableFields(section) == fields)
    }

    @Test func valueTypeTablesListTheirFieldsInOrder() throws {
        var factory = MessageFactory(seed: 2)
        let samples: [String: any WireValue] = [
            "task-ref": factory.taskRef(), "task-spec": factory.taskSpec(), "task-input": factory.taskInput(),
            "task-result": factory.taskResult(),
            "step-spec": factory.stepSpec(), "job-spec": factory.jobSpec(), "job-status": factory.jobStatus(),
            "run-status": factory.runStatus(), "product-policy": factory.productPolicy(), "set-offer": factory.setOffer(),
            "key-weight": factory.keyWeight(), "job-carry": factory.jobCarry(),
            "partition-attempts": factory.partitionAttempts(), "partition-end": factory.partitionEnd(),
        ]
        for (name, sample) in samples {
            let section = try #require(Self.sections[name], "no section \"### \(name)\"")
            #expect(Self.tableFields(section) == Listing.fieldNames(of: sample), "\(name)")
        }
        // Every type a table names ("list of X", "X") has a section.
        let named = Set(
            Self.specification.split(separator: "\n").compactMap { line -> String? in
                guard let range = line.range(of: "| list of ") else { return nil }
                return String(line[range.upperBound...].prefix { $0 != " " && $0 != "|" })
            })
        #expect(named.isSubset(of: Set(samples.keys)), "\(named.subtracting(samples.keys))")
    }

    @Test func limitsTableStatesTheCodecsLimits() throws {
        let section = try #require(Self.sections["Limits"])
        var table: [String: String] = [:]
        for row in section.split(separator: "\n").filter({ $0.hasPrefix("| ") }) {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            table[cells[0]] = cells[1]
        }
        /// A size as the table writes it: MiB, KiB, or octets; a count with thousands separated.
        func size(_ octets: Int) -> String {
            octets % (1 << 20) == 0 ? "\(octets >> 20) MiB" : octets % 1024 == 0 ? "\(octets >> 10) KiB" : "\(count(octets)) octets"
        }
        func count(_ value: Int) -> String { value < 1000 ? "\(value)" : count(value / 1000) + String(format: ",%03d", value % 1000) }
        let stated: [(String, [String])] = [
            ("A frame", [size(Limits.frame)]),
            ("A `longstr`", [size(Limits.longstr), size(Limits.chunk)]),
            ("A `bytes`", [size(Limits.chunk)]),
            ("Elements of a list, `strings` or `hash`", [count(Limits.listCount)]),
            ("Jobs in one SUBMIT", [count(Limits.submitJobs)]),
            ("Partitions of the jobs of one SUBMIT, each job counted by its largest step", [count(Limits.submitPartitions)]),
            ("A job-spec", [size(Limits.jobSpec)]),
            ("Steps of a job (`steps` of job-spec, `steps` of task-spec)", [count(Limits.steps)]),
            ("Tasks in one command batch (`batch` of job-spec)", [count(Int(JobSpec.batchLimit))]),
            ("Partitions of a step (`partitions` of step-spec and task-spec)", [count(Limits.partitions)]),
            ("A partition key (`partition-keys` of step-spec, `partition-key` of task-spec and task-input)", ["\(count(Limits.partitionKey)) octets"]),
            ("An `action` (step-spec, task-spec)", [size(Limits.action)]),
            ("`params` (job-spec, task-spec, OPERATION-REQUEST)", [size(Limits.parameterValue), size(Limits.parameters)]),
            ("Inputs of one task (`inputs` of task-spec)", [size(TaskSpec.inputLimit)]),
            ("`output` of a task-result", [size(Limits.output)]),
            ("Tasks in one claimed set (`limit` of set-offer)", [count(Limits.setSize)]),
            ("Tags and handlers a worker offers (`tags`, `handlers` of READY)", [count(Limits.capabilities), "\(Limits.capabilityName) octets"]),
            ("`result-limit` of WELCOME", [size(Limits.chunk)]),
            ("Key weights of a product-policy", [count(ProductPolicy.keyWeightLimit)]),
            ("A worker's credit held by a shard (READY `slots`, PULL `credit`)", [count(Limits.credit)]),
        ]
        for (what, values) in stated {
            let limit = try #require(table[what], "no row \"\(what)\" in the Limits table")
            for value in values { #expect(limit.contains(value), "\(what): \(limit) does not say \(value)") }
        }
    }

    @Test(arguments: MessageID.allCases)
    func exampleDecodesToItsListingAndEncodesBack(id: MessageID) throws {
        let section = try #require(Self.section(for: id))
        let hex = try #require(Self.fencedBlocks(section, language: "hex").first, "\(id.name) has no example")
        let listing = try #require(Self.fencedBlocks(section, language: "fields").first)
        let octets = hex.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt8($0, radix: 16)! }
        let message = try Message.decode(octets)
        #expect(message.id == id)
        #expect(Listing.render(message) == listing)
        #expect(message.encoded() == octets)
    }
}
