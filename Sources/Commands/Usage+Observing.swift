// The help of the commands that show a running Baton: the dashboard, logs, workers and queues.
extension Usage {
    /// `baton web --help`.
    static let webHelp = Entry(
        summary: "serve the dashboard",
        text: """
            usage: baton web [--listen HOST:PORT] [--config FILE [--identity FILE] | --api ENDPOINT | --data DIR]

            Serves the dashboard at http://HOST:PORT/ (default 127.0.0.1:8700) until Ctrl-C: products
            with their queues, waits, shares and estimated waits; runs, filtered and paged; each run's
            jobs drawn as a graph coloured by state, its attempts against time, why its jobs wait, its
            parameters, entry moment and operator history; flows with their graphs and next firings;
            shards with their workers and leases. Pages update every 2 seconds. They read the
            management API as the other commands do, through this process (docs/web.md).

            Reading needs no sign-in. Acting (stop, pause, resume, rerun, rerun a job, mark one
            succeeded, hold and release a product) needs a key of the operator or admin role
            (--identity FILE, in a cluster with keys): actions are audited under that key's name,
            and a browser acts only after signing in with the link printed at start. Without keys
            the dashboard is read-only. Bind HOST to 127.0.0.1 (the default) unless others must
            reach it; the pages themselves are plain HTTP. `baton dev` serves the same dashboard.

            Options:
              --listen HOST:PORT  where to serve (default 127.0.0.1:8700)
            """ + "\n" + targetHelp)

    /// `baton logs --help`.
    static let logsHelp = Entry(
        summary: "show an attempt's output",
        text: """
            usage: baton logs [--attempt N] [--follow] RUN JOB

            Shows the output of JOB's latest attempt in RUN (of each of its partitions, headed), or of
            attempt N. A log on this machine is shown whole; from another machine's worker, the last
            4 KiB its shard keeps of every attempt, with where the whole log is (host:path). A rerun's
            attempts count from 1 again: --attempt N is of the latest rerun.

            Options:
              --attempt N   that attempt instead of the latest
              --follow      for an attempt running here, what it writes until it ends; for one
                            running elsewhere, wait for its end and show its output then
            """ + "\n" + targetHelp)

    /// `baton workers --help`.
    static let workersHelp = Entry(
        summary: "list the workers each shard has, and what they hold",
        text: """
            usage: baton workers [--shard N] [--json]

            Lists every worker registered with each shard (or shard N): its key, its leases and free
            slots, what it runs (commands, handlers), its tags, when it was last heard, and the tasks
            it holds (RUN/JOB[PARTITION]#ATTEMPT). A shard that does not answer within 6 s is named
            on standard error, and the exit status is 3.

            Options:
              --shard N   that shard only
              --json      print the reply as JSON
            """ + "\n" + targetHelp)

    /// `baton queue --help`.
    static let queueHelp = Entry(
        summary: "show each product's queue, waits and estimated wait",
        text: """
            usage: baton queue [--shard N] [--json]

            Shows each shard's workers and slots busy, and for each product its tasks waiting and
            running, its wait p50 and p99 over the last 5 minutes, the share of the running tasks it
            is served against its fair share, and when a task queued now should start, with why.

            Options:
              --shard N   that shard only
              --json      print the reply as JSON
            """ + "\n" + targetHelp)
}
