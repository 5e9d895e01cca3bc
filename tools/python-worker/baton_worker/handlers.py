"""Handlers: Python functions a worker runs for jobs that name them with ``"handler"``.

A handler receives a :class:`TaskContext` and returns the attempt's result: ``bytes``, ``str``
(sent as UTF-8), ``None`` (an empty result), or anything ``json.dumps`` can write. Raising an
exception fails the attempt, with the exception named in one line as its error. A *set handler*
takes a claimed set of tasks in one call (``docs/protocol.md``, TASKS' ``set``).

Handlers run on a pool of threads, never on the worker's I/O thread, which owns the sockets.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import queue
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import wire
from .wire import TaskInput, TaskSpec

log = logging.getLogger("baton_worker")

#: A handler: takes a context, returns the result.
Handler = Callable[["TaskContext"], Any]
#: A set handler: takes the contexts of a claimed set, returns one result per context, in order; an
#: ``Exception`` instance in place of a result fails that task alone.
SetHandler = Callable[[List["TaskContext"]], Sequence[Any]]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class HandlerResultError(TypeError):
    """A handler returned something that is not bytes, text or JSON-serialisable."""


def result_bytes(value: Any) -> bytes:
    """The octets of a handler's return value."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise HandlerResultError(f"the handler returned a {type(value).__name__}, which is not bytes, text or "
                                 f"JSON-serialisable ({error})") from None


def describe_exception(error: BaseException) -> str:
    """One line naming the exception: ``ValueError: no rows``. Always valid UTF-8 (a lone surrogate, as
    a file name that is not UTF-8 gives, becomes ``?``), and never raises, even for an exception whose
    ``__str__`` does."""
    try:
        text = str(error).strip()
    except Exception:  # noqa: BLE001 - an exception's own __str__ failed: name it alone
        text = ""
    line = " ".join(text.split()) if text else ""
    name = type(error).__name__
    described = f"{name}: {line}" if line else name
    return described.encode("utf-8", "replace").decode("utf-8")


class OutputFile:
    """An attempt's log file, written by its handler's thread. Created at the first line written:
    most handlers write nothing, and a file per attempt would cost more than the attempt."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = None
        self.written = False
        self.closed = False

    def append(self, text: str) -> None:
        with self._lock:
            if self.closed:
                return
            if self._file is None:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8", errors="replace")
                self.written = True
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self._file is not None:
                self._file.close()
                self._file = None


_cancellation_lock = threading.Lock()


class Cancellation:
    """Set when an attempt is stopped; read by its handler. Lighter than a ``threading.Event`` for
    every attempt: the event a handler waits on is made only when one waits."""

    __slots__ = ("_set", "_event")

    def __init__(self) -> None:
        self._set = False
        self._event: Optional[threading.Event] = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with _cancellation_lock:
            self._set = True
            event = self._event
        if event is not None:
            event.set()

    def wait(self, seconds: Optional[float] = None) -> bool:
        with _cancellation_lock:
            if self._set:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(seconds)


class TaskContext:
    """What a handler knows about the attempt it runs, and how it talks back.

    The task's facts are attributes: ``run``, ``job``, ``attempt``, ``params`` (the run's parameters
    with the job's over them), ``moment`` (the run's job entry moment, a UTC datetime; ``moment_micros``
    the raw number), ``step``, ``steps``, ``step_name``, ``partition``, ``partitions``,
    ``partition_key``, ``product``, ``flow``, ``generation``, ``job_type``, ``timeout`` (seconds, or
    None), ``task`` (its ID in its shard), ``worker`` (this worker's name) and ``spec`` (the whole
    task as the shard sent it).
    """

    def __init__(self, spec: TaskSpec, worker: str, output: OutputFile, cancelled: Cancellation) -> None:
        self.spec = spec
        self.worker = worker
        self._output = output
        self._cancelled = cancelled

    # The task's facts.
    task = property(lambda self: self.spec.task, doc="The task's ID in its shard.")
    attempt = property(lambda self: self.spec.attempt, doc="The attempt number, from 1.")
    run = property(lambda self: self.spec.run, doc="The run's ID.")
    job = property(lambda self: self.spec.job, doc="The job's name.")
    generation = property(lambda self: self.spec.generation, doc="0, or the rerun's number.")
    product = property(lambda self: self.spec.product, doc="The product.")
    flow = property(lambda self: self.spec.flow, doc="The flow.")
    step = property(lambda self: self.spec.step, doc="The step's index, from 0.")
    steps = property(lambda self: self.spec.steps, doc="The number of steps of the job.")
    step_name = property(lambda self: self.spec.step_name, doc="The step's name (the job's, for one step).")
    partition = property(lambda self: self.spec.partition, doc="The partition's index, from 0.")
    partitions = property(lambda self: self.spec.partitions, doc="The number of partitions of the step.")
    partition_key = property(lambda self: self.spec.partition_key, doc="The partition's key, or ''.")
    job_type = property(lambda self: self.spec.type, doc="The job type.")
    params = property(lambda self: self.spec.params, doc="The run's parameters, with the job's over them.")
    moment_micros = property(lambda self: self.spec.moment, doc="The entry moment as Baton gives it: µs.")

    @property
    def moment(self) -> datetime.datetime:
        """The run's job entry moment, a UTC datetime: the view of data every task of the run works against."""
        return _EPOCH + datetime.timedelta(microseconds=self.spec.moment)

    @property
    def timeout(self) -> Optional[float]:
        """The attempt's timeout in seconds, or None."""
        return self.spec.timeout / 1000 if self.spec.timeout else None

    @property
    def inputs(self) -> List[TaskInput]:
        """The results the task receives, in the order the shard gave them: the previous step's of
        this job (for a step after the first), or the upstream jobs' its job names in ``inputs``. Each
        has ``job``, ``step``, ``partition``, ``partition_key`` and ``data`` (bytes; ``.text``, ``.json()``)."""
        return list(self.spec.inputs)

    @property
    def previous(self) -> List[TaskInput]:
        """The previous step's results of this job; empty in a job's first step."""
        if self.spec.step == 0:
            return []
        return [item for item in self.spec.inputs if item.job == self.spec.job and item.step == self.spec.step - 1]

    def input(self, job: str, partition: int = 0) -> Optional[bytes]:
        """The result partition ``partition`` of ``job`` committed, if the task received it."""
        return next((item.data for item in self.spec.inputs if item.job == job and item.partition == partition), None)

    def input_by_key(self, job: str, partition_key: str) -> Optional[bytes]:
        """The result the partition of ``job`` keyed ``partition_key`` committed, if received."""
        return next(
            (item.data for item in self.spec.inputs if item.job == job and item.partition_key == partition_key), None
        )

    # Talking back.
    @property
    def cancelled(self) -> bool:
        """Whether the attempt was stopped (cancelled, timed out, or the worker stopped): a long handler
        should check this and return, since a thread cannot be killed. Its result is then ignored."""
        return self._cancelled.is_set()

    def wait(self, seconds: Optional[float] = None) -> bool:
        """Sleeps up to ``seconds`` (for ever with None), waking early if the attempt is stopped.
        Returns whether it was stopped."""
        return self._cancelled.wait(seconds)

    def log(self, *parts: Any) -> None:
        """Writes a line to the attempt's log, whose last 4 KiB the shard keeps (``baton logs``)."""
        self._output.append(" ".join(str(part) for part in parts) + "\n")

    @property
    def log_path(self) -> str:
        """Where the attempt's log is (it exists once something was logged)."""
        return self._output.path

    def __repr__(self) -> str:
        return (f"<TaskContext run={self.run} job={self.job!r} step={self.step} partition={self.partition} "
                f"attempt={self.attempt}>")


class Registry:
    """Handlers by name. A registry made with a ``parent`` also offers the parent's handlers (its
    own win): every :class:`~baton_worker.Worker` not given a registry of its own offers the handlers
    registered with the module-level :func:`baton_worker.handler`."""

    def __init__(self, parent: Optional["Registry"] = None) -> None:
        self.parent = parent
        self._handlers: Dict[str, Handler] = {}
        self._sets: Dict[str, Tuple[int, SetHandler]] = {}

    def handler(self, name: Optional[str] = None) -> Callable[[Handler], Handler]:
        """A decorator that registers a function as the handler ``name`` (default: its own name)."""

        def register(function: Handler) -> Handler:
            self.register(name or function.__name__, function)
            return function

        if callable(name):  # Used bare: @handler
            function, name = name, None
            return register(function)  # type: ignore[return-value]
        return register

    def set_handler(self, name: Optional[str] = None, *, limit: int) -> Callable[[SetHandler], SetHandler]:
        """A decorator that registers a function to take the handler ``name``'s tasks as claimed sets
        of up to ``limit`` (2 to 1,000) tasks: one call with a list of contexts, returning one result
        per context in order (an exception instance fails that task alone). A set takes one slot."""

        def register(function: SetHandler) -> SetHandler:
            self.register_set(name or function.__name__, limit, function)
            return function

        return register

    def register(self, name: str, function: Handler) -> None:
        """Registers ``function`` as the handler ``name``, replacing any of that name."""
        _check_name(name)
        if not callable(function):
            raise TypeError(f"the handler {name!r} is not callable")
        self._sets.pop(name, None)
        self._handlers[name] = function

    def register_set(self, name: str, limit: int, function: SetHandler) -> None:
        """Registers ``function`` as the set handler ``name`` with sets of at most ``limit`` tasks."""
        _check_name(name)
        if not isinstance(limit, int) or not 2 <= limit <= wire.SET_LIMIT:
            raise ValueError(f"a set holds 2 to {wire.SET_LIMIT} tasks, not {limit!r}")
        self._handlers.pop(name, None)
        self._sets[name] = (limit, function)

    @property
    def names(self) -> List[str]:
        """Every handler's name, sorted."""
        names = set(self._handlers) | set(self._sets)
        if self.parent is not None:
            names |= set(self.parent.names)
        return sorted(names)

    @property
    def set_limits(self) -> Dict[str, int]:
        """The handlers that take sets, with the most tasks in one set."""
        limits = dict(self.parent.set_limits) if self.parent is not None else {}
        for name in self._handlers:
            limits.pop(name, None)
        limits.update({name: limit for name, (limit, _) in self._sets.items()})
        return limits

    def lookup(self, name: str) -> Optional[Handler]:
        """The handler ``name``; a set handler called for one task is a set of one."""
        if name in self._handlers:
            return self._handlers[name]
        if name in self._sets:
            set_function = self._sets[name][1]

            def one(context: TaskContext) -> Any:
                result = run_set(set_function, [context])[0]
                if isinstance(result, BaseException):
                    raise result
                return result

            return one
        return self.parent.lookup(name) if self.parent is not None else None

    def lookup_set(self, name: str) -> Optional[SetHandler]:
        """The set handler ``name``."""
        if name in self._sets:
            return self._sets[name][1]
        if name in self._handlers:
            return None
        return self.parent.lookup_set(name) if self.parent is not None else None

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.names)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not 1 <= len(name.encode("utf-8")) <= 64:
        raise ValueError(f"a handler's name has 1 to 64 octets, not {name!r}")


def run_set(function: SetHandler, contexts: List[TaskContext]) -> List[Any]:
    """Calls a set handler: one result or exception per context. An exception it raises (any, even
    ``KeyboardInterrupt`` or ``SystemExit``: a handler cannot end the worker), or a wrong number of
    results, fails every task."""
    try:
        results = list(function(contexts))
    except BaseException as error:  # noqa: BLE001 - any failure of user code fails the tasks
        return [error] * len(contexts)
    if len(results) != len(contexts):
        error = HandlerResultError(f"the set handler returned {len(results)} results for {len(contexts)} tasks")
        return [error] * len(contexts)
    return results


class HandlerThreads:
    """The threads handlers run on: one per attempt running, made when none is idle and kept for the
    next attempts. Not a fixed-size pool: a handler abandoned at its timeout keeps its thread until it
    returns, and the next attempt must not wait behind it.

    Work goes through one queue (``queue.SimpleQueue``, whose ``get`` blocks in C); each piece of work
    is matched, when it is put, with an idle thread or a new one, so that every piece has a taker."""

    def __init__(self, name: str = "baton-handler") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._queue: "queue.SimpleQueue[Optional[Callable[[], None]]]" = queue.SimpleQueue()
        self._idle = 0
        self._count = 0
        self._stopping = False

    def run(self, body: Callable[[], None]) -> None:
        """Runs ``body`` on an idle thread, or on a new one if none is idle."""
        with self._lock:
            spawn = self._idle == 0
            if spawn:
                self._count += 1
                number = self._count
            else:
                self._idle -= 1
        self._queue.put(body)
        if spawn:
            threading.Thread(target=self._loop, name=f"{self._name}-{number}", daemon=True).start()

    def stop(self) -> None:
        """Ends every idle thread now, and each busy one when its work returns."""
        with self._lock:
            self._stopping = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._queue.put(None)

    def _loop(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            try:
                body()
            except BaseException:  # noqa: BLE001 - a body reports its own end; this thread must live on
                log.exception("a handler thread's work raised")
            with self._lock:
                if self._stopping:
                    return
                self._idle += 1
