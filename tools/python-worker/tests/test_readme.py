"""The README's ten-line example, run as written against `baton dev --workers 0`."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import unittest

from support import BATON, PYTHON, SDK, Dev, require_baton

README = os.path.join(SDK, "README.md")
#: What the README writes for the places only a real run knows.
EXAMPLE_DATA = "/tmp/hello"
EXAMPLE_ENDPOINT = "tcp://127.0.0.1:34835"


def block_after(text: str, marker: str) -> str:
    """The fenced block that follows ``<!-- marker -->``."""
    match = re.search(r"<!-- " + re.escape(marker) + r" -->\s*```\w*\n(.*?)```", text, re.S)
    if match is None:
        raise AssertionError(f"the README has no block marked {marker}")
    return match.group(1)


class ReadmeTests(unittest.TestCase):
    def setUp(self) -> None:
        require_baton(self)
        with open(README, encoding="utf-8") as file:
            self.readme = file.read()
        self.dev = Dev("readme")
        self.addCleanup(self.dev.down)

    def test_the_ten_line_example_runs_as_written(self):
        program = block_after(self.readme, "hello.py")
        self.assertLessEqual(len(program.strip().splitlines()), 12)
        self.assertIn(f"baton dev --workers 0 --no-web --data {EXAMPLE_DATA}", self.readme)
        folder = self.dev.folder
        for name in ("hello.py", "hello.json"):
            with open(os.path.join(folder, name), "w") as file:
                file.write(block_after(self.readme, name))

        background = []
        outputs = []
        self.addCleanup(lambda: [process.kill() for process in background if process.poll() is None])
        for line in block_after(self.readme, "shell").strip().splitlines():
            line = line.replace(EXAMPLE_DATA, self.dev.data).replace(EXAMPLE_ENDPOINT, self.dev.work)
            words = shlex.split(line.rstrip("&"))
            words[0] = {"python": PYTHON, "baton": BATON}[words[0]]
            if line.endswith("&"):
                log = open(os.path.join(folder, "hello.log"), "w")
                self.addCleanup(log.close)
                background.append(subprocess.Popen(words, cwd=folder, stdout=log, stderr=subprocess.STDOUT))
                continue
            done = subprocess.run(words, cwd=folder, capture_output=True, text=True, timeout=60)
            self.assertEqual(done.returncode, 0, f"{line}\n{done.stdout}{done.stderr}")
            outputs.append(done.stdout)

        self.assertIn("succeeded", outputs[-2])
        self.assertIn('{"GREETING":"HELLO, BATON"}', outputs[-1])
        (worker,) = background
        worker.send_signal(signal.SIGINT)
        self.assertEqual(worker.wait(30), 0)


if __name__ == "__main__":
    unittest.main()
