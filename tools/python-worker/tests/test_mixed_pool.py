"""One pool, two kinds of worker: Baton's own (`workers: 1`) and Python workers with the same pool key
share one flow's command jobs."""

from __future__ import annotations

import collections
import json
import os
import unittest

from baton_worker import Registry, Worker

from support import Cluster, read_lines, require_baton, wait_for

JOBS = 30


class MixedPoolTests(unittest.TestCase):
    def setUp(self) -> None:
        require_baton(self)
        self.cluster = Cluster("mixed", pools=[{"name": "mixed", "slots": 4, "workers": 1}])
        self.addCleanup(self.cluster.down)

    def test_batons_worker_and_python_workers_of_one_pool_share_a_flow(self):
        cluster = self.cluster
        workers = []
        for number in (1, 2):
            worker = Worker(name=f"py/mixed/{number}", slots=4, heartbeat=250, handlers=Registry(),
                            data=os.path.join(cluster.folder, f"py{number}"), **cluster.worker_args("mixed"))
            worker.start()
            self.addCleanup(lambda worker=worker: (worker.stop(drain=0), worker.join(30)))
            workers.append(worker)
        for worker in workers:
            self.assertTrue(worker.wait_registered(30))
        # Baton's own worker of the pool, started by `baton up`, is registered too.
        wait_for("three workers at the shard", lambda: len(cluster.workers()) == 3)
        (swift,) = [w["name"] for w in cluster.workers() if not w["name"].startswith("py/")]

        trace = os.path.join(cluster.folder, "trace")
        traced = 'echo "$BATON_WORKER $BATON_JOB" >> "$BATON_PARAM_trace"; sleep 0.2'
        jobs = [{"name": f"load{n}", "run": traced} for n in range(JOBS)]
        jobs.append({"name": "report", "after": [f"load{n}" for n in range(JOBS)], "run": traced})
        cluster.apply({"product": "mixed", "flow": "shared", "params": {"trace": ""}, "jobs": jobs})
        run = cluster.start("mixed/shared", trace=trace)
        status = cluster.wait_run(run)
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1))

        lines = [line.split() for line in read_lines(trace)]
        self.assertEqual(sorted(job for _, job in lines), sorted([f"load{n}" for n in range(JOBS)] + ["report"]))
        ran = collections.Counter(name for name, _ in lines)
        self.assertGreater(ran[swift], 0, ran)
        self.assertGreater(ran["py/mixed/1"] + ran["py/mixed/2"], 0, ran)
        self.assertEqual(set(ran) - {swift, "py/mixed/1", "py/mixed/2"}, set(), ran)


if __name__ == "__main__":
    unittest.main()
