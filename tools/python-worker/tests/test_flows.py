"""Flows run by a Python worker in a cluster with keys: a diamond, a retry, partitions feeding a successor,
steps, timeouts and a cancel."""

from __future__ import annotations

import datetime
import json
import os
import unittest

from baton_worker import Worker

from support import Cluster, Recorder, job, process_gone, read_lines, require_baton, wait_for

seen = Recorder()


def start_cluster_and_worker():
    """One cluster and one Python worker (keys, 8 slots) for every test here; the handlers record what they saw."""
    require_baton(None)
    cluster = Cluster("flows", pools=[{"name": "py", "slots": 8, "workers": 0}])
    worker = Worker(name="py/flows", slots=8, heartbeat=250, data=os.path.join(cluster.folder, "py"),
                    **cluster.worker_args("py"))

    @worker.handler("record")
    def record(ctx):
        seen.add(run=ctx.run, job=ctx.job, step=ctx.step, step_name=ctx.step_name, steps=ctx.steps,
                 partition=ctx.partition, partitions=ctx.partitions, key=ctx.partition_key, attempt=ctx.attempt,
                 params=dict(ctx.params), moment=ctx.moment, inputs=ctx.inputs, previous=ctx.previous)
        ctx.log(f"{ctx.job} partition {ctx.partition} attempt {ctx.attempt}")
        if ctx.params.get("fail_first") == "yes" and ctx.attempt == 1:
            raise RuntimeError("the first attempt fails on purpose")
        return {"job": ctx.job, "step": ctx.step, "partition": ctx.partition, "key": ctx.partition_key}

    @worker.handler("wait")
    def wait(ctx):
        seen.add(run=ctx.run, job=ctx.job, event="started")
        stopped = ctx.wait(float(ctx.params["seconds"]))
        seen.add(run=ctx.run, job=ctx.job, event="stopped" if stopped else "returned", cancelled=ctx.cancelled)
        return "late"

    @worker.set_handler("post", limit=4)
    def post(contexts):
        seen.add(run=contexts[0].run, job=contexts[0].job, event="set", partitions=[c.partition for c in contexts])
        return [ValueError("partition 5 fails") if c.partition == 5 and c.attempt == 1 else f"posted {c.partition}"
                for c in contexts]

    worker.start()
    if not worker.wait_registered(30):
        raise AssertionError("the Python worker was not welcomed by the shard")
    return cluster, worker


class FlowTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.cluster, cls.worker = start_cluster_and_worker()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.worker.stop(drain=0)
        cls.worker.join(30)
        cls.cluster.down()
    def test_a_diamond_a_retry_partitions_and_steps_run_and_pass_their_results(self):
        self.cluster.apply({
            "product": "shapes", "flow": "all", "params": {"region": "north"},
            "jobs": [
                {"name": "top", "handler": "record"},
                {"name": "left", "after": ["top"], "handler": "record"},
                {"name": "right", "after": ["top"], "run": 'printf "from-$BATON_JOB" > "$BATON_RESULT"'},
                {"name": "bottom", "after": ["left", "right"], "inputs": ["left", "right"], "handler": "record"},
                {"name": "flaky", "handler": "record", "params": {"fail_first": "yes"}, "retries": 1,
                 "backoff": "50ms"},
                {"name": "split", "handler": "record", "partitions": ["eu", "us", "asia"]},
                {"name": "merge", "after": ["split"], "inputs": ["split"], "handler": "record"},
                {"name": "ledger", "steps": [{"name": "one", "handler": "record", "partitions": 2},
                                             {"name": "two", "handler": "record"}]},
            ]})
        before = datetime.datetime.now(datetime.timezone.utc)
        run = self.cluster.start("shapes/all", region="south")
        status = self.cluster.wait_run(run)
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1))

        # The diamond: bottom ran once, after both sides, and received both sides' results.
        (bottom,) = seen.of(run=run, job="bottom")
        self.assertEqual(sorted((i.job, i.data) for i in bottom["inputs"]),
                         [("left", b'{"job":"left","step":0,"partition":0,"key":""}'), ("right", b"from-right")])
        self.assertEqual(bottom["params"]["region"], "south")
        self.assertLess(abs((bottom["moment"] - before).total_seconds()), 60)
        self.assertEqual(bottom["moment"].tzinfo, datetime.timezone.utc)

        # The retry: attempt 1 failed, attempt 2 succeeded.
        self.assertEqual([call["attempt"] for call in seen.of(run=run, job="flaky")], [1, 2])
        self.assertEqual(job(status, "flaky")["attempts"], 2)
        self.assertEqual(seen.of(run=run, job="flaky")[0]["params"]["fail_first"], "yes")

        # Partitions: three keyed tasks, whose results the successor receives in partition order.
        split = seen.of(run=run, job="split")
        self.assertEqual(sorted((c["partition"], c["key"], c["partitions"]) for c in split),
                         [(0, "eu", 3), (1, "us", 3), (2, "asia", 3)])
        (merge,) = seen.of(run=run, job="merge")
        self.assertEqual([(i.job, i.step, i.partition, i.partition_key) for i in merge["inputs"]],
                         [("split", 0, 0, "eu"), ("split", 0, 1, "us"), ("split", 0, 2, "asia")])
        self.assertEqual([i.json()["key"] for i in merge["inputs"]], ["eu", "us", "asia"])
        self.assertEqual(merge["previous"], [])

        # Steps: step two runs after both partitions of step one, and sees their results as previous.
        (two,) = seen.of(run=run, job="ledger", step=1)
        self.assertEqual((two["step_name"], two["steps"]), ("two", 2))
        self.assertEqual([(i.job, i.step, i.partition) for i in two["previous"]], [("ledger", 0, 0), ("ledger", 0, 1)])
        self.assertEqual([i.json() for i in two["previous"]],
                         [{"job": "ledger", "step": 0, "partition": p, "key": ""} for p in (0, 1)])
        self.assertEqual(len(seen.of(run=run, job="ledger", step=0)), 2)
        # Each handler's log line went to its attempt's log, which the shard knows.
        self.assertTrue(job(status, "top")["output"].endswith("/top.1.log"), job(status, "top")["output"])

    def test_a_handler_and_a_command_past_their_timeout_end_timed_out(self):
        folder = os.path.join(self.cluster.folder, "timeouts")
        os.makedirs(folder)
        self.cluster.apply({
            "product": "limits", "flow": "timeouts", "params": {"dir": "", "seconds": "30"},
            "jobs": [
                {"name": "slow-handler", "handler": "wait", "timeout": "500ms"},
                {"name": "slow-command", "run": 'echo $$ > "$BATON_PARAM_dir/shell.pid"; sleep 30', "timeout": "500ms"},
            ]})
        run = self.cluster.start("limits/timeouts", dir=folder)
        status = self.cluster.wait_run(run)
        self.assertEqual(status["run"]["state"], "failed", json.dumps(status, indent=1))
        for name in ("slow-handler", "slow-command"):
            self.assertEqual(job(status, name)["state"], "failed")
            self.assertEqual(job(status, name)["detail"], "timed out after 500ms")
        # The handler was told (ctx.cancelled), and the command's process group was signalled.
        wait_for("the handler to see its cancellation", lambda: seen.of(run=run, job="slow-handler", event="stopped"))
        self.assertTrue(seen.of(run=run, job="slow-handler", event="stopped")[0]["cancelled"])
        (shell,) = read_lines(os.path.join(folder, "shell.pid"))
        wait_for("the timed-out command to be gone", lambda: process_gone(int(shell)), 10)

    def test_stopping_a_run_cancels_a_running_handler_and_kills_a_commands_process_group(self):
        folder = os.path.join(self.cluster.folder, "stop")
        os.makedirs(folder)
        self.cluster.apply({
            "product": "limits", "flow": "stoppable", "params": {"dir": "", "seconds": "60"},
            "jobs": [
                {"name": "long-handler", "handler": "wait"},
                {"name": "long-command",
                 "run": 'sleep 300 & echo $! > "$BATON_PARAM_dir/child.pid"; echo $$ > "$BATON_PARAM_dir/shell.pid"; wait'},
            ]})
        run = self.cluster.start("limits/stoppable", dir=folder)
        wait_for("the handler to start", lambda: seen.of(run=run, job="long-handler", event="started"))
        wait_for("the command to start", lambda: len(read_lines(os.path.join(folder, "shell.pid"))) == 1)
        pids = [int(read_lines(os.path.join(folder, name))[0]) for name in ("shell.pid", "child.pid")]
        self.cluster.run("stop", str(run))
        status = self.cluster.wait_run(run)
        self.assertEqual(status["run"]["state"], "stopped", json.dumps(status, indent=1))
        self.assertEqual({job(status, name)["state"] for name in ("long-handler", "long-command")}, {"cancelled"})
        wait_for("the handler to see its cancellation", lambda: seen.of(run=run, job="long-handler", event="stopped"))
        for pid in pids:
            wait_for(f"process {pid} of the command's group to be gone", lambda: process_gone(pid), 10)


    def test_a_set_handler_takes_claimed_sets_and_a_command_batch_runs_many_tasks_in_one_process(self):
        trace = os.path.join(self.cluster.folder, "batches")
        batch = r"""echo "batch $BATON_BATCH_SIZE $BATON_WORKER" >> "$BATON_PARAM_trace"
while IFS= read -r line; do
    task=$(printf '%s' "$line" | cut -f1); partition=$(printf '%s' "$line" | cut -f3)
    result=$(printf '%s' "$line" | cut -f5)
    printf 'part-%s' "$partition" > "$result"
    printf '%s\tok\n' "$task" >> "$BATON_BATCH_STATUS"
done < "$BATON_BATCH"
"""
        self.cluster.apply({
            "product": "sets", "flow": "bulk", "params": {"trace": ""},
            "jobs": [
                {"name": "post", "handler": "post", "partitions": 6, "retries": 1, "backoff": "50ms"},
                {"name": "load", "run": batch, "partitions": 6, "batch": 3},
                {"name": "sum", "after": ["load", "post"], "inputs": ["load"], "handler": "record"},
            ]})
        run = self.cluster.start("sets/bulk", trace=trace)
        status = self.cluster.wait_run(run)
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1))
        # The set handler was called with several tasks at once, each of the six partitions once, and its
        # failed partition alone was retried.
        calls = seen.of(run=run, job="post", event="set")
        partitions = [p for call in calls for p in call["partitions"]]
        self.assertGreater(max(len(call["partitions"]) for call in calls), 1, calls)
        self.assertEqual(sorted(partitions), [0, 1, 2, 3, 4, 5, 5])
        # The batch job's six tasks ran in fewer processes, of at most three tasks each; their results
        # reached the next job.
        sizes = [int(line.split()[1]) for line in read_lines(trace)]
        self.assertEqual(sum(sizes), 6)
        self.assertLess(len(sizes), 6)
        self.assertLessEqual(max(sizes), 3)
        (total,) = seen.of(run=run, job="sum")
        self.assertEqual([(i.partition, i.data) for i in total["inputs"]], [(p, f"part-{p}".encode()) for p in range(6)])


if __name__ == "__main__":
    unittest.main()
