"""Commands: ``run`` jobs, started exactly as Baton's own worker starts them (docs/flows.md, "What a
command sees", "The log and the scratch folder", "Command batches").

A command runs through ``/bin/sh -c`` in a process group of its own, in the worker's working
directory, with standard input from ``/dev/null`` and standard output and error in the attempt's log
file, with the worker's environment plus the ``BATON_*`` variables. Its result is the file at
``BATON_RESULT`` after exit status 0; its inputs are files in the folder at ``BATON_INPUTS``; both are
in the attempt's scratch folder beside its log, removed when the attempt has ended.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from .wire import Outcome, TaskInput, TaskSpec

#: The variables that name one task: unset for a batch, even when the worker was started with them.
PER_TASK_VARIABLES = ("BATON_TASK", "BATON_ATTEMPT", "BATON_PARTITION", "BATON_PARTITION_KEY", "BATON_RESULT",
                      "BATON_INPUTS")
#: The variables that describe a batch: unset for a single attempt, even when the worker was started with them.
BATCH_VARIABLES = ("BATON_BATCH", "BATON_BATCH_STATUS", "BATON_BATCH_SIZE")
#: The largest batch status file the worker reads: 16 KiB for each of 1,000 tasks.
STATUS_LIMIT = 16 << 20
#: The longest reason kept from a ``failed`` line of a batch status file.
REASON_LIMIT = 1024
OUTPUT_TAIL = 4096


class CommandError(Exception):
    """A command could not be started, or its result not read; the message says why, for ``error``."""


class Ending(NamedTuple):
    """How an attempt ended, as its process or handler told it."""

    outcome: Outcome
    exit_code: int
    error: str
    data: bytes


# ------------------------------------------------------------------------------------------ paths


def log_path(spec: TaskSpec, root: str) -> str:
    """``<root>/<run>/<job>.<attempt>.log``, with ``.<step>-<partition>`` before the attempt for a job of
    several steps or partitions, and ``.rerun-<generation>`` for a rerun, whose attempts count from 1
    again and must not overwrite its earlier ones."""
    part = f".{spec.step}-{spec.partition}" if spec.steps > 1 or spec.partitions > 1 else ""
    rerun = f".rerun-{spec.generation}" if spec.generation > 0 else ""
    return f"{root}/{spec.run}/{spec.job}{part}{rerun}.{spec.attempt}.log"


def batch_log_path(specs: Sequence[TaskSpec], set_id: int, root: str) -> str:
    """``<root>/<run>/<job>.batch-<first>-<last>.set-<set>.log``, with ``.<step>`` after the job for a job
    of several steps: never the name of a single attempt's log."""
    first = specs[0]
    partitions = [spec.partition for spec in specs]
    step = f".{first.step}" if first.steps > 1 else ""
    step += f".rerun-{first.generation}" if first.generation > 0 else ""
    return f"{root}/{first.run}/{first.job}{step}.batch-{min(partitions)}-{max(partitions)}.set-{set_id}.log"


def scratch_path(log: str) -> str:
    """The scratch folder beside a log: ``.d`` for ``.log``."""
    base = log[:-4] if log.endswith(".log") else log
    return os.path.abspath(base) + ".d"


def escaped(key: str) -> str:
    """A partition key as an index or task list writes it: backslash, tab and line ends escaped."""
    return key.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# ---------------------------------------------------------------------------------------- folders


def _write_new(path: str, data: bytes) -> None:
    """Writes a new file; one that exists already is an error (two inputs would share a name)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def prepare_folder(path: str, inputs: Sequence[TaskInput]) -> None:
    """Creates a scratch folder afresh (removing what an earlier worker left under that name), with the
    task's inputs in ``inputs/``: a file per input, ``<job>.<step>.<partition>``, and an ``index``."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        shutil.rmtree(path, ignore_errors=True)
        try:
            os.mkdir(path, 0o755)
        except OSError as error:
            raise CommandError(f"cannot create the scratch folder {path}: {error.strerror}") from None
    except OSError as error:
        raise CommandError(f"cannot create the scratch folder {path}: {error.strerror}") from None
    if not inputs:
        return
    folder = os.path.join(path, "inputs")
    index = []
    try:
        os.mkdir(folder, 0o755)
        for item in inputs:
            if not item.job or item.job.startswith(".") or "/" in item.job or "\0" in item.job:
                raise CommandError(f'an input\'s job name "{item.job}" cannot name a file')
            name = f"{item.job}.{item.step}.{item.partition}"
            _write_new(os.path.join(folder, name), item.data)
            index.append(f"{item.job}\t{item.step}\t{item.partition}\t{escaped(item.partition_key)}\t{name}\n")
        _write_new(os.path.join(folder, "index"), "".join(index).encode("utf-8"))
    except OSError as error:
        raise CommandError(f"cannot write the inputs in {folder}: {error.strerror}") from None


def remove_folder(path: str) -> None:
    """Removes a scratch folder and everything in it, if it is there; never raises."""
    shutil.rmtree(path, ignore_errors=True)


def read_limited(path: str, limit: int, what: str, limit_name: str) -> Optional[bytes]:
    """The contents of the regular file at ``path``, or None if there is none. Reads at most ``limit``
    + 1 octets, so a huge file costs no memory; a file over ``limit`` is an error, never cut short."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CommandError(f"cannot open {what} {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise CommandError(f"{what} {path} is not a regular file")
        if status.st_size > limit:
            raise CommandError(f"{what} is {status.st_size} octets, over {limit_name} of {limit}")
        data = file.read(limit + 1)
        if len(data) > limit:
            # The file grew after it was measured: something the command left running still writes it.
            size = max(len(data), os.fstat(file.fileno()).st_size)
            raise CommandError(f"{what} is {size} octets, over {limit_name} of {limit}")
        return data


def read_result(folder: str, limit: int) -> bytes:
    """The result a command wrote to ``BATON_RESULT``: no file is an empty result."""
    return read_limited(os.path.join(folder, "result"), limit, "its result file", "the shard's limit") or b""


def output_tail(path: str, limit: int = OUTPUT_TAIL) -> Optional[str]:
    """The last ``limit`` octets of a log as text (invalid UTF-8 repaired, still within ``limit``), or
    None if there is no log."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - limit))
            data = file.read()
    except OSError:
        return None
    text = data.decode("utf-8", "replace")
    while len(text.encode("utf-8")) > limit:
        text = text[1:]
    return text


def last_line(output: str) -> Optional[str]:
    """The last line of output that is not blank."""
    for line in reversed(output.split("\n")):
        if line.strip():
            return line
    return None


# ------------------------------------------------------------------------------------ environment


def _nul_in(what: str, text: str) -> None:
    if "\0" in text:
        raise CommandError(f"{what} holds a NUL octet, which a process cannot be given (in its command line or "
                           "its environment)")


def check_task(spec: TaskSpec, batch: bool = False) -> None:
    """Raises :class:`CommandError` naming what of the task a process cannot be given: text with a NUL
    octet (a command line, an environment variable), or a parameter name that cannot be part of a
    variable's name. A process could not be started with it (``Popen`` would raise ``ValueError``)."""
    _nul_in("the command", spec.action)
    for what, text in (("the product name", spec.product), ("the flow name", spec.flow), ("the job name", spec.job),
                       ("the step name", spec.step_name)):
        _nul_in(what, text)
    if not batch:
        _nul_in("the partition key", spec.partition_key)
    for name, value in spec.params.items():
        if "\0" in name or "=" in name:
            raise CommandError(f"the parameter name {name!r} cannot be part of an environment variable's name "
                               "(it holds \"=\" or a NUL octet)")
        _nul_in(f"the parameter {name}", value)


def shared_variables(spec: TaskSpec, worker: str) -> Dict[str, str]:
    """The variables of "What a command sees" that are the same for every task of a command batch."""
    variables = {
        "BATON_WORKER": worker,
        "BATON_RUN": str(spec.run),
        "BATON_PRODUCT": spec.product,
        "BATON_FLOW": spec.flow,
        "BATON_JOB": spec.job,
        "BATON_ENTRY_MOMENT": str(spec.moment),
        "BATON_STEP": str(spec.step),
        "BATON_STEPS": str(spec.steps),
        "BATON_STEP_NAME": spec.step_name,
        "BATON_PARTITIONS": str(spec.partitions),
    }
    for name, value in spec.params.items():
        variables[f"BATON_PARAM_{name}"] = value
    return variables


def attempt_environment(base: Dict[str, str], spec: TaskSpec, worker: str, folder: str) -> Dict[str, str]:
    """A single attempt's environment: the worker's, plus every ``BATON_*`` variable of the task. Raises
    :class:`CommandError` for a task whose text a process cannot be given (see :func:`check_task`)."""
    check_task(spec)
    environment = dict(base)
    environment.update(shared_variables(spec, worker))
    environment.update({
        "BATON_ATTEMPT": str(spec.attempt),
        "BATON_TASK": str(spec.task),
        "BATON_PARTITION": str(spec.partition),
        "BATON_PARTITION_KEY": spec.partition_key,
        "BATON_RESULT": os.path.join(folder, "result"),
    })
    # Set only for a task with inputs, or for a batch, even if the worker itself was started with them.
    if spec.inputs:
        environment["BATON_INPUTS"] = os.path.join(folder, "inputs")
    else:
        environment.pop("BATON_INPUTS", None)
    for name in BATCH_VARIABLES:
        environment.pop(name, None)
    return environment


# ---------------------------------------------------------------------------------------- processes


def spawn(command: str, environment: Dict[str, str], log: str) -> subprocess.Popen:
    """Starts ``/bin/sh -c command`` in a new process group, output to ``log``; its PID is its group's ID."""
    try:
        descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise CommandError(f"cannot create the log {log}: {error.strerror}") from None
    group = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
    try:
        return subprocess.Popen(
            ["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=descriptor, stderr=subprocess.STDOUT,
            env=environment, close_fds=True, restore_signals=True, **group,
        )
    except OSError as error:
        raise CommandError(f"cannot start /bin/sh: {error.strerror}") from None
    except ValueError as error:
        # Text a process cannot be given (check_task names it first): "embedded null byte".
        raise CommandError(f"cannot start /bin/sh: {error}") from None
    finally:
        os.close(descriptor)


def signal_group(group: int, kill: bool) -> None:
    """SIGTERM (or SIGKILL) to a whole process group, so that a command's own children stop too."""
    try:
        os.killpg(group, signal.SIGKILL if kill else signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def exit_description(status: int) -> str:
    """How a process ended, given ``Popen.wait()``'s status: ``exit status 3``, ``killed by signal 9``."""
    return f"exit status {status}" if status > 0 else f"killed by signal {-status}"


def attempt_ending(status: int, folder: str, log: str, result_limit: int) -> Tuple[Ending, str]:
    """How a command attempt ended, given its exit status (minus the signal that ended it), with the
    tail of its output: after status 0, with the result it wrote; otherwise failed, saying the status
    and the last line it printed. The scratch folder is removed either way."""
    try:
        output = output_tail(log) or ""
        if status != 0:
            error = exit_description(status)
            line = last_line(output)
            if line is not None:
                error += ": " + line[:200]
            return Ending(Outcome.FAILED, status, error, b""), output
        try:
            return Ending(Outcome.SUCCEEDED, 0, "", read_result(folder, result_limit)), output
        except CommandError as error:
            return Ending(Outcome.FAILED, 0, str(error), b""), output
    finally:
        remove_folder(folder)


# ------------------------------------------------------------------------------------------ batches


def task_folder(batch_folder: str, spec: TaskSpec) -> str:
    """The folder of one task of a batch, named by its partition."""
    return os.path.join(batch_folder, str(spec.partition))


def prepare_batch(folder: str, specs: Sequence[TaskSpec]) -> None:
    """Creates a batch's scratch folder: a folder per task with its inputs, and the task list
    ``task<TAB>attempt<TAB>partition<TAB>key<TAB>result<TAB>inputs``."""
    prepare_folder(folder, ())
    lines = []
    for spec in specs:
        path = task_folder(folder, spec)
        prepare_folder(path, spec.inputs)
        inputs = os.path.join(path, "inputs") if spec.inputs else ""
        lines.append(f"{spec.task}\t{spec.attempt}\t{spec.partition}\t{escaped(spec.partition_key)}\t"
                     f"{os.path.join(path, 'result')}\t{inputs}\n")
    try:
        _write_new(os.path.join(folder, "batch"), "".join(lines).encode("utf-8"))
    except OSError as error:
        raise CommandError(f"cannot write the task list in {folder}: {error.strerror}") from None


def batch_environment(base: Dict[str, str], first: TaskSpec, worker: str, folder: str, count: int) -> Dict[str, str]:
    """A batch's environment: the worker's, the variables shared by its tasks, and the batch's own. Raises
    :class:`CommandError` for a task whose text a process cannot be given (see :func:`check_task`)."""
    check_task(first, batch=True)
    environment = dict(base)
    environment.update(shared_variables(first, worker))
    environment.update({
        "BATON_BATCH": os.path.join(folder, "batch"),
        "BATON_BATCH_STATUS": os.path.join(folder, "status"),
        "BATON_BATCH_SIZE": str(count),
    })
    for name in PER_TASK_VARIABLES:
        environment.pop(name, None)
    return environment


class BatchStatus(NamedTuple):
    """The status file, read: the last report of each task (``None`` for ok, else the reason it failed),
    and the lines ignored."""

    reports: Dict[int, Optional[str]]
    malformed: int
    strangers: int


def parse_status(data: bytes, tasks: Iterable[int]) -> BatchStatus:
    """Parses a batch status file against the batch's task IDs. Empty lines are skipped; a carriage
    return before a line's end is dropped; a later line for a task overrides an earlier one."""
    known = set(tasks)
    reports: Dict[int, Optional[str]] = {}
    malformed = strangers = 0
    for raw in data.split(b"\n"):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line:
            continue
        fields = line.split(b"\t", 2)
        number = fields[0]
        if len(fields) < 2 or not number.isdigit() or len(number) > 20 or not number.isascii():
            malformed += 1
            continue
        word = fields[1]
        if word == b"ok" and len(fields) == 2:
            report: Optional[str] = None
        elif word == b"failed":
            why = fields[2][:REASON_LIMIT].decode("utf-8", "replace").strip(" \t") if len(fields) == 3 else ""
            while len(why.encode("utf-8")) > REASON_LIMIT:
                why = why[:-1]
            report = why or "the batch command reported this task failed"
        else:
            malformed += 1
            continue
        task = int(number)
        if task not in known:
            strangers += 1
            continue
        reports[task] = report
    return BatchStatus(reports, malformed, strangers)


def append_line(path: str, line: str) -> None:
    """Appends a line to an attempt's log (the worker's own remarks, after the command's output); a log
    that cannot be written is left as it is."""
    try:
        with open(path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
    except OSError:
        pass


def batch_endings(specs: Sequence[TaskSpec], status: int, folder: str, log: str,
                  result_limit: int) -> Tuple[List[Ending], str]:
    """How each task of a batch ended, once its process ended with ``status``: ``ok`` succeeds with the
    task's result file, ``failed`` fails with the reason given, a task not reported fails with why the
    process did not report it. Every task's exit code is the process's. The folder is removed."""
    try:
        unreported = "the batch command did not report on this task"
        if status != 0:
            unreported = exit_description(status)
            line = last_line(output_tail(log) or "")
            if line is not None:
                unreported += ": " + line[:200]
        try:
            data = read_limited(os.path.join(folder, "status"), STATUS_LIMIT, "the batch status file",
                                "the worker's limit")
        except CommandError as error:
            return [Ending(Outcome.FAILED, status, str(error), b"")] * len(specs), output_tail(log) or ""
        parsed = parse_status(data or b"", (spec.task for spec in specs))
        ignored = parsed.malformed + parsed.strangers
        if ignored:
            append_line(log, f"baton: ignored {ignored} line{'' if ignored == 1 else 's'} of the batch status file: "
                             f"{parsed.malformed} not of the form task<TAB>ok or task<TAB>failed<TAB>why, "
                             f"{parsed.strangers} naming a task not in the batch")
        endings = []
        for spec in specs:
            if spec.task not in parsed.reports:
                endings.append(Ending(Outcome.FAILED, status, unreported, b""))
            elif parsed.reports[spec.task] is None:
                try:
                    data = read_result(task_folder(folder, spec), result_limit)
                    endings.append(Ending(Outcome.SUCCEEDED, status, "", data))
                except CommandError as error:
                    endings.append(Ending(Outcome.FAILED, status, str(error), b""))
            else:
                endings.append(Ending(Outcome.FAILED, status, parsed.reports[spec.task] or "", b""))
        return endings, output_tail(log) or ""
    finally:
        remove_folder(folder)
