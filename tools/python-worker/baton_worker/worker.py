"""The worker runtime: one I/O thread that owns every ZeroMQ socket, around a :class:`WorkerCore`.

Each turn of the loop, after beanstalkd's and Baton's own: wait on the sockets and the doorbell until
the core's next deadline; feed what arrived to the core (messages, attempts that ended, the time);
carry out the effects it returns (send, start, signal, reopen). Handlers run on threads and commands
in child processes; each reports its end through a queue and rings the doorbell (a pipe the loop
polls), so that no socket is ever touched by a second thread.
"""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import socket as socketlib
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import zmq
from zmq.utils.monitor import parse_monitor_message

from . import core as corelib
from . import wire
from .attempts import Attempts, Doorbell
from .core import Configuration, WorkerCore
from .handlers import Registry, describe_exception
from .keys import Curve, KeyFileError, describe, read_key_pair, read_public_key
from .links import HANDSHAKE_FAILURES, LinkSocket

log = logging.getLogger("baton_worker")

#: The handlers registered with the module-level :func:`handler` and :func:`set_handler` decorators.
default_registry = Registry()

#: tcp://HOST:PORT, where HOST is a name, an IPv4 address or a bracketed IPv6 one (never ``*``, which
#: only binding understands), or ipc://PATH, inproc://NAME.
_ENDPOINT = re.compile(r"^(tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?):(\d{1,5})"
                       r"|ipc://\S+|inproc://\S+)$")
#: Messages read from one socket in one turn, so that one busy shard cannot starve the others.
_READ_BUDGET = 1000
#: How long a stopping worker lets its DISCONNECT go out before closing a socket, ms.
_GOODBYE_LINGER = 1000
#: HANDSHAKE_FAILED_NO_DETAIL events in a row, with no handshake succeeding in between, after which a
#: link is refused. libzmq reports a connection reset or a timeout during a handshake this
#: way too (a shard restarting), so one alone means nothing; a shard that cannot decrypt the worker's
#: HELLO (a wrong server key) closes every connection this way, every time.
NO_DETAIL_LIMIT = 5


def _draw_session() -> int:
    return random.SystemRandom().randrange(1, 1 << 64)


#: The session of this process: drawn when its first worker runs, and again in a forked child (a new
#: session tells a shard the worker process restarted); every READY of the process carries it.
_session: Optional[int] = None
_session_lock = threading.Lock()


def process_session() -> int:
    """The session of this process, drawn at the first call in it."""
    global _session
    with _session_lock:
        if _session is None:
            _session = _draw_session()
        return _session


def _forget_session() -> None:
    """In a forked child: the next worker to run draws the child's own session."""
    global _session, _session_lock
    _session = None
    _session_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_session)


def default_name() -> str:
    """``HOST/python/PID``: a worker's name when it is given none."""
    return f"{socketlib.gethostname()}/python/{os.getpid()}"


class ConfigurationError(ValueError):
    """A worker set up wrong: a bad endpoint, a missing key file, an impossible setting."""


class WorkerError(RuntimeError):
    """The worker stopped because it could not go on: every shard refused its key or its protocol version."""


def handler(name: Optional[str] = None) -> Callable:
    """Registers a handler with the module-level registry, which every :class:`Worker` not given a
    registry of its own offers (and ``python -m baton_worker --module M`` runs)."""
    return default_registry.handler(name)


def set_handler(name: Optional[str] = None, *, limit: int) -> Callable:
    """Registers a set handler (tasks taken as claimed sets of up to ``limit``) with the module-level registry."""
    return default_registry.set_handler(name, limit=limit)


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` if it is one a DEALER can connect to; otherwise a :class:`ConfigurationError` naming it."""
    match = _ENDPOINT.match(endpoint) if isinstance(endpoint, str) else None
    if match is None or (match.group(3) is not None and not 1 <= int(match.group(3)) <= 65535):
        hint = ""
        if isinstance(endpoint, str) and endpoint.startswith("tcp://*"):
            hint = " (a worker connects to a shard: HOST is its host name or address, never *)"
        raise ConfigurationError(
            f"bad endpoint {endpoint!r}{hint}: a shard's work endpoint is tcp://HOST:PORT (PORT 1-65535) or "
            f"ipc://PATH, as the cluster file's shards[].work or baton dev's \"shard N work:\" line gives it")
    return endpoint


class Worker:
    """A Baton worker: connects to each shard's ``work`` endpoint, runs the tasks the shards lease it
    (handlers on threads, commands as child processes) and reports their results.

    :param name: the worker's logical name, stable across reconnections (``host/pool/n``); by
        default ``HOST/python/PID``, with the PID of the process that runs it.
    :param endpoints: each shard's ``work`` endpoint (``tcp://HOST:PORT``); one DEALER each.
    :param slots: how many tasks it runs at once, across all its shards.
    :param tags: capability tags (in a cluster with keys, only its pool's count).
    :param commands: whether it runs commands (``run`` jobs), and command batches.
    :param heartbeat: the heartbeat interval it asks for, ms (the shard clamps it to 100-60,000).
    :param data: the folder for attempts' logs (``DATA/logs/RUN/JOB.ATTEMPT.log``) and commands'
        scratch folders; ``./.baton-worker`` by default.
    :param key_file: the pool's secret key file (``KEYS/pool-NAME.secret``), for a cluster with keys.
    :param server_key_file: the shard's public key file (``KEYS/shard-N.key``), or with several
        endpoints a list of them, one per endpoint in the same order (each shard has its own key).
    :param drain: how long a stopping worker lets running attempts finish, seconds.
    :param handlers: the handlers it offers; by default its own, plus those registered with the
        module-level :func:`handler`.
    :param environment: variables for commands, over the worker's own environment.

    Settings and key files are checked here: anything wrong raises :class:`ConfigurationError`. The
    session (which every READY carries) is the process's, drawn when its first worker runs, so that a
    ``Worker`` made before a ``fork`` and run in the child uses the child's.
    """

    def __init__(
        self,
        name: Optional[str] = None,
        endpoints: Union[str, Sequence[str]] = (),
        slots: int = 4,
        *,
        tags: Iterable[str] = (),
        commands: bool = True,
        heartbeat: int = corelib.DEFAULT_HEARTBEAT,
        data: Optional[str] = None,
        key_file: Optional[str] = None,
        server_key_file: Union[None, str, Sequence[str]] = None,
        drain: float = 30.0,
        handlers: Optional[Registry] = None,
        environment: Optional[Dict[str, str]] = None,
    ) -> None:
        self._default_name = name is None
        self.name = name if name is not None else default_name()
        self.endpoints = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        self.slots = slots
        self.tags = sorted({tags} if isinstance(tags, str) else set(tags))
        self.commands = bool(commands)
        self.heartbeat = heartbeat
        self.data = os.path.abspath(data if data is not None else ".baton-worker")
        self.drain = drain
        self.handlers = handlers if handlers is not None else Registry(parent=default_registry)
        self.environment = dict(environment or {})
        self._check_settings()
        self._curves = self._read_keys(key_file, server_key_file)
        #: Drawn when run() starts: see process_session().
        self._session: Optional[int] = None
        self._stop_requested = threading.Event()
        self._stop_drain: Optional[float] = None
        self._registered = threading.Event()
        self._doorbell: Optional[Doorbell] = None
        self._lock = threading.Lock()
        self._ran = False
        self._fatal: Optional[str] = None
        self._thread: Optional[threading.Thread] = None
        self._thread_error: Optional[BaseException] = None
        #: The signals received, appended by the signal handler; the loop acts on them.
        self._signals: List[int] = []
        self._signals_taken = 0
        #: Messages dropped as malformed, so far.
        self.malformed = 0

    # ------------------------------------------------------------------------------- public API

    @property
    def session(self) -> int:
        """The session every READY of this worker carries: its process's, drawn when the process's first
        worker runs (and again in a forked child); before this one runs, the process's now."""
        return self._session if self._session is not None else process_session()

    def handler(self, name: Optional[str] = None) -> Callable:
        """A decorator that registers a handler: ``@worker.handler("load-ledger")``."""
        return self.handlers.handler(name)

    def set_handler(self, name: Optional[str] = None, *, limit: int) -> Callable:
        """A decorator that registers a set handler, taking up to ``limit`` tasks in one call."""
        return self.handlers.set_handler(name, limit=limit)

    def run(self, install_signal_handlers: bool = True) -> None:
        """Runs the worker until it is stopped (SIGTERM, SIGINT, or :meth:`stop`), then returns.

        A first SIGTERM or SIGINT stops it gracefully: it asks for no more work, lets running attempts
        finish for up to ``drain`` seconds and waits for their results to be confirmed, then tells each
        shard it is stopping. A second one stops it at once. Signal handlers are installed only when
        this runs on the main thread. A shard that refuses the worker (its key, its protocol version) is
        given up alone; raises :class:`WorkerError` if it stopped because every shard did. The session
        is drawn here, once per process (see :func:`process_session`).
        """
        with self._lock:
            if self._ran:
                raise RuntimeError("a Worker runs once; make another to run again")
            if self._default_name:
                self.name = default_name()  # This process's PID, even in a child forked after __init__.
            configuration = self._configuration()
            self._ran = True
            self._session = process_session()
            self._doorbell = Doorbell()
        if self._stop_requested.is_set():
            self._doorbell.ring()
        previous = self._install_signal_handlers() if install_signal_handlers else {}
        try:
            self._loop(configuration)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self._doorbell.close()
        if self._fatal:
            raise WorkerError(self._fatal)

    def start(self) -> "Worker":
        """Runs the worker on a thread of its own; :meth:`stop` and :meth:`join` end it."""

        def body() -> None:
            try:
                self.run(install_signal_handlers=False)
            except BaseException as error:  # noqa: BLE001 - handed to join()
                self._thread_error = error

        self._thread = threading.Thread(target=body, name=f"baton-worker {self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, drain: Optional[float] = None) -> None:
        """Asks the worker to stop gracefully, from any thread: no more work, running attempts get up to
        ``drain`` seconds (the worker's ``drain`` by default), then what still runs is killed."""
        if drain is not None:
            self._stop_drain = drain if self._stop_drain is None else min(self._stop_drain, drain)
        self._stop_requested.set()
        if self._doorbell is not None:
            self._doorbell.ring()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Waits for a worker :meth:`start` ran to end; True if it did. Raises what :meth:`run` raised."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        if self._thread_error is not None:
            raise self._thread_error
        return True

    def wait_registered(self, timeout: Optional[float] = None) -> bool:
        """Waits until every shard has welcomed the worker once; True if they did within ``timeout`` (a
        shard that refused the worker never does)."""
        return self._registered.wait(timeout)

    # ---------------------------------------------------------------------------- configuration

    def _check_settings(self) -> None:
        if not isinstance(self.name, str) or not 1 <= len(self.name.encode("utf-8")) <= 255:
            raise ConfigurationError(f"bad worker name {self.name!r}: 1 to 255 octets of UTF-8")
        if not self.endpoints:
            raise ConfigurationError("no endpoint: give each shard's work endpoint (tcp://HOST:PORT)")
        for endpoint in self.endpoints:
            check_endpoint(endpoint)
        if len(set(self.endpoints)) != len(self.endpoints):
            raise ConfigurationError("an endpoint is given twice: a worker connects once to each shard")
        if not isinstance(self.slots, int) or not 1 <= self.slots <= 1_000_000:
            raise ConfigurationError(f"bad slots {self.slots!r}: a whole number from 1 to 1,000,000")
        if not isinstance(self.heartbeat, int) or not 100 <= self.heartbeat <= 60_000:
            raise ConfigurationError(f"bad heartbeat {self.heartbeat!r}: milliseconds from 100 to 60,000")
        for tag in self.tags:
            if not 1 <= len(tag.encode("utf-8")) <= wire.CAPABILITY_NAME_LIMIT:
                raise ConfigurationError(f"bad tag {tag!r}: 1 to 255 octets")
        if len(self.tags) > wire.CAPABILITIES_LIMIT:
            raise ConfigurationError(f"{len(self.tags)} tags: a worker offers at most {wire.CAPABILITIES_LIMIT}")
        if not isinstance(self.drain, (int, float)) or self.drain < 0:
            raise ConfigurationError(f"bad drain {self.drain!r}: seconds, 0 or more")
        for variable, value in self.environment.items():
            if not isinstance(variable, str) or not variable or "=" in variable or "\0" in variable:
                raise ConfigurationError(f"bad environment variable name {variable!r}: not empty, without \"=\" "
                                         "or a NUL octet")
            if not isinstance(value, str) or "\0" in value:
                raise ConfigurationError(f"bad value of the environment variable {variable}: text without a NUL "
                                         "octet")

    def _read_keys(self, key_file: Optional[str],
                   server_key_file: Union[None, str, Sequence[str]]) -> List[Optional[Curve]]:
        server_files = [server_key_file] if isinstance(server_key_file, str) else list(server_key_file or [])
        count = len(self.endpoints)
        if key_file is None and not server_files:
            return [None] * count
        if key_file is None:
            raise ConfigurationError("a server key file without a key file: give the pool's secret key file "
                                     "(KEYS/pool-NAME.secret) too")
        if not server_files:
            raise ConfigurationError("a key file without a server key file: give each shard's public key file "
                                     "(KEYS/shard-N.key) too")
        if len(server_files) != count:
            raise ConfigurationError(f"{len(server_files)} server key files for {count} endpoints: each shard has "
                                     "its own key; give one server key file per endpoint, in the same order")
        try:
            pair = read_key_pair(key_file)
            return [Curve(pair, read_public_key(path), path) for path in server_files]
        except KeyFileError as error:
            raise ConfigurationError(str(error)) from None

    def _configuration(self) -> Configuration:
        names = self.handlers.names
        if not names and not self.commands:
            raise ConfigurationError("the worker offers nothing: no handler is registered and commands are off")
        if len(names) > wire.CAPABILITIES_LIMIT:
            raise ConfigurationError(f"{len(names)} handlers: a worker offers at most {wire.CAPABILITIES_LIMIT}")
        return Configuration(
            name=self.name, slots=self.slots, shards=len(self.endpoints), heartbeat=self.heartbeat,
            tags=tuple(self.tags), handlers=tuple(names), commands=self.commands, sets=self.handlers.set_limits,
        )

    def _install_signal_handlers(self) -> Dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(number: int, frame: Any) -> None:
            # Runs on the main thread between two bytecodes, perhaps inside a lock that thread holds
            # (the doorbell's, logging's): so it takes none. It notes the signal and wakes the loop,
            # which logs and stops (_take_signals).
            self._signals.append(number)
            doorbell = self._doorbell
            if doorbell is not None:
                doorbell.wake()

        return {number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)}

    def _take_signals(self) -> None:
        """Acts on the signals received since the last turn: the first stops gracefully, a second at once."""
        while self._signals_taken < len(self._signals):
            number = self._signals[self._signals_taken]
            self._signals_taken += 1
            later = self._signals_taken > 1
            log.info("%s: stopping%s", signal.Signals(number).name,
                     " now" if later else f" (running attempts get up to {self.drain:g}s)")
            self.stop(0 if later else None)

    # ---------------------------------------------------------------------------------- the loop

    def _loop(self, configuration: Configuration) -> None:
        logs = os.path.join(self.data, "logs")
        try:
            os.makedirs(logs, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(f"cannot create the data folder {logs}: {error.strerror}") from None
        environment = dict(os.environ)
        environment.update(self.environment)
        self._attempts = Attempts(self.name, self.handlers, logs, environment, socketlib.gethostname(),
                                  self._doorbell)
        context = zmq.Context()
        self._links = []
        try:
            for endpoint, curve in zip(self.endpoints, self._curves):
                self._links.append(LinkSocket(context, endpoint, curve))
        except zmq.ZMQError as error:
            for link in self._links:
                link.close()
            context.term()
            raise ConfigurationError(f"cannot connect to the endpoint {endpoint}: {error}") from None
        self._poller: Optional[zmq.Poller] = None
        now = self._now()
        self._core = WorkerCore(configuration, self._session, now, wall_offset=time.time() * 1000 - now)
        self._debug = log.isEnabledFor(logging.DEBUG)
        log.info("worker %s started: session %d, %d slots, handlers [%s]%s, shards %s", self.name, self._session,
                 self.slots, ", ".join(configuration.handlers), ", commands" if self.commands else "",
                 ", ".join(f"{link.endpoint} ({describe(link.curve)})" for link in self._links))
        said_goodbye = False
        try:
            self._core.start(now)
            self._carry(self._core.finish_turn(now))
            self._turns()
            said_goodbye = True
            self._goodbye()
        finally:
            if not said_goodbye:
                # The loop failed: what runs must not outlive the worker, and the shards should take
                # back its leases now rather than when it has been silent for long enough.
                log.error("worker %s stopping after an error in its loop", self.name)
                try:
                    self._goodbye()
                except BaseException:  # noqa: BLE001 - best effort; the loop's error is what run() raises
                    log.exception("could not stop the attempts and tell the shards")
            for link in self._links:
                link.close()
            context.term()
            self._attempts.threads.stop()

    @staticmethod
    def _now() -> float:
        return time.monotonic() * 1000

    def _turns(self) -> None:
        """The loop: wait for a message, an ending or a deadline; feed the core; carry out its effects.
        Returns once a stopping worker is idle or its drain time is over."""
        core = self._core
        drain_deadline: Optional[float] = None
        while True:
            self._take_signals()
            now = self._now()
            if self._stop_requested.is_set():
                drain_deadline = self._draining(now, drain_deadline)
                if core.is_idle or now >= drain_deadline:
                    return
            deadline = min(core.next_deadline(), self._attempts.next_deadline())
            if drain_deadline is not None:
                deadline = min(deadline, drain_deadline)
            timeout = 1000 if deadline == corelib.NEVER else max(0, min(1000, int(deadline - now) + 1))
            if self._poller is None:
                self._poller = self._make_poller()
            events = dict(self._poller.poll(timeout))
            now = self._now()
            for index, link in enumerate(self._links):
                if link.monitor is not None and link.monitor in events:
                    self._read_monitor(index, link)
                if link.socket is not None and link.socket in events:
                    self._read(index, link, now)
            if self._doorbell.read_fd in events:
                self._doorbell.answer()
            self._attempts.hand_over(core, now)
            self._attempts.kill_orphans(now)
            core.tick(now)
            self._carry(core.finish_turn(now))

    def _draining(self, now: float, deadline: Optional[float]) -> float:
        """Starts the drain at the first stop asked for; the drain's deadline, shortened by a later one."""
        drain = self.drain if self._stop_drain is None else min(self.drain, self._stop_drain)
        if deadline is None:
            log.info("draining: %d attempts running, %d results unconfirmed", len(self._core.running),
                     len(self._core.unreceipted))
            self._core.drain(now)
            self._carry(self._core.finish_turn(now))
            deadline = now + drain * 1000
        return min(deadline, now + drain * 1000)

    def _make_poller(self) -> zmq.Poller:
        # Made again whenever a link's socket is replaced or closed (``_poller`` set to None).
        poller = zmq.Poller()
        for link in self._links:
            if link.socket is not None:
                poller.register(link.socket, zmq.POLLIN)
                poller.register(link.monitor, zmq.POLLIN)
        poller.register(self._doorbell.read_fd, zmq.POLLIN)
        return poller

    def _read(self, index: int, link: LinkSocket, now: float) -> None:
        for _ in range(_READ_BUDGET):
            try:
                frame = link.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if link.socket.getsockopt(zmq.RCVMORE):
                while link.socket.getsockopt(zmq.RCVMORE):
                    link.socket.recv()
                self._malformed(link, "a message of several frames")
                continue
            try:
                message = wire.decode(frame)
            except wire.Malformed as error:
                self._malformed(link, str(error))
                continue
            if self._debug:
                log.debug("%s <- %s", link.endpoint, wire.summary(message))
            if type(message) is wire.Disconnect:
                level = logging.INFO if message.status == wire.Status.UNKNOWN_PEER else logging.WARNING
                log.log(level, "the shard at %s sent DISCONNECT %d: %s", link.endpoint, message.status,
                        message.reason)
            try:
                self._core.received(message, index, now)
            except Exception:  # noqa: BLE001 - one message must not stop the worker
                log.exception("could not handle %s from %s", wire.name_of(message), link.endpoint)

    def _malformed(self, link: LinkSocket, why: str) -> None:
        self.malformed += 1
        log.warning("dropped a malformed message from %s: %s (%d so far)", link.endpoint, why, self.malformed)

    def _read_monitor(self, index: int, link: LinkSocket) -> None:
        while link.monitor is not None:
            try:
                frames = link.monitor.recv_multipart(zmq.NOBLOCK)
                event = parse_monitor_message(frames)["event"]
            except zmq.Again:
                return
            except (zmq.ZMQError, ValueError, KeyError, IndexError) as error:
                log.warning("dropped a monitor event of %s that could not be read: %s", link.endpoint, error)
                continue
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                log.debug("handshake with %s succeeded", link.endpoint)
                link.handshake_failures = 0
            elif event in HANDSHAKE_FAILURES and self._core.links[index].state != corelib.REFUSED:
                failure = HANDSHAKE_FAILURES[event]
                if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                    # Also a connection reset or a timeout mid-handshake (a shard restarting): libzmq
                    # retries, and so does the worker. Only when it happens every time is it a refusal: a
                    # shard closing the connection on a HELLO it cannot decrypt, or on a worker without a
                    # key (whose PROTOCOL error a reset can beat).
                    link.handshake_failures += 1
                    if link.handshake_failures < NO_DETAIL_LIMIT:
                        log.debug("handshake with %s failed (%s, %d in a row); libzmq retries", link.endpoint,
                                  failure, link.handshake_failures)
                        continue
                self._handshake_failed(index, link, failure)

    def _handshake_failed(self, index: int, link: LinkSocket, failure: str) -> None:
        """libzmq would retry for ever: stop using that shard, and say which key was used. The worker
        stops only when no shard is left."""
        if link.curve is None:
            hint = ("the shard requires CURVE: give the pool's secret key file (KEYS/pool-NAME.secret) and the "
                    "shard's public key file (KEYS/shard-N.key)")
        elif failure == "HANDSHAKE_FAILED_AUTH":
            hint = ("the shard does not accept this key: it is not the key of a pool that serves this shard, or it "
                    "was removed from the cluster")
        elif failure == "HANDSHAKE_FAILED_PROTOCOL":
            hint = ("the shard does not speak CURVE (it runs without keys: give no key files), or it does not "
                    "speak ZeroMQ's protocol")
        else:
            hint = (f"the shard closed the connection during {link.handshake_failures} handshakes in a row, as a "
                    "shard does when it cannot decrypt the worker's HELLO: the server key is not this shard's "
                    "(KEYS/shard-N.key)")
        message = (f"the shard at {link.endpoint} refused the handshake ({failure}) of worker {self.name!r}, which "
                   f"used {describe(link.curve)}: {hint}")
        self._core.refuse(index, message, self._now())
        link.close()
        self._poller = None
        if self._core.all_refused:
            log.error("%s; stopping, as no shard is left", message)
            self._fatal = self._fatal or message
            self.stop()
        else:
            log.error("%s; this worker no longer uses that shard, and goes on with the others", message)

    # ---------------------------------------------------------------------------------- effects

    def _carry(self, effects: List[Any]) -> None:
        """Carries out the core's effects, in order. One that fails is logged, and fails its attempts if
        it started any: it must not stop the loop, which serves every other task."""
        for effect in effects:
            try:
                self._carry_one(effect)
            except Exception as error:  # noqa: BLE001 - see above
                log.exception("could not carry out %s", type(effect).__name__)
                self._effect_failed(effect, error)

    def _effect_failed(self, effect: Any, error: Exception) -> None:
        why = f"the worker could not start it: {describe_exception(error)}"
        try:
            if type(effect) is corelib.Start:
                self._attempts.fail([effect.id], [effect.spec], why)
            elif type(effect) is corelib.StartSet:
                self._attempts.fail(effect.ids, effect.specs, why)
            elif type(effect) is corelib.Reconnect:
                self._poller = None  # The link's socket may be closed, or half open: the poller is made again.
        except Exception:  # noqa: BLE001
            log.exception("could not report the failure of %s", type(effect).__name__)

    def _carry_one(self, effect: Any) -> None:
        """Carries out one effect."""
        kind = type(effect)
        if kind is corelib.Send:
            self._send(effect)
        elif kind is corelib.Start:
            self._attempts.start(effect.id, effect.spec, self._core.result_limit(effect.id.link))
        elif kind is corelib.StartSet:
            self._attempts.start_set(effect, self._core.result_limit(effect.link))
        elif kind is corelib.Signal:
            self._attempts.signal(effect.id, effect.kill)
        elif kind is corelib.Abandon:
            self._attempts.abandon(effect.id)
        elif kind is corelib.Reconnect:
            self._reconnect(self._links[effect.link])
        elif kind is corelib.Welcomed:
            self._welcomed(effect)
        elif kind is corelib.Forbidden:
            log.warning("the shard at %s refused worker %r (its name is another key's there, or its key was "
                        "removed): %s; trying again later", self._links[effect.link].endpoint, self.name,
                        effect.reason)
        elif kind is corelib.TurnedAway:
            log.warning("the shard at %s turned worker %r away (%d: %s); trying again later",
                        self._links[effect.link].endpoint, self.name, effect.status, effect.reason)
        elif kind is corelib.Refused:
            self._refused(effect)

    def _send(self, effect: corelib.Send) -> None:
        link = self._links[effect.link]
        if self._debug:
            log.debug("%s -> %s", link.endpoint, wire.summary(effect.message))
        if link.socket is not None and not link.send(wire.encode(effect.message)):
            # Not connected now: a result is kept until receipted and sent again after WELCOME, a
            # HEARTBEAT or PULL is simply sent again later.
            log.debug("%s not sent to %s: not connected", wire.name_of(effect.message), link.endpoint)

    def _reconnect(self, link: LinkSocket) -> None:
        log.info("reconnecting to %s on a new socket", link.endpoint)
        link.close()
        link.open()
        self._poller = None

    def _welcomed(self, effect: corelib.Welcomed) -> None:
        link = self._links[effect.link]
        welcome = effect.welcome
        log.info("shard %d (epoch %d) at %s welcomed worker %s: heartbeat %d ms, liveness %d, result limit %d",
                 welcome.shard, welcome.epoch, link.endpoint, self.name, welcome.heartbeat, welcome.liveness,
                 welcome.result_limit)
        link.welcomed_once = True
        if all(link.welcomed_once for link in self._links):
            self._registered.set()

    def _refused(self, effect: corelib.Refused) -> None:
        link = self._links[effect.link]
        log.error("the shard at %s refused this worker for good: %s", link.endpoint, effect.reason)
        if self._core.all_refused:
            self._fatal = self._fatal or f"the shard at {link.endpoint} refused this worker: {effect.reason}"
            self.stop()

    # --------------------------------------------------------------------------------- stopping

    def _goodbye(self) -> None:
        """Kills what still runs (SIGKILL to commands, handlers told they are cancelled), then tells each
        shard with DISCONNECT 503, on which it takes this worker's leases back at once, to run elsewhere.
        Each step is best effort: one that fails does not keep the others from being done."""
        abandoned = 0
        try:
            abandoned = self._attempts.kill_all()
        except Exception:  # noqa: BLE001
            log.exception("could not kill the attempts still running")
        goodbye = wire.encode(wire.Disconnect(wire.Status.UNAVAILABLE, "worker stopping"))
        for index, link in enumerate(self._links):
            try:
                if link.socket is not None and self._core.links[index].state != corelib.REFUSED:
                    link.send(goodbye)
                    link.close(linger=_GOODBYE_LINGER)
            except Exception:  # noqa: BLE001
                log.exception("could not tell the shard at %s that this worker stops", link.endpoint)
        log.info("worker %s stopped: %d attempts abandoned, %d results unconfirmed", self.name, abandoned,
                 len(self._core.unreceipted))
