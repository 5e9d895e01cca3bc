"""CURVE: a Python worker with its pool's secret key runs tasks; one with a key the shard refuses, or no
key, or a wrong server key, stops at once with an error that names the key it used."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import unittest

from baton_worker import Registry, Worker, WorkerError
from baton_worker.keys import read_key_pair

from support import BATON, Cluster, require_baton, wait_for


class CurveTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        require_baton(None)
        cls.cluster = Cluster("curve", pools=[{"name": "py", "slots": 2, "workers": 0},
                                              {"name": "other", "slots": 2, "workers": 0}])

    @classmethod
    def tearDownClass(cls) -> None:
        cls.cluster.down()

    def worker(self, name: str, **keys) -> Worker:
        handlers = Registry()
        handlers.register("hello", lambda ctx: f"hello from {ctx.worker}")
        keys.setdefault("endpoints", [self.cluster.work()])
        return Worker(name=name, slots=2, heartbeat=250, handlers=handlers,
                      data=os.path.join(self.cluster.folder, name.replace("/", "-")), **keys)

    def refusal(self, worker: Worker) -> str:
        worker.start()
        self.addCleanup(lambda: (worker.stop(drain=0), worker._thread.join(30)))
        with self.assertRaises(WorkerError) as refused:
            if not worker.join(30):
                self.fail("the worker did not stop")
        return str(refused.exception)

    def test_a_worker_with_its_pools_key_runs_tasks(self):
        cluster = self.cluster
        worker = self.worker("py/curve", **cluster.worker_args("py"))
        worker.start()
        self.addCleanup(lambda: (worker.stop(drain=0), worker.join(30)))
        cluster.apply({"product": "curve", "flow": "hello", "jobs": [{"name": "greet", "handler": "hello"}]})
        status = cluster.wait_run(cluster.start("curve/hello"))
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1))

    def test_a_worker_whose_key_the_shard_refuses_stops_naming_its_key(self):
        other = os.path.join(self.cluster.folder, "other")
        subprocess.run([BATON, "keys", "new", "intruder", "--role", "viewer", "--dir", other], check=True,
                       capture_output=True)
        key = os.path.join(other, "intruder.secret")
        error = self.refusal(self.worker("intruder", key_file=key, server_key_file=self.cluster.shard_key()))
        self.assertIn("refused the handshake (HANDSHAKE_FAILED_AUTH)", error)
        self.assertIn(key, error)
        self.assertIn("not the key of a pool that serves this shard", error)
        self.assertFalse(any(w["name"] == "intruder" for w in self.cluster.workers()))

    def test_a_worker_without_a_key_is_told_the_shard_requires_curve(self):
        error = self.refusal(self.worker("keyless"))
        self.assertIn("refused the handshake", error)
        self.assertIn("no key (plain TCP, no CURVE)", error)
        self.assertIn("the shard requires CURVE", error)

    def test_a_worker_with_a_wrong_server_key_stops_naming_the_server_key_file(self):
        wrong = os.path.join(self.cluster.keys, "management.key")
        error = self.refusal(self.worker("wrong-server", key_file=self.cluster.pool_key("py"), server_key_file=wrong))
        self.assertIn("refused the handshake", error)
        self.assertIn(wrong, error)
        self.assertIn("the server key is not this shard's", error)


    def test_a_name_bound_to_another_key_is_refused_until_it_is_free(self):
        cluster = self.cluster
        warnings = []
        catcher = logging.Handler(logging.WARNING)
        catcher.emit = lambda record: warnings.append(record.getMessage())
        logging.getLogger("baton_worker").addHandler(catcher)
        self.addCleanup(logging.getLogger("baton_worker").removeHandler, catcher)
        holder = self.worker("twin", **cluster.worker_args("py"))
        holder.start()
        self.addCleanup(lambda: (holder.stop(drain=0), holder.join(30)))
        self.assertTrue(holder.wait_registered(30))
        # Another pool's key under the same name: DISCONNECT 403, and the worker waits to try again.
        other = self.worker("twin", **cluster.worker_args("other"))
        other.start()
        self.addCleanup(lambda: (other.stop(drain=0), other.join(30)))
        wait_for("the shard to refuse the second twin",
                 lambda: any("DISCONNECT 403" in line for line in warnings), 30)
        self.assertFalse(other.wait_registered(0))
        # The holder keeps its name, under its own key.
        (registered,) = [w for w in cluster.workers() if w["name"] == "twin"]
        self.assertEqual(registered["key"], read_key_pair(cluster.pool_key("py")).public)
        # Once the holder has gone, the name is free, and the other registers after its backoff.
        holder.stop(drain=0)
        holder.join(30)
        self.assertTrue(other.wait_registered(30))


if __name__ == "__main__":
    unittest.main()
