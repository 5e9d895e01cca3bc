"""A graceful stop: SIGTERM to a worker while a task runs. The task finishes and its result is receipted,
no new task is taken, the worker exits 0, and the shard no longer lists it."""

from __future__ import annotations

import json
import os
import signal
import unittest

from support import Cluster, WorkerProcess, job, require_baton, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))


class GracefulStopTests(unittest.TestCase):
    def setUp(self) -> None:
        require_baton(self)
        self.cluster = Cluster("stop", pools=[{"name": "py", "slots": 2, "workers": 0}])
        self.addCleanup(self.cluster.down)

    def test_sigterm_lets_running_tasks_finish_takes_no_new_one_then_the_worker_leaves_and_exits_0(self):
        cluster = self.cluster
        folder = os.path.join(cluster.folder, "gate")
        os.makedirs(folder)
        worker = WorkerProcess([
            "--endpoint", cluster.work(), "--module", os.path.join(HERE, "sample_handlers.py"), "--name", "py/stop",
            "--slots", "3", "--heartbeat", "250", "--key-file", cluster.pool_key("py"),
            "--server-key-file", cluster.shard_key(), "--data", os.path.join(cluster.folder, "py"),
        ], cluster.folder, "worker")
        self.addCleanup(worker.kill)
        worker.wait_registered(cluster, "py/stop")
        cluster.apply({"product": "stop", "flow": "drain", "params": {"dir": ""}, "jobs": [
            {"name": "long", "handler": "gate", "params": {"release": "release-long"}},
            {"name": "short", "handler": "gate", "params": {"release": "release-short"}},
            {"name": "next", "after": ["short"], "handler": "echo"},
        ]})
        run = cluster.start("stop/drain", dir=folder)
        for name in ("long", "short"):
            wait_for(f"{name} to start", lambda: os.path.exists(os.path.join(folder, f"{name}.started")))

        worker.process.send_signal(signal.SIGTERM)
        wait_for("the worker to drain", lambda: "draining" in worker.text(), 30)
        # A task ending during the drain releases the next job: the stopping worker, which gave its
        # free slot back (RECALL), is not handed it.
        release(folder, "release-short")
        cluster.wait_job(run, "short", ["succeeded"], 30)
        cluster.wait_job(run, "next", ["queued"], 30)
        self.assertIsNone(worker.process.poll())
        release(folder, "release-long")
        self.assertEqual(worker.wait(60), 0, worker.text())

        status = cluster.status(run)
        self.assertEqual([(job(status, name)["state"], job(status, name)["attempts"]) for name in ("long", "short")],
                         [("succeeded", 1), ("succeeded", 1)], json.dumps(status, indent=1))
        self.assertEqual(job(status, "next")["attempts"], 0)
        self.assertEqual(cluster.workers(), [])
        self.assertIn("stopped: 0 attempts abandoned, 0 results unconfirmed", worker.text())

    def test_a_process_started_under_the_name_of_one_draining_waits_for_it_and_no_task_runs_twice(self):
        """A rolling restart under a fixed name: the new process is turned away (409) while the old one
        drains, and registers once it has stopped. The task the old one runs is neither taken back nor
        run again (it ran three times, two at once, when the new READY replaced the old registration)."""
        cluster = self.cluster
        folder = os.path.join(cluster.folder, "gate")
        os.makedirs(folder)
        def start_worker(label: str) -> WorkerProcess:
            worker = WorkerProcess([
                "--endpoint", cluster.work(), "--module", os.path.join(HERE, "sample_handlers.py"), "--name", "py/rolling",
                "--slots", "2", "--heartbeat", "250", "--key-file", cluster.pool_key("py"),
                "--server-key-file", cluster.shard_key(), "--data", os.path.join(cluster.folder, label),
            ], cluster.folder, label)
            self.addCleanup(worker.kill)
            return worker
        old = start_worker("old")
        old.wait_registered(cluster, "py/rolling")
        cluster.apply({"product": "roll", "flow": "over", "params": {"dir": ""}, "jobs": [
            {"name": "long", "handler": "gate", "params": {"release": "release-long"}},
            {"name": "after", "after": ["long"], "handler": "echo"},
        ]})
        run = cluster.start("roll/over", dir=folder)
        wait_for("long to start", lambda: os.path.exists(os.path.join(folder, "long.started")))
        old.process.send_signal(signal.SIGTERM)
        wait_for("the old worker to drain", lambda: "draining" in old.text(), 30)
        new = start_worker("new")
        wait_for("the new worker to be turned away", lambda: "away (409" in new.text(), 30)
        self.assertIsNone(old.process.poll(), old.text())
        release(folder, "release-long")
        self.assertEqual(old.wait(60), 0, old.text())
        status = cluster.wait_run(run, 60)
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1))
        self.assertEqual([job(status, name)["attempts"] for name in ("long", "after")], [1, 1], json.dumps(status, indent=1))
        self.assertIn("stopped: 0 attempts abandoned, 0 results unconfirmed", old.text())


def release(folder: str, name: str) -> None:
    with open(os.path.join(folder, name), "w"):
        pass

if __name__ == "__main__":
    unittest.main()
