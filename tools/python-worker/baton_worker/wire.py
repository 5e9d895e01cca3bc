"""The worker protocol's messages and their codec (docs/protocol.md, "Framing" and "Messages").

Bytes in, values out: no sockets and no clocks here. Every message is one ZeroMQ frame that starts
with ``BTN``, the version (1) and the message ID, then the fields in table order, numbers big-endian.

A receiver must not trust a peer's frames: :func:`decode` checks every length and count against the
protocol's limits as it reads the field, before it copies anything, and raises :class:`Malformed`
for a frame that breaks any rule (wrong signature, unknown ID, a field that runs past the end, text
that is not UTF-8, an enumeration value not listed, octets left over).
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any, Dict, NamedTuple, Sequence, Tuple, Union

SIGNATURE = b"BTN"
VERSION = 1

# Limits (docs/protocol.md, "Limits").
FRAME_LIMIT = 64 << 20
LONGSTR_LIMIT = 1 << 20
BYTES_LIMIT = 16 << 20
LIST_LIMIT = 1_000_000
PARTITION_KEY_LIMIT = 1024
ACTION_LIMIT = 64 << 10
PARAMETER_VALUE_LIMIT = 64 << 10
PARAMETERS_LIMIT = 256 << 10
INPUTS_LIMIT = 16 << 20
OUTPUT_LIMIT = 4096
STEPS_LIMIT = 1000
PARTITIONS_LIMIT = 1_000_000
SET_LIMIT = 1000
CAPABILITIES_LIMIT = 1000
CAPABILITY_NAME_LIMIT = 255
RESULT_LIMIT_MAX = 16 << 20


class MessageId(IntEnum):
    """The IDs of the worker protocol's messages."""

    READY = 0x01
    WELCOME = 0x02
    PULL = 0x03
    TASKS = 0x04
    RESULTS = 0x05
    RECEIPT = 0x06
    CANCEL = 0x07
    HEARTBEAT = 0x08
    DISCONNECT = 0x09
    DEMAND = 0x0A
    RECALL = 0x0B
    RECALLED = 0x0C


class Kind(IntEnum):
    """ActionKind: what a task runs."""

    COMMAND = 1
    HANDLER = 2


class Outcome(IntEnum):
    """How an attempt ended."""

    SUCCEEDED = 1
    FAILED = 2
    TIMED_OUT = 3
    CANCELLED = 4
    REJECTED = 5

    @property
    def label(self) -> str:
        """The outcome as the protocol names it: ``timed-out``."""
        return self.name.lower().replace("_", "-")


class Status:
    """DISCONNECT status codes a worker acts on."""

    UNKNOWN_PEER = 401
    FORBIDDEN = 403
    UNAVAILABLE = 503
    VERSION_NOT_SUPPORTED = 505


class Malformed(ValueError):
    """A frame that breaks the protocol's rules: dropped and counted, never acted on."""


# ---------------------------------------------------------------------------------------- value types


class TaskRef(NamedTuple):
    """One attempt of one task."""

    task: int
    attempt: int


class SetOffer(NamedTuple):
    """A worker's offer to take one handler's tasks as claimed sets of at most ``limit`` tasks."""

    handler: str
    limit: int


class TaskInput(NamedTuple):
    """A result a task receives: one partition's committed result, of the previous step of its job or
    of the last step of an upstream job."""

    job: str
    step: int
    partition: int
    partition_key: str
    data: bytes

    @property
    def text(self) -> str:
        """The result as UTF-8 text."""
        return self.data.decode("utf-8")

    def json(self) -> Any:
        """The result parsed as JSON (as a handler that returned a dict or list wrote it): a dict, a list,
        text, a number, a bool or None. Raises ``ValueError`` if it is not JSON."""
        import json

        return json.loads(self.data)


class TaskSpec(NamedTuple):
    """A task handed to a worker (task-spec)."""

    task: int
    attempt: int
    run: int
    job: str
    generation: int
    product: str
    flow: str
    step: int
    steps: int
    step_name: str
    partition: int
    partitions: int
    partition_key: str
    kind: Kind
    action: str
    type: str
    params: Dict[str, str]
    timeout: int
    moment: int
    inputs: Tuple[TaskInput, ...]

    @property
    def ref(self) -> TaskRef:
        return TaskRef(self.task, self.attempt)


class TaskResult(NamedTuple):
    """How one attempt ended (task-result)."""

    task: int
    attempt: int
    outcome: Outcome
    exit_code: int = 0
    started: int = 0
    duration: int = 0
    output: str = ""
    log: str = ""
    error: str = ""
    data: bytes = b""

    @property
    def ref(self) -> TaskRef:
        return TaskRef(self.task, self.attempt)


# ------------------------------------------------------------------------------------------- messages


class Ready(NamedTuple):
    """READY: register, with free slots and what the worker still holds."""

    worker: str
    session: int
    slots: int
    heartbeat: int
    commands: int
    tags: Tuple[str, ...] = ()
    handlers: Tuple[str, ...] = ()
    held: Tuple[TaskRef, ...] = ()
    sets: Tuple[SetOffer, ...] = ()
    batches: int = 0


class Welcome(NamedTuple):
    """WELCOME: the shard accepts READY and sets the terms."""

    shard: int
    epoch: int
    heartbeat: int
    liveness: int
    result_limit: int


class Pull(NamedTuple):
    """PULL: more credit."""

    credit: int


class Tasks(NamedTuple):
    """TASKS: a batch of leased tasks; ``set`` is 0, or the ID of a claimed set."""

    set: int
    tasks: Tuple[TaskSpec, ...]


class Results(NamedTuple):
    """RESULTS: finished attempts."""

    results: Tuple[TaskResult, ...]


class Receipt(NamedTuple):
    """RECEIPT: these results are committed (or stale); forget them."""

    tasks: Tuple[TaskRef, ...]


class Cancel(NamedTuple):
    """CANCEL: stop these attempts, SIGKILL after ``grace`` ms."""

    grace: int
    tasks: Tuple[TaskRef, ...]


class Heartbeat(NamedTuple):
    """HEARTBEAT: liveness when idle."""


class Disconnect(NamedTuple):
    """DISCONNECT: the end of the conversation, with why."""

    status: int
    reason: str


class Demand(NamedTuple):
    """DEMAND: the shard has work for this worker and no credit from it; ``pending`` 0 withdraws it."""

    pending: int
    weight: int


class Recall(NamedTuple):
    """RECALL: give back up to ``credit`` unused credit."""

    credit: int


class Recalled(NamedTuple):
    """RECALLED: the credit given back."""

    credit: int


Message = Union[
    Ready, Welcome, Pull, Tasks, Results, Receipt, Cancel, Heartbeat, Disconnect, Demand, Recall, Recalled
]

MESSAGE_IDS = {
    Ready: MessageId.READY,
    Welcome: MessageId.WELCOME,
    Pull: MessageId.PULL,
    Tasks: MessageId.TASKS,
    Results: MessageId.RESULTS,
    Receipt: MessageId.RECEIPT,
    Cancel: MessageId.CANCEL,
    Heartbeat: MessageId.HEARTBEAT,
    Disconnect: MessageId.DISCONNECT,
    Demand: MessageId.DEMAND,
    Recall: MessageId.RECALL,
    Recalled: MessageId.RECALLED,
}

# ----------------------------------------------------------------------------------------- encoding

_B = struct.Struct(">B")
_H = struct.Struct(">H")
_I = struct.Struct(">I")
_i = struct.Struct(">i")
_Q = struct.Struct(">Q")
_REF = struct.Struct(">QH")
_RESULT_HEAD = struct.Struct(">QHBiQI")


class _Writer:
    """Appends fields to one frame."""

    __slots__ = ("out",)

    def __init__(self, message_id: int) -> None:
        self.out = bytearray(SIGNATURE)
        self.out.append(VERSION)
        self.out.append(message_id)

    def n1(self, value: int) -> None:
        self.out += _B.pack(value)

    def n2(self, value: int) -> None:
        self.out += _H.pack(value)

    def n4(self, value: int) -> None:
        self.out += _I.pack(value)

    def n8(self, value: int) -> None:
        self.out += _Q.pack(value)

    def string(self, text: str) -> None:
        octets = text.encode("utf-8")
        if len(octets) > 255:
            raise ValueError(f"{text[:40]!r}… is {len(octets)} octets; a string field holds at most 255")
        self.out += _B.pack(len(octets))
        self.out += octets

    def chunk(self, octets: bytes) -> None:
        self.out += _I.pack(len(octets))
        self.out += octets

    def longstr(self, text: str) -> None:
        self.chunk(text.encode("utf-8"))

    def strings(self, texts: Sequence[str]) -> None:
        self.n4(len(texts))
        for text in texts:
            self.longstr(text)

    def refs(self, refs: Sequence[TaskRef]) -> None:
        self.n4(len(refs))
        for ref in refs:
            self.out += _REF.pack(ref[0], ref[1])

    def hash(self, values: Dict[str, str]) -> None:
        # Keys in ascending octet order, as the protocol asks of a sender.
        items = sorted((key.encode("utf-8"), value) for key, value in values.items())
        self.n4(len(items))
        for key, value in items:
            self.out += _B.pack(len(key))
            self.out += key
            self.longstr(value)

    def task_spec(self, spec: TaskSpec) -> None:
        self.out += _REF.pack(spec.task, spec.attempt)
        self.n8(spec.run)
        self.string(spec.job)
        self.n4(spec.generation)
        self.string(spec.product)
        self.string(spec.flow)
        self.n2(spec.step)
        self.n2(spec.steps)
        self.string(spec.step_name)
        self.n4(spec.partition)
        self.n4(spec.partitions)
        self.longstr(spec.partition_key)
        self.n1(int(spec.kind))
        self.longstr(spec.action)
        self.string(spec.type)
        self.hash(spec.params)
        self.n4(spec.timeout)
        self.n8(spec.moment)
        self.n4(len(spec.inputs))
        for item in spec.inputs:
            self.task_input(item)

    def task_input(self, item: TaskInput) -> None:
        self.string(item.job)
        self.n2(item.step)
        self.n4(item.partition)
        self.longstr(item.partition_key)
        self.chunk(item.data)

    def task_result(self, result: TaskResult) -> None:
        self.out += _RESULT_HEAD.pack(
            result.task, result.attempt, int(result.outcome), result.exit_code, result.started, result.duration
        )
        out = self.out
        for text in (result.output, result.log, result.error):
            # "replace": text a sender cannot carry (a lone surrogate) must not stop the sender.
            octets = text.encode("utf-8", "replace") if text else b""
            out += _I.pack(len(octets))
            out += octets
        out += _I.pack(len(result.data))
        out += result.data


def encode(message: Message) -> bytes:
    """The frame of ``message``."""
    kind = type(message)
    writer = _Writer(MESSAGE_IDS[kind])
    if kind is Ready:
        writer.string(message.worker)
        writer.n8(message.session)
        writer.n4(message.slots)
        writer.n4(message.heartbeat)
        writer.n1(message.commands)
        writer.strings(message.tags)
        writer.strings(message.handlers)
        writer.refs(message.held)
        writer.n4(len(message.sets))
        for offer in message.sets:
            writer.string(offer.handler)
            writer.n4(offer.limit)
        writer.n1(message.batches)
    elif kind is Welcome:
        writer.n4(message.shard)
        writer.n4(message.epoch)
        writer.n4(message.heartbeat)
        writer.n1(message.liveness)
        writer.n4(message.result_limit)
    elif kind in (Pull, Recall, Recalled):
        writer.n4(message.credit)
    elif kind is Tasks:
        writer.n8(message.set)
        writer.n4(len(message.tasks))
        for spec in message.tasks:
            writer.task_spec(spec)
    elif kind is Results:
        writer.n4(len(message.results))
        for result in message.results:
            writer.task_result(result)
    elif kind is Receipt:
        writer.refs(message.tasks)
    elif kind is Cancel:
        writer.n4(message.grace)
        writer.refs(message.tasks)
    elif kind is Disconnect:
        writer.n2(message.status)
        writer.string(message.reason)
    elif kind is Demand:
        writer.n4(message.pending)
        writer.n4(message.weight)
    return bytes(writer.out)


def encoded_size(result: TaskResult) -> int:
    """The octets ``result`` takes in a RESULTS frame: what a worker counts to keep a frame within the
    limit. Text is counted at up to 4 octets a character, an upper bound that needs no encoding."""
    return 43 + 4 * (len(result.output) + len(result.log) + len(result.error)) + len(result.data)


# ----------------------------------------------------------------------------------------- decoding


_SPEC_HEAD = struct.Struct(">QHQ")
_SPEC_STEP = struct.Struct(">HH")
_SPEC_PARTITION = struct.Struct(">II")
_SPEC_TAIL = struct.Struct(">IQ")
_KINDS = {1: Kind.COMMAND, 2: Kind.HANDLER}


def _past(field: str) -> Malformed:
    return Malformed(f"field {field} runs past the end of the frame")


def _string_at(frame: bytes, at: int, end: int, field: str) -> Tuple[str, int]:
    """A ``string`` at ``at``, and where the next field starts."""
    if at >= end:
        raise _past(field)
    stop = at + 1 + frame[at]
    if stop > end:
        raise _past(field)
    try:
        return frame[at + 1 : stop].decode("utf-8"), stop
    except UnicodeDecodeError:
        raise Malformed(f"field {field} is not UTF-8") from None


def _longstr_at(frame: bytes, at: int, end: int, field: str, limit: int) -> Tuple[str, int]:
    """A ``longstr`` of at most ``limit`` octets at ``at``, and where the next field starts."""
    if at + 4 > end:
        raise _past(field)
    length = _I.unpack_from(frame, at)[0]
    if length > limit:
        raise Malformed(f"field {field} is {length} octets, over its limit of {limit}")
    stop = at + 4 + length
    if stop > end:
        raise _past(field)
    try:
        return frame[at + 4 : stop].decode("utf-8"), stop
    except UnicodeDecodeError:
        raise Malformed(f"field {field} is not UTF-8") from None


class _Reader:
    """Reads fields from one frame, checking each against the limits before it copies anything."""

    __slots__ = ("frame", "at", "end")

    def __init__(self, frame: bytes, at: int) -> None:
        self.frame = frame
        self.at = at
        self.end = len(frame)

    def need(self, count: int, field: str) -> int:
        start = self.at
        if count > self.end - start:
            raise Malformed(f"field {field} runs past the end of the frame")
        self.at = start + count
        return start

    def n1(self, field: str) -> int:
        start = self.need(1, field)
        return self.frame[start]

    def n2(self, field: str) -> int:
        return _H.unpack_from(self.frame, self.need(2, field))[0]

    def n4(self, field: str) -> int:
        return _I.unpack_from(self.frame, self.need(4, field))[0]

    def s4(self, field: str) -> int:
        return _i.unpack_from(self.frame, self.need(4, field))[0]

    def n8(self, field: str) -> int:
        return _Q.unpack_from(self.frame, self.need(8, field))[0]

    def text(self, length: int, field: str) -> str:
        start = self.need(length, field)
        try:
            return self.frame[start : start + length].decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(f"field {field} is not UTF-8") from None

    def string(self, field: str) -> str:
        return self.text(self.n1(field), field)

    def longstr(self, field: str, limit: int = LONGSTR_LIMIT) -> str:
        length = self.n4(field)
        if length > limit:
            raise Malformed(f"field {field} is {length} octets, over its limit of {limit}")
        return self.text(length, field)

    def chunk(self, field: str, limit: int = BYTES_LIMIT) -> bytes:
        length = self.n4(field)
        if length > limit:
            raise Malformed(f"field {field} is {length} octets, over its limit of {limit}")
        start = self.need(length, field)
        return bytes(self.frame[start : start + length])

    def count(self, field: str, minimum_size: int, limit: int = LIST_LIMIT) -> int:
        value = self.n4(field)
        if value > min(limit, LIST_LIMIT) or value * minimum_size > self.end - self.at:
            raise Malformed(f"field {field} counts {value} elements, more than the limit or the frame allows")
        return value

    def outcome(self, field: str) -> Outcome:
        value = self.n1(field)
        try:
            return Outcome(value)
        except ValueError:
            raise Malformed(f"field {field} has the value {value}, not an Outcome") from None

    def refs(self, field: str) -> Tuple[TaskRef, ...]:
        refs = []
        for _ in range(self.count(field, 10)):
            task, attempt = _REF.unpack_from(self.frame, self.need(10, field))
            refs.append(TaskRef(task, attempt))
        return tuple(refs)

    def strings(self, field: str, limit: int = LIST_LIMIT, length: int = LONGSTR_LIMIT) -> Tuple[str, ...]:
        return tuple(self.longstr(field, length) for _ in range(self.count(field, 4, limit)))

    def parameters(self, field: str) -> Dict[str, str]:
        values: Dict[str, str] = {}
        size = 0
        for _ in range(self.count(field, 5)):
            name = self.string(field)
            length = self.n4(field)
            if length > PARAMETER_VALUE_LIMIT:
                raise Malformed(f"field {field}.{name} is {length} octets, over its limit of {PARAMETER_VALUE_LIMIT}")
            size += len(name.encode("utf-8")) + length
            if size > PARAMETERS_LIMIT:
                raise Malformed(f"field {field} takes {size} octets, over its limit of {PARAMETERS_LIMIT}")
            if name in values:
                raise Malformed(f"field {field} names {name!r} twice")
            values[name] = self.text(length, field)
        return values

    def task_input(self) -> TaskInput:
        return TaskInput(
            self.string("job"),
            self.n2("step"),
            self.n4("partition"),
            self.longstr("partition-key", PARTITION_KEY_LIMIT),
            self.chunk("data"),
        )

    def task_spec(self) -> TaskSpec:
        # The hot path of a busy worker: fixed fields are read together, and text through the
        # module-level helpers, with every check the general readers make.
        frame, end, at = self.frame, self.end, self.at
        if at + 18 > end:
            raise _past("task")
        task, attempt, run = _SPEC_HEAD.unpack_from(frame, at)
        job, at = _string_at(frame, at + 18, end, "job")
        if at + 4 > end:
            raise _past("generation")
        generation = _I.unpack_from(frame, at)[0]
        product, at = _string_at(frame, at + 4, end, "product")
        flow, at = _string_at(frame, at, end, "flow")
        if at + 4 > end:
            raise _past("step")
        step, steps = _SPEC_STEP.unpack_from(frame, at)
        step_name, at = _string_at(frame, at + 4, end, "step-name")
        if steps > STEPS_LIMIT:
            raise Malformed(f"field steps is {steps}, over its limit of {STEPS_LIMIT}")
        if at + 8 > end:
            raise _past("partition")
        partition, partitions = _SPEC_PARTITION.unpack_from(frame, at)
        if partitions > PARTITIONS_LIMIT:
            raise Malformed(f"field partitions is {partitions}, over its limit of {PARTITIONS_LIMIT}")
        partition_key, at = _longstr_at(frame, at + 8, end, "partition-key", PARTITION_KEY_LIMIT)
        if at >= end:
            raise _past("kind")
        raw_kind = frame[at]
        if raw_kind != 1 and raw_kind != 2:
            raise Malformed(f"field kind has the value {raw_kind}, not an ActionKind")
        action, at = _longstr_at(frame, at + 1, end, "action", ACTION_LIMIT)
        job_type, self.at = _string_at(frame, at, end, "type")
        params = self.parameters("params")
        at = self.at
        if at + 12 > end:
            raise _past("timeout")
        timeout, moment = _SPEC_TAIL.unpack_from(frame, at)
        self.at = at + 12
        inputs = []
        size = 0
        for _ in range(self.count("inputs", 15)):
            item = self.task_input()
            size += len(item.data)
            if size > INPUTS_LIMIT:
                raise Malformed(f"field inputs holds {size} octets of data, over its limit of {INPUTS_LIMIT}")
            inputs.append(item)
        return TaskSpec(
            task, attempt, run, job, generation, product, flow, step, steps, step_name, partition, partitions,
            partition_key, _KINDS[raw_kind], action, job_type, params, timeout, moment, tuple(inputs),
        )

    def task_result(self) -> TaskResult:
        task, attempt = _REF.unpack_from(self.frame, self.need(10, "task"))
        return TaskResult(
            task,
            attempt,
            self.outcome("outcome"),
            self.s4("exit-code"),
            self.n8("started"),
            self.n4("duration"),
            self.longstr("output", OUTPUT_LIMIT),
            self.longstr("log"),
            self.longstr("error"),
            self.chunk("data"),
        )

    def finish(self, message: Message) -> Message:
        if self.at != self.end:
            raise Malformed(f"{self.end - self.at} octets left over after the last field")
        return message


def decode(frame: bytes) -> Message:
    """The message in ``frame``; raises :class:`Malformed` for anything the protocol does not allow.

    DISCONNECT has the same layout in every version, so it is read whatever the version; any other
    message of another version is malformed here (the error says which version it was).
    """
    if len(frame) < 5 or frame[:3] != SIGNATURE:
        raise Malformed("not a Baton frame (no BTN signature)")
    version, message_id = frame[3], frame[4]
    if version != VERSION and message_id != MessageId.DISCONNECT:
        raise Malformed(f"protocol version {version} is not supported; this worker speaks {VERSION}")
    reader = _Reader(frame, 5)
    if message_id == MessageId.TASKS:
        set_id = reader.n8("set")
        tasks = tuple(reader.task_spec() for _ in range(reader.count("tasks", 68)))
        return reader.finish(Tasks(set_id, tasks))
    if message_id == MessageId.RECEIPT:
        return reader.finish(Receipt(reader.refs("tasks")))
    if message_id == MessageId.HEARTBEAT:
        return reader.finish(Heartbeat())
    if message_id == MessageId.WELCOME:
        welcome = reader.finish(
            Welcome(reader.n4("shard"), reader.n4("epoch"), reader.n4("heartbeat"), reader.n1("liveness"),
                    reader.n4("result-limit"))
        )
        if welcome.result_limit > RESULT_LIMIT_MAX:
            raise Malformed(f"field result-limit is {welcome.result_limit}, over its limit of {RESULT_LIMIT_MAX}")
        return welcome
    if message_id == MessageId.CANCEL:
        return reader.finish(Cancel(reader.n4("grace"), reader.refs("tasks")))
    if message_id == MessageId.DISCONNECT:
        return reader.finish(Disconnect(reader.n2("status"), reader.string("reason")))
    if message_id == MessageId.DEMAND:
        return reader.finish(Demand(reader.n4("pending"), reader.n4("weight")))
    if message_id == MessageId.RECALLED:
        return reader.finish(Recalled(reader.n4("credit")))
    if message_id == MessageId.PULL:
        return reader.finish(Pull(reader.n4("credit")))
    if message_id == MessageId.RECALL:
        return reader.finish(Recall(reader.n4("credit")))
    if message_id == MessageId.RESULTS:
        return reader.finish(Results(tuple(reader.task_result() for _ in range(reader.count("results", 43)))))
    if message_id == MessageId.READY:
        worker = reader.string("worker")
        session = reader.n8("session")
        slots = reader.n4("slots")
        heartbeat = reader.n4("heartbeat")
        commands = reader.n1("commands")
        tags = reader.strings("tags", CAPABILITIES_LIMIT, CAPABILITY_NAME_LIMIT)
        handlers = reader.strings("handlers", CAPABILITIES_LIMIT, CAPABILITY_NAME_LIMIT)
        held = reader.refs("held")
        sets = tuple(SetOffer(reader.string("handler"), reader.n4("limit")) for _ in range(reader.count("sets", 5)))
        batches = reader.n1("batches")
        return reader.finish(Ready(worker, session, slots, heartbeat, commands, tags, handlers, held, sets, batches))
    raise Malformed(f"message 0x{message_id:02x} is not a message of the worker protocol")


def name_of(message: Message) -> str:
    """The message's name as the protocol writes it: ``RECALLED``."""
    return MESSAGE_IDS[type(message)].name


def summary(message: Message, limit: int = 300) -> str:
    """A message in one short line, for logs: tasks and results by ID, never their data."""
    kind = type(message)
    if kind is Tasks:
        items = [f"{spec.task}.{spec.attempt} {spec.job}" for spec in message.tasks[:10]]
        text = f"TASKS set={message.set} [{', '.join(items)}{', ...' if len(message.tasks) > 10 else ''}]"
    elif kind is Results:
        items = [f"{result.task}.{result.attempt} {result.outcome.label}" for result in message.results[:10]]
        text = f"RESULTS [{', '.join(items)}{', ...' if len(message.results) > 10 else ''}]"
    else:
        text = f"{name_of(message)} {message!r}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
