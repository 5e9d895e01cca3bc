"""One worker, two shards: its one slot goes where the work is (DEMAND, RECALL, RECALLED, PULL)."""

from __future__ import annotations

import json
import os
import unittest

from baton_worker import Registry, Worker

from support import Cluster, Recorder, require_baton


class TwoShardTests(unittest.TestCase):
    def setUp(self) -> None:
        require_baton(self)
        self.cluster = Cluster("shards", pools=[{"name": "py", "slots": 1, "workers": 0}], shards=2)
        self.addCleanup(self.cluster.down)

    def test_a_worker_with_one_slot_serves_both_shards_by_moving_its_credit_to_the_one_with_work(self):
        cluster = self.cluster
        seen = Recorder()
        handlers = Registry()
        handlers.register("note", lambda ctx: seen.add(product=ctx.product, job=ctx.job))
        worker = Worker(name="py/both", slots=1, heartbeat=250, handlers=handlers, commands=False,
                        endpoints=[cluster.work(1), cluster.work(2)], key_file=cluster.pool_key("py"),
                        server_key_file=[cluster.shard_key(1), cluster.shard_key(2)],
                        data=os.path.join(cluster.folder, "py"))
        worker.start()
        self.addCleanup(lambda: (worker.stop(drain=0), worker.join(30)))
        self.assertTrue(worker.wait_registered(30))
        self.assertEqual(sorted(w["name"] for w in cluster.workers()), ["py/both", "py/both"])

        jobs = [{"name": "first", "handler": "note"}, {"name": "second", "after": ["first"], "handler": "note"}]
        for product in ("one", "two"):
            cluster.apply({"product": product, "flow": "f", "jobs": jobs})
        shards = {p["product"]: p["shard"] for p in cluster.json("products")["products"]}
        self.assertEqual(sorted(shards.values()), [1, 2])
        # The opening credit went to the first endpoint's shard: work on the other needs it moved there.
        later = max(shards, key=shards.get)
        status = cluster.wait_run(cluster.start(f"{later}/f"), timeout=30)
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1))
        # And back again, then both at once.
        earlier = next(product for product in shards if product != later)
        status = cluster.wait_run(cluster.start(f"{earlier}/f"), timeout=30)
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1))
        runs = [cluster.start(f"{product}/f") for product in (earlier, later)]
        for run in runs:
            self.assertEqual(cluster.wait_run(run, timeout=30)["run"]["state"], "succeeded")
        self.assertEqual(len(seen.of(job="first")), 4)


if __name__ == "__main__":
    unittest.main()
