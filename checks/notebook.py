"""The harness for notebooks and scripts: one throwaway database, dropped when Python exits."""

from __future__ import annotations

import os

from dotenv import load_dotenv

from .databases import ThrowawayDatabase, create_database
from .registry import REPO_ROOT
from .server import get_server


def lab_database(purpose: str = "notebook") -> ThrowawayDatabase:
    """A fresh empty database on the workbook's server; ``DATABASE_URL`` now points at it.

    The server is the one in ``DATABASE_URL`` (also read from ``.env``) or the embedded one.
    The database is dropped automatically when the process (or notebook kernel) exits.
    """
    load_dotenv(REPO_ROOT / ".env")
    database = create_database(get_server(), purpose=purpose)
    os.environ["DATABASE_URL"] = database.url
    return database
