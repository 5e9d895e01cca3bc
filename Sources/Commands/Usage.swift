/// The help texts: one general usage in beanstalkd's terse style, and one per command.
public enum Usage {
    /// Baton's version.
    public static let version = "0.1.0"

    /// The general usage.
    public static var general: String {
        var text = """
            usage: baton <command> [options] [arguments]

            Baton is a distributed batch-job scheduler. Commands:


            """
        for name in order {
            text += "  " + name.padding(toLength: 16) + commands[name]!.summary + "\n"
        }
        text += """

            Run "baton <command> --help" for a command's options.

            Client commands find the running Baton through --api ENDPOINT, the BATON_API variable,
            a cluster file's management.api (--config FILE, or the BATON_CONFIG variable), or the
            file DIR/api that `baton dev --data DIR` writes (DIR is .baton by default).

            Exit status:
              0  success
              1  what was checked or run did not pass (an invalid flow, a failed run)
              2  the command line was wrong
              3  the service could not be reached
              4  the service refused the request
            """
        return text
    }

    /// One command's help.
    public struct Entry: Sendable {
        /// One line for the general usage.
        public var summary: String
        /// The full text for `baton <command> --help`.
        public var text: String
    }

    static let order = [
        "dev", "web", "demo", "apply", "start", "status", "logs", "runs", "flows", "products", "queue", "workers", "stop", "pause", "resume", "rerun",
        "mark-succeeded", "priority", "hold", "release", "policy", "move", "drain", "undrain", "rebalance", "history", "schedule", "calendars", "validate", "management", "orchestrator", "shard", "worker", "timer", "up", "down", "keys", "bench", "simulate",
        "version", "help",
    ]

    static let targetHelp = """
          --api ENDPOINT   the management API (default: $BATON_API, else the cluster file's, else
                           the endpoint in DIR/api)
          --config FILE    the cluster file whose management.api to use (default: $BATON_CONFIG)
          --identity FILE  the secret key to speak with to a cluster with keys (default:
                           $BATON_IDENTITY, else the cluster's KEYS/admin.secret)
          --data DIR       the data folder of the `baton dev` to talk to (default .baton)
        """

    static let actionHelp = """
          --request ID   the action's request ID: sending it again with the same ID applies it once
                         (default: a new ID, kept for the retry when management does not answer)
          --actor NAME   who acts, for the audit log (default: $BATON_ACTOR, $USER, $LOGNAME, else the system user)
          --json         print the answer as JSON
        """

    /// Every command's help, by name.
    public static let commands: [String: Entry] = [
        "stop": Entry(
            summary: "stop a run: cancel what waits, signal what runs",
            text: """
                usage: baton stop [options] RUN

                Jobs not started are skipped, queued tasks are cancelled, and running ones get SIGTERM,
                then SIGKILL after the grace period (5 s). The run is stopping until no job of it is
                active, then stopped. Refused for a run that has ended.

                Options:
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "pause": Entry(
            summary: "pause a run: running tasks finish, nothing more starts",
            text: """
                usage: baton pause [options] RUN

                The shard hands none of the run's queued tasks to workers, and jobs whose predecessors
                succeed wait, until `baton resume`. Running tasks finish. The run shows as paused.

                Options:
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "resume": Entry(
            summary: "resume a paused run",
            text: """
                usage: baton resume [options] RUN

                Options:
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "rerun": Entry(
            summary: "rerun a run from failure, or one job",
            text: """
                usage: baton rerun [--fresh] [options] RUN
                       baton rerun [--downstream] [--fresh] [options] RUN JOB

                With RUN alone, reruns the failed, cancelled and skipped jobs of a run that has ended
                without succeeding; failed jobs start at their first step that did not complete, and
                partitions that succeeded are not run again (a run that on_failure: fail-run ended is
                rerun once its other jobs have stopped; until then it is refused, naming one); with
                --fresh, the jobs it reruns run whole, their steps and partitions that succeeded too,
                so that none combines results made at two entry moments. With JOB, reruns that job
                from its start (the run must not be running it), and with --downstream every job after
                it; jobs after it that were skipped because it failed run again in any case.

                Options:
                  --downstream   with JOB: rerun every job after it too
                  --fresh        take a new job entry moment (by default a rerun keeps the run's)
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "mark-succeeded": Entry(
            summary: "mark a job succeeded without running it",
            text: """
                usage: baton mark-succeeded [options] RUN JOB

                The job counts as succeeded (a running one is cancelled first), and the jobs after it
                that were waiting for it, or skipped because it failed, run.

                Options:
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "hold": Entry(
            summary: "hold a product: pause its runs, and runs started while held",
            text: """
                usage: baton hold [options] PRODUCT

                Options:
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "release": Entry(
            summary: "release a held product",
            text: """
                usage: baton release [options] PRODUCT

                Runs held with the product go on; runs an operator paused stay paused.

                Options:
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "move": moveHelp,
        "drain": drainHelp,
        "undrain": undrainHelp,
        "rebalance": rebalanceHelp,
        "policy": Entry(
            summary: "set a product's weight, cap, rate limit and priority rule in its shard",
            text: """
                usage: baton policy [options] PRODUCT

                How the product's shard shares its workers with it, from the next task it hands out, without
                a restart. Fields not given keep their values. With products that have work waiting, each
                gets worker time in proportion to its weight, each task charged what tasks of its job type
                ran lately and corrected to what it ran. Within a product, the more urgent run priority
                first; among tasks of one run priority, its fairness keys share by weight; within a key,
                the job's priority, then older.

                Options:
                  --weight N                 its weight, 1 to 10000 (default 1)
                  --cap N                    the most of its tasks running at once; 0 for no cap
                  --rate N/s                 the most tasks handed out per second (or N/m, N/h); 0 for no limit
                  --burst N                  how many may go at once after a quiet spell (default: one second's worth)
                  --priority-over-fairness   its runs' priorities count across products, before fair shares
                  --fairness-first           undoes --priority-over-fairness (the default)
                  --key-weight KEY=N         the weight of a fairness key within the product, 1 to 10000
                                             (repeatable; every key weighs 1 unless given)
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "priority": Entry(
            summary: "change a run's priority",
            text: """
                usage: baton priority [options] RUN PRIORITY

                PRIORITY is 1 (first) to 5 (last), or urgent. The run's queued tasks are reordered at
                once, and its jobs submitted later carry it. Within its product, a run of a more urgent
                priority goes first; across products, only an urgent run (an operator's override) goes
                before the fair shares, unless the product's policy puts priority over fairness.

                Options:
                """ + "\n" + actionHelp + "\n" + targetHelp),
        "products": Entry(
            summary: "list the products with their shards and policies",
            text: """
                usage: baton products [--limit N] [--after PRODUCT] [--json]

                Lists the products in name order with their shards, their flows, their load (jobs
                ended a second over the last 10 minutes, as management measures it), their weight, cap,
                rate (per hour), burst, whether their priorities count over fairness, and their
                fairness keys' weights ("-" for none or the default), and a move going on (the shards
                its open runs finish on, after `baton move`): at most --limit N (default 1000, at most
                10000), after --after PRODUCT, the cursor the listing prints for the next page. Then
                the shards drained (`baton drain`), which take no new products.
                """ + "\n" + targetHelp),
        "history": Entry(
            summary: "show the operator actions on a run or a product, or by an actor",
            text: """
                usage: baton history [--limit N] [--before ID] [--json] RUN
                       baton history [--limit N] [--before ID] [--json] --product PRODUCT
                       baton history [--limit N] [--before ID] [--json] --actor NAME

                The audit log: when, who, which action, on what, and how it ended (done, refused, or
                pending while the orchestrator has not answered), oldest first: the newest --limit N
                actions (default 1000, at most 10000), and with --before ID those older than the
                action ID, the cursor it prints for the page before. In a cluster with keys
                the actor is the name of the caller's key, and a request its role may not make is
                recorded as refused (403); an actor name the client gave is shown beside the key's.

                Options:
                  --product PRODUCT   the actions on a product and its runs
                  --actor NAME        the actions of one actor, refused ones too
                  --json              print the reply as JSON
                """ + "\n" + targetHelp),
        "dev": Entry(
            summary: "run every service in this process",
            text: """
                usage: baton dev [--data DIR] [--workers N] [--slots N] [--shards N] [--port PORT]
                                 [--web HOST:PORT | --no-web] [--quiet]
                       baton dev --config FILE [--web HOST:PORT | --no-web] [--quiet]

                Runs management, the orchestrator, shards, a timer and workers in one process,
                talking over inproc://, with their stores and the jobs' output in DIR (each service
                in its folder, as in a cluster: DIR/shard-1/shard.db, DIR/pool-dev/logs, ...). The
                management API also listens on tcp://127.0.0.1:PORT for the other commands; its
                endpoint is printed and written to DIR/api. Each shard's work socket also listens
                on a free port of 127.0.0.1, printed as "shard N work:", where workers of other
                processes and languages connect (docs/protocol.md; --workers 0 leaves all the work
                to them). With --config, it runs every service of
                the cluster file instead, with the file's endpoints, folders and settings. Ctrl-C
                stops everything (workers let running attempts finish for up to 30 s, or the pool's
                drain); a restart resumes where it stopped. The dashboard (see `baton web --help`) is
                served at http://127.0.0.1:8700/ (any free port if 8700 is taken; the URL is printed),
                read-only without keys, and every service's Prometheus metrics at /metrics there, each
                series labelled with its service (docs/metrics.md).

                Options:
                  --data DIR      where stores and output go (default .baton)
                  --workers N     workers to run, 0 to 64 (default 2)
                  --slots N       tasks each worker runs at once (default 4)
                  --shards N      shards to run, 1 to 64 (default 1)
                  --port PORT     the API's TCP port (default 0: any free port)
                  --config FILE   run the services of this cluster file, in this process
                  --web HOST:PORT serve the dashboard and /metrics there (default 127.0.0.1:8700)
                  --no-web        serve no HTTP at all
                  --quiet         log only warnings and errors
                """),
        "web": webHelp,
        "demo": Entry(
            summary: "run the example flow and show what happened",
            text: """
                usage: baton demo [--data DIR] [FILE]

                Starts an embedded Baton with its data in DIR (default .baton-demo, emptied first),
                applies FILE (default examples/payments-end-of-day.json), runs it with live progress,
                and ends with a table of every job: state, attempts, duration, and where its output went.
                A folder another Baton process is using, or holding files no demo made, is refused.

                Exit status: 0 if the run succeeded, 1 if it did not.
                """),
        "apply": Entry(
            summary: "store flow files and calendars in a running Baton",
            text: """
                usage: baton apply [--json] [--api ENDPOINT | --config FILE | --data DIR] FILE...

                Validates every file, then stores them all, or none if any has a problem. A file that
                changed makes a new version of its flow; a new product is bound to a shard. A file
                named NAME.cal is the business calendar NAME (see docs/flows.md); flows may name the
                calendars applied with them. A schedule new or changed starts from now.

                Options:
                  --json           print the reply as JSON
                """ + "\n" + targetHelp),
        "start": Entry(
            summary: "start a run of a flow",
            text: """
                usage: baton start [--param NAME=VALUE]... [--key KEY] [--priority P] [--wait] [--json] PRODUCT/FLOW

                Starts a run of the latest version of PRODUCT/FLOW and prints its ID. A flow that
                declares its parameters refuses any other.

                Options:
                  --param NAME=VALUE   a parameter of the run (repeatable)
                  --priority P         1 (first) to 5 (last), default 3, or urgent: before every other
                                       product's work (see baton priority --help)
                  --key KEY            an idempotency key, 1 to 255 octets: starting again with the
                                       same key returns the same run instead of starting another; a
                                       start of another flow, or with another parameter, under it is
                                       refused
                  --wait               show progress until the run ends; exit 0 only if it succeeded
                  --json               print the reply as JSON (with --wait, only the final status)
                """ + "\n" + targetHelp),
        "status": Entry(
            summary: "show a run, or the runs in progress",
            text: """
                usage: baton status [--json] [RUN [--jobs N] [--watch]]

                With RUN, shows the run and every job: state, attempts, tasks, duration (so far, for a
                job running), and where its output went, read from the API 10,000 jobs a page; while the
                run is open, each job waiting at its shard says why (the run paused, no worker offers
                its handler or tags, a cap, a rate limit, behind N tasks of its product) and when its
                next task should start. Without RUN, lists the runs in progress and the latest ones.

                Options:
                  --jobs N   show only the run's first N jobs, in the flow's order (0 for the run alone)
                  --watch    show the run, then each change of its jobs as it comes, until it ends; Ctrl-C
                             stops watching and says that the run goes on. Exit 0 if it succeeded
                  --json     print the reply as JSON (with --jobs, "next" is where the rest begin; each
                             job waiting at its shard has "waiting": {"why", "estimate"})
                """ + "\n" + targetHelp),
        "runs": Entry(
            summary: "list recent runs",
            text: """
                usage: baton runs [--product PRODUCT] [--flow PRODUCT/FLOW] [--state STATE] [--since AGO]
                                  [--limit N] [--before RUN] [--json]

                Lists runs, newest first, as management's store holds them (every run it keeps).

                Options:
                  --product PRODUCT     only runs of this product
                  --flow PRODUCT/FLOW   only runs of this flow
                  --state STATE         only runs in this state (running, succeeded, failed, ...)
                  --since AGO           only runs started in the last AGO: 30m, 1h, 7d
                  --limit N             at most N runs (default 20, at most 10000)
                  --before RUN          only runs older than RUN: the cursor the listing prints
                  --json                print the reply as JSON
                """ + "\n" + targetHelp),
        "logs": logsHelp,
        "workers": workersHelp,
        "queue": queueHelp,
        "flows": Entry(
            summary: "list the flows applied",
            text: """
                usage: baton flows [--limit N] [--after PRODUCT/FLOW] [--json]

                Lists the flows in name order with their latest versions, job counts and products'
                shards: at most --limit N (default 1000, at most 10000), after --after PRODUCT/FLOW, the
                cursor the listing prints for the next page.
                """ + "\n" + targetHelp),
        "management": Entry(
            summary: "run the management service of a cluster",
            text: """
                usage: baton management --config FILE

                Runs management: products, flows, the shard map, runs, and the API at the cluster
                file's management.api. FILE may also come from BATON_CONFIG. See docs/cluster.md.
                (`baton manager`, the old name, still works this release.)
                """),
        "orchestrator": Entry(
            summary: "run the orchestrator of a cluster: it runs each flow run's jobs in order",
            text: """
                usage: baton orchestrator --config FILE

                Runs the orchestrator at the cluster file's orchestrator.ops and orchestrator.events:
                it starts each run's jobs when their predecessors succeed, submitting them to the
                product's shard. (`baton flow`, the old name, still works this release.)
                """),
        "shard": Entry(
            summary: "run one shard broker of a cluster",
            text: """
                usage: baton shard --config FILE --id N

                Runs shard N of the cluster file, with its store in its data folder.
                """),
        "worker": Entry(
            summary: "run one worker of a cluster's pool",
            text: """
                usage: baton worker --config FILE [--pool NAME] [--index N]

                Runs worker N (default 1) of pool NAME (needed when the file has several pools). On
                SIGTERM it takes no new tasks and lets running ones finish for up to 30 seconds.
                """),
        "timer": Entry(
            summary: "run the timer of a cluster",
            text: """
                usage: baton timer --config FILE [--index N]

                Runs a timer: it fires the flows' schedules by asking management, which starts each
                firing's run once, so several timers may run for availability. A firing later than the
                cluster file's timer "grace" (default 1m) counts as missed; the schedule's catch_up
                says which missed firings still run. Time zones come from $TZDIR, else
                /usr/share/zoneinfo.

                Options:
                  --index N   which timer of this machine it is (default 1): each has its own data
                              folder (the cluster file's timer folder, or that folder with "-N"),
                              and its firings are recorded as HOST/timer/N
                """),
        "schedule": Entry(
            summary: "show a flow's next firings and its latest ones",
            text: """
                usage: baton schedule [--next N] [--json] [--api ENDPOINT | --config FILE | --data DIR] PRODUCT/FLOW

                Prints the flow's schedule, how many firings started a run, were missed or skipped,
                its next N firings (default 10) in this machine's time and in the schedule's zone with
                their business dates, and the latest firings with what became of them (those waiting
                for a run to end are "queued").

                Options:
                  --next N         how many firings ahead to list, 0 to 1000 (default 10)
                  --json           print the reply as JSON
                """ + "\n" + targetHelp),
        "calendars": Entry(
            summary: "list business calendars and their next holidays",
            text: """
                usage: baton calendars [--next N] [--json] [--api ENDPOINT | --config FILE | --data DIR]

                Lists every business calendar (those applied, and the built-in `weekdays`), its
                weekend, the dates its file covers, the flows on it, and its next N holidays from
                today (default 3).

                Options:
                  --next N         how many holidays ahead to list, 0 to 1000 (default 3)
                  --json           print the reply as JSON
                """ + "\n" + targetHelp),
        "up": Entry(
            summary: "start a cluster's processes on this machine",
            text: """
                usage: baton up --config FILE

                Starts every process of the cluster file that is not already running, in the
                background: shards, the orchestrator, management, the timer, then the workers. Each
                logs to DATA/logs/NAME.log; its PID goes to DATA/run/NAME.pid. A process killed a
                moment before is waited for, then started again; if one cannot start, up stops what
                it started and says what was running before it. Management, the orchestrator and
                the workers read the shards at their start: after the file gains (or changes) a
                shard, up starts the new shard and restarts those of them whose shards changed,
                saying so; the shards running go on untouched. A file that drops a shard products
                are still bound to is refused before anything stops or starts, naming them: drain
                the shard first (baton drain --help). Unless the file says
                "security": "none", the cluster runs encrypted (CURVE): the keys it lacks are made
                first in its key folder (DATA/keys by default), with KEYS/admin.secret for the client
                commands on this machine. See docs/security.md.
                """),
        "keys": Entry(
            summary: "make, list, or have a running cluster read again, its keys",
            text: """
                usage: baton keys new NAME [--role ROLE] (--dir DIR | --config FILE)
                       baton keys list [--json] (--dir DIR | --config FILE)
                       baton keys reload --config FILE

                new makes NAME.key (the public key: give it to every process of the cluster) and
                NAME.secret (the pair, readable by you only: keep it on the machine that uses it). A
                service's key is named for it, and has its role: management, orchestrator, shard-N,
                pool-NAME, timer. A person's or a tool's key takes --role viewer (reads), operator
                (also acts on runs and products) or admin (also applies flows and sets policies).

                list shows the folder's keys: name, role, fingerprint, and whether the secret is here.

                reload has the running processes of the cluster read their key folder again (SIGHUP):
                a key added or removed there takes effect without a restart. It reads the folder
                first, as they will: one they would refuse is named, and no process is told.
                Under systemd, `systemctl reload` each unit.
                """),
        "down": Entry(
            summary: "stop the processes baton up started",
            text: """
                usage: baton down --config FILE

                Stops the cluster's processes with SIGTERM, workers first, waiting for each.
                """),
        "simulate": Entry(
            summary: "run the whole cluster in virtual time with faults, checking invariants",
            text: """
                usage: baton simulate [--seed S] [--seeds N] [--duration D] [--heal D] [--plant FAULT]
                                      [--durability full|normal] [--watch PROCESS] [--verbose]
                                      [--keep DIR]

                Runs management, the orchestrator, 3 shards, 3 workers, 2 timers and an operator in one
                thread and in virtual time, each service through the calls its event loop makes and over
                its real SQLite store, on a network that behaves as ZeroMQ does. From each seed it draws
                the flows, the operator's starts and actions, and the faults: delays, messages dropped by
                PUB, partitions, crashes before a commit, after it or half-way through the sends, full
                disks, clocks that drift and step, forged results. It checks that no task succeeds
                twice, that no job is released before its predecessors succeeded, that no task is
                handed out after its success, that an attempt goes to one worker, that no forged
                result is taken, that entry moments only increase, that an operation request gets one
                answer, that every run ends once the faults stop, that management's view of each run
                is the orchestrator's, that every schedule instant fires, that a moved product's new runs
                go to its new shard, and that backlogged products share their shard by weight within
                the documented bound. A failure prints the seed, the trace that led
                to it and the broken invariant; the same seed replays it exactly. docs/testing.md.

                Options:
                  --seed S       the (first) seed (default 1)
                  --seeds N      run N seeds from S (default 1)
                  --duration D   virtual time with faults and load (default 8m)
                  --heal D       virtual time after it for every run to end (default 4m)
                  --plant FAULT  plant a defect the invariants must catch: release-early,
                                 lease-after-success, succeed-twice, strand-run, lose-run-end,
                                 garble, skip-firing, double-lease, moment-back, answer-twice,
                                 forge-as-holder, drop-weights, ignore-move, busy-loop,
                                 damage-store
                  --durability   full (default): a power loss keeps every commit, as a crash
                                 does; normal: power losses lose the last second's commits of
                                 a store, and only what durability normal promises is checked
                  --watch P      put every message process P sends and takes in the trace
                                 (management, orchestrator, shard-1, worker-2, timer-1, ...)
                  --verbose      print every seed's trace, not only a failing one's
                  --keep DIR     keep the stores of each seed in DIR

                Exit status: 0 if every invariant held for every seed, 1 if not.
                """),
        "bench": benchHelp,
        "validate": Entry(
            summary: "check flow files and calendars without a server",
            text: """
                usage: baton validate [--json] FILE...

                Checks each flow file and prints every problem found in it, with its line and column,
                the job and the field; a file named NAME.cal is checked as a business calendar. A
                schedule's time zone is checked against this machine's time zone database; calendar
                names are checked by `baton apply`. No server is needed.

                Options:
                  --json   print one JSON object per file instead of text

                Exit status: 0 if every file is valid, 1 if any is not, 2 on a usage error.
                """),
        "version": Entry(
            summary: "print the version",
            text: """
                usage: baton version

                Prints Baton's version and the protocol version it speaks.
                """),
        "help": Entry(
            summary: "show help for a command",
            text: """
                usage: baton help [COMMAND]

                Prints the general usage, or the help of COMMAND.
                """),
    ]
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self + " " : self + String(repeating: " ", count: length - count)
    }
}
