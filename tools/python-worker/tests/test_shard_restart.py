"""A shard killed with SIGKILL mid-task and restarted: the Python worker registers again with what it holds,
sends again what was not receipted, and every task runs exactly once."""

from __future__ import annotations

import json
import logging
import os
import threading
import unittest

from baton_worker import Worker

from support import Cluster, Recorder, job, require_baton, wait_for


class LogRecords(logging.Handler):
    """The worker's log lines, to wait on what it says."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines = []
        logger = logging.getLogger("baton_worker")
        self.level = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def close(self) -> None:
        logging.getLogger("baton_worker").removeHandler(self)
        logging.getLogger("baton_worker").setLevel(self.level)
        super().close()


class ShardRestartTests(unittest.TestCase):
    def setUp(self) -> None:
        require_baton(self)
        # A restarted shard keeps the leases it restored for 2 × liveness × its own heartbeat for their
        # workers to claim: 6 s at 1 s, so that a loaded machine's slow restart cannot take the test's
        # leases back before the worker is heard (at 250 ms it would be 1.5 s).
        self.cluster = Cluster("restart", pools=[{"name": "py", "slots": 4, "workers": 0}], heartbeat="1s")
        self.addCleanup(self.cluster.down)

    def test_a_task_running_through_a_quick_shard_restart_finishes_once_and_its_result_arrives(self):
        # Back before the worker notices: with a 5 s heartbeat it gives a silent shard 15 s. Its socket
        # connects again by itself, the new shard answers its next message (the result it sends when
        # partition 0 ends) DISCONNECT 401, and the worker sends READY again on the same socket.
        said = self.run_through_restart(until_reconnecting=False, heartbeat=5000)
        self.assertTrue(said.has("sent DISCONNECT 401"), said.lines)
        self.assertFalse(said.has("reconnecting to"), said.lines)

    def test_a_task_running_through_a_slow_shard_restart_finishes_once_and_its_result_arrives(self):
        # Back only after the worker has heard nothing for `liveness` intervals and opened a new socket.
        said = self.run_through_restart(until_reconnecting=True, heartbeat=250)
        self.assertTrue(said.has("reconnecting to"), said.lines)

    def run_through_restart(self, until_reconnecting: bool, heartbeat: int) -> LogRecords:
        cluster = self.cluster
        said = LogRecords()
        seen = Recorder()
        release = {0: threading.Event(), 1: threading.Event()}
        worker = Worker(name="py/restart", slots=4, heartbeat=heartbeat, data=os.path.join(cluster.folder, "py"),
                        **cluster.worker_args("py"))

        @worker.handler("blocked")
        def blocked(ctx):
            seen.add(partition=ctx.partition, attempt=ctx.attempt, event="started")
            # Blocks until the test lets this partition go (bounded, so a failed test cannot hang).
            if not release[ctx.partition].wait(60):
                raise TimeoutError("never released")
            return f"done {ctx.partition}"

        self.addCleanup(said.close)
        worker.start()
        self.addCleanup(lambda: (worker.stop(drain=0), worker.join(30)))
        self.assertTrue(worker.wait_registered(30))
        cluster.apply({"product": "restart", "flow": "once", "jobs": [
            {"name": "held", "handler": "blocked", "partitions": 2},
            {"name": "after", "after": ["held"], "inputs": ["held"], "run": 'cat "$BATON_INPUTS"/held.0.* > "$BATON_RESULT"'},
        ]})
        run = cluster.start("restart/once")
        wait_for("both partitions to start", lambda: len(seen.of(event="started")) == 2)

        old = cluster.kill9("shard-1")
        # Partition 0 ends while the shard is down: its result waits, unreceipted, for the next WELCOME.
        release[0].set()
        if until_reconnecting:
            wait_for("the worker to give the silent shard up and reconnect", lambda: said.has("reconnecting to"), 30)
        cluster.up()
        self.assertNotEqual(cluster.pid("shard-1"), old)
        # The worker registers again, holding partition 1 (still running) and partition 0's result.
        wait_for("the worker to register again with the shard",
                 lambda: any(w["name"] == "py/restart" for w in cluster.workers()), 30)
        release[1].set()

        status = cluster.wait_run(run)
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1))
        held = job(status, "held")
        self.assertEqual((held["attempts"], held["tasks"]["succeeded"]), (1, 2), json.dumps(held))
        self.assertEqual(sorted((c["partition"], c["attempt"]) for c in seen.of(event="started")), [(0, 1), (1, 1)])
        self.assertEqual(job(status, "after")["state"], "succeeded")
        return said


if __name__ == "__main__":
    unittest.main()
