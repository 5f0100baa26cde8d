"""The harness for notebooks and scripts: a throwaway database, dropped when the kernel exits."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache

from ..errors import SetupError
from ..registry import REPO_ROOT
from .server import get_server
from .throwaway import ThrowawayDatabase, create_database


@cache
def _start_reaper() -> None:
    """Start the watchdog that drops this process's databases when it dies (even if killed)."""
    reaper = subprocess.Popen(
        [sys.executable, "-m", "checks.db.reaper", str(os.getpid())],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    said = reaper.stdout.readline().strip()
    if said != "ready":
        reason = said.removeprefix("failed: ") if said.startswith("failed: ") else ""
        raise SetupError(reason or "could not reach PostgreSQL; run `python -m checks` to see why")
    reaper.stdout.close()


def lab_database(purpose: str = "notebook") -> ThrowawayDatabase:
    """A fresh empty database on the workbook's server; ``DATABASE_URL`` now points at it.

    The server is the one in ``DATABASE_URL`` (also read from ``.env``) or the embedded one.
    The database is dropped when the process (or notebook kernel) exits, however it exits.
    """
    _start_reaper()
    database = create_database(get_server(), purpose=purpose)
    os.environ["DATABASE_URL"] = database.url
    return database
