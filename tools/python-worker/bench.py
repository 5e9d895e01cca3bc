#!/usr/bin/env python3
"""Throughput of a Python worker on no-op handlers, beside Baton's own worker on the same setup.

For each kind of worker it starts a cluster of processes with `baton up` (one shard, keys as `baton up`
makes them) whose one pool has one worker of 64 slots: Baton's own (`"workers": 1`), or none of
Baton's (`"workers": 0`) and one `python -m baton_worker` with the pool's key. It applies a flow of
independent jobs of the handler `noop` (which Baton's worker has built in, and the Python worker
registers), starts several runs of it at once, and measures:

- jobs a second, from the first run's start to the last run's end, by the runs' own timestamps;
- the worker process's CPU time per job (user + system, from /proc/PID/stat), in microseconds.

    python tools/python-worker/bench.py [--baton PATH] [--jobs 20000] [--runs 4] [--slots 64] [--kinds python,swift]
                               [--standalone N]

The Python worker runs with this interpreter, which must be able to import baton_worker and zmq.
``--standalone N`` adds the Python worker alone, fed N tasks by a stand-in shard in this process: what
the library itself can do when the shard is not what limits it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

# The tests' free ports: never one twice, below the kernel's ephemeral range.
from tests.support import endpoint

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.abspath(os.path.join(HERE, "..", ".."))
TICKS = os.sysconf("SC_CLK_TCK")

HANDLERS = '''\
from baton_worker import handler


@handler("noop")
def noop(ctx):
    return None
'''


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Bench:
    def __init__(self, arguments: argparse.Namespace, kind: str) -> None:
        self.arguments = arguments
        self.kind = kind
        self.folder = tempfile.mkdtemp(prefix=f"baton-sdk-bench-{kind}-")
        self.config = os.path.join(self.folder, "cluster.json")
        self.data = os.path.join(self.folder, "data")
        self.worker: Optional[subprocess.Popen] = None
        self.spec = {
            "data": self.data,
            "durability": arguments.durability,
            "management": {"api": endpoint()},
            "orchestrator": {"ops": endpoint(), "events": endpoint()},
            "shards": [{"id": 1, "submit": endpoint(), "work": endpoint(), "events": endpoint()}],
            "pools": [{"name": "bench", "slots": arguments.slots, "workers": 1 if kind == "swift" else 0}],
        }
        with open(self.config, "w") as file:
            json.dump(self.spec, file)

    def baton(self, *arguments: str) -> str:
        command = [self.arguments.baton, arguments[0], "--config", self.config, *arguments[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start_worker(self) -> int:
        """Starts the worker the kind needs; returns its PID once the shard lists it."""
        if self.kind == "swift":
            with open(os.path.join(self.data, "run", "worker-bench-1.pid")) as file:
                pid = int(file.read())
        else:
            module = os.path.join(self.folder, "bench_handlers.py")
            with open(module, "w") as file:
                file.write(HANDLERS)
            keys = os.path.join(self.data, "keys")
            self.log = open(os.path.join(self.folder, "python-worker.log"), "w")
            self.worker = subprocess.Popen(
                [self.arguments.python, "-m", "baton_worker", "--endpoint", self.spec["shards"][0]["work"],
                 "--module", module, "--name", "bench/python/1", "--slots", str(self.arguments.slots),
                 "--no-commands", "--quiet", "--key-file", os.path.join(keys, "pool-bench.secret"),
                 "--server-key-file", os.path.join(keys, "shard-1.key"), "--data", os.path.join(self.folder, "py")],
                stdout=self.log, stderr=subprocess.STDOUT, cwd=self.folder)
            pid = self.worker.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = json.loads(self.baton("workers", "--json"))["shards"][0]["workers"]
            if workers:
                return pid
            if self.worker is not None and self.worker.poll() is not None:
                raise SystemExit(f"the Python worker exited {self.worker.returncode}")
            time.sleep(0.1)
        raise SystemExit("the worker did not register within 60 s")

    def measure(self) -> Dict[str, float]:
        self.baton("up")
        try:
            pid = self.start_worker()
            per_run = self.arguments.jobs // self.arguments.runs
            flow = {"product": "bench", "flow": "noop",
                    "jobs": [{"name": f"j{n}", "handler": "noop"} for n in range(per_run)]}
            path = os.path.join(self.folder, "flow.json")
            with open(path, "w") as file:
                json.dump(flow, file)
            self.baton("apply", path)
            cpu_before = cpu_seconds(pid)
            runs = [json.loads(self.baton("start", "bench/noop", "--json"))["run"] for _ in range(self.arguments.runs)]
            statuses = self.wait(runs)
            cpu = cpu_seconds(pid) - cpu_before
            failed = [s["run"] for s in statuses if s["state"] != "succeeded"]
            if failed:
                raise SystemExit(f"runs {failed} did not succeed")
            started = min(s["started"] for s in statuses)
            finished = max(s["finished"] for s in statuses)
            jobs = per_run * len(runs)
            seconds = (finished - started) / 1000
            return {"jobs": jobs, "seconds": seconds, "rate": jobs / seconds, "cpu": cpu, "cpu_per_job": cpu / jobs * 1e6}
        finally:
            if self.worker is not None:
                self.worker.terminate()
                self.worker.wait(60)
            self.baton("down")
            shutil.rmtree(self.folder, ignore_errors=True)

    def wait(self, runs: List[int]) -> List[dict]:
        """The runs once all have finished. Read from management's listing, which asks the shard nothing:
        `baton status RUN` has the shard say why each job waits, which costs it time in proportion to the
        jobs queued for every job of the run, and would slow down what is measured."""
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            listed = json.loads(self.baton("runs", "--flow", "bench/noop", "--limit", "10000", "--json"))["runs"]
            mine = [run for run in listed if run["run"] in runs]
            if len(mine) == len(runs) and all(run["finished"] is not None for run in mine):
                return mine
            time.sleep(0.2)
        raise SystemExit(f"runs {runs} did not finish within 30 minutes")


def standalone(arguments: argparse.Namespace) -> Dict[str, float]:
    """The Python worker alone: a stand-in shard (a ROUTER in this process, no store, no keys) leases it
    no-op tasks as fast as it gives credit and receipts every result at once, so that only the worker's
    own cost is measured. Run ``--standalone N`` to add it."""
    sys.path.insert(0, HERE)
    import zmq
    from baton_worker import wire

    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    folder = tempfile.mkdtemp(prefix="baton-sdk-bench-standalone-")
    module = os.path.join(folder, "bench_handlers.py")
    with open(module, "w") as file:
        file.write(HANDLERS)
    worker = subprocess.Popen(
        [arguments.python, "-m", "baton_worker", "--endpoint", f"tcp://127.0.0.1:{port}", "--module", module,
         "--slots", str(arguments.slots), "--no-commands", "--quiet", "--data", os.path.join(folder, "py")],
        cwd=folder)
    spec = wire.TaskSpec(1, 1, 42, "j1", 0, "bench", "noop", 0, 1, "j1", 0, 1, "", wire.Kind.HANDLER, "noop",
                         "bench/noop", {}, 0, 1796521011727000, ())
    total, sent, done, credit = arguments.standalone, 0, 0, 0
    started = cpu_before = 0.0
    try:
        while done < total:
            if not router.poll(60_000):
                raise SystemExit("the worker went silent")
            identity, frame = router.recv_multipart()
            message = wire.decode(frame)
            if isinstance(message, wire.Ready):
                router.send_multipart([identity, wire.encode(wire.Welcome(1, 1, 1000, 3, 1 << 20))])
                credit += message.slots
                started, cpu_before = time.monotonic(), cpu_seconds(worker.pid)
            elif isinstance(message, wire.Pull):
                credit += message.credit
            elif isinstance(message, wire.Results):
                done += len(message.results)
                receipt = wire.Receipt(tuple(result.ref for result in message.results))
                router.send_multipart([identity, wire.encode(receipt)])
            elif isinstance(message, wire.Heartbeat):
                router.send_multipart([identity, wire.encode(wire.Heartbeat())])
            if credit and sent < total:
                count = min(credit, total - sent)
                tasks = wire.Tasks(0, tuple(spec._replace(task=sent + n + 1) for n in range(count)))
                router.send_multipart([identity, wire.encode(tasks)])
                sent, credit = sent + count, credit - count
        seconds = time.monotonic() - started
        cpu = cpu_seconds(worker.pid) - cpu_before
        return {"jobs": total, "seconds": seconds, "rate": total / seconds, "cpu": cpu, "cpu_per_job": cpu / total * 1e6}
    finally:
        worker.terminate()
        worker.wait(60)
        router.close(0)
        context.term()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baton", default=os.environ.get("BATON") or os.path.join(REPOSITORY, ".build", "debug", "baton"))
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the Python worker")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--durability", default="full", choices=["full", "normal", "off"])
    parser.add_argument("--kinds", default="python,swift", help="python, swift, or both (default)")
    parser.add_argument("--standalone", type=int, default=0, metavar="N",
                        help="also N tasks to the Python worker alone, from a stand-in shard (default 0: none)")
    arguments = parser.parse_args()
    results = {}
    for kind in [kind for kind in arguments.kinds.split(",") if kind]:
        print(f"measuring the {kind} worker: {arguments.jobs} no-op jobs in {arguments.runs} runs, "
              f"{arguments.slots} slots ...", flush=True)
        results[kind] = Bench(arguments, kind).measure()
    if arguments.standalone:
        print(f"measuring the python worker alone: {arguments.standalone} no-op tasks from a stand-in shard ...",
              flush=True)
        results["alone"] = standalone(arguments)
    print()
    print(f"{'worker':<8} {'jobs':>7} {'seconds':>8} {'jobs/s':>8} {'worker CPU s':>13} {'CPU µs/job':>11}")
    for kind, r in results.items():
        print(f"{kind:<8} {r['jobs']:>7} {r['seconds']:>8.2f} {r['rate']:>8.0f} {r['cpu']:>13.2f} {r['cpu_per_job']:>11.0f}")
    print(f"\nbaton: {arguments.baton}\npython: {arguments.python} ({sys.version.split()[0]}), durability {arguments.durability}")


if __name__ == "__main__":
    main()
