"""A worker against a stand-in shard (tests/standin.py): what no real shard sends it (malformed frames, a
NUL octet in a parameter, a job name that climbs out of its folder), what a command sees, what a result
carries, handshakes that fail, a loop that fails, and a worker made before a fork. No Baton needed."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import unittest

import zmq

from baton_worker import Registry, Worker, WorkerError, wire
from baton_worker.wire import Kind, Outcome

from standin import LogLines, ResettingListener, StandIn, key_file, spec
from support import REPOSITORY, process_gone, read_lines, wait_for

FLOWS = os.path.join(REPOSITORY, "docs", "flows.md")


class StandInCase(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="baton-sdk-standin-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.said = LogLines()
        self.addCleanup(self.said.close)
        self.handlers = Registry()

    def shard(self, **settings) -> StandIn:
        shard = StandIn(**settings)
        self.addCleanup(shard.close)
        return shard

    def worker(self, endpoints, **settings) -> Worker:
        settings.setdefault("name", "py/standin")
        settings.setdefault("data", os.path.join(self.folder, "data"))
        worker = Worker(endpoints=endpoints, handlers=self.handlers, **settings)
        worker.start()
        self.addCleanup(self.stop, worker)
        return worker

    @staticmethod
    def stop(worker: Worker) -> None:
        worker.stop(drain=0)
        try:
            worker.join(30)
        except BaseException:  # noqa: BLE001 - a test that expected an error has checked it
            pass

    def running(self, worker: Worker) -> None:
        self.assertTrue(worker._thread.is_alive(), f"the worker stopped: {worker._thread_error!r}")


class MalformedTests(StandInCase):
    def test_malformed_frames_and_unexpected_messages_do_not_stop_the_worker(self):
        self.handlers.register("h", lambda ctx: "still here")
        shard = self.shard()
        worker = self.worker([shard.endpoint], commands=False)
        shard.welcome()
        bad_utf8 = b"BTN\x01\x09" + struct.pack(">HB", 500, 2) + b"\xff\xfe"
        frames = [
            b"", b"XYZ\x01\x08", b"BTN\x01\x7f", b"BTN\x02\x08", wire.encode(wire.Tasks(0, (spec(1),)))[:-3],
            wire.encode(wire.Welcome(1, 2, 1000, 3, (16 << 20) + 1)), bad_utf8, wire.encode(wire.Heartbeat()) + b"\0",
            wire.encode(wire.Tasks(0, (spec(1, kind=Kind.COMMAND)._replace(partitions=2_000_000),))),
        ]
        for frame in frames:
            shard.send_raw(frame)
        shard.send_raw(wire.encode(wire.Heartbeat()), wire.encode(wire.Heartbeat()))  # Two frames in one message.
        # Well formed, but not what a shard sends, or about tasks the worker does not hold: ignored.
        for message in (wire.Ready("x", 1, 1, 1000, 0), wire.Pull(5), wire.Recall(9), wire.Recalled(100),
                        wire.Results(()), wire.Receipt((wire.TaskRef(77, 1),)), wire.Cancel(0, (wire.TaskRef(78, 1),)),
                        wire.Demand(0, 0)):
            shard.send(message)
        wait_for("the worker to count the malformed frames", lambda: worker.malformed == len(frames) + 1, 10)
        self.assertTrue(self.said.has("result-limit is 16777217, over its limit of 16777216"))
        shard.send(wire.Tasks(0, (spec(2),)))
        (result,) = shard.results(1).values()
        self.assertEqual((result.task, result.outcome, result.data), (2, Outcome.SUCCEEDED, b"still here"))
        self.running(worker)


class CommandTests(StandInCase):
    def test_a_nul_octet_in_a_parameter_fails_the_task_naming_it_and_the_worker_goes_on(self):
        self.handlers.register("h", lambda ctx: "fine")
        shard = self.shard()
        worker = self.worker([shard.endpoint])
        shard.welcome()
        shard.send(wire.Tasks(0, (
            spec(1, Kind.COMMAND, "true", params={"region": "no\0rth"}),
            spec(2, Kind.COMMAND, "true", partition_key="e\0u", partitions=2),
            spec(3, Kind.COMMAND, "true", step_name="t\0wo", steps=2),
        )))
        shard.send(wire.Tasks(7, (spec(4, Kind.COMMAND, "true", params={"x": "\0"}, partitions=2),
                                  spec(5, Kind.COMMAND, "true", params={"x": "\0"}, partitions=2, partition=1))))
        shard.send(wire.Tasks(0, (spec(6),)))
        results = shard.results(6)
        self.assertIn("the parameter region holds a NUL octet", results[1].error)
        self.assertIn("the partition key holds a NUL octet", results[2].error)
        self.assertIn("the step name holds a NUL octet", results[3].error)
        self.assertIn("the parameter x holds a NUL octet", results[4].error)
        self.assertEqual([results[n].outcome for n in range(1, 6)], [Outcome.FAILED] * 5)
        self.assertEqual((results[6].outcome, results[6].data), (Outcome.SUCCEEDED, b"fine"))
        self.running(worker)

    def test_a_job_name_that_climbs_out_of_the_log_folder_is_rejected_and_nothing_is_removed(self):
        # The scratch folder of job "../../victim" would be DATA/victim.1.d, removed whole if it exists.
        data = os.path.join(self.folder, "data")
        victim = os.path.join(data, "victim.1.d")
        os.makedirs(victim)
        with open(os.path.join(victim, "keep"), "w"):
            pass
        shard = self.shard()
        self.worker([shard.endpoint], data=data)
        shard.welcome()
        shard.send(wire.Tasks(0, (spec(1, Kind.COMMAND, "true", job="../../victim"),
                                  spec(2, Kind.COMMAND, "true", job="a\0b"))))
        results = shard.results(2)
        self.assertEqual([results[n].outcome for n in (1, 2)], [Outcome.REJECTED] * 2)
        self.assertIn('the job name \'../../victim\' cannot name a file: it holds "/", ".." or a NUL octet',
                      results[1].error)
        self.assertTrue(os.path.exists(os.path.join(victim, "keep")))

    def test_a_command_sees_every_variable_flows_md_lists(self):
        with open(FLOWS, encoding="utf-8") as file:
            section = file.read().split("## What a command sees", 1)[1].split("\n## ", 1)[0]
        listed = set(re.findall(r"`(BATON_[A-Z_]+(?:<name>)?)`", "\n".join(
            line.split("|")[1] for line in section.splitlines() if line.startswith("| `BATON_"))))
        shard = self.shard()
        self.worker([shard.endpoint], environment={"EXTRA": "from the worker"})
        shard.welcome()
        script = ("import json, os; print(json.dumps({'env': {k: v for k, v in os.environ.items() "
                  "if k.startswith('BATON_') or k == 'EXTRA'}, "
                  "'inputs': sorted(os.listdir(os.environ['BATON_INPUTS'])), 'cwd': os.getcwd()}))")
        task = spec(5, Kind.COMMAND, '"$BATON_PARAM_python" -c "$BATON_PARAM_script" > "$BATON_RESULT"',
                    params={"python": sys.executable, "script": script, "region": "north"}, step=1, steps=2,
                    step_name="two", partition=2, partitions=3, partition_key="eu",
                    inputs=(wire.TaskInput("j", 0, 2, "eu", b"previous"), wire.TaskInput("up", 0, 0, "", b"x")))
        shard.send(wire.Tasks(0, (task,)))
        (result,) = shard.results(1).values()
        self.assertEqual(result.outcome, Outcome.SUCCEEDED, result.error)
        seen = json.loads(result.data)
        environment = seen["env"]
        scratch = os.path.join(self.folder, "data", "logs", "42", "j.1-2.1.d")
        expected = {
            "BATON_RUN": "42", "BATON_PRODUCT": "p", "BATON_FLOW": "f", "BATON_JOB": "j", "BATON_ATTEMPT": "1",
            "BATON_TASK": "5", "BATON_WORKER": "py/standin", "BATON_ENTRY_MOMENT": str(task.moment),
            "BATON_STEP": "1", "BATON_STEPS": "2", "BATON_STEP_NAME": "two", "BATON_PARTITION": "2",
            "BATON_PARTITIONS": "3", "BATON_PARTITION_KEY": "eu", "BATON_PARAM_<name>": None,
            "BATON_RESULT": os.path.join(scratch, "result"), "BATON_INPUTS": os.path.join(scratch, "inputs"),
        }
        # Every variable flows.md lists is checked here, and nothing else: a new one must be added.
        self.assertEqual(listed, set(expected))
        for name, value in expected.items():
            if value is not None:
                with self.subTest(variable=name):
                    self.assertEqual(environment.get(name), value)
        for name, value in task.params.items():
            self.assertEqual(environment[f"BATON_PARAM_{name}"], value)
        self.assertEqual(environment["EXTRA"], "from the worker")
        self.assertFalse({"BATON_BATCH", "BATON_BATCH_STATUS", "BATON_BATCH_SIZE"} & set(environment))
        self.assertEqual(seen["inputs"], ["index", "j.0.2", "up.0.0"])
        self.assertEqual(seen["cwd"], os.getcwd())
        self.assertFalse(os.path.exists(scratch))  # Removed once the attempt ended.


class ResultTests(StandInCase):
    def test_a_result_over_the_shards_limit_fails_the_attempt_saying_so(self):
        self.handlers.register("big", lambda ctx: b"x" * 101)
        self.handlers.register("fits", lambda ctx: b"x" * 100)
        shard = self.shard()
        self.worker([shard.endpoint])
        shard.welcome(result_limit=100)
        shard.send(wire.Tasks(0, (spec(1, action="big"), spec(2, action="fits"),
                                  spec(3, Kind.COMMAND, "head -c 150 /dev/zero > \"$BATON_RESULT\""))))
        results = shard.results(3)
        self.assertEqual((results[1].outcome, results[1].data), (Outcome.FAILED, b""))
        self.assertEqual(results[1].error, "its result is 101 octets, over the shard's limit of 100")
        self.assertEqual((results[2].outcome, results[2].data), (Outcome.SUCCEEDED, b"x" * 100))
        self.assertEqual(results[3].outcome, Outcome.FAILED)
        self.assertEqual(results[3].error, "its result file is 150 octets, over the shard's limit of 100")

    def test_output_is_the_logs_last_4_kib_and_log_is_host_colon_path(self):
        def chatty(ctx):
            for number in range(1000):
                ctx.log(f"handler line {number:04d}")
            return "ok"

        self.handlers.register("chatty", chatty)
        self.handlers.register("quiet", lambda ctx: "ok")
        shard = self.shard()
        self.worker([shard.endpoint])
        shard.welcome()
        command = 'i=0; while [ $i -lt 2000 ]; do printf "line %04d é\\n" $i; i=$((i+1)); done; exit 3'
        shard.send(wire.Tasks(0, (spec(1, Kind.COMMAND, command), spec(2, action="chatty", job="h"),
                                  spec(3, action="quiet", job="q"))))
        results = shard.results(3)
        logs = os.path.join(self.folder, "data", "logs", "42")
        for task, name in ((1, "j.1.log"), (2, "h.1.log")):
            with self.subTest(task=task):
                result = results[task]
                path = os.path.join(logs, name)
                # `log` is exactly HOST:PATH: this host's name, and the log's absolute path.
                self.assertEqual(result.log, f"{socket.gethostname()}:{path}")
                with open(path, "rb") as file:
                    whole = file.read()
                self.assertGreater(len(whole), 4096)
                # `output` is the log's last 4 KiB, cut between characters (é is two octets).
                octets = result.output.encode("utf-8")
                self.assertLessEqual(len(octets), 4096)
                self.assertGreaterEqual(len(octets), 4095)
                self.assertTrue(whole.endswith(octets))
        self.assertEqual(results[1].error, "exit status 3: line 1999 é")
        self.assertEqual(results[1].exit_code, 3)
        # A handler that wrote nothing has no log, and says none.
        self.assertEqual((results[3].output, results[3].log), ("", ""))

    def test_an_error_text_utf8_cannot_carry_is_sent_replaced(self):
        name = os.fsdecode(b"caf\xe9")  # As os.listdir gives a name that is not UTF-8: a lone surrogate.

        def lists(ctx):
            raise FileNotFoundError(f"no ledger {name}")

        self.handlers.register("lists", lists)
        self.handlers.register("h", lambda ctx: "fine")
        shard = self.shard()
        worker = self.worker([shard.endpoint])
        shard.welcome()
        shard.send(wire.Tasks(0, (spec(1, action="lists"), spec(2))))
        results = shard.results(2)
        self.assertEqual((results[1].outcome, results[1].error), (Outcome.FAILED, "FileNotFoundError: no ledger caf?"))
        self.assertEqual(results[2].outcome, Outcome.SUCCEEDED)
        self.running(worker)


class HandshakeTests(StandInCase):
    def curve(self):
        """A pool key file, and a CURVE stand-in's secret and public key file."""
        public, secret = zmq.curve_keypair()
        server_public, server_secret = zmq.curve_keypair()
        return (key_file(self.folder, "pool", public, secret), server_secret,
                key_file(self.folder, "shard", server_public))

    def test_connections_reset_during_the_handshake_are_retried_with_or_without_curve(self):
        # A shard restarting mid-handshake: libzmq says HANDSHAKE_FAILED_NO_DETAIL, as it does when a
        # shard cannot decrypt a HELLO. A few in a row, then a shard that answers: the worker registers.
        pool, server_secret, server_key = self.curve()
        for keys in ({}, {"key_file": pool, "server_key_file": server_key}):
            with self.subTest(curve=bool(keys)):
                self.said.lines.clear()
                listener = ResettingListener(limit=3)
                worker = self.worker([listener.endpoint], heartbeat=250, name=f"py/reset/{bool(keys)}", **keys)
                self.assertTrue(listener.done.wait(20), "the worker did not connect three times")
                shard = self.shard(port=listener.port, curve_secret=server_secret if keys else None)
                shard.welcome(timeout=20)
                self.assertTrue(worker.wait_registered(10))
                self.running(worker)
                self.assertTrue(self.said.has("failed (HANDSHAKE_FAILED_NO_DETAIL"), self.said.lines)
                self.stop(worker)

    def test_with_curve_a_shard_that_resets_every_handshake_is_given_up_alone(self):
        pool, server_secret, server_key = self.curve()
        listener = ResettingListener()
        self.addCleanup(listener.stop)
        shard = self.shard(curve_secret=server_secret)
        self.handlers.register("h", lambda ctx: "from the shard left")
        worker = self.worker([listener.endpoint, shard.endpoint], heartbeat=250, key_file=pool,
                             server_key_file=[server_key, server_key])
        shard.welcome()
        wait_for("the worker to give up the shard that resets", lambda: self.said.has("no longer uses that shard"), 30)
        self.assertGreaterEqual(listener.resets, 5)
        (line,) = [line for line in self.said.lines if "no longer uses that shard" in line]
        self.assertIn(f"the shard at {listener.endpoint} refused the handshake (HANDSHAKE_FAILED_NO_DETAIL)", line)
        self.assertIn("5 handshakes in a row", line)
        self.assertIn("the server key is not this shard's", line)
        # The other shard is still served.
        shard.send(wire.Tasks(0, (spec(1),)))
        (result,) = shard.results(1).values()
        self.assertEqual(result.data, b"from the shard left")
        self.running(worker)
        worker.stop(drain=0)
        self.assertTrue(worker.join(30))  # No WorkerError: a shard is left.

    def test_with_curve_and_no_shard_left_the_worker_stops_naming_its_keys(self):
        pool, _, server_key = self.curve()
        listener = ResettingListener()
        self.addCleanup(listener.stop)
        worker = self.worker([listener.endpoint], heartbeat=250, key_file=pool, server_key_file=server_key)
        with self.assertRaises(WorkerError) as refused:
            if not worker.join(30):
                self.fail("the worker did not stop")
        self.assertIn("refused the handshake (HANDSHAKE_FAILED_NO_DETAIL)", str(refused.exception))
        self.assertIn(server_key, str(refused.exception))


class CrashTests(StandInCase):
    def test_an_effect_that_fails_fails_its_task_alone_and_the_loop_goes_on(self):
        self.handlers.register("h", lambda ctx: "fine")
        shard = self.shard()
        worker = self.worker([shard.endpoint])
        shard.welcome()
        start = worker._attempts.start

        def start_or_fail(id, spec, limit):
            if spec.task == 1:
                raise RuntimeError("cannot start this one")
            start(id, spec, limit)

        worker._attempts.start = start_or_fail
        shard.send(wire.Tasks(0, (spec(1), spec(2))))
        results = shard.results(2)
        self.assertEqual((results[1].outcome, results[1].error),
                         (Outcome.FAILED, "the worker could not start it: RuntimeError: cannot start this one"))
        self.assertEqual((results[2].outcome, results[2].data), (Outcome.SUCCEEDED, b"fine"))
        self.running(worker)

    def test_an_error_in_the_loop_kills_what_runs_and_tells_the_shard(self):
        shard = self.shard()
        worker = self.worker([shard.endpoint])
        shard.welcome()
        pids = os.path.join(self.folder, "pids")
        shard.send(wire.Tasks(0, (spec(1, Kind.COMMAND, f'sleep 60 & echo $! > {pids}; echo $$ >> {pids}; wait'),)))
        wait_for("the command to start", lambda: len(read_lines(pids)) == 2)

        def fails(now):
            raise RuntimeError("injected")

        worker._core.tick = fails
        with self.assertRaisesRegex(RuntimeError, "injected"):
            worker.join(30)
        goodbye = shard.expect(wire.Disconnect)
        self.assertEqual(goodbye, wire.Disconnect(503, "worker stopping"))
        for pid in map(int, read_lines(pids)):
            wait_for(f"process {pid} to be gone", lambda: process_gone(pid), 10)


class ForkTests(StandInCase):
    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_a_worker_made_before_a_fork_runs_in_the_child_with_the_childs_session_and_name(self):
        self.handlers.register("h", lambda ctx: "")
        shard = self.shard()
        worker = Worker(endpoints=[shard.endpoint], handlers=self.handlers, data=os.path.join(self.folder, "data"))
        pid = os.fork()
        if pid == 0:  # The child: run the worker until its shard welcomes it.
            code = 1
            try:
                worker.start()
                code = 0 if worker.wait_registered(20) else 3
                worker.stop(drain=0)
                worker.join(20)
            finally:
                os._exit(code)
        ready = shard.welcome(timeout=20)
        ended = {}

        def child_ended() -> bool:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                ended["code"] = os.waitstatus_to_exitcode(status)
            return done == pid

        wait_for("the child to exit", child_ended, 30)
        self.assertEqual(ended["code"], 0)
        self.assertEqual(ready.worker, f"{socket.gethostname()}/python/{pid}")
        self.assertNotEqual(ready.session, worker.session)  # This process's, not the child's.


if __name__ == "__main__":
    unittest.main()
