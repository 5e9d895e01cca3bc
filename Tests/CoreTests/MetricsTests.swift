import Core
import Testing
import Wire

@Suite struct MetricsRenderingTests {
    @Test func familiesAreWrittenOnceWithTheirSeriesTogetherAndValuesEscaped() {
        var metrics = Metrics()
        metrics.counter("baton_a_total", "First \\ line\nsecond.", 3, .init("product", #"pay"ments\"#))
        metrics.gauge("baton_b", "A gauge.", 1.5)
        metrics.counter("baton_a_total", "", 4, .init("product", "ledger"))
        metrics.declare("baton_empty", .gauge, "None yet.")
        #expect(metrics.rendered() == #"""
            # HELP baton_a_total First \\ line\nsecond.
            # TYPE baton_a_total counter
            baton_a_total{product="pay\"ments\\"} 3
            baton_a_total{product="ledger"} 4
            # HELP baton_b A gauge.
            # TYPE baton_b gauge
            baton_b 1.5
            # HELP baton_empty None yet.
            # TYPE baton_empty gauge

            """#)
    }

    @Test func aHistogramIsWrittenCumulativelyWithItsSumAndCount() {
        var histogram = Histogram(bounds: [0.1, 1])
        for value in [0.05, 0.1, 0.5, 3] { histogram.observe(value) }
        var metrics = Metrics()
        metrics.histogram("baton_wait_seconds", "Waits.", histogram, .init("product", "p"))
        let lines = metrics.rendered().split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines == [
            #"baton_wait_seconds_bucket{product="p",le="0.1"} 2"#, #"baton_wait_seconds_bucket{product="p",le="1"} 3"#,
            #"baton_wait_seconds_bucket{product="p",le="+Inf"} 4"#, #"baton_wait_seconds_sum{product="p"} 3.65"#,
            #"baton_wait_seconds_count{product="p"} 4"#,
        ])
        #expect(histogram.quantile(0.5) == 0.1)
        #expect(histogram.quantile(0.99) == .infinity)
        #expect(Histogram(bounds: [1]).quantile(0.5) == nil)
    }

    @Test func mergedServicesShareFamiliesAndTellTheirNames() {
        var shard = Metrics()
        shard.counter("baton_loop_turns_total", "Turns.", 5)
        var worker = Metrics()
        worker.counter("baton_loop_turns_total", "Turns.", 7)
        var all = shard.labelled(.init("service", "shard-1"))
        all.merge(worker.labelled(.init("service", "worker-1")))
        #expect(all.families.count == 1)
        #expect(all.rendered().contains(#"baton_loop_turns_total{service="shard-1"} 5"# + "\n" + #"baton_loop_turns_total{service="worker-1"} 7"#))
    }

    @Test func aShardNamesAtMostItsLimitOfProductsAndSumsTheRest() {
        var shard = ShardHarness()
        let limit = ShardCore.productLabelLimit
        let specs = (0..<(limit + 3)).map { index in
            let name = "p" + String(repeating: "0", count: 4 - String(index).count) + String(index)
            return ShardHarness.job("j", run: UInt64(index + 1), product: name, steps: [StepSpec(name: "j", kind: .command, action: "true", partitions: 2)])
        }
        _ = shard.submit(specs)
        var metrics = Metrics()
        shard.core.metrics(into: &metrics, now: shard.now)
        let depth = metrics.families.first { $0.name == "baton_shard_queued_tasks" }!
        #expect(depth.series.count == limit + 1)
        let other = depth.series.first { $0.labels == [.init("product", "_other")] }
        guard case .number(let summed) = other?.value else {
            Issue.record("no _other series")
            return
        }
        #expect(summed == 6, "3 products of 2 tasks each, beyond the limit")
    }
}
