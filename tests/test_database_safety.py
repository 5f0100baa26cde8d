"""Runs never touch the user's database, leave no throwaway database, and fail clearly on bad set-ups."""

import os
import shutil
import subprocess
import sys

import psutil
import pytest
from psycopg2 import sql

from checks.db.server import get_server
from checks.db.throwaway import PREFIX, leftover_databases
from checks.registry import REPO_ROOT


def _snapshot(conn) -> list:
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        tables = cur.fetchall()
        cur.execute("SELECT id, title, content, published FROM posts ORDER BY id")
        return tables + cur.fetchall()


def _run_leaving_nothing(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the CLI and assert that none of its throwaway databases is left on the server."""
    proc = subprocess.Popen([sys.executable, "-m", "checks", *args], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=600)
    assert leftover_databases(get_server(), f"{PREFIX}{proc.pid}_") == []
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_existing_database_is_unchanged_and_no_throwaway_database_is_left(database, checks_env):
    conn = database.connect()
    with conn.cursor() as cur:  # the student's own data, in a table named like the lab's
        cur.execute("CREATE TABLE posts (id serial PRIMARY KEY, title text, content text, published boolean)")
        cur.execute("INSERT INTO posts (title, content, published) VALUES ('mine', 'keep me', false), ('two', 'x', true)")
    conn.commit()
    before = _snapshot(conn)

    proc = _run_leaving_nothing("01", "--target", "solutions", env=checks_env(DATABASE_URL=database.url))

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _snapshot(conn) == before


def _assert_one_clear_line(proc, *phrases):
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for phrase in phrases:
        assert phrase in lines[0]


ON_EMBEDDED = """import sys
from checks.db.server import running_embedded
cur = running_embedded().admin_connect().cursor()
for statement in sys.argv[1:]:
    cur.execute(statement)
print(sorted(name for (name,) in cur.fetchall()) if cur.description else "")
"""
LEFT = r"SELECT rolname FROM pg_roles WHERE rolname LIKE 'labstudent\_%' UNION ALL SELECT datname FROM pg_database WHERE datname LIKE 'labtmp\_%'"


def _on_embedded(env: dict[str, str], *statements: str) -> str:
    """Run SQL statements as the superuser of the embedded server that ``env`` names (running);
    the sorted names the last one returned."""
    return subprocess.run([sys.executable, "-c", ON_EMBEDDED, *statements], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_a_run_drops_the_roles_that_runs_which_ended_left_and_keeps_a_live_runs(cache_dir, embedded_env, run_cli, tmp_path):
    """A grader killed outright leaves its student roles and their databases on the embedded
    server: the next run, grading a class or checking a student's work, drops them; the role and
    database of a run that still goes on (here: this process) stay, and so does a role named as
    an earlier version named them (no process to tell whether it still runs)."""
    env = embedded_env(cache_dir)
    ended, live = subprocess.Popen(["true"]), os.getpid()
    ended.wait()
    (tmp_path / "class" / "ada").mkdir(parents=True)  # nothing to check: no role of its own
    kept = [f"labstudent_{live}_1a2b3c4d", f"labtmp_{live}_kept", "labstudent_12345678"]
    runs = [("grade", str(tmp_path / "class"), "--out", str(tmp_path / "grades")), ("01", "--target", "solutions", "-k", "connect_reads")]
    assert run_cli("db", "start", env=env).returncode == 0
    try:
        _on_embedded(env, f"CREATE ROLE {kept[0]} LOGIN", f"CREATE DATABASE {kept[1]} OWNER {kept[0]}", f"CREATE ROLE {kept[2]} LOGIN")
        for run in runs:
            role = f"labstudent_{ended.pid}_5e6f7a8b"
            _on_embedded(env, f"CREATE ROLE {role} LOGIN", f"CREATE DATABASE labtmp_{live}_its OWNER {role}")  # a checker's left running
            proc = run_cli(*run, env=env)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert _on_embedded(env, LEFT) == str(sorted(kept)), f"after {run[0]}"
    finally:
        run_cli("db", "stop", env=env)


def test_unreachable_server_is_one_clear_line(checks_env, run_cli):
    proc = run_cli("01", env=checks_env(DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere"))
    _assert_one_clear_line(proc, "cannot connect", "127.0.0.1")


def test_wrong_database_name_says_to_check_the_url(checks_env, run_cli):
    url = get_server().url.set(database="no_such_database_here").render_as_string(hide_password=False)
    _assert_one_clear_line(run_cli("01", env=checks_env(DATABASE_URL=url)), "does not exist", "check the user name, password and database name")


@pytest.mark.parametrize("url", ["not a url", "mysql://root@localhost/db", "postgresql://user@host:notaport/db"])
def test_malformed_url_is_one_clear_line(url, checks_env, run_cli):
    _assert_one_clear_line(run_cli("01", env=checks_env(DATABASE_URL=url)), "DATABASE_URL")


def test_role_that_may_not_create_databases_is_one_clear_line(database, checks_env, run_cli):
    admin = get_server().admin_connect()
    with admin.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS lab_no_createdb")
        cur.execute("CREATE ROLE lab_no_createdb LOGIN NOCREATEDB PASSWORD 'lab_no_createdb'")  # servers with password auth too
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO lab_no_createdb").format(sql.Identifier(database.name)))
    try:
        url = get_server().url.set(username="lab_no_createdb", password="lab_no_createdb", database=database.name)
        proc = run_cli("01", env=checks_env(DATABASE_URL=url.render_as_string(hide_password=False)))
        _assert_one_clear_line(proc, "may not create databases")
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM lab_no_createdb").format(sql.Identifier(database.name)))
            cur.execute("DROP ROLE lab_no_createdb")
        admin.close()


def test_embedded_server_is_used_when_database_url_is_unset(checks_env):
    env = checks_env()
    del env["DATABASE_URL"]
    proc = _run_leaving_nothing("01", "--target", "solutions", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_starter_run_lists_failures_with_hints_and_no_traceback(run_cli, starter):
    proc = run_cli("01", "--target", str(starter))
    assert proc.returncode == 1
    assert "✗" in proc.stdout and "hint: " in proc.stdout and "README" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_unknown_stage_lists_valid_ones(run_cli, checks_env, tmp_path, alive):
    proc = run_cli("7", env=checks_env(TMPDIR=str(tmp_path)))
    _assert_one_clear_line(proc, "unknown stage", "01", "02", "03")
    # A checking command starts its subject host (working in a folder of TMPDIR) before its
    # imports; it is stopped with it.
    assert [host.pid for host in alive("checks.subject.host") if _works_in(host, tmp_path)] == []


def _works_in(process, folder) -> bool:
    try:
        return process.cwd().startswith(str(folder))
    except psutil.Error:
        return False


def test_embedded_server_that_cannot_start_is_one_clear_line(cache_dir, checks_env, run_cli):
    cache_dir.mkdir()
    (cache_dir / "pgdata-18").write_text("not a data directory")
    env = checks_env(SQL_LAB_CACHE_DIR=str(cache_dir))
    del env["DATABASE_URL"]
    _assert_one_clear_line(run_cli("01", env=env), "could not start the embedded PostgreSQL", "pgdata-18")


@pytest.fixture
def workbook_copy(tmp_path):
    """A copy of the workbook (checks and labs) to run ``python -m checks`` in, with a .env of its own."""
    copy = tmp_path / "workbook"
    for name in ("checks", "labs"):
        shutil.copytree(REPO_ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "conftest.py"):
        shutil.copy(REPO_ROOT / name, copy / name)
    return copy


def _run_in(copy, checks_env, dotenv: str, **env: str) -> subprocess.CompletedProcess:
    (copy / ".env").write_text(dotenv)
    environment = checks_env(**env)
    if "DATABASE_URL" not in env:
        del environment["DATABASE_URL"]
    return subprocess.run([sys.executable, "-m", "checks", "01"], cwd=copy, env=environment, capture_output=True, text=True, timeout=300)


def test_malformed_url_from_dotenv_says_it_came_from_dotenv(workbook_copy, checks_env):
    proc = _run_in(workbook_copy, checks_env, "DATABASE_URL=not a url\n")
    _assert_one_clear_line(proc, "DATABASE_URL in .env is not a valid URL")


def test_unreachable_url_from_dotenv_says_to_remove_it_from_dotenv(workbook_copy, checks_env):
    proc = _run_in(workbook_copy, checks_env, "DATABASE_URL=postgresql://postgres@127.0.0.1:1/nowhere\n")
    _assert_one_clear_line(proc, "cannot connect", "remove DATABASE_URL from .env")
    assert "unset DATABASE_URL" not in proc.stderr


def test_the_environment_wins_over_dotenv_and_is_named_as_such(workbook_copy, checks_env):
    proc = _run_in(workbook_copy, checks_env, "DATABASE_URL=not a url\n", DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere")
    _assert_one_clear_line(proc, "cannot connect", "unset DATABASE_URL")
    assert ".env" not in proc.stderr


def test_the_url_db_start_printed_still_works_after_db_stop(cache_dir, checks_env, run_cli):
    """The server stopped, its DATABASE_URL still exported: the run starts the embedded server
    itself, as it does with no DATABASE_URL, and stops it again."""
    env = checks_env(DATABASE_URL=f"postgresql+psycopg2://workbook:pw@/workbook?host={cache_dir / 'pgdata-18'}", SQL_LAB_CACHE_DIR=str(cache_dir))
    proc = run_cli("01", "--target", "solutions", "-k", "connect", env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert run_cli("db", "url", env=env).returncode == 2, "the run left the server it started running"


def test_another_embedded_socket_url_of_a_stopped_server_suggests_db_start(cache_dir, checks_env, run_cli):
    url = f"postgresql+psycopg2://postgres:pw@/postgres?host={cache_dir / 'pgdata-18'}"
    proc = run_cli("01", env=checks_env(DATABASE_URL=url, SQL_LAB_CACHE_DIR=str(cache_dir)))
    _assert_one_clear_line(proc, "cannot connect", "python -m checks db start")
    assert "docker" not in proc.stderr


@pytest.mark.parametrize(("url", "shown", "hidden"), [
    ("postgresql://postgres@127.0.0.1:1/nowhere", "postgres@127.0.0.1", "***"),
    ("postgresql://postgres:@127.0.0.1:1/nowhere", "postgres@127.0.0.1", "***"),
    ("postgresql://postgres:s3cret@127.0.0.1:1/nowhere", "postgres:***@127.0.0.1", "s3cret"),
])
def test_urls_in_messages_hide_the_password_and_show_no_empty_one(url, shown, hidden, checks_env, run_cli):
    proc = run_cli("01", env=checks_env(DATABASE_URL=url))
    _assert_one_clear_line(proc, shown)
    assert hidden not in proc.stderr
