import Core
import Foundation

/// One figure a fairness case measured, what was expected of it, and the range it must fall in.
struct Figure {
    enum Unit: String {
        /// A fraction of the worker time used in the case's window.
        case share
        case slots
        case milliseconds
        case episodes
    }

    var label: String
    var unit: Unit
    var expected: Double
    /// The range the measured value must fall in, bounds included.
    var low: Double
    var high: Double
    /// The expectation in words, tolerance included: `0.167 ±10%`, `≤ 8`.
    var expectedText: String
    var measured: Double

    var within: Bool { measured >= low - 1e-9 && measured <= high + 1e-9 }

    var measuredText: String {
        switch unit {
        case .share: String(format: "%.3f", measured)
        case .slots, .episodes: String(Int(measured.rounded()))
        case .milliseconds: "\(Int(measured.rounded())) ms"
        }
    }

    /// A share of worker time expected to be `expected`, within 10% of it.
    static func share(_ label: String, expected: Double, measured: Double) -> Figure {
        Figure(
            label: label, unit: .share, expected: expected, low: expected * 0.9, high: min(1, expected * 1.1),
            expectedText: String(format: "%.3f ±10%%", expected), measured: measured)
    }
}

/// What one case measured.
struct CaseResult {
    var name: String
    var setup: String
    var headroom: Int
    var figures: [Figure]
    /// Wall-clock seconds the case took, its cluster's start and stop included.
    var seconds: Double

    var within: Bool { figures.allSatisfy(\.within) }
}

/// The fairness benchmark's report: a table for people, one JSON document for programs.
struct FairnessReport {
    var quick: Bool
    var results: [CaseResult]

    var within: Bool { results.allSatisfy(\.within) }

    static let definition = """
        Worker time of a task = its shard's hand-out (started) to its end (finished, or the cluster's stop), \
        overlapped with the window: from the first hand-out of the case's runs to the end of the first run \
        to end, while every product still had work waiting. A share is a product's (or a key's) worker time \
        over all the case's worker time in the window.
        """

    var text: String {
        var lines = ["baton-load fairness\(quick ? " --quick" : ""): \(results.count) case\(results.count == 1 ? "" : "s"), each on an embedded cluster of its own", "(1 shard unless the case says 2, 4 workers × 4 slots)", ""]
        let header = ["CASE", "SETUP", "EXPECTED", "MEASURED", "WITHIN"]
        var rows: [[String]] = []
        for result in results {
            for (index, figure) in result.figures.enumerated() {
                rows.append([
                    index == 0 ? result.name : "", index == 0 ? result.setup : "", "\(figure.label): \(figure.expectedText)",
                    figure.measuredText, figure.within ? "yes" : "NO",
                ])
            }
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for row in [header] + rows {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            lines.append(cells.joined(separator: "  "))
        }
        lines.append("")
        lines += LoadReport.wrap(Self.definition, width: 100)
        let outside = results.filter { !$0.within }.map(\.name)
        lines.append(
            outside.isEmpty
                ? "Every case within its tolerance."
                : "Outside tolerance: \(outside.joined(separator: ", ")) (\(outside.count) of \(results.count) cases).")
        return lines.joined(separator: "\n")
    }

    var json: JSON {
        func number(_ value: Double) -> JSON { value.isFinite ? JSON(.number(String(format: "%.4f", value))) : .null }
        return .object([
            ("benchmark", .string("fairness")),
            ("quick", .bool(quick)),
            ("definition", .string(Self.definition)),
            ("cases", .array(results.map { result in
                .object([
                    ("case", .string(result.name)), ("setup", .string(result.setup)), ("headroom", .number(result.headroom)),
                    ("seconds", number(result.seconds)), ("within", .bool(result.within)),
                    ("figures", .array(result.figures.map { figure in
                        .object([
                            ("figure", .string(figure.label)), ("unit", .string(figure.unit.rawValue)),
                            ("expected", number(figure.expected)), ("low", number(figure.low)), ("high", number(figure.high)),
                            ("expected_text", .string(figure.expectedText)), ("measured", number(figure.measured)),
                            ("within", .bool(figure.within)),
                        ])
                    })),
                ])
            })),
            ("within", .bool(within)),
        ])
    }
}
