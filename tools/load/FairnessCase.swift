import Core
import Foundation
import Runtime

/// One case of `baton-load fairness`: a setup of products on an embedded cluster of its own, and what
/// fair dispatch should give each of them there.
///
/// Every cluster has 4 workers of 4 slots: 16 slots. Each product's work is one run of a flow whose one
/// job has many partitions of the `sleep` handler; a product's backlog is sized to last about the
/// case's window at its expected share, and the cluster is stopped as soon as the first run ends.
struct FairnessCase: Sendable {
    /// How big a case is.
    struct Scale {
        var quick: Bool
        /// Seconds the products should stay backlogged together: about the measured window.
        var window: Double { quick ? 1 : 3 }
    }

    let name: String
    /// One line, for `--help`.
    let summary: String
    let headroom: Int
    private let body: @Sendable (Scale) throws(LoadFailure) -> (setup: String, figures: [Figure])

    /// Runs the case.
    func measure(quick: Bool) throws(LoadFailure) -> CaseResult {
        let began = Date()
        let (setup, figures) = try body(Scale(quick: quick))
        return CaseResult(name: name, setup: setup, headroom: headroom, figures: figures, seconds: Date().timeIntervalSince(began))
    }

    static let slots = 16

    /// The cases, in the order they run.
    static let all: [FairnessCase] = [
        weights(headroom: 0), weights(headroom: 2), costs(headroom: 0), costs(headroom: 2), newcomer, crossShard(headroom: 0),
        crossShard(headroom: 2), flood, keys, priority, priorityOverFairness,
    ]

    /// The flow of a product: one job of `partitions` tasks that each sleep `ms`.
    static func flow(_ product: String, partitions: Int, ms: Int, params: [(String, JSON)] = [], fairness: JSON? = nil) -> JSON {
        var members: [(String, JSON)] = [
            ("product", .string(product)), ("flow", .string("work")),
            ("params", .object([("ms", .string(String(ms)))] + params)),
        ]
        if let fairness { members.append(("fairness", fairness)) }
        members.append(("jobs", .array([.object([("name", .string("part")), ("handler", .string("sleep")), ("partitions", .number(partitions))])])))
        return .object(members)
    }

    /// Tasks of `ms` that `slots` slots run in `seconds`: a backlog that lasts that long at that share.
    static func tasks(slots: Double, ms: Int, seconds: Double) -> Int { max(1, Int(slots * seconds * 1000 / Double(ms))) }

    /// The name with `+headroom` when the shards hold slots back, and the setup's words for it.
    static func named(_ name: String, headroom: Int) -> String { headroom > 0 ? "\(name)+headroom" : name }
    static func heldBack(_ headroom: Int) -> String { "the same, each shard holding \(headroom) free slots back (headroom \(headroom))" }
    static func headroomNote(_ headroom: Int) -> String { headroom > 0 ? "; headroom \(headroom)" : "" }

    /// A time limit that only guards against a hang.
    static func limit(_ scale: Scale) -> Double { 30 + 20 * scale.window }

    // MARK: - The cases

    /// Three products of weights 1, 2 and 3 with the same tasks: worker time in proportion.
    static func weights(headroom: Int) -> FairnessCase {
        FairnessCase(
            name: named("weights", headroom: headroom), summary: headroom > 0 ? heldBack(headroom) : "weights 1, 2, 3, same 20 ms tasks: 1/6, 2/6, 3/6 of worker time",
            headroom: headroom
        ) { scale throws(LoadFailure) in
            let cluster = try CaseCluster(headroom: headroom)
            defer { cluster.close() }
            let weights = [1, 2, 3]
            let products = weights.map { "w\($0)" }
            try cluster.apply(
                weights.indices.map { i in
                    flow(products[i], partitions: tasks(slots: Double(slots * weights[i]) / 6, ms: 20, seconds: scale.window), ms: 20)
                })
            for i in weights.indices { try cluster.setPolicy(products[i], [("weight", .number(weights[i]))]) }
            let runs = try cluster.start(products.map { CaseCluster.Start(flow: "\($0)/work") })
            let ended = try cluster.waitForFirstEnd(of: runs, limit: limit(scale))
            let spans = try cluster.stop()
            let shares = spans.shares(of: runs, within: spans.window(of: runs, ended: ended))
            return (
                "w1, w2, w3 of weights 1, 2, 3; 20 ms tasks\(headroomNote(headroom))",
                weights.indices.map { i in
                    Figure.share("share of w\(weights[i])", expected: Double(weights[i]) / 6, measured: shares[runs[i]] ?? 0)
                }
            )
        }
    }

    /// Two products of the same handler, one's tasks ten times as long: the same worker time each.
    static func costs(headroom: Int) -> FairnessCase {
        FairnessCase(
            name: named("costs", headroom: headroom), summary: headroom > 0 ? heldBack(headroom) : "handler sleep for 100 ms and for 10 ms, equal weights: 50/50",
            headroom: headroom
        ) { scale throws(LoadFailure) in
            let cluster = try CaseCluster(headroom: headroom)
            defer { cluster.close() }
            let half = Double(slots) / 2
            try cluster.apply([
                flow("slow", partitions: tasks(slots: half, ms: 100, seconds: scale.window), ms: 100),
                flow("quick", partitions: tasks(slots: half, ms: 10, seconds: scale.window), ms: 10),
            ])
            let runs = try cluster.start([.init(flow: "slow/work"), .init(flow: "quick/work")])
            let ended = try cluster.waitForFirstEnd(of: runs, limit: limit(scale))
            let spans = try cluster.stop()
            let shares = spans.shares(of: runs, within: spans.window(of: runs, ended: ended))
            return (
                "slow, quick: sleep 100 ms, 10 ms; equal weights\(headroomNote(headroom))",
                [
                    Figure.share("share of slow", expected: 0.5, measured: shares[runs[0]] ?? 0),
                    Figure.share("share of quick", expected: 0.5, measured: shares[runs[1]] ?? 0),
                ]
            )
        }
    }

    /// A product of 2-second tasks of a type the shard has never measured arrives beside one of 100 ms
    /// tasks that had every slot: until its first result it holds at most its half, and after it the two
    /// share evenly.
    static let newcomer = FairnessCase(
        name: "newcomer", summary: "2 s tasks of a new type join 100 ms ones: ≤ half until measured, then 50/50",
        headroom: 0
    ) { scale throws(LoadFailure) in
        let cluster = try CaseCluster(headroom: 0)
        defer { cluster.close() }
        let alone = scale.quick ? 1.0 : 2.0
        let length = 2000
        // After its first result, the newcomer takes a task length to ramp up to its half (each of its
        // tasks is charged its full cost as it goes out): the share is measured from then on.
        let after = scale.quick ? 4.0 : 8.0
        let together = Double(length) / 1000 + after
        let half = Double(slots) / 2
        try cluster.apply([
            flow("old", partitions: tasks(slots: Double(slots), ms: 100, seconds: alone) + tasks(slots: half, ms: 100, seconds: together), ms: 100),
            flow("new", partitions: Int(half) * (Int(together * 1000) / length + 2), ms: length),
        ])
        let old = try cluster.start([.init(flow: "old/work")])[0]
        usleep(UInt32(alone * 1_000_000))
        let new = try cluster.start([.init(flow: "new/work")])[0]
        let ended = try cluster.waitForFirstEnd(of: [old, new], limit: limit(scale) + alone + together)
        let spans = try cluster.stop()
        let newcomer = spans.filter { $0.run == new }
        let arrival = newcomer.map(\.started).min() ?? 0
        let firstResult = newcomer.map(\.finished).min() ?? 0
        let first = spans.shares(of: [old, new], within: arrival...(arrival + Int64(length)))
        let held = newcomer.count { $0.started < firstResult }
        let end = spans.firstEnd(of: ended)
        let steady = firstResult + Int64(length)
        let later = spans.shares(of: [old, new], within: steady...max(steady, end))
        return (
            "old: 100 ms tasks, alone \(alone.shortText) s; new: \(length / 1000) s tasks, new type",
            [
                Figure(
                    label: "old's share in new's first \(length / 1000) s", unit: .share, expected: 0.5, low: 0.45, high: 1,
                    expectedText: "≥ 0.5 (−10%)", measured: first[old] ?? 0),
                Figure(
                    label: "new's slots before its 1st result", unit: .slots, expected: half, low: 0, high: half,
                    expectedText: "≤ \(Int(half)), its half", measured: Double(held)),
                Figure.share("share of old from a task length after it", expected: 0.5, measured: later[old] ?? 0),
                Figure.share("share of new from a task length after it", expected: 0.5, measured: later[new] ?? 0),
            ]
        )
    }

    /// Three equal products, two bound to shard 1 and one to shard 2, on workers that serve both: the
    /// workers split their slots by the weight waiting at each shard, so each product gets a third.
    static func crossShard(headroom: Int) -> FairnessCase {
        FairnessCase(
            name: named("cross-shard", headroom: headroom), summary: headroom > 0 ? heldBack(headroom) : "three equal products, two on shard 1, one on shard 2: a third each",
            headroom: headroom
        ) { scale throws(LoadFailure) in
            let cluster = try CaseCluster(shards: 2, headroom: headroom)
            defer { cluster.close() }
            let products = ["one", "two", "three"]
            let size = tasks(slots: Double(slots) / 3, ms: 50, seconds: scale.window)
            // One by one: each binds to the shard with the fewest products, so shard 1, 2, 1.
            for product in products { try cluster.apply([flow(product, partitions: size, ms: 50)]) }
            let bound = try cluster.bindings()
            guard bound == ["one": 1, "two": 2, "three": 1] else {
                throw LoadFailure(.failure, "the products were bound to shards \(bound.sorted { $0.key < $1.key }), not one: 1, two: 2, three: 1")
            }
            let runs = try cluster.start(products.map { CaseCluster.Start(flow: "\($0)/work") })
            let ended = try cluster.waitForFirstEnd(of: runs, limit: limit(scale))
            let spans = try cluster.stop()
            let shares = spans.shares(of: runs, within: spans.window(of: runs, ended: ended))
            return (
                "2 shards: one, three on 1, two on 2; 50 ms tasks\(headroomNote(headroom))",
                products.indices.map { i in
                    Figure.share("share of \(products[i]) (shard \(bound[products[i]] ?? 0))", expected: 1.0 / 3, measured: shares[runs[i]] ?? 0)
                }
            )
        }
    }

    /// A product whose policy puts priority over fairness floods the shard at priority 1, another at the
    /// default priority; a light product's few tasks, each queued after the one before ends, are served
    /// by the starvation guard within its bound.
    static let flood = FairnessCase(
        name: "flood", summary: "two floods, one with priority over fairness: a light product still served",
        headroom: 0
    ) { scale throws(LoadFailure) in
        let cluster = try CaseCluster(headroom: 0)
        defer { cluster.close() }
        let steps = scale.quick ? 2 : 4
        let chain = JSON.object([
            ("product", .string("light")), ("flow", .string("work")), ("params", .object([("ms", .string("20"))])),
            ("jobs", .array((1...steps).map { step in
                .object([("name", .string("s\(step)")), ("handler", .string("sleep"))] + (step == 1 ? [] : [("after", .array([.string("s\(step - 1)")]))]))
            })),
        ])
        try cluster.apply([flow("first", partitions: 100_000, ms: 50), flow("flood", partitions: 100_000, ms: 50), chain])
        try cluster.setPolicy("first", [("priority_over_fairness", .bool(true))])
        _ = try cluster.start([.init(flow: "first/work", priority: 1), .init(flow: "flood/work")])
        usleep(500_000)
        let light = try cluster.start([.init(flow: "light/work")])[0]
        _ = try cluster.waitForFirstEnd(of: [light], limit: 30 + Double(steps) * 5)
        let episodes = cluster.starvingEpisodes
        let spans = try cluster.stop()
        let lights = spans.filter { $0.run == light }
        let longest = lights.map { $0.started - $0.queued }.max() ?? 0
        // The light product's own expected wait, as the shard works it out: 1 / (r × f), with r the rate
        // of hand-outs while it had work, and f its fraction of them at its share (weight over cost,
        // against the same of the products in turn). The bound is 10 times that, 1 s to 60 s.
        let from = lights.map(\.queued).min() ?? 0
        let to = lights.map(\.finished).max() ?? from
        let handedOut = spans.count { (from...to).contains($0.started) }
        let rate = Double(handedOut) / Double(max(1, to - from))
        let fraction = (1.0 / 20) / (1.0 / 50 + 1.0 / 50 + 1.0 / 20)
        let expected = rate > 0 ? 1 / (rate * fraction) : 0
        let bound = min(max(1000, 10 * expected), 60_000)
        // The guard looks every 100 ms, and the starving product goes out when a slot next comes free:
        // within one of the floods' 50 ms tasks, since tasks are not pre-empted.
        let allowed = bound + 100 + 50
        return (
            "first (priority over fairness, run at 1), flood: 50 ms; light: \(steps) × 20 ms in a chain",
            [
                Figure(
                    label: "light's longest wait", unit: .milliseconds, expected: bound, low: 0, high: allowed,
                    expectedText: "≤ \(Int(allowed)) ms: \(Int(bound)) + 150", measured: Double(longest)),
                Figure(
                    label: "starving episodes", unit: .episodes, expected: 1, low: 1, high: .infinity, expectedText: "> 0",
                    measured: Double(episodes)),
            ]
        )
    }

    /// A product whose runs are keyed by customer, acme weighing 3 and globex 1, beside another product:
    /// the product keeps its half, split 3:1 between its keys.
    static let keys = FairnessCase(
        name: "keys", summary: "keys acme (weight 3), globex (1) in a product beside another: 3/8, 1/8, 1/2",
        headroom: 0
    ) { scale throws(LoadFailure) in
        let cluster = try CaseCluster(headroom: 0)
        defer { cluster.close() }
        let half = Double(slots) / 2
        try cluster.apply([
            flow(
                "batch", partitions: tasks(slots: half * 3 / 4, ms: 20, seconds: scale.window), ms: 20,
                params: [("customer", .string("none"))], fairness: .object([("param", .string("customer"))])),
            flow("other", partitions: tasks(slots: half, ms: 20, seconds: scale.window), ms: 20),
        ])
        try cluster.setPolicy("batch", [("key_weights", .object([("acme", .number(3)), ("globex", .number(1))]))])
        let runs = try cluster.start([
            .init(flow: "batch/work", params: ["customer": "acme"]), .init(flow: "batch/work", params: ["customer": "globex"]),
            .init(flow: "other/work"),
        ])
        // Both runs of batch have the same tasks: acme's, served three times as fast, ends after about the window.
        let ended = try cluster.waitForFirstEnd(of: runs, limit: limit(scale))
        let spans = try cluster.stop()
        let shares = spans.shares(of: runs, within: spans.window(of: runs, ended: ended))
        return (
            "batch keyed by customer: acme (weight 3), globex (1); other; 20 ms",
            [
                Figure.share("share of batch/acme", expected: 0.375, measured: shares[runs[0]] ?? 0),
                Figure.share("share of batch/globex", expected: 0.125, measured: shares[runs[1]] ?? 0),
                Figure.share("share of other", expected: 0.5, measured: shares[runs[2]] ?? 0),
            ]
        )
    }

    /// Run priorities across products: without priority over fairness they do not move the shares.
    static let priority = FairnessCase(
        name: "priority", summary: "runs at priority 1 and 5 in two products: still 50/50", headroom: 0
    ) { scale throws(LoadFailure) in
        let cluster = try CaseCluster(headroom: 0)
        defer { cluster.close() }
        let size = tasks(slots: Double(slots) / 2, ms: 20, seconds: scale.window)
        try cluster.apply([flow("first", partitions: size, ms: 20), flow("second", partitions: size, ms: 20)])
        let runs = try cluster.start([.init(flow: "first/work", priority: 1), .init(flow: "second/work", priority: 5)])
        let ended = try cluster.waitForFirstEnd(of: runs, limit: limit(scale))
        let spans = try cluster.stop()
        let shares = spans.shares(of: runs, within: spans.window(of: runs, ended: ended))
        return (
            "first: a run at priority 1, second: at 5; 20 ms tasks",
            [
                Figure.share("share of first (priority 1)", expected: 0.5, measured: shares[runs[0]] ?? 0),
                Figure.share("share of second (priority 5)", expected: 0.5, measured: shares[runs[1]] ?? 0),
            ]
        )
    }

    /// The same with priority over fairness in the first product's policy: it takes the workers while it
    /// has work, the other served only by the starvation guard.
    static let priorityOverFairness = FairnessCase(
        name: "priority-over", summary: "the same, the first's policy priority_over_fairness: it gets nearly all", headroom: 0
    ) { scale throws(LoadFailure) in
        let cluster = try CaseCluster(headroom: 0)
        defer { cluster.close() }
        let size = tasks(slots: Double(slots), ms: 20, seconds: scale.window)
        try cluster.apply([flow("first", partitions: size, ms: 20), flow("second", partitions: size, ms: 20)])
        try cluster.setPolicy("first", [("priority_over_fairness", .bool(true))])
        let runs = try cluster.start([.init(flow: "first/work", priority: 1), .init(flow: "second/work", priority: 5)])
        let ended = try cluster.waitForFirstEnd(of: runs, limit: limit(scale))
        let spans = try cluster.stop()
        let shares = spans.shares(of: runs, within: spans.window(of: runs, ended: ended))
        return (
            "as priority, first's policy priority_over_fairness",
            [
                Figure(
                    label: "share of first (priority 1)", unit: .share, expected: 1, low: 0.9, high: 1, expectedText: "≈ 1 (≥ 0.900)",
                    measured: shares[runs[0]] ?? 0)
            ]
        )
    }
}
