"""What the tests share: the Baton binary, clusters started with `baton up` and `baton dev`, and waiting
on states with a deadline (never a bare sleep to wait for something)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, Callable, Dict, Iterable, List, Optional

REPOSITORY = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SDK = os.path.join(REPOSITORY, "tools", "python-worker")
BATON = os.path.abspath(os.environ.get("BATON") or os.path.join(REPOSITORY, ".build", "debug", "baton"))
PYTHON = sys.executable
#: Kept for a look after a failure when set.
KEEP = bool(os.environ.get("BATON_SDK_KEEP"))


def require_baton(test: unittest.TestCase) -> None:
    if not os.access(BATON, os.X_OK):
        raise unittest.SkipTest(f"no Baton binary at {BATON} (set BATON)")


_given_ports: set = set()


def free_port() -> int:
    """A port on 127.0.0.1 free now and not given before by this process, below the kernel's ephemeral
    range: a port the kernel picks (bind to 0) may be picked again before it is used, and two
    endpoints of one cluster file then shared it."""
    for _ in range(1000):
        port = random.randrange(15000, 32768)
        if port in _given_ports:
            continue
        _given_ports.add(port)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port on 127.0.0.1 from 15000 to 32767")


def endpoint() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Polls ``check`` until it returns something true, at most ``timeout`` seconds (and a bounded number
    of times); returns that, or fails the test naming ``what``."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def process_gone(pid: int) -> bool:
    """Whether the process has ended (a zombie counts as ended: nothing of it runs)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def read_lines(path: str) -> List[str]:
    try:
        with open(path, encoding="utf-8") as file:
            return [line.rstrip("\n") for line in file if line.strip()]
    except FileNotFoundError:
        return []


class Baton:
    """Runs client commands of the `baton` binary against one Baton (`--config` or `--data`)."""

    def __init__(self, where: List[str], folder: str) -> None:
        self.where = where
        self.folder = folder

    def run(self, *arguments: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [BATON, arguments[0], *self.where, *arguments[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done

    def json(self, *arguments: str, check: bool = True) -> Any:
        return json.loads(self.run(*arguments, "--json", check=check).stdout)

    def apply(self, flow: Dict[str, Any]) -> None:
        path = os.path.join(self.folder, f"{flow['product']}-{flow['flow']}.json")
        with open(path, "w") as file:
            json.dump(flow, file)
        self.run("apply", path)

    def start(self, flow: str, **params: Any) -> int:
        arguments = ["start", flow]
        for name, value in params.items():
            arguments += ["--param", f"{name}={value}"]
        return int(self.json(*arguments)["run"])

    def status(self, run: int) -> Dict[str, Any]:
        return self.json("status", str(run))

    def wait_run(self, run: int, timeout: float = 60) -> Dict[str, Any]:
        """The run's status once it has finished."""
        return wait_for(f"run {run} to finish", lambda: self._finished(run), timeout, interval=0.1)

    def _finished(self, run: int) -> Optional[Dict[str, Any]]:
        status = self.status(run)
        return status if status["run"]["finished"] is not None else None

    def wait_job(self, run: int, job: str, states: Iterable[str], timeout: float = 60) -> Dict[str, Any]:
        wanted = set(states)
        return wait_for(f"job {job} of run {run} to be {'/'.join(sorted(wanted))}",
                        lambda: next((j for j in self.status(run)["jobs"] if j["job"] == job and j["state"] in wanted),
                                     None), timeout, interval=0.1)

    def workers(self) -> List[Dict[str, Any]]:
        return [worker for shard in self.json("workers")["shards"] for worker in shard["workers"]]


def job(status: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(j for j in status["jobs"] if j["job"] == name)


class Cluster(Baton):
    """A cluster of processes on 127.0.0.1, started by `baton up` from a cluster file of its own, with
    keys (CURVE) made by `baton up` under DATA/keys."""

    def __init__(self, name: str, pools: List[Dict[str, Any]], shards: int = 1, heartbeat: str = "250ms") -> None:
        folder = tempfile.mkdtemp(prefix=f"baton-sdk-{name}-")
        self.config = os.path.join(folder, "cluster.json")
        super().__init__(["--config", self.config], folder)
        self.data = os.path.join(folder, "data")
        self.keys = os.path.join(self.data, "keys")
        self.spec = {
            "data": self.data,
            "heartbeat": heartbeat,
            "management": {"api": endpoint()},
            "orchestrator": {"ops": endpoint(), "events": endpoint()},
            "shards": [{"id": n, "submit": endpoint(), "work": endpoint(), "events": endpoint()}
                       for n in range(1, shards + 1)],
            "pools": pools,
        }
        with open(self.config, "w") as file:
            json.dump(self.spec, file, indent=1)
        self.up()

    def up(self) -> None:
        self.run("up", timeout=120)

    def down(self) -> None:
        self.run("down", check=False, timeout=120)
        if not KEEP:
            shutil.rmtree(self.folder, ignore_errors=True)

    def work(self, shard: int = 1) -> str:
        return self.spec["shards"][shard - 1]["work"]

    def pool_key(self, pool: str) -> str:
        return os.path.join(self.keys, f"pool-{pool}.secret")

    def shard_key(self, shard: int = 1) -> str:
        return os.path.join(self.keys, f"shard-{shard}.key")

    def pid(self, process: str) -> int:
        with open(os.path.join(self.data, "run", f"{process}.pid")) as file:
            return int(file.read().strip())

    def kill9(self, process: str) -> int:
        pid = self.pid(process)
        os.kill(pid, signal.SIGKILL)
        wait_for(f"{process} (pid {pid}) to die", lambda: process_gone(pid), 30)
        return pid

    def worker_args(self, pool: str, shard: int = 1) -> Dict[str, Any]:
        """The keyword arguments of a Worker of ``pool`` for ``shard``: its endpoint and keys."""
        return {"endpoints": [self.work(shard)], "key_file": self.pool_key(pool), "server_key_file": self.shard_key(shard)}


class Dev(Baton):
    """`baton dev --workers 0 --no-web`: every service in one process, keyless, its shard's work endpoint
    printed as ``shard 1 work:``."""

    def __init__(self, name: str) -> None:
        folder = tempfile.mkdtemp(prefix=f"baton-sdk-{name}-")
        self.data = os.path.join(folder, "data")
        super().__init__(["--data", self.data], folder)
        self.output = os.path.join(folder, "dev.log")
        self._log = open(self.output, "w")
        self.process = subprocess.Popen([BATON, "dev", "--workers", "0", "--no-web", "--data", self.data],
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.work = wait_for("baton dev to print its shard's work endpoint", self._work_endpoint, 30)

    def _work_endpoint(self) -> Optional[str]:
        if self.process.poll() is not None:
            raise AssertionError(f"baton dev exited {self.process.returncode}: {open(self.output).read()}")
        for line in read_lines(self.output):
            if line.startswith("shard 1 work:"):
                return next(word for word in line.split() if word.startswith("tcp://"))
        return None

    def down(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if not KEEP:
            shutil.rmtree(self.folder, ignore_errors=True)


class WorkerProcess:
    """`python -m baton_worker ...` as a child process, its output in a file."""

    def __init__(self, arguments: List[str], folder: str, label: str, cwd: Optional[str] = None) -> None:
        self.output = os.path.join(folder, f"{label}.log")
        self._log = open(self.output, "w")
        self.process = subprocess.Popen([PYTHON, "-m", "baton_worker", *arguments], stdout=self._log,
                                        stderr=subprocess.STDOUT, cwd=cwd or folder)

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        with open(self.output, encoding="utf-8", errors="replace") as file:
            return file.read()

    def check_running(self) -> bool:
        """True while it runs; fails the test with its output if it has exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited {self.process.returncode}:\n{self.text()}")
        return True

    def wait_registered(self, baton: Baton, name: str, timeout: float = 30) -> None:
        wait_for(f"worker {name} to register",
                 lambda: self.check_running() and any(w["name"] == name for w in baton.workers()), timeout)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker did not exit within {timeout}s:\n{self.text()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


class Recorder:
    """What handlers saw, gathered from their threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: List[Dict[str, Any]] = []

    def add(self, **seen: Any) -> None:
        with self._lock:
            self.calls.append(seen)

    def of(self, **match: Any) -> List[Dict[str, Any]]:
        with self._lock:
            return [call for call in self.calls if all(call.get(k) == v for k, v in match.items())]
