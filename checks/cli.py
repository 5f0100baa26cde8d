"""``python -m checks``: dispatch to a command; expected problems end as one ``error:`` line."""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import sys
import threading
from collections.abc import Sequence

from .commands import COMMANDS
from .commands.common import likely_stages
from .engine.host import started_early
from .errors import EXIT_INTERRUPTED, EXIT_SETUP, SetupError, UsageError
from .registry import libraries_of

# The command modules whose commands check a target in this process (python -m checks, list, hint;
# watch starts a `python -m checks` for each round).
CHECKING = {"run", "status"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    module, function = COMMANDS.get(argv[0], ("run", "run_command")) if argv else ("run", "run_command")
    args = argv[1:] if argv and argv[0] in COMMANDS else argv
    # A command that checks a target starts its database server and subject host first: PostgreSQL
    # starts and the host imports the libraries while this process imports its own.
    checking = module in CHECKING and not {"-h", "--help"} & set(args)
    early, settle = contextlib.nullcontext(), None
    try:
        if checking:
            early = started_early(libraries_of(likely_stages(args)))
        with early:
            if checking:  # the host has started: the server module loads while it imports
                from .db.server import launch_early, settle_early

                settle = settle_early
                launch_early()
            command = getattr(importlib.import_module(f".commands.{module}", __package__), function)
            code = command(args)
    except (SetupError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_SETUP
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader left early (`python -m checks --json | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    finally:
        if settle:
            settle()
    gc.freeze()  # the collection at exit then skips all that was imported: 0.1 s less for every command
    return exit_now_if_stuck(code)


def exit_now_if_stuck(code: int) -> int:
    """Student code may leave threads running forever (an endless loop in a request handler);
    don't wait for them: run the exit handlers (drop databases, stop the server) and leave."""
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        atexit._run_exitfuncs()
        os._exit(code)
    return code
