extension Usage {
    /// `baton bench --help`: the benchmarks, each a command that prints figures.
    static let benchHelp = Entry(
        summary: "measure throughput and flow-step latency",
        text: """
            usage: baton bench [--jobs N] [--runs N] [--chains N] [--length N] [--partitions N]
                               [--shards N] [--workers N] [--slots N] [--durability off|normal|full]
                               [--security none|keys|both] [--rounds N] [--open-loop SECONDS] [--history N]
                               [--keep DIR]
                   baton bench --selection [--products N] [--backlog N] [--batch N] [--requests N]
                               [--fairness fair|fifo] [--headroom N]
                   baton bench --listings [--products N] [--flows N] [--runs N] [--starts N] [--keep DIR]
                   baton bench --soak DURATION [--retention DURATION] [--runs N] [--jobs N] [--keep DIR]
                   baton bench --move [--partitions N] [--one-job] [--keep DIR]
                   baton bench --recovery [--jobs N] [--long-names] [--keep DIR]

            Starts a cluster of separate processes on 127.0.0.1 from a cluster file of its own,
            runs N independent no-op jobs (default 100000, in 20 runs) and then chains of
            stamp jobs (default 20 chains of 50, all at once), and prints jobs per second end
            to end and the flow-step latency's percentiles: from the predecessor's success
            published (after its commit) to the successor handed to a worker, and from the
            predecessor's end at its worker. Then one job of 100000 no-op partitions (--partitions
            N; 0 skips it): how soon a worker takes its first task, and partitions per second.
            It measures a cluster with CURVE off ("security": "none") and one with CURVE on (keys,
            as baton up sets them up), each in every round (--rounds N, default 1), interleaved,
            and prints the two side by side; the partitioned job runs once, at the end.
            It first measures this machine's SQLite ceiling with the same durability (a job's row
            inserted and updated, 100 jobs a transaction) and prints the throughput as a fraction of
            it. After the throughput, open-loop phases start runs of 50 two-step pairs at a fixed
            rate, at 25%, 50% and 90% of the throughput just measured, --open-loop SECONDS each
            (default 5; 0 skips them), and print each phase's step p50, p99 and p99.9 and queue
            wait p50, p99 and p99.9. --history N first runs N jobs of the same kind, whose rows stay
            in the stores, so that the throughput is measured with that much history.
            Use a release build (make bench). The figures and what they mean: docs/benchmarks.md.

            Options:
              --shards N      shards (default 2), one product bound to each
              --workers N     worker processes (default 2), with --slots N each (default 512: the
                              benchmark's handlers run inline, so a slot is a place in the worker's
                              window of tasks handed to it and not yet reported, not a thread)
              --durability    the stores' synchronous setting (default full)
              --security S    none, keys, or both side by side (default both)
              --keep DIR      keep the cluster's data and logs in DIR

            With --listings, a cluster of processes is given --products N products (default 10000)
            and --flows N flows (default 100000) and starts --runs N runs (default 2000); then it
            times the first page of products, flows and runs, and start (--starts N times), alone,
            and start again while another client lists without pause.

            With --soak DURATION, a cluster of processes whose retention, and audit log's
            retention, is --retention (default 2m) runs --runs N runs (default 8) of --jobs N no-op jobs (default 500) at all times,
            for DURATION; each minute it prints jobs per second, each store's size on disk and
            each service's resident memory, which retention should keep flat.

            With --move, a cluster of processes with two shards, 3 workers of 32 slots: product
            heavy, capped at 64 tasks running, has 64 tasks running on shard 1 and --partitions N
            no-op tasks (default 100000) queued behind them in runs of 100 not yet started, when it
            moves to shard 2, while two other products run 10-job flows without pause, one on each
            shard. It prints how long the move took to answer; by shard 2's own stamps, when it took
            in the first and the last run handed over and handed out the first of their tasks; when
            the backlog was done; the others' jobs per second in the 2 s before the move and after;
            and where the running tasks ended. With --one-job, heavy's work is one run of one job
            of 64 + N partitions, its first 64 running (they sleep 15 s) and the rest queued: the
            run moves at once, its 64 tasks finishing on shard 1 and their ends relayed; it prints
            when shard 2 handed out the first of the rest, when it had done them all, when the run
            ended there, and whether any of the 64 ran again.

            With --recovery, one shard's store is filled with --jobs N pending one-task jobs
            (default 1000000) through the shard's own core and store, durability full; then the
            shard starts as its own process with a worker already connecting, and it prints how
            long after the process started the worker got its first task and when every job
            was back in the queue (the shard serves while it puts them back), and the shard's
            resident memory at each: its heap, and the store's pages it maps. With --long-names,
            the jobs' product, flow and type are named at a bank's length (24, 21 and 46 octets)
            and each carries its run's two parameters.

            With --selection, no cluster: it times the shard's choice of tasks for one worker
            request, in-process, among --products N products (default 10000) with --backlog N
            tasks waiting each (default 20), --batch N tasks per request (default 64), over
            --requests N requests (default 20000), with caps, rate limits, costs and tags mixed in.
            With --headroom N, the shard holds N free slots back for products under their share:
            the request's credit is all the shard's free slots, and each request's tasks run
            until after the next request, so that products have tasks running when chosen.
            """
    )
}
