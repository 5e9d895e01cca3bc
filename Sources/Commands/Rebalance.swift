import Core
import Foundation

/// `baton rebalance`: plans moves of products between shards from the load management measures (each
/// product's jobs ended a second over the last 10 minutes), and with `--apply` makes them one at a time.
/// Drained shards are left out of the plan: nothing moves onto them.
enum Rebalance {
    /// A product as the plan sees it.
    struct Product: Equatable {
        var name: String
        var shard: UInt32
        var load: Double
    }

    struct Move: Equatable {
        var product: String
        var from: UInt32
        var to: UInt32
        var load: Double
    }

    /// Moves that bring every shard's load within `tolerance` (a fraction) of the mean, largest gaps
    /// first: each takes from the most loaded shard over the tolerance that can give one the product
    /// whose load comes nearest half the gap to the least loaded shard, as long as that narrows it.
    /// Pinned products stay; a product moves at most once. Without any measured load, each product
    /// counts 1, which evens out their numbers. The moves off a shard that together lower it by less than
    /// the tolerance's share of the mean, and leave it over the tolerance still, are not worth their
    /// churn, and are not made.
    static func plan(_ products: [Product], shards: [UInt32], pinned: Set<String>, tolerance: Double) -> (moves: [Move], byCount: Bool) {
        let byCount = !products.contains { $0.load > 0 }
        let weight = { (product: Product) in byCount ? 1.0 : product.load }
        var load = Dictionary(uniqueKeysWithValues: shards.map { ($0, 0.0) })
        var placed = products.filter { load[$0.shard] != nil }
        for product in placed { load[product.shard]! += weight(product) }
        let mean = load.values.reduce(0, +) / Double(max(1, shards.count))
        var moves: [Move] = []
        var moved: Set<String> = []
        for _ in 0..<placed.count {
            let ranked = shards.sorted { (load[$0]!, $0) < (load[$1]!, $1) }
            guard let lightest = ranked.first else { break }
            // The most loaded shard over the tolerance that has a product to give.
            var made = false
            for heaviest in ranked.reversed() where load[heaviest]! > mean * (1 + tolerance) + 1e-9 {
                let gap = load[heaviest]! - load[lightest]!
                let candidates = placed.indices.filter {
                    placed[$0].shard == heaviest && !pinned.contains(placed[$0].name) && !moved.contains(placed[$0].name)
                        && weight(placed[$0]) > 0 && weight(placed[$0]) < gap
                }
                let nearest = candidates.min {
                    (abs(weight(placed[$0]) - gap / 2), placed[$0].name) < (abs(weight(placed[$1]) - gap / 2), placed[$1].name)
                }
                guard let best = nearest else { continue }
                let product = placed[best]
                moves.append(Move(product: product.name, from: heaviest, to: lightest, load: product.load))
                moved.insert(product.name)
                load[heaviest]! -= weight(product)
                load[lightest]! += weight(product)
                placed[best].shard = lightest
                made = true
                break
            }
            if !made { break }
        }
        // A product too large to move alone, beside small ones that would: moving those changes little.
        let lowered = Dictionary(moves.map { ($0.from, byCount ? 1.0 : $0.load) }, uniquingKeysWith: +)
        moves.removeAll { move in
            lowered[move.from]! < tolerance * mean - 1e-9 && load[move.from]! > mean * (1 + tolerance) + 1e-9
        }
        return (moves, byCount)
    }

    static func run(apply: Bool, tolerance: Double, pinned: Set<String>, actor: String, json: Bool, target: Target, console: any Console)
        throws(CommandFailure) -> ExitCode
    {
        // Ctrl-C is taken between moves, not in the middle of one.
        var signals = StopSignals()
        let client = try Client(target)
        let (listed, every, drained) = try ClientCommands.everyProduct(from: client)
        // A drained shard takes no move: the plan spreads the load over the others, and leaves what is
        // still on a drained shard to `baton drain`.
        let shards = every.filter { !drained.contains($0) }
        let products = listed.compactMap { product -> Product? in
            guard let name = product["product"]?.string, let shard = product["shard"]?.integer else { return nil }
            return Product(name: name, shard: UInt32(shard), load: product["load"]?.double ?? 0)
        }
        let unknown = pinned.subtracting(products.map(\.name))
        guard unknown.isEmpty else {
            throw CommandFailure(code: .usage, message: "--pin names no product of the cluster: \(unknown.sorted().joined(separator: ", "))")
        }
        let (moves, byCount) = plan(products, shards: shards, pinned: pinned, tolerance: tolerance)
        var done: [Move] = []
        var interrupted = false
        if !json {
            printPlan(products, shards: shards, moves: moves, byCount: byCount, tolerance: tolerance, console: console)
            for shard in every where drained.contains(shard) {
                let left = products.filter { $0.shard == shard }.count
                console.out(
                    "shard \(shard) is drained: the plan moves nothing onto it"
                        + (left == 0 ? "" : ", nor its \(left) product\(left == 1 ? "" : "s") off it (`baton drain \(shard)` moves them)"))
            }
        }
        if apply {
            for (number, move) in moves.enumerated() {
                if signals.wait(milliseconds: 0) != nil {
                    interrupted = true
                    break
                }
                let body: JSON = .object([
                    ("product", .string(move.product)), ("to", .number(move.to)), ("actor", .string(actor)),
                    ("request", .string("rebalance-\(move.product)-\(UInt64.random(in: 1...UInt64.max))")),
                ])
                let reply: JSON
                do {
                    reply = try client.call("move", body)
                } catch where error.code == .unavailable {
                    reply = try client.call("move", body)
                }
                done.append(move)
                if !json { console.out("(\(number + 1)/\(moves.count)) \(reply["detail"]?.string ?? "moved \(move.product) to shard \(move.to)")") }
            }
            if interrupted && !json { console.out("stopped after \(done.count) of \(moves.count) moves (interrupted)") }
        }
        if json {
            func render(_ move: Move) -> JSON {
                .object([("product", .string(move.product)), ("from", .number(move.from)), ("to", .number(move.to)), ("load", JSON.hundredths(move.load))])
            }
            var fields: [(String, JSON)] = [
                ("by", .string(byCount ? "products" : "load")), ("plan", .array(moves.map(render))),
                ("drained", .array(every.filter(drained.contains).map { .number($0) })),
            ]
            if apply { fields.append(("moved", .array(done.map(render)))) }
            console.out(JSON.object(fields).rendered(pretty: true))
        }
        return .success
    }

    private static func printPlan(_ products: [Product], shards: [UInt32], moves: [Move], byCount: Bool, tolerance: Double, console: any Console) {
        var before = Dictionary(uniqueKeysWithValues: shards.map { ($0, (load: 0.0, products: 0)) })
        for product in products where before[product.shard] != nil {
            before[product.shard]!.load += product.load
            before[product.shard]!.products += 1
        }
        var after = before
        for move in moves {
            after[move.from]!.load -= move.load
            after[move.from]!.products -= 1
            after[move.to]!.load += move.load
            after[move.to]!.products += 1
        }
        var rows = [["SHARD", "JOBS/S", "PRODUCTS", "AFTER: JOBS/S", "PRODUCTS"]]
        for shard in shards {
            rows.append([
                String(shard), String(format: "%.2f", before[shard]!.load), String(before[shard]!.products),
                String(format: "%.2f", max(0, after[shard]!.load)), String(after[shard]!.products),
            ])
        }
        for line in Formatting.table(rows) { console.out(line) }
        if byCount { console.out("no load measured yet (jobs ended in the last 10 minutes): planned by number of products") }
        // Shards over the tolerance that nothing moves off, and why.
        let total = before.values.reduce(0) { $0 + (byCount ? Double($1.products) : $1.load) }
        let mean = total / Double(max(1, shards.count))
        let stay = shards.filter { shard in
            (byCount ? Double(before[shard]!.products) : before[shard]!.load) > mean * (1 + tolerance) + 1e-9 && !moves.contains { $0.from == shard }
        }
        if moves.isEmpty && stay.isEmpty { console.out("nothing to move: every shard is within the tolerance of the mean") }
        if !stay.isEmpty {
            console.out(
                "shard \(stay.map(String.init).joined(separator: ", ")) stays over the mean: no move of its products would lower it by the "
                    + "tolerance (\(Int(tolerance * 100))% of the mean); one of them alone is larger than the gap, or they are pinned")
        }
        for move in moves {
            console.out("move \(move.product): shard \(move.from) -> \(move.to) (\(String(format: "%.2f", move.load)) jobs/s)")
        }
    }
}

