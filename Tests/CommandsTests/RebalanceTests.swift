@testable import Commands
import Testing

/// The plan of `baton rebalance`, from products' loads.
@Suite struct RebalanceTests {
    typealias Product = Rebalance.Product

    /// Every product on shard 1 of three: the plan leaves each shard within the tolerance of the mean.
    @Test func aPlanEvensOutTheLoadOfProductsAllOnOneShard() {
        let products = [("a", 40.0), ("b", 30), ("c", 20), ("d", 10), ("e", 5), ("f", 5)].map { Product(name: $0.0, shard: 1, load: $0.1) }
        let (moves, byCount) = Rebalance.plan(products, shards: [1, 2, 3], pinned: [], tolerance: 0.1)
        #expect(!byCount)
        var load: [UInt32: Double] = [1: 110, 2: 0, 3: 0]
        for move in moves {
            load[move.from]! -= move.load
            load[move.to]! += move.load
        }
        #expect(load.values.allSatisfy { $0 <= 110.0 / 3 * 1.1 }, "\(load) after \(moves)")
        #expect(Set(moves.map(\.product)).count == moves.count)
    }

    @Test func aPinnedProductStaysAndAShardWithinTheToleranceIsLeftAlone() {
        let products = [Product(name: "big", shard: 1, load: 90), Product(name: "small", shard: 1, load: 10), Product(name: "other", shard: 2, load: 50)]
        let (moves, _) = Rebalance.plan(products, shards: [1, 2], pinned: ["big"], tolerance: 0.1)
        #expect(moves == [Rebalance.Move(product: "small", from: 1, to: 2, load: 10)])
        let balanced = [Product(name: "a", shard: 1, load: 52), Product(name: "b", shard: 2, load: 48)]
        #expect(Rebalance.plan(balanced, shards: [1, 2], pinned: [], tolerance: 0.1).moves.isEmpty)
    }

    /// A move that would only swap which shard is the heavier is not made.
    @Test func aProductLargerThanTheGapDoesNotMove() {
        let products = [Product(name: "huge", shard: 1, load: 100), Product(name: "tiny", shard: 2, load: 1)]
        #expect(Rebalance.plan(products, shards: [1, 2], pinned: [], tolerance: 0.1).moves.isEmpty)
    }

    /// Found by an operator: a shard heavy with one product too large to move, beside near-idle ones, had
    /// the idle ones moved for about 1% of its load. Moves that change less than the tolerance are churn.
    @Test func movesThatLowerTheHeaviestShardByLessThanTheToleranceAreNotMade() {
        let products = [Product(name: "ledger", shard: 1, load: 90), Product(name: "ops", shard: 1, load: 0.5),
                        Product(name: "tick", shard: 1, load: 0.5), Product(name: "other", shard: 2, load: 10)]
        #expect(Rebalance.plan(products, shards: [1, 2], pinned: [], tolerance: 0.1).moves.isEmpty)
        // A shard that cannot give beside one that can: the other's moves are made.
        let mixed = [Product(name: "huge", shard: 1, load: 100), Product(name: "a", shard: 2, load: 30), Product(name: "b", shard: 2, load: 30)]
        #expect(Rebalance.plan(mixed, shards: [1, 2, 3], pinned: [], tolerance: 0.1).moves.map(\.product) == ["a"])
        // Many small products that together bring it within the tolerance do move.
        let small = (1...20).map { Product(name: "p\($0)", shard: 1, load: 5) } + [Product(name: "q", shard: 2, load: 10)]
        #expect(Rebalance.plan(small, shards: [1, 2], pinned: [], tolerance: 0.1).moves.count >= 8)
    }

    /// When the heaviest shard holds only a product that moved already, the next heaviest gives one.
    @Test func theNextHeaviestShardGivesWhenTheHeaviestCannot() {
        let products = [("a", 30.0), ("b", 20), ("c", 10)].map { Product(name: $0.0, shard: 1, load: $0.1) }
        let (moves, _) = Rebalance.plan(products, shards: [1, 2, 3], pinned: [], tolerance: 0.1)
        #expect(moves == [Rebalance.Move(product: "a", from: 1, to: 2, load: 30), Rebalance.Move(product: "b", from: 1, to: 3, load: 20)])
    }

    /// Before any load is measured, the plan evens out the number of products.
    @Test func withoutMeasuredLoadThePlanEvensOutTheProducts() {
        let products = (1...6).map { Product(name: "p\($0)", shard: 1, load: 0) }
        let (moves, byCount) = Rebalance.plan(products, shards: [1, 2, 3], pinned: [], tolerance: 0.1)
        #expect(byCount)
        #expect(moves.count == 4)
        #expect(moves.filter { $0.to == 2 }.count == 2 && moves.filter { $0.to == 3 }.count == 2)
    }
}
