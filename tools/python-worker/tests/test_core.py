"""The worker's state machine alone: events in, effects out, no sockets, threads or sleeps."""

from __future__ import annotations

import unittest

from baton_worker import core, wire
from baton_worker.core import AttemptId, Configuration, WorkerCore
from baton_worker.wire import Kind, Outcome

WELCOME = wire.Welcome(shard=1, epoch=1, heartbeat=1000, liveness=3, result_limit=100)


def spec(task: int, attempt: int = 1, kind: Kind = Kind.HANDLER, action: str = "load", timeout: int = 0, **extra):
    fields = dict(task=task, attempt=attempt, run=42, job="j", generation=0, product="p", flow="f", step=0, steps=1,
                  step_name="j", partition=0, partitions=1, partition_key="", kind=kind, action=action, type="t",
                  params={}, timeout=timeout, moment=7, inputs=())
    fields.update(extra)
    return wire.TaskSpec(**fields)


class Harness:
    """A core and its effects, with a clock the test moves."""

    def __init__(self, slots: int = 4, shards: int = 1, **settings) -> None:
        self.now = 0.0
        configuration = Configuration(name="w", slots=slots, shards=shards, handlers=("load",), **settings)
        self.core = WorkerCore(configuration, session=99, now=self.now)
        self.core.start(self.now)
        self.effects = self.core.finish_turn(self.now)

    def receive(self, message, link: int = 0):
        self.core.received(message, link, self.now)
        self.effects = self.core.finish_turn(self.now)
        return self.effects

    def advance(self, milliseconds: float):
        self.now += milliseconds
        self.core.tick(self.now)
        self.effects = self.core.finish_turn(self.now)
        return self.effects

    def end(self, task: int, outcome=Outcome.SUCCEEDED, data=b"", link: int = 0, attempt: int = 1, exit_code: int = 0):
        self.core.attempt_ended(AttemptId(link, task, attempt), outcome, exit_code, "out", "h:/l", "", data, self.now)
        self.effects = self.core.finish_turn(self.now)
        return self.effects

    def sent(self, kind, link=None):
        return [e.message for e in self.effects
                if isinstance(e, core.Send) and isinstance(e.message, kind) and (link is None or e.link == link)]

    def of(self, kind):
        return [e for e in self.effects if isinstance(e, kind)]


class RegistrationTests(unittest.TestCase):
    def test_ready_offers_the_slots_handlers_and_sets_and_nothing_else_goes_before_welcome(self):
        h = Harness(slots=4, sets={"load": 50})
        (ready,) = h.sent(wire.Ready)
        self.assertEqual((ready.worker, ready.session, ready.slots, ready.handlers, ready.commands, ready.batches),
                         ("w", 99, 4, ("load",), 1, 1))
        self.assertEqual(ready.sets, (wire.SetOffer("load", 50),))
        self.assertEqual(len(h.effects), 1)

    def test_slots_are_split_between_shards_at_the_start(self):
        h = Harness(slots=5, shards=2)
        self.assertEqual([m.slots for m in h.sent(wire.Ready)], [3, 2])

    def test_no_welcome_within_liveness_reopens_the_socket_with_a_backoff_doubling_to_8s(self):
        h = Harness()
        reconnections = []
        for _ in range(400):
            if h.advance(100) and h.of(core.Reconnect):
                reconnections.append(h.now)
                self.assertEqual(len(h.sent(wire.Ready)), 1)
        gaps = [b - a for a, b in zip([0.0] + reconnections, reconnections)]
        self.assertEqual(gaps[:6], [3000, 3000, 4000, 8000, 8000, 8000])

    def test_welcome_resets_the_backoff(self):
        h = Harness()
        h.advance(3000)
        h.advance(3000)  # Two reconnections: the next would wait 8 s.
        h.receive(WELCOME)
        # The shard goes silent: a new socket after `liveness` intervals...
        h.advance(2999)
        self.assertFalse(h.of(core.Reconnect))
        h.advance(1)
        self.assertTrue(h.of(core.Reconnect))
        # ...and, with no WELCOME, the next after 3 s again, not 8 s: the WELCOME reset the backoff.
        h.advance(2999)
        self.assertFalse(h.of(core.Reconnect))
        h.advance(1)
        self.assertTrue(h.of(core.Reconnect))

    def test_another_disconnect_status_waits_the_backoff_before_a_new_socket(self):
        h = Harness()
        h.receive(WELCOME)
        h.receive(wire.Tasks(0, (spec(1),)))
        self.assertEqual(h.receive(wire.Disconnect(500, "shard overloaded")), [core.TurnedAway(0, 500, "shard overloaded")])
        self.assertEqual(h.core.links[0].credit, 0)
        h.advance(2999)
        self.assertEqual(h.effects, [])
        h.advance(1)
        self.assertTrue(h.of(core.Reconnect))
        (ready,) = h.sent(wire.Ready)
        # The attempt went on through it, and is held.
        self.assertEqual(ready.held, (wire.TaskRef(1, 1),))
        self.assertEqual(h.of(core.Abandon), [])


class AttemptTests(unittest.TestCase):
    def welcomed(self, **settings) -> Harness:
        h = Harness(**settings)
        h.receive(WELCOME)
        return h

    def test_a_task_of_a_handler_it_lacks_is_rejected_at_once_without_using_a_slot(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1, action="nope"),)))
        (results,) = h.sent(wire.Results)
        self.assertEqual(results.results[0].outcome, Outcome.REJECTED)
        self.assertEqual(results.results[0].error, 'no handler "nope" in this worker')
        self.assertEqual(h.sent(wire.Pull), [wire.Pull(1)])

    def test_a_worker_without_commands_rejects_a_command(self):
        h = self.welcomed(commands=False)
        h.receive(wire.Tasks(0, (spec(1, kind=Kind.COMMAND, action="true"),)))
        self.assertEqual(h.sent(wire.Results)[0].results[0].error, "this worker does not run commands")

    def test_results_are_batched_then_credit_follows_and_receipted_results_are_forgotten(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1), spec(2))))
        self.assertEqual(len(h.of(core.Start)), 2)
        self.core_ends_both(h)
        (results,) = h.sent(wire.Results)
        self.assertEqual([r.task for r in results.results], [1, 2])
        self.assertEqual(h.sent(wire.Pull), [wire.Pull(2)])
        self.assertEqual(len(h.core.unreceipted), 2)
        h.receive(wire.Receipt((wire.TaskRef(1, 1), wire.TaskRef(2, 1))))
        self.assertTrue(h.core.is_idle)

    def core_ends_both(self, h: Harness) -> None:
        h.core.attempt_ended(AttemptId(0, 1, 1), Outcome.SUCCEEDED, 0, "", "", "", b"a", h.now)
        h.core.attempt_ended(AttemptId(0, 2, 1), Outcome.FAILED, 3, "", "", "exit status 3", b"", h.now)
        h.effects = h.core.finish_turn(h.now)

    def test_a_result_over_the_shards_limit_fails_and_is_not_sent(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1),)))
        h.end(1, data=b"x" * 101)
        (result,) = h.sent(wire.Results)[0].results
        self.assertEqual((result.outcome, result.data), (Outcome.FAILED, b""))
        self.assertEqual(result.error, "its result is 101 octets, over the shard's limit of 100")

    def test_after_401_ready_holds_running_and_unreceipted_attempts_and_results_go_again_after_welcome(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1), spec(2))))
        h.end(1)
        h.receive(wire.Disconnect(401, "unknown worker: send READY"))
        (ready,) = h.sent(wire.Ready)
        self.assertEqual(ready.held, (wire.TaskRef(1, 1), wire.TaskRef(2, 1)))
        self.assertEqual(ready.slots, 3)  # A result held takes no slot; the attempt running does.
        # A second 401, answering what was sent before that READY, does not send READY again.
        self.assertEqual(h.receive(wire.Disconnect(401, "unknown worker: send READY")), [])
        h.end(2)
        self.assertEqual(h.sent(wire.Results), [])  # Nothing but READY before WELCOME.
        h.receive(WELCOME._replace(epoch=2))
        (results,) = h.sent(wire.Results)
        self.assertEqual(sorted(r.task for r in results.results), [1, 2])

    def test_a_handler_past_its_timeout_is_abandoned_and_reported_timed_out_at_once(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1, timeout=1500),)))
        h.advance(1499)
        self.assertEqual(h.sent(wire.Results), [])
        h.advance(1)
        self.assertEqual(h.of(core.Abandon), [core.Abandon(AttemptId(0, 1, 1))])
        (result,) = h.sent(wire.Results)[0].results
        self.assertEqual((result.outcome, result.error), (Outcome.TIMED_OUT, "timed out after 1s500ms"))
        # Its late return changes nothing.
        self.assertEqual(h.end(1), [])

    def test_a_cancelled_command_gets_sigterm_then_sigkill_after_the_grace_and_ends_cancelled(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1, kind=Kind.COMMAND, action="sleep 9"),)))
        h.receive(wire.Cancel(2000, (wire.TaskRef(1, 1),)))
        self.assertEqual(h.of(core.Signal), [core.Signal(AttemptId(0, 1, 1), False)])
        h.advance(2000)
        self.assertEqual(h.of(core.Signal), [core.Signal(AttemptId(0, 1, 1), True)])
        h.end(1, outcome=Outcome.FAILED, exit_code=-9)
        (result,) = h.sent(wire.Results)[0].results
        self.assertEqual((result.outcome, result.exit_code, result.error), (Outcome.CANCELLED, -9, "cancelled by the shard"))

    def test_403_stops_the_shards_attempts_and_waits_its_backoff_before_a_new_socket(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1),)))
        h.receive(wire.Disconnect(403, "this worker name is bound to another key"))
        self.assertTrue(h.of(core.Forbidden))
        self.assertEqual(h.of(core.Abandon), [core.Abandon(AttemptId(0, 1, 1))])
        self.assertEqual(h.sent(wire.Ready), [])
        h.advance(2999)
        self.assertEqual(h.sent(wire.Ready), [])
        h.advance(1)
        self.assertTrue(h.of(core.Reconnect))
        self.assertEqual(len(h.sent(wire.Ready)), 1)

    def test_505_refuses_the_worker_for_good(self):
        h = self.welcomed()
        h.receive(wire.Disconnect(505, "protocol version 1 is not supported"))
        self.assertTrue(h.of(core.Refused))
        self.assertTrue(h.core.all_refused)
        self.assertEqual(h.advance(60_000), [])

    def test_505_stops_the_shards_attempts_and_forgets_their_results(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1), spec(2))))
        h.end(1)
        h.receive(wire.Disconnect(505, "protocol version 1 is not supported"))
        self.assertEqual(h.of(core.Abandon), [core.Abandon(AttemptId(0, 2, 1))])
        self.assertEqual(h.sent(wire.Results), [])
        # Nothing is left to deliver to a shard the worker no longer uses: a drain need not wait for it.
        self.assertTrue(h.core.is_idle)

    def test_a_job_name_that_could_point_elsewhere_is_rejected_before_it_names_a_file(self):
        h = self.welcomed()
        names = ["../../etc", "a/b", "x..y", "nul\0byte", ""]
        h.receive(wire.Tasks(0, tuple(spec(n + 1, job=name) for n, name in enumerate(names))))
        self.assertEqual(h.of(core.Start), [])
        results = h.sent(wire.Results)[0].results
        self.assertEqual([r.outcome for r in results], [Outcome.REJECTED] * len(names))
        self.assertIn('the job name \'../../etc\' cannot name a file: it holds "/", ".." or a NUL octet',
                      results[0].error)
        self.assertEqual(results[4].error, "the job has no name")
        # Commands too, and the tasks of a set.
        h.receive(wire.Tasks(9, (spec(10, job="../x", kind=Kind.COMMAND, action="true"),
                                 spec(11, job="../x", kind=Kind.COMMAND, action="true"))))
        self.assertEqual(h.of(core.StartSet), [])
        self.assertEqual([r.outcome for r in h.sent(wire.Results)[0].results], [Outcome.REJECTED] * 2)

    def test_text_that_utf8_cannot_carry_is_replaced_not_raised(self):
        h = self.welcomed()
        h.receive(wire.Tasks(0, (spec(1),)))
        # As os.listdir gives a file name that is not UTF-8, and an exception's text repeats it.
        surrogate = "FileNotFoundError: no such file: 'caf\udce9'"
        h.core.attempt_ended(AttemptId(0, 1, 1), Outcome.FAILED, 0, "out \udcff", "h:/l\udcff", surrogate, b"", h.now)
        h.effects = h.core.finish_turn(h.now)
        (result,) = h.sent(wire.Results)[0].results
        self.assertEqual(result.error, "FileNotFoundError: no such file: 'caf?'")
        self.assertEqual((result.output, result.log), ("out ?", "h:/l?"))
        wire.decode(wire.encode(wire.Results((result,))))
        self.assertEqual(core.head("\udce9" * 5000, 10), "?" * 10)
        self.assertEqual(core.tail("a\udce9", 4096), "a?")

    def test_a_welcome_heartbeat_out_of_range_is_clamped(self):
        h = Harness()
        h.receive(WELCOME._replace(heartbeat=0))
        self.assertEqual(h.core.links[0].heartbeat, 100)
        self.assertEqual(h.core.next_deadline(), 100)  # Not a loop that wakes every millisecond.
        h = Harness()
        h.receive(WELCOME._replace(heartbeat=10_000_000))
        self.assertEqual(h.core.links[0].heartbeat, 60_000)

    def test_a_quiet_link_beats_and_a_silent_shard_gets_a_new_socket(self):
        h = self.welcomed()
        self.assertEqual(h.advance(1000), [core.Send(0, wire.Heartbeat())])
        h.advance(1999)
        self.assertFalse(h.of(core.Reconnect))
        h.advance(1)
        self.assertTrue(h.of(core.Reconnect))


class SetTests(unittest.TestCase):
    def test_a_claimed_set_takes_one_slot_and_starts_together(self):
        h = Harness(slots=2, sets={"load": 10})
        h.receive(WELCOME)
        h.receive(wire.Tasks(7, (spec(1), spec(2), spec(3))))
        (started,) = h.of(core.StartSet)
        self.assertEqual((started.set, [i.task for i in started.ids]), (7, [1, 2, 3]))
        self.assertEqual((h.core.busy, h.core.links[0].credit), (1, 1))

    def test_a_command_batch_is_signalled_once_every_attempt_is_stopping(self):
        h = Harness()
        h.receive(WELCOME)
        h.receive(wire.Tasks(5, (spec(1, kind=Kind.COMMAND, action="b"), spec(2, kind=Kind.COMMAND, action="b"))))
        h.receive(wire.Cancel(1000, (wire.TaskRef(1, 1),)))
        self.assertEqual(h.of(core.Signal), [])
        h.receive(wire.Cancel(1000, (wire.TaskRef(2, 1),)))
        self.assertEqual(len(h.of(core.Signal)), 1)

    def test_a_task_of_another_job_in_a_batch_is_rejected(self):
        h = Harness()
        h.receive(WELCOME)
        h.receive(wire.Tasks(5, (spec(1, kind=Kind.COMMAND, action="b"), spec(2, kind=Kind.COMMAND, action="c"))))
        (rejected,) = h.sent(wire.Results)[0].results
        self.assertEqual((rejected.task, rejected.outcome), (2, Outcome.REJECTED))


class CreditTests(unittest.TestCase):
    def test_with_no_free_slot_a_demanding_shard_gets_credit_recalled_from_an_idle_one(self):
        h = Harness(slots=1, shards=2)
        h.receive(WELCOME, link=0)
        h.receive(WELCOME, link=1)
        self.assertEqual([link.credit for link in h.core.links], [1, 0])
        h.receive(wire.Demand(pending=5, weight=1), link=1)
        self.assertEqual(h.sent(wire.Recall), [wire.Recall(1)])
        self.assertEqual(h.effects[0].link, 0)
        h.receive(wire.Recalled(1), link=0)
        self.assertEqual(h.sent(wire.Pull, link=1), [wire.Pull(1)])
        self.assertEqual([link.credit for link in h.core.links], [0, 1])

    def test_draining_recalls_the_credit_and_gives_no_more(self):
        h = Harness(slots=3)
        h.receive(WELCOME)
        h.receive(wire.Tasks(0, (spec(1),)))
        h.core.drain(h.now)
        effects = h.core.finish_turn(h.now)
        self.assertEqual([e.message for e in effects], [wire.Recall(2)])
        h.end(1)
        self.assertEqual(h.sent(wire.Pull), [])
        self.assertEqual(len(h.sent(wire.Results)), 1)
        self.assertFalse(h.core.is_idle)
        h.receive(wire.Receipt((wire.TaskRef(1, 1),)))
        self.assertTrue(h.core.is_idle)

    def test_a_welcome_that_comes_after_the_drain_began_has_its_credit_recalled(self):
        h = Harness(slots=3)
        self.assertEqual(h.sent(wire.Ready)[0].slots, 3)  # READY gave the shard 3 credits...
        h.core.drain(h.now)  # ...and the drain began before WELCOME: nothing to recall yet.
        self.assertEqual(h.core.finish_turn(h.now), [])
        h.receive(WELCOME)
        self.assertEqual(h.sent(wire.Recall), [wire.Recall(3)])
        self.assertEqual(h.sent(wire.Pull), [])
        h.receive(wire.Recalled(3))
        self.assertEqual(h.core.links[0].credit, 0)

    def test_a_ready_sent_while_draining_offers_no_slot(self):
        h = Harness(slots=3)
        h.receive(WELCOME)
        h.receive(wire.Tasks(0, (spec(1),)))
        h.core.drain(h.now)
        h.core.finish_turn(h.now)
        h.receive(wire.Disconnect(401, "unknown worker: send READY"))
        (ready,) = h.sent(wire.Ready)
        self.assertEqual((ready.slots, ready.held), (0, (wire.TaskRef(1, 1),)))
        h.advance(5000)  # No WELCOME: a new socket, and READY again, still with no slot.
        self.assertEqual([r.slots for r in h.sent(wire.Ready)], [0])
        h.receive(WELCOME)
        self.assertEqual((h.sent(wire.Recall), h.sent(wire.Pull)), ([], []))


if __name__ == "__main__":
    unittest.main()
