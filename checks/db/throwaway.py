"""Throwaway databases: one per stage of a run, emptied before every check, always dropped afterwards.

A run creates a database of its own for each stage it checks (on the embedded server, in its
tablespace in memory: see :mod:`.scratch`); before each check :meth:`ThrowawayDatabase.reset`
ends every session still connected to it and drops everything the last check made (a few ms,
less than a fresh ``CREATE DATABASE``), so checks never see each other's data and the user's
own databases are never written. Every throwaway database carries time limits, so student code
that leaves a transaction open or waits on a lock fails its own check instead of hanging the
run. Dropping uses ``WITH (FORCE)``, which ends leftover backends
first (PostgreSQL 13+).

No throwaway database is open to ``PUBLIC``: only the admin (who creates it) and, when one is
given, its owner role may connect (see :mod:`checks.db.roles`).
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import psycopg2
from psycopg2 import sql

from ..errors import SetupError
from .server import Server, libpq_dsn, pg_connect, process_alive

PREFIX = "labtmp_"
TIME_LIMITS = {
    "statement_timeout": "10s",
    "lock_timeout": "3s",
    "idle_in_transaction_session_timeout": "15s",
}
# The public schema as a new database has it (its owner and grants changed in PostgreSQL 15).
PUBLIC_SCHEMA_SINCE_15 = "CREATE SCHEMA public AUTHORIZATION pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC"
PUBLIC_SCHEMA_BEFORE_15 = "CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO PUBLIC"
_counter = itertools.count(1)


@dataclass
class ThrowawayDatabase:
    """A database that exists for one run or one check."""

    server: Server
    name: str
    owner: str | None = None  # the role it was made for, which alone (besides the admin) may connect
    _connections: list = field(default_factory=list, repr=False)
    _admin: Any = field(default=None, repr=False)  # the admin's session that resets it
    _idle: list = field(default_factory=list, repr=False)  # the checker's connections, given back

    @property
    def url(self) -> str:
        """SQLAlchemy form, as students put it in ``DATABASE_URL``."""
        return self.server.url_for(self.name).render_as_string(hide_password=False)

    def url_as(self, user: str, password: str) -> str:
        """The SQLAlchemy URL of this database for another login (its owner role, say)."""
        return self.server.url_for(self.name).set(username=user, password=password).render_as_string(hide_password=False)

    @property
    def dsn(self) -> str:
        """libpq form, for ``psycopg2.connect``."""
        return libpq_dsn(self.server.url_for(self.name))

    def connect(self, *, as_admin: bool = False):
        """A psycopg2 connection to this database, given back by the next reset or closed by the
        drop. It acts as the database's owner role when there is one (what the checks create
        there is the student's to use), unless ``as_admin``. A connection an earlier check gave
        back is used again, its session as new (a login costs more than the reset)."""
        while self._idle and self._idle[-1].closed:
            self._idle.pop()
        conn = self._idle.pop() if self._idle else pg_connect(self.dsn, connect_timeout=5)
        self._connections.append(conn)
        if self.owner and not as_admin:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self.owner)))
            conn.commit()
        return conn

    def tables(self) -> frozenset[str]:
        """Names of the tables in the public schema."""
        conn = self.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            return frozenset(name for (name,) in cur.fetchall())

    def give_back(self, conn) -> None:
        """Take back one connection handed out: its session is made as new (transaction rolled
        back, settings, role, temporary tables, locks and prepared statements gone) for the next
        ``connect``, or closed if that fails."""
        if conn in self._connections:
            self._connections.remove(conn)
        if conn.closed:
            return
        try:
            conn.rollback()
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("DISCARD ALL")
            conn.reset()
            conn.notices.clear()
            conn.notifies.clear()
            self._idle.append(conn)
        except psycopg2.Error:
            conn.close()

    def close_connections(self) -> None:
        """Take back every connection handed out (see :meth:`give_back`)."""
        for conn in list(self._connections):
            self.give_back(conn)

    def reset(self) -> None:
        """Empty the database (as the admin): end every session on it, then drop what they made.
        The admin's session stays open from one reset to the next (a login costs more than the reset)."""
        self.close_connections()
        keep = [conn.info.backend_pid for conn in self._idle]
        try:
            empty_database(self._admin_session(), keep)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):  # the session was lost: once more, anew
            self._close_admin()
            empty_database(self._admin_session(), keep)

    def _admin_session(self):
        if self._admin is None:
            self._admin = pg_connect(self.dsn, connect_timeout=5)
            self._admin.autocommit = True
        return self._admin

    def _close_admin(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def drop(self) -> None:
        self.close_connections()
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        self._close_admin()
        drop_database(self.server, self.name)


def empty_database(conn, keep: Sequence[int] = ()) -> None:
    """Empty the database of an autocommit connection: end its other sessions (but those of the
    backend pids in ``keep``), drop what is in it.

    A superuser drops every schema and makes ``public`` anew as ``CREATE DATABASE`` would have
    it (owned by ``pg_database_owner`` since PostgreSQL 15, so the database's owner role may
    create tables in it again); a plain role (an instructor's) drops everything it owns.
    """
    with conn.cursor() as cur:
        cur.execute("SHOW is_superuser")
        superuser = cur.fetchone()[0] == "on"
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND pid <> ALL(%s) AND (%s OR usename = current_user)",  # the sessions we may end
            (list(keep), superuser),
        )
        if not superuser:
            cur.execute("DROP OWNED BY CURRENT_USER")
            return
        cur.execute(r"SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\_%'")
        for (schema,) in cur.fetchall():
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        cur.execute(PUBLIC_SCHEMA_SINCE_15 if conn.server_version >= 150000 else PUBLIC_SCHEMA_BEFORE_15)


# Databases this process created and has not dropped yet: dropped at exit as a last resort. A
# forked child starts with none: its parent's are its parent's to drop.
_alive: dict[str, ThrowawayDatabase] = {}
os.register_at_fork(after_in_child=_alive.clear)


def run_prefix() -> str:
    """Name prefix shared by every database this process creates."""
    return f"{PREFIX}{os.getpid()}_"


def create_database(server: Server, *, purpose: str = "db", owner: str | None = None) -> ThrowawayDatabase:
    """Create a fresh database with time limits set, closed to PUBLIC; ``owner`` (a role) owns it
    and is the only other role that may connect to it."""
    name = f"{run_prefix()}{purpose}{next(_counter)}_{secrets.token_hex(3)}"
    database = sql.Identifier(name)
    # Closed to connections until PUBLIC has lost CONNECT: nobody slips in between.
    create = sql.SQL("CREATE DATABASE {} WITH ALLOW_CONNECTIONS false").format(database)
    if owner:
        create += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    if server.tablespace:
        create += sql.SQL(" TABLESPACE {}").format(sql.Identifier(server.tablespace))
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(create)
            except psycopg2.Error as exc:
                raise SetupError(f"could not create a throwaway database: {exc.pgerror or exc}".strip()) from None
            cur.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(database))
            if owner:
                cur.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, sql.Identifier(owner)))
            for setting, value in TIME_LIMITS.items():
                cur.execute(sql.SQL("ALTER DATABASE {} SET {} = %s").format(database, sql.Identifier(setting)), (value,))
            cur.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(database))
    finally:
        conn.close()
    throwaway = ThrowawayDatabase(server, name, owner)
    _register_exit_cleanup()
    _alive[name] = throwaway
    return throwaway


def drop_database(server: Server, name: str) -> None:
    """Drop a database, ending any sessions still connected to it."""
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()
    _alive.pop(name, None)


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


def drop_remaining() -> None:
    """Drop every database this process created and has not dropped (at exit, or before a forked
    process leaves without running exit handlers)."""
    for database in list(_alive.values()):
        try:
            database.drop()
        except psycopg2.Error:
            pass


@cache
def _register_exit_cleanup() -> None:
    # Registered after the server started, so it runs before the embedded server stops.
    atexit.register(drop_remaining)
