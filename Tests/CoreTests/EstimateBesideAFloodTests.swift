import Core
import Testing
import Wire

/// Estimates for a product with nothing queued beside one that fills the shard.
@Suite struct EstimateBesideAFloodTests {
    /// The shard's answer to a `queue` question, asked now.
    static func queueAnswer(of shard: inout ShardHarness) throws -> ShardAnswer {
        shard.core.queried(ShardQuery(request: 5, shard: 1, kind: "queue"), from: Peer([9]))
        return try #require(shard.turn().messages.compactMap { _, message -> ShardAnswer? in
            if case .shardAnswer(let answer) = message { return answer }
            return nil
        }.first)
    }

    @Test func aProductUnderItsShareIsEstimatedAtTheShardsPaceNotItsOwn() throws {
        var shard = ShardHarness()
        let worker = Peer([1])
        _ = shard.send(ShardHarness.ready("w1", slots: 8), from: worker)
        _ = shard.submit((0..<100).map { ShardHarness.job("n\($0)", run: UInt64($0 + 1), product: "noisy") })
        _ = shard.submit([ShardHarness.job("l", run: 500, product: "light")])
        for _ in 0..<10 {
            let leased = shard.turns.suffix(3).flatMap { ShardHarness.tasks(in: $0, to: worker) }
            shard.advance(100)
            for spec in leased { _ = shard.send(ShardHarness.result(spec, .succeeded), from: worker) }
            _ = shard.send(.pull(Pull(credit: UInt32(leased.count))), from: worker)
        }
        let answer = try Self.queueAnswer(of: &shard)
        let products = try JSONParser.parse(answer.body)["products"]?.array ?? []
        let light = try #require(products.first { $0["product"]?.string == "light" })
        let noisy = try #require(products.first { $0["product"]?.string == "noisy" })
        // The light product takes the next slot that frees: about one hand-out of the shard's away, not its
        // own one a second.
        #expect((light["estimate"]?.integer ?? -1) < 100, "\(answer.body)")
        #expect((noisy["estimate"]?.integer ?? 0) > (light["estimate"]?.integer ?? 0))
    }

    /// Found by an operator: a product moved to a shard where no worker had its tags was estimated to start
    /// "in about 2.4s" with a fair share of 100%, for as long as it waited. Its estimate is null, with why,
    /// and it wants no share of slots it cannot use.
    @Test func aProductNoWorkerCanRunHasNoEstimateAndNoShare() throws {
        var shard = ShardHarness()
        let worker = Peer([1])
        _ = shard.send(ShardHarness.ready("w1", slots: 2), from: worker)
        _ = shard.submit([ShardHarness.job("t", run: 1, product: "gpu", tags: ["gpu"]), ShardHarness.job("b", run: 2, product: "batch")])
        let answer = try Self.queueAnswer(of: &shard)
        let products = try JSONParser.parse(answer.body)["products"]?.array ?? []
        let gpu = try #require(products.first { $0["product"]?.string == "gpu" })
        #expect(gpu["estimate"]?.value == .null && gpu["why"]?.string == "no worker has all the tags gpu", "\(answer.body)")
        #expect(gpu["fair_share"]?.double == 0, "\(answer.body)")
        #expect(gpu["pending"]?.integer == 1)
    }
}
