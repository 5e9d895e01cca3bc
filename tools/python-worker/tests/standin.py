"""A stand-in shard: a ROUTER on 127.0.0.1 that a test drives message by message, to show a worker what no
real shard would send (malformed frames, a task with a NUL octet, a small result limit), and a listener
that resets every connection during its handshake."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, Callable, List, Optional, Type

import zmq

from baton_worker import wire


def spec(task: int, kind: wire.Kind = wire.Kind.HANDLER, action: str = "h", **extra: Any) -> wire.TaskSpec:
    """A task-spec of run 42, job ``j``, one step and partition, with ``extra`` over it."""
    fields = dict(task=task, attempt=1, run=42, job="j", generation=0, product="p", flow="f", step=0, steps=1,
                  step_name="j", partition=0, partitions=1, partition_key="", kind=kind, action=action, type="p/f",
                  params={}, timeout=0, moment=1796521011727000, inputs=())
    fields.update(extra)
    return wire.TaskSpec(**fields)


class StandIn:
    """One shard's ``work`` ROUTER, answering HEARTBEAT on its own. ``curve_secret``: a CURVE server."""

    def __init__(self, curve_secret: Optional[bytes] = None, port: int = 0) -> None:
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.linger = 0
        if curve_secret is not None:
            self.router.curve_server = True
            self.router.curve_secretkey = curve_secret
        if port:
            self.router.bind(f"tcp://127.0.0.1:{port}")
        else:
            port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.identity: Optional[bytes] = None
        #: Every message received, in order.
        self.heard: List[wire.Message] = []

    def close(self) -> None:
        self.router.close(0)
        self.context.term()

    def receive(self, timeout: float = 10) -> Optional[wire.Message]:
        """The next message from the worker, or None if none came within ``timeout`` seconds."""
        if not self.router.poll(int(timeout * 1000)):
            return None
        identity, frame = self.router.recv_multipart()
        self.identity = identity
        message = wire.decode(frame)
        self.heard.append(message)
        if isinstance(message, wire.Heartbeat):
            self.send(wire.Heartbeat())
        return message

    def expect(self, kind: Type, timeout: float = 10, where: Callable[[Any], bool] = lambda message: True) -> Any:
        """Receives until a message of ``kind`` (that ``where`` accepts) comes; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for _ in range(100_000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            message = self.receive(left)
            if isinstance(message, kind) and where(message):
                return message
        raise AssertionError(f"no {kind.__name__} within {timeout:g}s; heard {[wire.name_of(m) for m in self.heard]}")

    def results(self, count: int, timeout: float = 10) -> dict:
        """The next ``count`` results, by task, each receipted."""
        found = {}
        deadline = time.monotonic() + timeout
        for _ in range(count):
            results = self.expect(wire.Results, max(0.01, deadline - time.monotonic()))
            self.send(wire.Receipt(tuple(result.ref for result in results.results)))
            found.update({result.task: result for result in results.results})
            if len(found) >= count:
                break
        if len(found) < count:
            raise AssertionError(f"{len(found)} results of {count} within {timeout:g}s")
        return found

    def send(self, message: wire.Message) -> None:
        self.send_raw(wire.encode(message))

    def send_raw(self, *frames: bytes) -> None:
        self.router.send_multipart([self.identity, *frames])

    def welcome(self, heartbeat: int = 1000, result_limit: int = 1 << 20, timeout: float = 10) -> wire.Ready:
        """Waits for READY and answers WELCOME; returns the READY."""
        ready = self.expect(wire.Ready, timeout)
        self.send(wire.Welcome(1, 1, heartbeat, 3, result_limit))
        return ready


class ResettingListener:
    """A TCP listener that closes every connection as soon as it accepts it, before any handshake: what a
    worker meets when a shard restarts mid-handshake (libzmq reports HANDSHAKE_FAILED_NO_DETAIL). It runs
    until ``stop()``, or until it has reset ``limit`` connections."""

    def __init__(self, limit: Optional[int] = None, port: int = 0) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.limit = limit
        self.resets = 0
        self.done = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stopping.is_set() and (self.limit is None or self.resets < self.limit):
                try:
                    connection, _ = self.listener.accept()
                except socket.timeout:
                    continue
                connection.close()
                self.resets += 1
        finally:
            self.listener.close()
            self.done.set()

    def stop(self) -> None:
        self._stopping.set()
        self.done.wait(10)


def key_file(folder: str, name: str, public: bytes, secret: Optional[bytes] = None) -> str:
    """Writes a key file as ``baton keys`` does; returns its path."""
    path = os.path.join(folder, f"{name}.secret" if secret else f"{name}.key")
    with open(path, "w") as file:
        file.write(f"# {name}\nname = {name}\nrole = worker\npublic-key = {public.decode()}\n")
        if secret:
            file.write(f"secret-key = {secret.decode()}\n")
    return path


class LogLines(logging.Handler):
    """The worker's log lines, at DEBUG, to wait on or look for what it says."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []
        self._logger = logging.getLogger("baton_worker")
        self._level = self._logger.level
        self._logger.addHandler(self)
        self._logger.setLevel(logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def close(self) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
        super().close()
