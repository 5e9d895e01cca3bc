"""The worker's state machine: its links to shards, its credit, the attempts it runs and the results it
holds until a shard confirms them.

Events in, effects out, no I/O and no clock reads: the runtime (:mod:`baton_worker.worker`) feeds it
messages, attempt endings and the time, and carries out the effects it returns (send a message, start
or signal an attempt, reopen a socket). It mirrors Baton's own ``WorkerCore`` (Sources/Core/Worker),
so that a Python worker behaves on the wire as Baton's does.

Invariants:

- The worker never holds more attempts, running or promised, than it has slots: credit given to
  shards plus slots busy never exceeds ``slots``.
- A result is kept until a RECEIPT covers it, and sent again after every WELCOME from its shard.
- An attempt past its timeout is stopped (SIGTERM, then SIGKILL after the grace period) and reported
  as timed out; a handler cannot be killed, so it is abandoned: its slot is freed at once and its late
  return ignored.
- A command batch is one process: it is signalled only once every attempt of the batch is stopping.

Times are milliseconds of a monotonic clock; ``wall_offset`` turns one into wall-clock milliseconds
for a result's ``started``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Tuple

from . import wire
from .wire import Kind, Outcome, TaskRef, TaskResult, TaskSpec

DEFAULT_HEARTBEAT = 1000
DEFAULT_LIVENESS = 3
DEFAULT_RESULT_LIMIT = 1 << 20
MAXIMUM_BACKOFF = 8000
#: The heartbeat interval a WELCOME may set, ms: the protocol's range (a shard clamps to it too).
MINIMUM_HEARTBEAT = 100
MAXIMUM_HEARTBEAT = 60_000
KILL_GRACE = 5000
ERROR_LIMIT = 4096
RESULTS_BUDGET = 32 << 20
NEVER = float("inf")


@dataclass
class Configuration:
    """What the worker offers and how it behaves."""

    name: str
    slots: int
    shards: int
    heartbeat: int = DEFAULT_HEARTBEAT
    tags: Tuple[str, ...] = ()
    handlers: Tuple[str, ...] = ()
    commands: bool = True
    #: Handlers that take tasks as claimed sets, with the most tasks in one set.
    sets: Dict[str, int] = field(default_factory=dict)
    kill_grace: int = KILL_GRACE
    maximum_backoff: int = MAXIMUM_BACKOFF


class AttemptId(NamedTuple):
    """One attempt, named by the link it came from: two shards' tasks may share an ID."""

    link: int
    task: int
    attempt: int

    @property
    def ref(self) -> TaskRef:
        return TaskRef(self.task, self.attempt)

    def __str__(self) -> str:
        return f"{self.link}/{self.task}.{self.attempt}"


# ------------------------------------------------------------------------------------------- effects


class Send(NamedTuple):
    """Send a message to the shard of a link."""

    link: int
    message: wire.Message


class Start(NamedTuple):
    """Start an attempt: a command in a child process, or a handler on a thread."""

    id: AttemptId
    spec: TaskSpec


class StartSet(NamedTuple):
    """Start the tasks of a claimed set together: one call of their set handler, or one command for a
    command batch."""

    link: int
    set: int
    ids: Tuple[AttemptId, ...]
    specs: Tuple[TaskSpec, ...]


class Signal(NamedTuple):
    """Signal a command's process group: ``terminate`` (SIGTERM) or ``kill`` (SIGKILL). For a batch,
    the attempt is any one of the batch's, and the signal goes to its one process."""

    id: AttemptId
    kill: bool


class Abandon(NamedTuple):
    """Forget a handler attempt that was stopped: set its cancellation flag, ignore its return."""

    id: AttemptId


class Reconnect(NamedTuple):
    """Close the link's socket and open a new one (before the READY that follows)."""

    link: int


class Refused(NamedTuple):
    """The shard refused the worker for good (DISCONNECT 505)."""

    link: int
    reason: str


class Forbidden(NamedTuple):
    """The shard refused the worker's READY (DISCONNECT 403); the link registers again after its backoff."""

    link: int
    reason: str


class TurnedAway(NamedTuple):
    """The shard ended the conversation with another status (409: another process is registered under
    this worker's name there); the link registers again after its backoff, its attempts going on."""

    link: int
    status: int
    reason: str


class Welcomed(NamedTuple):
    """The link is registered (for logs and for those who wait on it)."""

    link: int
    welcome: wire.Welcome


Effect = object

# ------------------------------------------------------------------------------------------- state

REGISTERING = "registering"
REGISTERED = "registered"
REFUSED = "refused"


class SlidingWindow:
    """The mean of the last ``capacity`` samples."""

    __slots__ = ("capacity", "samples", "next", "total")

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self.samples: List[float] = []
        self.next = 0
        self.total = 0.0

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def mean(self) -> float:
        return self.total / len(self.samples) if self.samples else 0.0

    def add(self, sample: float) -> None:
        if len(self.samples) < self.capacity:
            self.samples.append(sample)
        else:
            self.total -= self.samples[self.next]
            self.samples[self.next] = sample
            self.next = (self.next + 1) % self.capacity
        self.total += sample


@dataclass
class Link:
    """The worker's conversation with one shard."""

    heartbeat: int
    liveness: int
    last_heard: float
    last_sent: float
    #: When a READY not answered by WELCOME is given up on (never sooner than ``liveness`` intervals
    #: after it), and the wait after that: it doubles at each reconnection, up to the maximum, and
    #: starts again from one interval at each WELCOME.
    backoff_due: float
    backoff_wait: int
    state: str = REGISTERING
    #: When the READY now unanswered was sent.
    since: float = 0
    refusal: str = ""
    credit: int = 0
    epoch: int = 0
    shard: int = 0
    #: Tasks the shard said it has for this worker (DEMAND), less those received since.
    demand: int = 0
    demand_weight: int = 1
    #: The link's place in sharing slots between demanding shards (stride scheduling).
    pass_: float = 0.0
    #: How long this shard's recent credits kept a slot, ms.
    slot_times: SlidingWindow = field(default_factory=SlidingWindow)
    recalling: bool = False
    result_limit: int = DEFAULT_RESULT_LIMIT

    def reconnect_due(self) -> float:
        return max(self.backoff_due, self.since + self.heartbeat * self.liveness)


@dataclass
class Stopping:
    """Why an attempt is being stopped, and when it is killed."""

    outcome: Outcome
    kill_at: float
    reason: str


@dataclass
class Running:
    """An attempt the worker runs."""

    link: int
    spec: TaskSpec
    started: float
    deadline: Optional[float]
    stopping: Optional[Stopping] = None
    #: The claimed set it runs in, as its shard numbered it; 0 if on its own.
    set: int = 0
    #: The worker's own number for that set (shard set IDs may repeat across shards); 0 if on its own.
    local_set: int = 0


@dataclass
class OpenSet:
    """A claimed set running: it takes one slot however many tasks it holds."""

    link: int
    remaining: int
    is_batch: bool
    stopping: int = 0
    kill_at: Optional[float] = None


def format_duration(milliseconds: int) -> str:
    """``1m30s``, ``250ms``: as Baton writes durations."""
    if milliseconds == 0:
        return "0s"
    text, remaining = "", milliseconds
    for suffix, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if remaining >= size:
            text += f"{remaining // size}{suffix}"
            remaining %= size
    return text


def clean(text: str) -> str:
    """``text`` as valid UTF-8 can carry it: a lone surrogate (as ``os.listdir`` gives for a name that
    is not UTF-8, and an exception's text may repeat) becomes ``?``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def head(text: str, limit: int) -> str:
    """At most the first ``limit`` octets of ``text``, cut between characters (and made valid UTF-8)."""
    octets = text.encode("utf-8", "replace")
    if len(octets) <= limit:
        return octets.decode("utf-8")
    return octets[:limit].decode("utf-8", "ignore")


def tail(text: str, limit: int) -> str:
    """At most the last ``limit`` octets of ``text``, cut between characters (and made valid UTF-8)."""
    octets = text.encode("utf-8", "replace")
    if len(octets) <= limit:
        return octets.decode("utf-8")
    return octets[len(octets) - limit :].decode("utf-8", "ignore")


def unsafe_job_name(job: str) -> Optional[str]:
    """Why a job's name cannot be part of a file's path (its log, its scratch folder), or None if it can."""
    if not job:
        return "the job has no name"
    if "/" in job or ".." in job or "\0" in job:
        return f'the job name {job!r} cannot name a file: it holds "/", ".." or a NUL octet'
    return None


class WorkerCore:
    """The worker's state machine. Feed it events; collect effects with :meth:`finish_turn`."""

    def __init__(self, configuration: Configuration, session: int, now: float, wall_offset: float = 0) -> None:
        if configuration.slots <= 0 or configuration.shards <= 0:
            raise ValueError("a worker needs slots and shards")
        self.configuration = configuration
        self.session = session
        self.wall_offset = wall_offset
        heartbeat = configuration.heartbeat
        self.links: List[Link] = [
            Link(
                heartbeat=heartbeat, liveness=DEFAULT_LIVENESS, last_heard=now, last_sent=now,
                backoff_due=now + heartbeat, backoff_wait=self._next_wait(heartbeat, heartbeat), since=now,
            )
            for _ in range(configuration.shards)
        ]
        self.link_turn = 0
        self.credit_clock = 0.0
        self.credit_given: Dict[int, int] = {}
        self.running: Dict[AttemptId, Running] = {}
        self.open_sets: Dict[int, OpenSet] = {}
        self.last_local_set = 0
        #: Results not yet confirmed by a RECEIPT, with the link they go to.
        self.unreceipted: Dict[AttemptId, TaskResult] = {}
        #: Results to send at the end of this turn, by link.
        self.outgoing: Dict[int, Dict[AttemptId, TaskResult]] = {}
        self.effects: List[Effect] = []
        self.draining = False

    # ----------------------------------------------------------------------------------- slots

    @property
    def busy(self) -> int:
        """Slots running something: an attempt on its own, or a claimed set (one slot however large)."""
        in_sets = sum(open_set.remaining for open_set in self.open_sets.values())
        return len(self.running) - in_sets + len(self.open_sets)

    @property
    def available(self) -> int:
        """Slots neither running an attempt nor promised to a shard."""
        return max(0, self.configuration.slots - self.busy - sum(link.credit for link in self.links))

    @property
    def is_idle(self) -> bool:
        """Whether nothing runs and every result is confirmed: a draining worker may stop."""
        return not self.running and not self.unreceipted

    def result_limit(self, link: int) -> int:
        return self.links[link].result_limit

    # ----------------------------------------------------------------------------- registration

    def start(self, now: float) -> None:
        """Registers with every shard, splitting the slots between them: the first thing a worker does."""
        count = len(self.links)
        slots = self.configuration.slots
        for index in range(count):
            self._register(index, slots // count + (1 if index < slots % count else 0), now)

    def _register_again(self, index: int, now: float) -> None:
        """Registers a link again (a new socket, or after DISCONNECT 401). While another link is
        registered it opens with no credit: its shard may be gone for a while, and slots promised to it
        could not be recalled. Credit reaches it after WELCOME, where there is demand."""
        self.links[index].credit = 0
        others = any(i != index and link.state == REGISTERED for i, link in enumerate(self.links))
        self._register(index, 0 if others else self.available, now)

    def _register(self, index: int, share: int, now: float) -> None:
        link = self.links[index]
        if self.draining:
            # A draining worker still registers, so that what it holds is delivered, but asks for nothing.
            share = 0
        # A new conversation: a RECALL or DEMAND of the old one means nothing any more.
        link.recalling = False
        link.demand = 0
        link.credit = share
        link.state = REGISTERING
        link.since = now
        link.last_heard = now
        held = sorted(id.ref for ids in (self.running, self.unreceipted) for id in ids if id.link == index)
        config = self.configuration
        ready = wire.Ready(
            worker=config.name, session=self.session, slots=share, heartbeat=config.heartbeat,
            commands=1 if config.commands else 0, tags=tuple(config.tags), handlers=tuple(config.handlers),
            held=tuple(held), sets=tuple(wire.SetOffer(name, limit) for name, limit in sorted(config.sets.items())),
            batches=1 if config.commands else 0,
        )
        self._send(index, ready, now)

    def _send(self, index: int, message: wire.Message, now: float) -> None:
        self.effects.append(Send(index, message))
        self.links[index].last_sent = now

    def _next_wait(self, wait: int, heartbeat: int) -> int:
        initial = max(1, heartbeat)
        return min(max(wait * 2, initial), max(initial, self.configuration.maximum_backoff))

    def _reset_backoff(self, link: Link, now: float) -> None:
        initial = max(1, link.heartbeat)
        link.backoff_due = now + initial
        link.backoff_wait = self._next_wait(initial, link.heartbeat)

    def _reconnect(self, index: int, now: float) -> None:
        """Reopens a link whose shard went silent, then registers again; the next reconnection waits longer."""
        link = self.links[index]
        link.credit = 0
        link.backoff_due = now + link.backoff_wait
        link.backoff_wait = self._next_wait(link.backoff_wait, link.heartbeat)
        self.effects.append(Reconnect(index))
        self._register_again(index, now)

    def refuse(self, index: int, reason: str, now: Optional[float] = None) -> None:
        """Stops using a link for good: its shard refused the worker (another version, a refused key).
        What the worker runs for that shard is stopped, and its results forgotten: no shard would take
        them (the shard takes its leases back when the worker has gone silent, to run elsewhere)."""
        link = self.links[index]
        link.state = REFUSED
        link.refusal = reason
        link.credit = 0
        link.demand = 0
        link.recalling = False
        for id in [id for id in self.unreceipted if id.link == index]:
            del self.unreceipted[id]
        self.outgoing.pop(index, None)
        if now is not None:
            for id in sorted(id for id in self.running if id.link == index):
                self._stop(id, Outcome.CANCELLED, f"this worker no longer uses the shard: {reason}",
                           self.configuration.kill_grace, now)

    @property
    def all_refused(self) -> bool:
        return all(link.state == REFUSED for link in self.links)

    # ------------------------------------------------------------------------ messages from shards

    def received(self, message: wire.Message, index: int, now: float) -> None:
        """Handles a message from the shard of link ``index``."""
        link = self.links[index]
        if link.state == REFUSED:
            return
        link.last_heard = now
        kind = type(message)
        if kind is wire.Tasks:
            link.demand -= min(link.demand, len(message.tasks))
            if message.set == 0:
                for spec in message.tasks:
                    self._accept(spec, index, now)
            else:
                self._accept_set(message, index, now)
        elif kind is wire.Receipt:
            for ref in message.tasks:
                self.unreceipted.pop(AttemptId(index, ref.task, ref.attempt), None)
        elif kind is wire.Welcome:
            self._welcomed(message, index, now)
            # Results the shard has not confirmed are sent again: it may have restarted without them.
            for id, result in self.unreceipted.items():
                if id.link == index:
                    self.outgoing.setdefault(index, {})[id] = result
        elif kind is wire.Cancel:
            for ref in message.tasks:
                self._stop(AttemptId(index, ref.task, ref.attempt), Outcome.CANCELLED, "cancelled by the shard",
                           message.grace, now)
        elif kind is wire.Demand:
            self._demanded(message, index)
        elif kind is wire.Recalled:
            self._recalled(message, index)
        elif kind is wire.Disconnect:
            self._disconnected(message, index, now)

    def _welcomed(self, welcome: wire.Welcome, index: int, now: float) -> None:
        link = self.links[index]
        link.state = REGISTERED
        # The protocol's range: a heartbeat of 0 would make the loop wake every millisecond.
        link.heartbeat = min(MAXIMUM_HEARTBEAT, max(MINIMUM_HEARTBEAT, welcome.heartbeat))
        link.liveness = max(welcome.liveness, 1)
        link.epoch = welcome.epoch
        link.shard = welcome.shard
        link.result_limit = min(welcome.result_limit, wire.RESULT_LIMIT_MAX)
        self._reset_backoff(link, now)
        # A READY sent before the worker began to drain gave credit the shard holds now: taken back.
        if self.draining and link.credit > 0 and not link.recalling:
            link.recalling = True
            self._send(index, wire.Recall(link.credit), now)
        self.effects.append(Welcomed(index, welcome))

    def _demanded(self, demand: wire.Demand, index: int) -> None:
        link = self.links[index]
        if link.demand == 0 and demand.pending > 0:
            # A shard asking again earns nothing for the time it did not ask.
            link.pass_ = max(link.pass_, self.credit_clock)
        link.demand = demand.pending
        link.demand_weight = max(1, demand.weight)

    def _recalled(self, recalled: wire.Recalled, index: int) -> None:
        link = self.links[index]
        link.credit = max(0, link.credit - recalled.credit)
        link.recalling = False
        # Credit given back was credit the shard had no work for: its DEMAND is over. With none given
        # back, the shard had used it all, and a DEMAND it sent before still stands.
        if recalled.credit > 0:
            link.demand = 0

    def _disconnected(self, disconnect: wire.Disconnect, index: int, now: float) -> None:
        """401 registers again on the same socket; 403 stops the link's attempts and waits its backoff
        before a new socket; 505 refuses the worker for good; any other waits the backoff too, then
        reopens the socket (the attempts running go on: their results go after the next WELCOME)."""
        link = self.links[index]
        if disconnect.status == wire.Status.UNKNOWN_PEER:
            # While READY waits for its WELCOME, a 401 answers something sent before that READY (messages
            # on a connection arrive in order, and READY is never answered 401): the READY is on its way.
            if link.state != REGISTERING:
                self._register_again(index, now)
        elif disconnect.status == wire.Status.FORBIDDEN:
            # The shard took back every lease of this connection: its attempts stop (their results
            # would be stale), and its slots go back to the others until the backoff is over.
            self._wait_before_reconnecting(link, now)
            for id in sorted(id for id in self.running if id.link == index):
                self._stop(id, Outcome.CANCELLED, f"the shard refused this worker: {disconnect.reason}",
                           self.configuration.kill_grace, now)
            self.effects.append(Forbidden(index, disconnect.reason))
        elif disconnect.status == wire.Status.VERSION_NOT_SUPPORTED:
            self.refuse(index, disconnect.reason, now)
            self.effects.append(Refused(index, disconnect.reason))
        else:
            # The shard ended the conversation: a READY at once might meet the same answer. The link
            # waits as after a READY not answered (``_tick_links``), then starts again on a new socket.
            self._wait_before_reconnecting(link, now)
            self.effects.append(TurnedAway(index, int(disconnect.status), disconnect.reason))

    @staticmethod
    def _wait_before_reconnecting(link: Link, now: float) -> None:
        link.credit = 0
        link.demand = 0
        link.recalling = False
        link.state = REGISTERING
        link.since = now

    # ------------------------------------------------------------------------------------ attempts

    def _admit(self, spec: TaskSpec, index: int, now: float) -> bool:
        """Whether a task handed out can start here: not one already running or finished (a repeated
        TASKS), and one the worker can run; one it cannot run is answered as rejected at once."""
        id = AttemptId(index, spec.task, spec.attempt)
        if id in self.running or id in self.unreceipted:
            return False
        # The job's name is part of the attempt's log path (and a command's scratch folder, removed
        # whole at its end): one that could point elsewhere is refused before anything is made of it.
        unsafe = unsafe_job_name(spec.job)
        if unsafe is not None:
            self._finish(TaskResult(spec.task, spec.attempt, Outcome.REJECTED, started=self._wall(now), error=unsafe),
                         index)
            return False
        if spec.kind == Kind.COMMAND:
            runnable = self.configuration.commands
            reason = "this worker does not run commands"
        else:
            runnable = spec.action in self.configuration.handlers
            reason = f'no handler "{spec.action}" in this worker'
        if not runnable:
            self._finish(TaskResult(spec.task, spec.attempt, Outcome.REJECTED, started=self._wall(now), error=reason),
                         index)
        return runnable

    def _accept(self, spec: TaskSpec, index: int, now: float) -> None:
        link = self.links[index]
        link.credit = max(0, link.credit - 1)
        if not self._admit(spec, index, now):
            return
        id = AttemptId(index, spec.task, spec.attempt)
        deadline = now + spec.timeout if spec.timeout > 0 else None
        self.running[id] = Running(index, spec, now, deadline)
        self.effects.append(Start(id, spec))

    @staticmethod
    def _same_batch(spec: TaskSpec, first: TaskSpec) -> bool:
        """Whether two tasks can run in one command batch: one command line and environment."""
        return (
            spec.kind == Kind.COMMAND and spec.run == first.run and spec.job == first.job
            and spec.generation == first.generation and spec.step == first.step and spec.action == first.action
            and spec.params == first.params and spec.moment == first.moment and spec.timeout == first.timeout
        )

    def _accept_set(self, tasks: wire.Tasks, index: int, now: float) -> None:
        """A claimed set: one credit, one slot, and one effect that starts all its new tasks together."""
        link = self.links[index]
        link.credit = max(0, link.credit - 1)
        if not tasks.tasks:
            return
        first = tasks.tasks[0]
        is_batch = first.kind == Kind.COMMAND
        self.last_local_set += 1
        ids: List[AttemptId] = []
        specs: List[TaskSpec] = []
        for spec in tasks.tasks:
            id = AttemptId(index, spec.task, spec.attempt)
            if is_batch and not self._same_batch(spec, first):
                if id in self.running or id in self.unreceipted:
                    continue
                reason = "a command batch holds tasks of one run, job and step: this task is not of the first task's"
                self._finish(TaskResult(spec.task, spec.attempt, Outcome.REJECTED, started=self._wall(now),
                                        error=reason), index)
                continue
            if not self._admit(spec, index, now):
                continue
            deadline = now + spec.timeout if spec.timeout > 0 else None
            self.running[id] = Running(index, spec, now, deadline, set=tasks.set, local_set=self.last_local_set)
            ids.append(id)
            specs.append(spec)
        if not ids:
            return
        self.open_sets[self.last_local_set] = OpenSet(index, len(ids), is_batch)
        self.effects.append(StartSet(index, tasks.set, tuple(ids), tuple(specs)))

    def _stop(self, id: AttemptId, outcome: Outcome, reason: str, grace: float, now: float) -> None:
        """Stops an attempt: a command gets SIGTERM (a batch's process only once all of its attempts
        are stopping); a handler is abandoned and reported at once."""
        attempt = self.running.get(id)
        if attempt is None or attempt.stopping is not None:
            return
        attempt.stopping = Stopping(outcome, now + grace, reason)
        open_set = self.open_sets.get(attempt.local_set) if attempt.local_set else None
        if open_set is not None and open_set.is_batch:
            open_set.stopping += 1
            if open_set.stopping == open_set.remaining:
                # The last attempt of the batch that ran on: the process has nothing left to do.
                open_set.kill_at = now + grace
                self.effects.append(Signal(id, False))
            return
        if attempt.spec.kind == Kind.COMMAND:
            self.effects.append(Signal(id, False))
        else:
            # A thread cannot be killed: the slot is freed and the handler's late return ignored.
            self.effects.append(Abandon(id))
            self.attempt_ended(id, outcome, 0, "", "", reason, b"", now)

    def attempt_ended(
        self, id: AttemptId, outcome: Outcome, exit_code: int, output: str, log: str, error: str, data: bytes,
        now: float,
    ) -> None:
        """Records the end of an attempt the runtime ran. One stopped for its timeout or a CANCEL is
        reported with that outcome, whatever the process did on its way out, and without a result. A
        success whose result is over its shard's limit fails here, so the result is never sent."""
        attempt = self.running.pop(id, None)
        if attempt is None:
            return
        link = self.links[id.link]
        open_set = self.open_sets.get(attempt.local_set) if attempt.local_set else None
        if open_set is not None:
            open_set.remaining -= 1
            if attempt.stopping is not None and open_set.is_batch:
                open_set.stopping -= 1
            if open_set.remaining == 0:
                del self.open_sets[attempt.local_set]
                link.slot_times.add(max(0.0, now - attempt.started))
        else:
            link.slot_times.add(max(0.0, now - attempt.started))
        limit = link.result_limit
        if attempt.stopping is not None:
            outcome, error, data = attempt.stopping.outcome, attempt.stopping.reason, b""
        elif outcome == Outcome.SUCCEEDED and len(data) > limit:
            error = f"its result is {len(data)} octets, over the shard's limit of {limit}"
            outcome, data = Outcome.FAILED, b""
        started, duration = self._wall(attempt.started), min(0xFFFFFFFF, int(max(0.0, now - attempt.started)))
        try:
            result = TaskResult(
                id.task, id.attempt, outcome, max(-(1 << 31), min((1 << 31) - 1, int(exit_code))), started, duration,
                tail(output, wire.OUTPUT_LIMIT), clean(log), head(error, ERROR_LIMIT), bytes(data),
            )
        except Exception as problem:  # noqa: BLE001 - the attempt must be reported, and the loop go on
            result = TaskResult(id.task, id.attempt, Outcome.FAILED, 0, started, duration,
                                error=head(f"the worker could not report this attempt: {problem!r}", ERROR_LIMIT))
        self._finish(result, attempt.link)

    def _finish(self, result: TaskResult, index: int) -> None:
        """Holds a result until its RECEIPT; it goes with this turn's RESULTS if its link is registered,
        and after the next WELCOME otherwise."""
        id = AttemptId(index, result.task, result.attempt)
        if self.links[index].state == REFUSED:
            return  # No shard would take it.
        self.unreceipted[id] = result
        if self.links[index].state == REGISTERED:
            self.outgoing.setdefault(index, {})[id] = result

    def _wall(self, now: float) -> int:
        return max(0, int(now + self.wall_offset))

    # ----------------------------------------------------------------------------------- stopping

    def drain(self, now: float) -> None:
        """Stops asking for work: no more PULL, and RECALL for the credit each shard holds. Attempts
        running go on, and their results are still sent and confirmed."""
        if self.draining:
            return
        self.draining = True
        for index, link in enumerate(self.links):
            if link.state == REGISTERED and link.credit > 0 and not link.recalling:
                link.recalling = True
                self._send(index, wire.Recall(link.credit), now)

    # --------------------------------------------------------------------------------------- time

    def tick(self, now: float) -> None:
        """Heartbeats, reconnects silent links, and stops attempts past their timeout."""
        self._tick_links(now)
        self._tick_attempts(now)

    def next_deadline(self) -> float:
        """The next time :meth:`tick` has something to do."""
        return min(self._links_deadline(), self._attempts_deadline())

    def _tick_links(self, now: float) -> None:
        for index, link in enumerate(self.links):
            if link.state == REGISTERED:
                if now - link.last_heard >= link.heartbeat * link.liveness:
                    self._reconnect(index, now)
                elif now - link.last_sent >= link.heartbeat:
                    self._send(index, wire.Heartbeat(), now)
            elif link.state == REGISTERING and now >= link.reconnect_due():
                self._reconnect(index, now)

    def _links_deadline(self) -> float:
        deadline = NEVER
        for link in self.links:
            if link.state == REGISTERED:
                silent = link.last_heard + link.heartbeat * link.liveness
                deadline = min(deadline, link.last_sent + link.heartbeat, silent)
            elif link.state == REGISTERING:
                deadline = min(deadline, link.reconnect_due())
        return deadline

    def _in_batch(self, attempt: Running) -> bool:
        open_set = self.open_sets.get(attempt.local_set) if attempt.local_set else None
        return open_set is not None and open_set.is_batch

    def _tick_attempts(self, now: float) -> None:
        attempts = sorted(self.running.items())
        for id, attempt in attempts:
            if id not in self.running:
                continue
            if attempt.stopping is not None:
                # A command batch's process is killed once, for the whole batch, below.
                if attempt.stopping.kill_at <= now and not self._in_batch(attempt):
                    self.effects.append(Signal(id, True))
                    attempt.stopping.kill_at = now + self.configuration.kill_grace
            elif attempt.deadline is not None and attempt.deadline <= now:
                limit = format_duration(attempt.spec.timeout)
                self._stop(id, Outcome.TIMED_OUT, f"timed out after {limit}", self.configuration.kill_grace, now)
        for number, open_set in sorted(self.open_sets.items()):
            if open_set.kill_at is None or open_set.kill_at > now:
                continue
            # Any attempt of the batch names its process: the first, in the order above.
            member = next((id for id, attempt in attempts if attempt.local_set == number and id in self.running),
                          None)
            if member is None:
                continue
            self.effects.append(Signal(member, True))
            open_set.kill_at = now + self.configuration.kill_grace

    def _attempts_deadline(self) -> float:
        deadline = NEVER
        for attempt in self.running.values():
            if attempt.stopping is not None:
                if not self._in_batch(attempt):
                    deadline = min(deadline, attempt.stopping.kill_at)
            elif attempt.deadline is not None:
                deadline = min(deadline, attempt.deadline)
        for open_set in self.open_sets.values():
            if open_set.kill_at is not None:
                deadline = min(deadline, open_set.kill_at)
        return deadline

    # ------------------------------------------------------------------------------- end of turn

    def finish_turn(self, now: float) -> List[Effect]:
        """Ends the turn: sends results in as few RESULTS per shard as the frame limit allows, then gives
        the free slots to shards as credit. Returns the effects to carry out, in order."""
        for index in sorted(self.outgoing):
            if self.links[index].state != REGISTERED:
                continue  # Kept in ``unreceipted``: they go after the next WELCOME.
            batch: List[TaskResult] = []
            size = 0
            for result in self.outgoing[index].values():
                octets = wire.encoded_size(result)
                if batch and size + octets > RESULTS_BUDGET:
                    self._send(index, wire.Results(tuple(batch)), now)
                    batch, size = [], 0
                batch.append(result)
                size += octets
            if batch:
                self._send(index, wire.Results(tuple(batch)), now)
        self.outgoing = {}
        if not self.draining:
            self._give_credit(now)
        self.credit_given = {}
        effects, self.effects = self.effects, []
        return effects

    def _give_credit(self, now: float) -> None:
        """Gives free slots to shards as credit: first to those that sent DEMAND, by the weight each
        asked for and what its credits cost in slot time (stride scheduling, so that products of equal
        weight get equal worker time whichever shard they are bound to); with none demanding, to every
        shard in turn. With no slot free, a demanding shard out of credit gets credit recalled from a
        shard that holds some and has not said it has work."""
        registered = [index for index, link in enumerate(self.links) if link.state == REGISTERED]
        if not registered:
            return
        demanding = [index for index in registered if self.links[index].demand > 0]
        free = self.available
        while free > 0:
            if demanding:
                index = min(demanding, key=lambda i: (self.links[i].pass_, i))
                link = self.links[index]
                self.credit_clock = max(self.credit_clock, link.pass_)
                link.pass_ += self._slot_time(index) / link.demand_weight
            else:
                index = registered[self.link_turn % len(registered)]
                self.link_turn += 1
            self.links[index].credit += 1
            self.credit_given[index] = self.credit_given.get(index, 0) + 1
            free -= 1
        for index in sorted(self.credit_given):
            self._send(index, wire.Pull(self.credit_given[index]), now)
        if not any(self.links[index].credit == 0 for index in demanding):
            return
        for index in registered:
            link = self.links[index]
            if link.credit > 0 and link.demand == 0 and not link.recalling:
                link.recalling = True
                self._send(index, wire.Recall(link.credit), now)

    def _slot_time(self, index: int) -> float:
        """What one credit given to a link's shard is expected to keep a slot for: its recent mean,
        else that of every shard, else 1 ms."""
        window = self.links[index].slot_times
        if len(window):
            return max(1.0, window.mean)
        known = [link.slot_times.mean for link in self.links if len(link.slot_times)]
        return max(1.0, sum(known) / len(known)) if known else 1.0
