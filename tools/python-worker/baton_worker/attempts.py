"""The attempts a worker runs, away from its I/O thread: handlers on threads, commands as child
processes, each waited for by a thread of its own. Each reports its end through a queue and rings the
doorbell, a pipe the I/O thread polls; only the I/O thread hands endings to the core."""

from __future__ import annotations

import collections
import logging
import os
import threading
from typing import Callable, Deque, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import commands as cmd
from . import core as corelib
from . import wire
from .core import AttemptId, WorkerCore
from .handlers import (Cancellation, HandlerThreads, OutputFile, Registry, TaskContext, describe_exception,
                       result_bytes, run_set)
from .wire import Outcome, TaskSpec

_log = logging.getLogger("baton_worker")

#: What an attempt reports if its handler or reaper could not say how it ended (it must report something,
#: or its slot would be held for ever).
_UNREPORTED = cmd.Ending(Outcome.FAILED, 0, "the worker could not tell how the attempt ended", b"")


def _start_error(error: BaseException) -> str:
    """Why a command could not start, for ``error``."""
    if isinstance(error, cmd.CommandError):
        return str(error)
    if isinstance(error, OSError):
        return f"cannot start the command: {error.strerror or error}"
    return f"cannot start the command: {describe_exception(error)}"


class Doorbell:
    """Wakes the I/O thread from any thread: a byte on a pipe the loop polls. Rung once until the loop
    answers, so a burst of endings costs one write. Once closed, a ring does nothing: a handler that
    returns late, or a ``stop()`` after the worker ended, must not write into a descriptor the process
    has since given to something else.

    Not for a signal handler, which may interrupt a thread holding the lock: see :meth:`wake`."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self._lock = threading.Lock()
        self._rung = False
        self.closed = False

    def ring(self) -> None:
        """Wakes the loop, from any thread."""
        with self._lock:
            if self._rung or self.closed:
                return
            self._rung = True
            # Written under the lock, so that close() cannot come between the check and the write.
            try:
                os.write(self.write_fd, b"!")
            except OSError:
                pass  # The pipe is full: the loop is awake.

    def wake(self) -> None:
        """Wakes the loop without the lock: for a signal handler, which runs on the main thread between
        two of its bytecodes, perhaps while that thread holds the lock. A closed doorbell is not written
        (the flag is set before the descriptors close, and a worker's signal handlers are removed
        before it closes its doorbell)."""
        if self.closed:
            return
        try:
            os.write(self.write_fd, b"!")
        except OSError:
            pass

    def answer(self) -> None:
        """Called by the loop before it takes what the ringers left: a later ring wakes it again.

        The pipe is emptied before the flag is cleared, never after: a byte written after the flag was
        cleared must stay in the pipe, or its ringer's report would wait for the loop's next timeout."""
        try:
            while os.read(self.read_fd, 4096):
                pass
        except OSError:
            pass
        with self._lock:
            self._rung = False

    def close(self) -> None:
        """Closes the pipe; every later ring does nothing."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            for descriptor in (self.read_fd, self.write_fd):
                try:
                    os.close(descriptor)
                except OSError:
                    pass


class _Attempt:
    """An attempt in progress, as the runtime knows it. The attempts of a command batch share one process."""

    __slots__ = ("spec", "log", "process", "cancelled", "output")

    def __init__(self, spec: TaskSpec, log: str, process=None, cancelled: Optional[Cancellation] = None,
                 output: Optional[OutputFile] = None) -> None:
        self.spec = spec
        self.log = log
        self.process = process
        self.cancelled = cancelled
        self.output = output


class _Report(NamedTuple):
    """Attempts that ended, told from a thread: each with how it ended, and their output's tail and log."""

    endings: Sequence[Tuple[AttemptId, cmd.Ending]]
    output: str
    log: str


class Attempts:
    """Starts, signals and abandons attempts as the core's effects say, and hands their endings back.

    Every method but :meth:`_report` runs on the I/O thread."""

    def __init__(self, worker: str, handlers: Registry, logs: str, environment: Dict[str, str], host: str,
                 doorbell: Doorbell) -> None:
        self.worker = worker
        self.handlers = handlers
        self.logs = logs
        self.environment = environment
        self.host = host
        self.doorbell = doorbell
        self.running: Dict[AttemptId, _Attempt] = {}
        self.threads = HandlerThreads()
        self._reports: Deque[_Report] = collections.deque()
        #: Process groups of stopped commands whose leader has exited: SIGKILL when their grace ends.
        self._orphans: List[Tuple[float, int]] = []
        self._runs_made: Dict[int, None] = {}

    # ------------------------------------------------------------------------------ starting

    def start(self, id: AttemptId, spec: TaskSpec, result_limit: int) -> None:
        """Starts one attempt (the core's ``Start``): a command as a child process, or a handler on a
        handler thread. Its end is reported later, through :meth:`hand_over`; one that cannot start is
        reported failed, saying why."""
        path = cmd.log_path(spec, self.logs)
        if spec.kind == wire.Kind.COMMAND:
            self._start_command(id, spec, path, result_limit)
        else:
            self._start_handler(id, spec, path)

    def start_set(self, effect: corelib.StartSet, result_limit: int) -> None:
        """Starts a claimed set's tasks together (the core's ``StartSet``): one call of their set handler,
        or one process for a command batch. Each task's end is reported on its own."""
        if effect.specs[0].kind == wire.Kind.COMMAND:
            self._start_batch(effect, result_limit)
        else:
            self._start_handler_set(effect)

    def fail(self, ids: Sequence[AttemptId], specs: Sequence[TaskSpec], error: str) -> None:
        """Reports attempts failed with ``error``, running or not: for an effect that could not be carried
        out (see ``Worker._carry``). A handler still running is told it was stopped."""
        endings = []
        for id, spec in zip(ids, specs):
            attempt = self.running.get(id)
            if attempt is None:
                self.running[id] = _Attempt(spec, "")
            elif attempt.cancelled is not None:
                attempt.cancelled.set()
            endings.append((id, cmd.Ending(Outcome.FAILED, 0, error, b"")))
        self._report(endings, "", "")

    def _start_handler(self, id: AttemptId, spec: TaskSpec, path: str) -> None:
        function = self.handlers.lookup(spec.action)
        output, cancelled = OutputFile(path), Cancellation()
        self.running[id] = _Attempt(spec, path, None, cancelled, output)
        if function is None:
            # Unregistered since READY: a registry changed while the worker ran.
            rejected = cmd.Ending(Outcome.REJECTED, 0, f'no handler "{spec.action}" in this worker', b"")
            self._report([(id, rejected)], "", "")
            return
        context = TaskContext(spec, self.worker, output, cancelled)
        self.threads.run(lambda: self._call(id, function, context))

    def _call(self, id: AttemptId, function: Callable, context: TaskContext) -> None:
        """Runs a handler, on a handler thread, and reports how it ended: whatever happens, it reports,
        or the attempt would hold its slot for ever. Any exception fails the attempt, even
        ``KeyboardInterrupt`` or ``SystemExit``, which end the handler, not the worker."""
        ending = _UNREPORTED
        try:
            ending = cmd.Ending(Outcome.SUCCEEDED, 0, "", result_bytes(function(context)))
        except BaseException as error:  # noqa: BLE001 - user code: any exception fails the attempt
            ending = self._failed(context, error)
        finally:
            self._report([(id, ending)], *self._handler_output(context))

    @staticmethod
    def _failed(context: TaskContext, error: BaseException) -> cmd.Ending:
        """The ending of a handler that raised; never raises itself (its log may not be writable)."""
        described = describe_exception(error)
        try:
            context.log(f"error: {described}")
        except Exception:  # noqa: BLE001 - the log is a courtesy; the report is what matters
            pass
        return cmd.Ending(Outcome.FAILED, 0, described, b"")

    @staticmethod
    def _handler_output(context: TaskContext) -> Tuple[str, str]:
        # A handler that wrote nothing has no log file: nothing to read, and nowhere to point.
        output = context._output
        if not output.written:
            return "", ""
        return cmd.output_tail(output.path) or "", output.path

    def _start_handler_set(self, effect: corelib.StartSet) -> None:
        """One call of the set handler, on one thread, with a context per task; each task ends with its
        own result."""
        name = effect.specs[0].action
        function = self.handlers.lookup_set(name)
        contexts = []
        for id, spec in zip(effect.ids, effect.specs):
            path = cmd.log_path(spec, self.logs)
            output, cancelled = OutputFile(path), Cancellation()
            self.running[id] = _Attempt(spec, path, None, cancelled, output)
            contexts.append(TaskContext(spec, self.worker, output, cancelled))
        if function is None:
            rejected = cmd.Ending(Outcome.REJECTED, 0, f'no set handler "{name}" in this worker', b"")
            self._report([(id, rejected) for id in effect.ids], "", "")
            return

        def call() -> None:
            reported = set()
            try:
                for id, context, result in zip(effect.ids, contexts, run_set(function, contexts)):
                    ending = _UNREPORTED
                    try:
                        if isinstance(result, BaseException):
                            raise result
                        ending = cmd.Ending(Outcome.SUCCEEDED, 0, "", result_bytes(result))
                    except BaseException as error:  # noqa: BLE001 - user code
                        ending = self._failed(context, error)
                    finally:
                        reported.add(id)
                        self._report([(id, ending)], *self._handler_output(context))
            finally:
                # Whatever went wrong, every task of the set is reported.
                missing = [(id, _UNREPORTED) for id in effect.ids if id not in reported]
                if missing:
                    self._report(missing, "", "")

        self.threads.run(call)

    def _ensure_run_folder(self, run: int) -> None:
        if run not in self._runs_made:
            os.makedirs(os.path.join(self.logs, str(run)), exist_ok=True)
            self._runs_made[run] = None
            if len(self._runs_made) > 10_000:
                del self._runs_made[next(iter(self._runs_made))]

    def _start_command(self, id: AttemptId, spec: TaskSpec, path: str, result_limit: int) -> None:
        folder = cmd.scratch_path(path)
        try:
            environment = cmd.attempt_environment(self.environment, spec, self.worker, folder)
            self._ensure_run_folder(spec.run)
            cmd.prepare_folder(folder, spec.inputs)
            process = cmd.spawn(spec.action, environment, path)
        except (cmd.CommandError, OSError, ValueError) as error:
            cmd.remove_folder(folder)
            self.running[id] = _Attempt(spec, path)
            self._report([(id, cmd.Ending(Outcome.FAILED, 0, _start_error(error), b""))], "", "")
            return
        self.running[id] = _Attempt(spec, path, process)

        def reap() -> None:
            ending, output = _UNREPORTED, ""
            try:
                ending, output = cmd.attempt_ending(process.wait(), folder, path, result_limit)
            except BaseException as error:  # noqa: BLE001 - the attempt must be reported whatever happens
                ending = cmd.Ending(Outcome.FAILED, 0, f"the worker could not read how the command ended: "
                                                       f"{describe_exception(error)}", b"")
            finally:
                self._report([(id, ending)], output, path)

        threading.Thread(target=reap, name=f"baton-reaper-{process.pid}", daemon=True).start()

    def _start_batch(self, effect: corelib.StartSet, result_limit: int) -> None:
        """A command batch: one process for all its tasks, and one report of every task's end."""
        specs = effect.specs
        path = cmd.batch_log_path(specs, effect.set, self.logs)
        folder = cmd.scratch_path(path)
        try:
            environment = cmd.batch_environment(self.environment, specs[0], self.worker, folder, len(specs))
            self._ensure_run_folder(specs[0].run)
            cmd.prepare_batch(folder, specs)
            process = cmd.spawn(specs[0].action, environment, path)
        except (cmd.CommandError, OSError, ValueError) as error:
            cmd.remove_folder(folder)
            for id, spec in zip(effect.ids, specs):
                self.running[id] = _Attempt(spec, path)
            failed = cmd.Ending(Outcome.FAILED, 0, _start_error(error), b"")
            self._report([(id, failed) for id in effect.ids], "", "")
            return
        for id, spec in zip(effect.ids, specs):
            self.running[id] = _Attempt(spec, path, process)

        def reap() -> None:
            endings, output = [_UNREPORTED] * len(specs), ""
            try:
                endings, output = cmd.batch_endings(specs, process.wait(), folder, path, result_limit)
            except BaseException as error:  # noqa: BLE001 - the attempts must be reported whatever happens
                failed = cmd.Ending(Outcome.FAILED, 0, f"the worker could not read how the batch ended: "
                                                      f"{describe_exception(error)}", b"")
                endings = [failed] * len(specs)
            finally:
                self._report(list(zip(effect.ids, endings)), output, path)

        threading.Thread(target=reap, name=f"baton-reaper-{process.pid}", daemon=True).start()

    # ------------------------------------------------------------------------------ stopping

    def signal(self, id: AttemptId, kill: bool) -> None:
        """SIGTERM (or SIGKILL) to a command's process group; a handler cannot be signalled."""
        attempt = self.running.get(id)
        if attempt is not None and attempt.process is not None:
            cmd.signal_group(attempt.process.pid, kill)

    def abandon(self, id: AttemptId) -> None:
        """Forgets a stopped handler attempt: it is told (``ctx.cancelled``), and its return is ignored."""
        attempt = self.running.pop(id, None)
        if attempt is not None:
            attempt.cancelled.set()
            attempt.output.close()

    def kill_all(self) -> int:
        """SIGKILL to every command still running, cancellation to every handler; how many were running."""
        for _, group in self._orphans:
            cmd.signal_group(group, kill=True)
        processes = set()
        for attempt in self.running.values():
            if attempt.process is not None and attempt.process.poll() is None:
                processes.add(attempt.process.pid)
            if attempt.cancelled is not None:
                attempt.cancelled.set()
        for group in processes:
            cmd.signal_group(group, kill=True)
        return len(self.running)

    def next_deadline(self) -> float:
        """When :meth:`kill_orphans` next has a process group to kill (ms), or ``NEVER``."""
        return min((at for at, _ in self._orphans), default=corelib.NEVER)

    def kill_orphans(self, now: float) -> None:
        """SIGKILL to the groups of stopped commands whose leader exited, once their grace is over: what
        such a command left running must not outlive its attempt."""
        if not self._orphans:
            return
        due = [group for at, group in self._orphans if at <= now]
        self._orphans = [(at, group) for at, group in self._orphans if at > now]
        for group in due:
            cmd.signal_group(group, kill=True)

    # ------------------------------------------------------------------------------- endings

    def _report(self, endings: Sequence[Tuple[AttemptId, cmd.Ending]], output: str, log: str) -> None:
        """Called from any thread when attempts end."""
        self._reports.append(_Report(endings, output, log))
        self.doorbell.ring()

    def hand_over(self, core: WorkerCore, now: float) -> None:
        """Hands the attempts that ended to the core, with their output's tail and where it went."""
        reports = self._reports
        while reports:
            report = reports.popleft()
            log = f"{self.host}:{report.log}" if report.log else ""
            for id, ending in report.endings:
                attempt = self.running.pop(id, None)
                if attempt is None:
                    continue  # Abandoned: its result was reported when it was stopped.
                if attempt.output is not None:
                    attempt.output.close()
                running = core.running.get(id)
                if attempt.process is not None and running is not None and running.stopping is not None \
                        and running.stopping.kill_at > now:
                    # What the stopped command left in its group still gets SIGKILL when its grace ends.
                    self._orphans.append((running.stopping.kill_at, attempt.process.pid))
                try:
                    core.attempt_ended(id, ending.outcome, ending.exit_code, report.output, log, ending.error,
                                       ending.data, now)
                except Exception:  # noqa: BLE001 - one report must not stop the loop (attempt_ended does not raise)
                    _log.exception("attempt %s: its end could not be recorded", id)
