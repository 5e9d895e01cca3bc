"""Pieces of the runtime alone: the doorbell that wakes the I/O thread, the handler threads, and what a
handler's return becomes."""

from __future__ import annotations

import collections
import select
import threading
import time
import unittest

from baton_worker.handlers import Cancellation, HandlerResultError, HandlerThreads, describe_exception, result_bytes
from baton_worker.attempts import Doorbell


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

    def test_a_cancellation_wakes_a_waiting_handler(self):
        cancellation = Cancellation()
        self.assertFalse(cancellation.wait(0.01))
        threading.Timer(0.05, cancellation.set).start()
        self.assertTrue(cancellation.wait(10))
        self.assertTrue(cancellation.is_set())


if __name__ == "__main__":
    unittest.main()
