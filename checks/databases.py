"""Throwaway databases: created per run and per check, always dropped afterwards.

A run creates one empty *template* database; each check gets a clone of it (``CREATE
DATABASE ... TEMPLATE``, tens of milliseconds on the embedded server), so checks never see
each other's data and the user's own databases are never written. Every throwaway database
carries time limits, so student code that leaves a transaction open or waits on a lock fails
its own check instead of hanging the run. Dropping uses ``WITH (FORCE)``, which ends leftover
backends first (PostgreSQL 13+).
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets
from dataclasses import dataclass, field
from functools import cache

import psycopg2
from psycopg2 import sql

from .server import Server, SetupError, libpq_dsn, pg_connect, process_alive

PREFIX = "labtmp_"
TIME_LIMITS = {
    "statement_timeout": "10s",
    "lock_timeout": "3s",
    "idle_in_transaction_session_timeout": "15s",
}
_counter = itertools.count(1)


@dataclass
class ThrowawayDatabase:
    """A database that exists for one run or one check."""

    server: Server
    name: str
    _connections: list = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        """SQLAlchemy form, as students put it in ``DATABASE_URL``."""
        return self.server.url_for(self.name).render_as_string(hide_password=False)

    @property
    def dsn(self) -> str:
        """libpq form, for ``psycopg2.connect``."""
        return libpq_dsn(self.server.url_for(self.name))

    def connect(self):
        """A new psycopg2 connection to this database, closed when the database is dropped."""
        conn = pg_connect(self.dsn, connect_timeout=5)
        self._connections.append(conn)
        return conn

    def drop(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        drop_database(self.server, self.name)
        _alive.pop(self.name, None)


# Databases this process created and has not dropped yet: dropped at exit as a last resort.
_alive: dict[str, ThrowawayDatabase] = {}


def run_prefix() -> str:
    """Name prefix shared by every database this process creates."""
    return f"{PREFIX}{os.getpid()}_"


def create_database(server: Server, *, template: str | None = None, purpose: str = "db") -> ThrowawayDatabase:
    """Create a fresh database (a clone of ``template`` if given) with time limits set."""
    name = f"{run_prefix()}{purpose}{next(_counter)}_{secrets.token_hex(3)}"
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(query)
            except psycopg2.Error as exc:
                raise SetupError(f"could not create a throwaway database: {exc.pgerror or exc}".strip()) from None
            for setting, value in TIME_LIMITS.items():
                cur.execute(
                    sql.SQL("ALTER DATABASE {} SET {} = %s").format(sql.Identifier(name), sql.Identifier(setting)),
                    (value,),
                )
    finally:
        conn.close()
    database = ThrowawayDatabase(server, name)
    _register_exit_cleanup()
    _alive[name] = database
    return database


def drop_database(server: Server, name: str) -> None:
    """Drop a database, ending any sessions still connected to it."""
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


def leftover_databases(server: Server, prefix: str = PREFIX) -> list[str]:
    """Names of throwaway databases on the server (``prefix`` narrows to one run)."""
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", (prefix.replace("_", r"\_") + "%",))
            return [name for (name,) in cur.fetchall()]
    finally:
        conn.close()


def drop_stale(server: Server) -> None:
    """Drop throwaway databases left by processes of this machine that no longer run."""
    for name in leftover_databases(server):
        pid = name.removeprefix(PREFIX).split("_", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            drop_database(server, name)


def _drop_alive() -> None:
    for database in list(_alive.values()):
        try:
            database.drop()
        except psycopg2.Error:
            pass


@cache
def _register_exit_cleanup() -> None:
    # Registered after the server started, so it runs before the embedded server stops.
    atexit.register(_drop_alive)
