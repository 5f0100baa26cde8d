"""Database roles for code we do not trust: each may enter only the databases made for it.

A :class:`StudentRole` logs in with a random password, may not create databases or roles, and
holds at most ``CONNECTION_LIMIT`` sessions. The trusted side (the admin) creates its databases
with :meth:`StudentRole.create_database`; ``postgres``, ``template1`` and everyone else's
databases are closed to it (they are closed to ``PUBLIC``, see :mod:`checks.db.server`).

A role is named after the process that made it (``labstudent_<pid>_…``) and dropped by it; one
that a process killed outright left behind is dropped by a later run (:func:`drop_stale`).
"""

from __future__ import annotations

import os
import secrets

import psycopg2
from psycopg2 import sql

from . import throwaway
from .server import Server, process_alive, set_password
from .throwaway import ThrowawayDatabase, create_database, drop_database

CONNECTION_LIMIT = 12
PREFIX = "labstudent_"


class StudentRole:
    """A login role of its own for one submission; a context manager that drops it on exit.

    ``with StudentRole(server) as url:`` gives the role's URL on the server (user and password;
    pick a database made for it: ``url.set(database=...)``, or :meth:`url_for`). On exit its
    sessions end, the databases it owns are dropped, and the role is dropped.
    """

    def __init__(self, server: Server, *, connection_limit: int = CONNECTION_LIMIT) -> None:
        self.server = server
        self.name = f"{PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        self.password = secrets.token_urlsafe(16)
        self.connection_limit = connection_limit

    def __enter__(self) -> str:
        conn = self.server.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {}").format(
                        sql.Identifier(self.name), sql.Literal(self.connection_limit)
                    )
                )
                set_password(cur, self.name, self.password)
        finally:
            conn.close()
        return self.server.url.set(username=self.name, password=self.password).render_as_string(hide_password=False)

    def url_for(self, database: ThrowawayDatabase | str) -> str:
        """The role's SQLAlchemy URL of one of its databases."""
        name = database.name if isinstance(database, ThrowawayDatabase) else database
        return self.server.url_for(name).set(username=self.name, password=self.password).render_as_string(hide_password=False)

    def create_database(self, purpose: str = "student") -> ThrowawayDatabase:
        """A throwaway database owned by this role, made by the admin; no other role may connect."""
        return create_database(self.server, purpose=purpose, owner=self.name)

    def __exit__(self, *exc: object) -> None:
        drop_role(self.server, self.name)


def drop_role(server: Server, name: str) -> None:
    """Drop a student role: end its sessions, drop the databases it owns, then the role."""
    role = sql.Identifier(name)
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(role))  # no new sessions from here on
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            cur.execute("SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s", (name,))
            owned = [database for (database,) in cur.fetchall()]
    finally:
        conn.close()
    for database in owned:
        drop_database(server, database)  # WITH (FORCE): sessions still closing are ended
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
    finally:
        conn.close()


def drop_stale(server: Server) -> None:
    """Drop what processes of this machine that no longer run left on the server: their throwaway
    databases, and their student roles with the databases those own. A role that cannot be
    dropped now (another run is dropping it) is left for a later run."""
    throwaway.drop_stale(server)
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (PREFIX.replace("_", r"\_") + "%",))
            names = [name for (name,) in cur.fetchall()]
    finally:
        conn.close()
    for name in names:
        pid, named_after_a_process, _ = name.removeprefix(PREFIX).partition("_")  # not one of an earlier version (labstudent_<hex>)
        if named_after_a_process and pid.isdigit() and not process_alive(int(pid)):
            try:
                drop_role(server, name)
            except psycopg2.Error:
                pass
