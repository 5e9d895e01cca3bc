"""`python -m baton_worker`: its help, its errors for bad input, and a worker it runs from a handlers module."""

from __future__ import annotations

import json
import os
import subprocess
import unittest

from support import PYTHON, Cluster, WorkerProcess, require_baton

HERE = os.path.dirname(os.path.abspath(__file__))


def cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "baton_worker", *arguments], capture_output=True, text=True, timeout=60,
                          cwd=HERE)


class CommandLineTests(unittest.TestCase):
    def test_help_says_what_it_runs_and_where_the_endpoints_and_keys_are(self):
        done = cli("--help")
        self.assertEqual(done.returncode, 0, done.stderr)
        for text in ("--endpoint ENDPOINT", "--module MODULE", "--key-file FILE", "--server-key-file FILE",
                     "--no-commands", "--heartbeat MS", "shard N work:", "KEYS/pool-NAME.secret", "SIGTERM",
                     "from baton_worker import handler", "exit status"):
            self.assertIn(text, done.stdout)

    def test_bad_input_is_refused_naming_what_was_wrong(self):
        cases = [
            (["--endpoint", "tcp://nowhere", "--module", "sample_handlers"], "bad endpoint 'tcp://nowhere'"),
            (["--endpoint", "tcp://127.0.0.1:99999", "--module", "sample_handlers"], "bad endpoint 'tcp://127.0.0.1:99999'"),
            (["--endpoint", "tcp://127.0.0.1:7722", "--module", "no_such_handlers"],
             "cannot import the handlers module no_such_handlers: ModuleNotFoundError"),
            (["--endpoint", "tcp://127.0.0.1:7722", "--module", "missing.py"],
             "cannot load the handlers module missing.py: no such file"),
            (["--endpoint", "tcp://127.0.0.1:7722", "--module", "sample_handlers", "--key-file", "/nonexistent/pool.secret",
              "--server-key-file", "/nonexistent/shard-1.key"], "the key file /nonexistent/pool.secret does not exist"),
            (["--endpoint", "tcp://127.0.0.1:7722", "--module", "sample_handlers", "--key-file", "sample_handlers.py",
              "--server-key-file", "sample_handlers.py"], "the key file sample_handlers.py has no public-key line"),
            (["--endpoint", "tcp://127.0.0.1:7722", "--key-file", "x.secret"], "a key file without a server key file"),
            (["--endpoint", "tcp://127.0.0.1:7722", "--no-commands"], "the worker offers nothing"),
            (["--endpoint", "tcp://127.0.0.1:7722", "--slots", "0"], "bad slots 0"),
        ]
        for arguments, said in cases:
            with self.subTest(arguments=arguments):
                done = cli(*arguments)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn(said, done.stderr)
        done = cli("--module", "sample_handlers")
        self.assertEqual(done.returncode, 2)
        self.assertIn("--endpoint", done.stderr)


class CommandLineWorkerTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        require_baton(None)
        cls.cluster = Cluster("cli", pools=[{"name": "py", "slots": 2, "workers": 0}])

    @classmethod
    def tearDownClass(cls) -> None:
        cls.cluster.down()

    def test_a_worker_runs_the_handlers_a_module_registers(self):
        cluster = self.cluster
        worker = WorkerProcess([
            "--endpoint", cluster.work(), "--module", "sample_handlers", "--name", "py/cli", "--heartbeat", "250",
            "--key-file", cluster.pool_key("py"), "--server-key-file", cluster.shard_key(), "--no-commands",
            "--data", os.path.join(cluster.folder, "py"),
        ], cluster.folder, "worker", cwd=HERE)
        self.addCleanup(worker.kill)
        worker.wait_registered(cluster, "py/cli")
        (registered,) = cluster.workers()
        self.assertEqual((registered["handlers"], registered["commands"]), (["echo", "gate"], False))
        cluster.apply({"product": "cli", "flow": "echo", "params": {"greeting": "hi"}, "jobs": [
            {"name": "first", "handler": "echo"},
            {"name": "second", "after": ["first"], "inputs": ["first"], "handler": "echo"},
        ]})
        status = cluster.wait_run(cluster.start("cli/echo", greeting="hello"))
        self.assertEqual(status["run"]["state"], "succeeded", json.dumps(status, indent=1) + worker.text())
        worker.process.terminate()
        self.assertEqual(worker.wait(30), 0, worker.text())

    def test_a_worker_whose_key_is_refused_exits_1_naming_its_key(self):
        done = cli("--endpoint", self.cluster.work(), "--module", "sample_handlers", "--name", "py/refused",
                   "--key-file", os.path.join(self.cluster.keys, "admin.secret"),
                   "--server-key-file", self.cluster.shard_key())
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("stopped: the shard at", done.stderr)
        self.assertIn("HANDSHAKE_FAILED_AUTH", done.stderr)
        self.assertIn("admin.secret", done.stderr)


if __name__ == "__main__":
    unittest.main()
