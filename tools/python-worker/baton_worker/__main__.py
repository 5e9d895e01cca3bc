"""``python -m baton_worker``: run a worker with the handlers some modules register."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from typing import List, Optional

from . import __version__
from .handlers import describe_exception
from .worker import ConfigurationError, Worker, WorkerError, default_registry

DESCRIPTION = """\
Runs a Baton worker: it connects to each shard's work endpoint, registers the
handlers the modules define, and runs the tasks the shards hand it (handlers on
threads; commands, the jobs with "run", as child processes, unless --no-commands)
until SIGTERM or Ctrl-C, which stop it gracefully (a second one stops it at once).

A handlers module registers its functions with the module-level decorator:

    from baton_worker import handler

    @handler("load-ledger")
    def load(ctx):                  # ctx: params, inputs, partition, log(), ...
        return {"rows": 3}          # bytes, str, None or JSON-serialisable

Where the endpoints are: a cluster file's shards[].work, or the line
"shard N work: tcp://127.0.0.1:PORT" that `baton dev` prints. With keys (a
cluster's default), give the pool's secret key file and each shard's public key
file, both in the cluster's key folder (DATA/keys by default).
"""

EPILOG = """\
examples:
  python -m baton_worker --endpoint tcp://127.0.0.1:34835 --module handlers
  python -m baton_worker --endpoint tcp://10.0.0.21:7722 --module mypkg.handlers \\
      --name host-a/py/1 --slots 16 --key-file KEYS/pool-py.secret \\
      --server-key-file KEYS/shard-1.key

exit status: 0 stopped; 1 every shard refused the worker (its key, its version);
2 the command line or the setup was wrong (an endpoint, a key file, a module).
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m baton_worker", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--endpoint", action="append", required=True, metavar="ENDPOINT",
                        help="a shard's work endpoint, tcp://HOST:PORT; repeat for each shard")
    parser.add_argument("--module", action="append", default=[], metavar="MODULE",
                        help="a module (mypkg.handlers) or file (handlers.py) whose handlers to offer; repeatable")
    parser.add_argument("--name", help="the worker's name, stable across restarts (default HOST/python/PID)")
    parser.add_argument("--slots", type=int, default=4, metavar="N", help="tasks run at once (default 4)")
    parser.add_argument("--tags", action="append", default=[], metavar="TAG[,TAG...]",
                        help="capability tags (in a cluster with keys, only the pool's count)")
    parser.add_argument("--key-file", metavar="FILE", help="the pool's secret key file, KEYS/pool-NAME.secret")
    parser.add_argument("--server-key-file", action="append", default=[], metavar="FILE",
                        help="a shard's public key file, KEYS/shard-N.key: one per --endpoint, in order")
    parser.add_argument("--data", metavar="DIR", default=".baton-worker",
                        help="where attempts' logs go, DIR/logs/RUN/... (default ./.baton-worker)")
    parser.add_argument("--no-commands", action="store_true", help="run handlers only, no commands")
    parser.add_argument("--heartbeat", type=int, default=1000, metavar="MS",
                        help="the heartbeat interval to ask for, ms (default 1000)")
    parser.add_argument("--drain", type=float, default=30.0, metavar="SECONDS",
                        help="how long a stopping worker lets running tasks finish (default 30)")
    parser.add_argument("--quiet", action="store_true", help="log only warnings and errors")
    parser.add_argument("--verbose", action="store_true", help="log every message (debug)")
    parser.add_argument("--version", action="version", version=f"baton_worker {__version__}")
    return parser


def load_module(name: str) -> None:
    """Imports a handlers module by dotted name, or a file by path."""
    if name.endswith(".py") or os.sep in name or (os.altsep and os.altsep in name):
        if os.path.isdir(name):
            raise ConfigurationError(f"cannot load the handlers module {name}: it is a folder; give a .py file, or "
                                     "a package's dotted name (mypkg.handlers) with its parent folder as the "
                                     "working directory")
        if not os.path.isfile(name):
            raise ConfigurationError(f"cannot load the handlers module {name}: no such file")
        if not name.endswith(".py"):
            raise ConfigurationError(f"cannot load the handlers module {name}: a file's name must end in .py (or "
                                     "give a dotted module name, mypkg.handlers)")
        module_name = os.path.splitext(os.path.basename(name))[0]
        spec = importlib.util.spec_from_file_location(module_name, name)
        if spec is None or spec.loader is None:
            raise ConfigurationError(f"cannot load the handlers module {name}: Python cannot load it as a module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as error:
            sys.modules.pop(module_name, None)
            raise ConfigurationError(f"cannot load the handlers module {name}: {describe_exception(error)}") from None
        return
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        importlib.import_module(name)
    except (Exception, SystemExit) as error:
        raise ConfigurationError(f"cannot import the handlers module {name}: {describe_exception(error)}") from None


def main(argv: Optional[List[str]] = None) -> int:
    arguments = _parser().parse_args(argv)
    level = logging.DEBUG if arguments.verbose else logging.WARNING if arguments.quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        for module in arguments.module:
            load_module(module)
        worker = Worker(
            name=arguments.name,
            endpoints=arguments.endpoint,
            slots=arguments.slots,
            tags=[tag for value in arguments.tags for tag in value.split(",") if tag],
            commands=not arguments.no_commands,
            heartbeat=arguments.heartbeat,
            data=arguments.data,
            key_file=arguments.key_file,
            server_key_file=arguments.server_key_file or None,
            drain=arguments.drain,
            handlers=default_registry,
        )
        worker.run()
    except ConfigurationError as error:
        print(f"python -m baton_worker: error: {error}", file=sys.stderr)
        return 2
    except WorkerError as error:
        print(f"python -m baton_worker: stopped: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
