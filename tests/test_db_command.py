"""``python -m checks db``: a working DATABASE_URL for manual work, ``db reset``, ``db psql ARGS``."""

import os
import shutil
import subprocess
import sys

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from checks.registry import REPO_ROOT


def _db(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "checks", "db", *args], cwd=REPO_ROOT, env=env, input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True, text=True,
    )


def _connect(url: str):
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=5)
    conn.autocommit = True
    return conn


def _query(url: str, query: str) -> list:
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            for statement in query.split("; "):  # one by one: DROP DATABASE may not share a transaction
                cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _no_traceback(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def kept(make_cache_dir, embedded_env):
    """An embedded server of its own, kept running by `db start`: (environment, printed DATABASE_URL, admin URL)."""
    cache = make_cache_dir()
    env = embedded_env(cache)
    started = _no_traceback(_db("start", env=env))
    assert started.returncode == 0, started.stderr
    url = started.stdout.splitlines()[0].removeprefix("export DATABASE_URL='").removesuffix("'")
    admin = f"postgresql://postgres:{(cache / 'postgres-password').read_text().strip()}@/postgres?host={cache / 'pgdata-18'}"
    yield env, url, admin
    _db("stop", env=env)


def test_checks_and_notebooks_run_with_the_printed_url_exported(kept):
    """A student who ran `eval "$(python -m checks db start)"` runs the checks in that shell: the
    run uses the embedded server as its superuser (the workbook role may not create databases)."""
    env, url, _ = kept
    env = env | {"DATABASE_URL": url}
    checked = _no_traceback(subprocess.run([sys.executable, "-m", "checks", "01", "--target", "solutions", "-k", "connect"], check=False,
                                           cwd=REPO_ROOT, env=env, capture_output=True, text=True))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    notebook = _no_traceback(subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", "notebooks/01_psycopg2.ipynb"], check=False,
                                            cwd=REPO_ROOT, env=env, capture_output=True, text=True))
    assert notebook.returncode == 0, notebook.stdout[-2000:]
    assert _db("url", env=env).returncode == 0, "the run stopped the server that `db start` keeps running"


def test_printed_url_connects_as_a_plain_role_that_owns_the_workbook_database(kept):
    env, url, _ = kept
    assert url.startswith("postgresql+psycopg2://workbook:") and "/workbook?host=" in url
    assert _query(url, "SELECT current_user, current_database(), rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user") == [
        ("workbook", "workbook", False, False)
    ]
    _query(url, "CREATE TABLE mine (id serial PRIMARY KEY); DROP TABLE mine")
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        _connect(url.replace("/workbook?", "/postgres?"))
    again = _no_traceback(_db("url", env=env))
    assert again.returncode == 0 and url in again.stdout


def test_db_reset_asks_first_and_changes_nothing_without_a_yes(kept):
    env, url, _ = kept
    _query(url, "CREATE TABLE keep_me (id int)")
    try:
        for answer in ("n\n", None):  # a "no", and no terminal at all
            proc = _no_traceback(_db("reset", env=env, stdin=answer))
            assert proc.returncode == 1 and "Nothing changed" in proc.stdout
            assert _query(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'keep_me'") == [(1,)]
    finally:
        _query(url, "DROP TABLE IF EXISTS keep_me")


def test_db_reset_yes_empties_the_workbook_database(kept):
    env, url, _ = kept
    _query(url, "CREATE TABLE posts (id int); CREATE SCHEMA extra; CREATE TABLE extra.users (id int)")
    held = _connect(url)  # a session left open (a uvicorn still running, say) does not block it
    proc = _no_traceback(_db("reset", "--yes", env=env))
    assert proc.returncode == 0 and "empty" in proc.stdout, proc.stderr
    with pytest.raises(psycopg2.Error):
        held.cursor().execute("SELECT 1")
    assert _query(url, "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'") == [("public",)]
    assert _query(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    _query(url, "CREATE TABLE posts (id int); DROP TABLE posts")  # the role still owns public


def test_db_reset_empties_the_database_named_in_database_url(database):
    """With DATABASE_URL pointing at a server of one's own, reset empties the database it names."""
    conn = database.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE posts (id int)")
    conn.commit()
    conn.close()
    env = {**os.environ, "DATABASE_URL": database.url}
    proc = _no_traceback(_db("reset", "--yes", env=env))
    assert proc.returncode == 0 and database.name in proc.stdout, proc.stderr
    assert make_url(database.url).password not in proc.stdout
    assert _query(database.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


@pytest.fixture
def psql_installed():
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")


def test_db_psql_passes_its_arguments_to_psql(kept, psql_installed):
    env, _, _ = kept
    listed = _no_traceback(_db("psql", "-c", r"\l", env=env))
    assert listed.returncode == 0, listed.stderr
    assert "workbook" in listed.stdout and "template1" in listed.stdout
    who = _db("psql", "-tA", "-c", "SELECT current_user || '@' || current_database()", env=env)
    assert who.stdout.strip() == "workbook@workbook"


def test_db_psql_and_url_work_after_a_check_run_on_a_server_without_the_workbook_database(kept, psql_installed):
    env, url, admin = kept
    _query(admin, "DROP DATABASE workbook WITH (FORCE); DROP ROLE workbook")
    graded = subprocess.run([sys.executable, "-m", "checks", "01", "--target", "solutions", "-k", "connect"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    who = _no_traceback(_db("psql", "-tA", "-c", "SELECT current_database()", env=env))
    assert who.returncode == 0 and who.stdout.strip() == "workbook", who.stderr
    assert url in _db("url", env=env).stdout


def test_a_workbook_database_of_an_earlier_version_is_handed_to_the_role(kept):
    """Earlier versions made the workbook database, and the student's tables in it, as the superuser."""
    env, url, admin = kept
    _query(admin, "DROP DATABASE workbook WITH (FORCE); CREATE DATABASE workbook")
    _query(
        admin.replace("/postgres?", "/workbook?"),
        "CREATE TYPE mood AS ENUM ('ok'); CREATE TABLE posts (id serial PRIMARY KEY, m mood); "
        "CREATE VIEW recent AS SELECT * FROM posts; CREATE SCHEMA old; CREATE TABLE old.t (id int GENERATED ALWAYS AS IDENTITY)",
    )
    assert _no_traceback(_db("url", env=env)).returncode == 0
    _query(url, "INSERT INTO posts (m) VALUES ('ok'); INSERT INTO old.t DEFAULT VALUES")
    _query(url, "DROP VIEW recent; DROP TABLE posts; DROP TYPE mood; DROP SCHEMA old CASCADE")
