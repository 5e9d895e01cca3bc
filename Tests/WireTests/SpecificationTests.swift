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
            "key-weight": factory.keyWeight(),
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
