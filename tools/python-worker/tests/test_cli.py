"""`python -m baton_worker`: its help, its errors for bad input, and a worker it runs from a handlers module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import zmq

from baton_worker import ConfigurationError, Worker

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
        folder = tempfile.mkdtemp(prefix="baton-sdk-cli-")
        self.addCleanup(shutil.rmtree, folder, True)
        keys = self.key_files(folder)
        package = os.path.join(folder, "handlers")
        os.makedirs(package)
        no_suffix = os.path.join(folder, "more_handlers")
        with open(no_suffix, "w") as file:
            file.write("from baton_worker import handler\n")
        endpoint = ["--endpoint", "tcp://127.0.0.1:7722"]
        cases += [
            (["--endpoint", "tcp://*:7722", "--module", "sample_handlers"],
             "bad endpoint 'tcp://*:7722' (a worker connects to a shard: HOST is its host name or address, never *)"),
            (endpoint + ["--key-file", keys["not-z85"], "--server-key-file", keys["shard"]],
             f"the public-key in {keys['not-z85']} is not Z85 text: it holds '_|~', which Z85 does not use"),
            (endpoint + ["--key-file", keys["pool"], "--server-key-file", keys["not-z85"]],
             f"the public-key in {keys['not-z85']} is not Z85 text"),
            (endpoint + ["--key-file", keys["mismatched"], "--server-key-file", keys["shard"]],
             f"the public-key in {keys['mismatched']} is not the secret-key's"),
            (endpoint + ["--module", package], f"cannot load the handlers module {package}: it is a folder"),
            (endpoint + ["--module", no_suffix],
             f"cannot load the handlers module {no_suffix}: a file's name must end in .py"),
        ]
        for arguments, said in cases:
            with self.subTest(arguments=arguments):
                done = cli(*arguments)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn(said, done.stderr)
                self.assertNotIn("Traceback", done.stderr)
        done = cli("--module", "sample_handlers")
        self.assertEqual(done.returncode, 2)
        self.assertIn("--endpoint", done.stderr)


    @staticmethod
    def key_files(folder: str) -> dict:
        """Key files: a good pool pair, a shard's public key, one whose keys are not Z85, one whose halves
        are of two pairs."""
        public, secret = zmq.curve_keypair()
        other_public, _ = zmq.curve_keypair()
        contents = {
            "pool": (public, secret), "shard": (other_public, None),
            "not-z85": (b"~" * 20 + b"_" * 10 + b"|" * 10, b"~" * 40),
            "mismatched": (other_public, secret),
            "overflow": (b"%" * 40, None),
        }
        paths = {}
        for name, (public_key, secret_key) in contents.items():
            paths[name] = os.path.join(folder, f"{name}.secret")
            with open(paths[name], "w") as file:
                file.write(f"name = {name}\npublic-key = {public_key.decode()}\n")
                if secret_key:
                    file.write(f"secret-key = {secret_key.decode()}\n")
        return paths


class ConfigurationTests(unittest.TestCase):
    def test_a_worker_is_refused_when_it_is_made_naming_what_is_wrong(self):
        folder = tempfile.mkdtemp(prefix="baton-sdk-configuration-")
        self.addCleanup(shutil.rmtree, folder, True)
        keys = CommandLineTests.key_files(folder)
        endpoint = "tcp://127.0.0.1:7722"
        cases = [
            ({"endpoints": ["tcp://*:7722"]}, "bad endpoint 'tcp://*:7722'"),
            ({"endpoints": ["tcp://host name:7722"]}, "bad endpoint"),
            ({"key_file": keys["mismatched"], "server_key_file": keys["shard"]}, "is not the secret-key's"),
            ({"key_file": keys["pool"], "server_key_file": keys["not-z85"]}, "is not Z85 text"),
            ({"key_file": keys["pool"], "server_key_file": keys["overflow"]},
             f"the public-key in {keys['overflow']} is not Z85 text: a group of five characters is over 2^32"),
            ({"environment": {"A": "x\0y"}}, "bad value of the environment variable A"),
            ({"environment": {"A=B": "x"}}, "bad environment variable name 'A=B'"),
        ]
        for settings, said in cases:
            with self.subTest(settings=settings):
                settings.setdefault("endpoints", [endpoint])
                with self.assertRaises(ConfigurationError) as refused:
                    Worker(**settings)
                self.assertIn(said, str(refused.exception))
        Worker(endpoints=[endpoint], key_file=keys["pool"], server_key_file=keys["shard"])  # The good ones pass.


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
