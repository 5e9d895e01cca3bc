"""Pieces of the runtime alone: the doorbell that wakes the I/O thread, the handler threads, what a
handler's return becomes, and attempts started and reported without a socket."""

from __future__ import annotations

import collections
import logging
import os
import select
import shutil
import signal
import tempfile
import threading
import time
import unittest

from baton_worker import Registry, Worker, commands, wire
from baton_worker.attempts import Attempts, Doorbell
from baton_worker.core import AttemptId, StartSet
from baton_worker.handlers import Cancellation, HandlerResultError, HandlerThreads, describe_exception, result_bytes
from baton_worker.wire import Kind, Outcome


def spec(task: int = 1, kind: Kind = Kind.HANDLER, action: str = "h", **extra) -> wire.TaskSpec:
    fields = dict(task=task, attempt=1, run=42, job="j", generation=0, product="p", flow="f", step=0, steps=1,
                  step_name="j", partition=0, partitions=1, partition_key="", kind=kind, action=action, type="t",
                  params={}, timeout=0, moment=7, inputs=())
    fields.update(extra)
    return wire.TaskSpec(**fields)


class DoorbellTests(unittest.TestCase):
    def test_no_ring_is_lost_between_the_loops_answer_and_its_next_wait(self):
        bell = Doorbell()
        self.addCleanup(bell.close)
        items = collections.deque()
        producers, each = 4, 2000

        def produce() -> None:
            for _ in range(each):
                items.append(1)
                bell.ring()
                time.sleep(0)  # Lets the loop run between rings, where a ring could be lost.

        threads = [threading.Thread(target=produce) for _ in range(producers)]
        for thread in threads:
            thread.start()
        poller = select.poll()
        poller.register(bell.read_fd, select.POLLIN)
        taken = 0
        for _ in range(producers * each + 10):
            if taken == producers * each:
                break
            woken = poller.poll(2000)
            # Woken by nothing while work waits: a ring was lost.
            self.assertTrue(woken or not items, f"a ring was lost with {len(items)} items waiting")
            bell.answer()
            while items:
                items.popleft()
                taken += 1
        for thread in threads:
            thread.join()
        self.assertEqual(taken, producers * each)

    def test_a_ring_after_close_does_not_write_into_a_reused_descriptor(self):
        bell = Doorbell()
        bell.close()
        # The process gives the numbers to the next pipe it makes: a late ring must not write into it.
        read_fd, write_fd = os.pipe()
        self.addCleanup(os.close, read_fd)
        self.addCleanup(os.close, write_fd)
        if write_fd != bell.write_fd:
            self.skipTest("the descriptor was not reused")
        bell.ring()
        bell.wake()
        self.assertEqual(select.select([read_fd], [], [], 0)[0], [])
        bell.close()  # Twice is harmless: the numbers now belong to that pipe.
        os.fstat(write_fd)


class SignalHandlerTests(unittest.TestCase):
    def test_the_signal_handler_takes_no_lock_and_logs_nothing(self):
        if threading.current_thread() is not threading.main_thread():
            self.skipTest("signal handlers are installed from the main thread only")
        worker = Worker(name="sig", endpoints=["tcp://127.0.0.1:9"], handlers=Registry(),
                        data=tempfile.mkdtemp(prefix="baton-sdk-signal-"))
        self.addCleanup(shutil.rmtree, worker.data, True)
        worker._doorbell = bell = Doorbell()
        self.addCleanup(bell.close)
        previous = worker._install_signal_handlers()
        self.addCleanup(lambda: [signal.signal(number, handler) for number, handler in previous.items()])
        handler = signal.getsignal(signal.SIGTERM)
        records = []
        catcher = logging.Handler(logging.DEBUG)
        catcher.emit = records.append
        logger = logging.getLogger("baton_worker")
        logger.addHandler(catcher)
        self.addCleanup(logger.removeHandler, catcher)
        self.addCleanup(logger.setLevel, logger.level)
        logger.setLevel(logging.DEBUG)
        # A signal handler runs on the main thread, which may hold the doorbell's lock when the signal
        # comes: the handler must not wait for it. (Called on another thread here, so that a handler that
        # did would block instead of deadlocking the test.)
        called = threading.Thread(target=handler, args=(signal.SIGTERM, None))
        with bell._lock:
            called.start()
            called.join(5)
            self.assertFalse(called.is_alive(), "the signal handler waited for the doorbell's lock")
        self.assertEqual(records, [])
        self.assertEqual(worker._signals, [signal.SIGTERM])
        self.assertEqual(select.select([bell.read_fd], [], [], 0)[0], [bell.read_fd])  # The loop is woken.
        # The loop, not the handler, logs and stops.
        worker._take_signals()
        self.assertTrue(worker._stop_requested.is_set())
        self.assertTrue(any("SIGTERM: stopping" in record.getMessage() for record in records))


class HandlerThreadsTests(unittest.TestCase):
    def test_every_piece_of_work_runs_even_while_others_block(self):
        threads = HandlerThreads()
        self.addCleanup(threads.stop)
        release = threading.Event()
        done = threading.Semaphore(0)
        for _ in range(5):
            threads.run(lambda: (release.wait(10), done.release()))
        # Work given while five threads block still runs at once, on new threads.
        ran = threading.Event()
        threads.run(ran.set)
        self.assertTrue(ran.wait(5))
        release.set()
        for _ in range(5):
            self.assertTrue(done.acquire(timeout=5))


class ResultTests(unittest.TestCase):
    def test_a_handlers_return_becomes_octets(self):
        self.assertEqual(result_bytes(None), b"")
        self.assertEqual(result_bytes(b"\x00"), b"\x00")
        self.assertEqual(result_bytes("é"), "é".encode())
        self.assertEqual(result_bytes({"rows": 3, "ok": True}), b'{"rows":3,"ok":true}')
        with self.assertRaisesRegex(HandlerResultError, "not bytes, text or JSON-serialisable"):
            result_bytes(object())

    def test_an_exception_is_named_in_one_line(self):
        self.assertEqual(describe_exception(ValueError("no rows\n  in file x")), "ValueError: no rows in file x")
        self.assertEqual(describe_exception(KeyError("region")), "KeyError: 'region'")
        self.assertEqual(describe_exception(RuntimeError()), "RuntimeError")

    def test_an_exception_naming_a_file_that_is_not_utf8_is_described_in_utf8(self):
        # os.listdir gives such a name with a lone surrogate, which UTF-8 cannot carry.
        error = ValueError("no rows in " + os.fsdecode(b"caf\xe9"))
        described = describe_exception(error)
        self.assertEqual(described, "ValueError: no rows in caf?")
        described.encode("utf-8")

        class Unprintable(Exception):
            def __str__(self):
                raise RuntimeError("no")

        self.assertEqual(describe_exception(Unprintable()), "Unprintable")

    def test_a_cancellation_wakes_a_waiting_handler(self):
        cancellation = Cancellation()
        self.assertFalse(cancellation.wait(0.01))
        threading.Timer(0.05, cancellation.set).start()
        self.assertTrue(cancellation.wait(10))
        self.assertTrue(cancellation.is_set())


class AttemptsTests(unittest.TestCase):
    """Attempts started as the core's effects say, reported through the doorbell: no socket, no core."""

    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="baton-sdk-attempts-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.logs = os.path.join(self.folder, "logs")
        os.makedirs(self.logs)
        self.bell = Doorbell()
        self.addCleanup(self.bell.close)
        self.handlers = Registry()
        self.attempts = Attempts("w", self.handlers, self.logs, dict(os.environ), "host", self.bell)
        self.addCleanup(self.attempts.threads.stop)
        self.addCleanup(self.attempts.kill_all)

    def endings(self, count: int, timeout: float = 10):
        """The first ``count`` endings reported, waited for on the doorbell (bounded)."""
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            found = [ending for report in list(self.attempts._reports) for ending in report.endings]
            if len(found) >= count:
                return dict(found)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            select.select([self.bell.read_fd], [], [], min(left, 0.5))
            self.bell.answer()
        self.fail(f"{count} endings were not reported within {timeout}s")

    def test_a_nul_octet_in_a_parameter_fails_the_command_naming_the_parameter(self):
        cases = {
            1: ({"params": {"region": "no\0rth"}}, "the parameter region holds a NUL octet"),
            2: ({"partition_key": "k\0"}, "the partition key holds a NUL octet"),
            3: ({"step_name": "s\0"}, "the step name holds a NUL octet"),
            4: ({"action": "echo \0"}, "the command holds a NUL octet"),
            5: ({"params": {"a=b": "x"}}, "the parameter name 'a=b' cannot be part of an environment variable's name"),
        }
        for task, (fields, _) in cases.items():
            self.attempts.start(AttemptId(0, task, 1), spec(task, Kind.COMMAND, "true")._replace(**fields), 1 << 20)
        # And in a batch: its first task's parameters go into its environment.
        batch = [spec(6, Kind.COMMAND, "true", params={"x": "\0"}), spec(7, Kind.COMMAND, "true", params={"x": "\0"},
                                                                         partition=1)]
        ids = (AttemptId(0, 6, 1), AttemptId(0, 7, 1))
        self.attempts.start_set(StartSet(0, 9, ids, tuple(batch)), 1 << 20)
        endings = self.endings(7)
        for task, (_, said) in cases.items():
            with self.subTest(task=task):
                ending = endings[AttemptId(0, task, 1)]
                self.assertEqual(ending.outcome, Outcome.FAILED)
                self.assertIn(said, ending.error)
        for id in ids:
            self.assertIn("the parameter x holds a NUL octet", endings[id].error)
        self.assertEqual(os.listdir(os.path.join(self.logs)), [])  # Nothing made for them.

    def test_a_handler_whose_failure_cannot_be_logged_is_still_reported(self):
        def broken(ctx):
            raise ValueError("no rows")

        self.handlers.register("h", broken)
        # The run's log folder cannot be made: logging the failure raises OSError.
        with open(os.path.join(self.logs, "42"), "w"):
            pass
        self.attempts.start(AttemptId(0, 1, 1), spec(1), 1 << 20)
        ending = self.endings(1)[AttemptId(0, 1, 1)]
        self.assertEqual((ending.outcome, ending.error), (Outcome.FAILED, "ValueError: no rows"))

    def test_keyboard_interrupt_or_system_exit_in_a_handler_fails_the_attempt_not_the_thread(self):
        def interrupted(ctx):
            raise KeyboardInterrupt

        def exits(ctx):
            raise SystemExit(3)

        def exits_set(contexts):
            raise SystemExit("set")

        self.handlers.register("interrupted", interrupted)
        self.handlers.register("exits", exits)
        self.handlers.register_set("exits-set", 10, exits_set)
        self.attempts.start(AttemptId(0, 1, 1), spec(1, action="interrupted"), 1 << 20)
        self.attempts.start(AttemptId(0, 2, 1), spec(2, action="exits"), 1 << 20)
        ids = (AttemptId(0, 3, 1), AttemptId(0, 4, 1))
        self.attempts.start_set(StartSet(0, 5, ids, (spec(3, action="exits-set"), spec(4, action="exits-set"))),
                                1 << 20)
        endings = self.endings(4)
        self.assertEqual(endings[AttemptId(0, 1, 1)].error, "KeyboardInterrupt")
        self.assertEqual(endings[AttemptId(0, 2, 1)].error, "SystemExit: 3")
        self.assertEqual([endings[id].error for id in ids], ["SystemExit: set"] * 2)
        self.assertEqual({ending.outcome for ending in endings.values()}, {Outcome.FAILED})
        # The threads live on, and run the next attempt.
        self.handlers.register("ok", lambda ctx: "fine")
        self.attempts.start(AttemptId(0, 6, 1), spec(6, action="ok"), 1 << 20)
        self.assertEqual(self.endings(5)[AttemptId(0, 6, 1)].data, b"fine")


class CommandEnvironmentTests(unittest.TestCase):
    def test_check_task_names_what_a_process_cannot_be_given(self):
        commands.check_task(spec(kind=Kind.COMMAND, params={"a": "b"}, partition_key="k"))
        with self.assertRaisesRegex(commands.CommandError, "the parameter x holds a NUL octet"):
            commands.attempt_environment({}, spec(kind=Kind.COMMAND, params={"x": "\0"}), "w", "/tmp/f")
        # A batch does not put the partition key in its environment.
        commands.check_task(spec(kind=Kind.COMMAND, partition_key="\0"), batch=True)


if __name__ == "__main__":
    unittest.main()
