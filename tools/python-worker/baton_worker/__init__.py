"""baton_worker: write Baton workers in Python.

A worker connects to each shard's ``work`` endpoint, speaks Baton's worker protocol
(docs/protocol.md), and runs the tasks the shards lease it: handlers (Python functions) on
threads, and commands (``run`` jobs) as child processes, exactly as Baton's own worker does.

    from baton_worker import Worker

    worker = Worker(name="py-1", endpoints=["tcp://127.0.0.1:7722"], slots=8)

    @worker.handler("load-ledger")
    def load(ctx):
        ctx.log("loading", ctx.params.get("region"))
        return {"rows": 3}

    worker.run()
"""

import logging

from .handlers import HandlerResultError, Registry, TaskContext
from .keys import KeyFileError, KeyPair, read_key_file
from .wire import Outcome, TaskInput, TaskSpec
from .worker import ConfigurationError, Worker, WorkerError, default_registry, handler, set_handler

__version__ = "0.1.0"

# A library logs, and leaves where to to the application (the CLI logs to standard error).
logging.getLogger("baton_worker").addHandler(logging.NullHandler())

__all__ = [
    "Worker",
    "handler",
    "set_handler",
    "default_registry",
    "Registry",
    "TaskContext",
    "TaskInput",
    "TaskSpec",
    "Outcome",
    "ConfigurationError",
    "WorkerError",
    "HandlerResultError",
    "KeyFileError",
    "KeyPair",
    "read_key_file",
    "__version__",
]
