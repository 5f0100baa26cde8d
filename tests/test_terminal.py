"""On a real terminal (a pseudo-terminal 80 columns wide): nothing wider than the terminal, the
progress line names the check that is running, and Ctrl-C in watch mode leaves nothing behind."""

import subprocess
import sys

import psycopg2

from checks.db.server import libpq_dsn, parse_database_url
from checks.registry import REPO_ROOT

LIST_POSTS = "list_posts returns every post"


def _assert_fits(term):
    too_wide = [line for line in term.segments() if len(line) > term.columns - 1]
    assert not too_wide, f"{len(too_wide)} lines wider than {term.columns - 1} columns: {too_wide[:3]}"


def test_progress_names_the_running_check_and_fits_the_width(make_target, terminal, tmp_path):
    go_on = tmp_path / "go_on"  # list_posts waits for it: the test decides when the check ends
    target = make_target("01", replace={"posts.py": [(
        '    """All posts, oldest first."""\n',
        f'    """All posts, oldest first."""\n    import os, time\n    while not os.path.exists({str(go_on)!r}):\n        time.sleep(0.05)\n',
    )]})
    term = terminal("01", "--target", str(target), "-k", "create_post or list_posts")
    term.wait_for(LIST_POSTS)
    assert term.proc.poll() is None, "the check was shown only after it had finished"
    status = term.segments()[-1]
    assert LIST_POSTS in status and "1/2" in status, status
    go_on.touch()
    assert term.finish() == 0, term.text
    assert "stage 01: 2/2 checks" in term.text
    _assert_fits(term)


def test_list_and_hint_wrap_to_the_width(terminal, starter):
    listed = terminal("list", "--checks", "--target", str(starter))
    assert listed.finish() == 1, listed.text
    assert "Next: stage 01" in listed.text
    _assert_fits(listed)
    hints = terminal("hint", "02", "--all", "--target", str(starter), columns=60)
    assert hints.finish() == 1, hints.text
    assert "[2/" in hints.text and "README step" in hints.text
    _assert_fits(hints)


def test_ctrl_c_in_watch_during_a_run_leaves_no_server_and_no_database(make_target, terminal, checks_env, cache_dir):
    target = make_target("01", replace={"posts.py": [(
        '    """All posts, oldest first."""\n', '    """All posts, oldest first."""\n    import time\n    time.sleep(3600)\n',
    )]})
    cache = cache_dir
    env = checks_env(SQL_LAB_CACHE_DIR=str(cache))
    del env["DATABASE_URL"]  # the embedded server, started and stopped by the runs themselves
    term = terminal("watch", "01", "--target", str(target), env=env)
    term.wait_for(LIST_POSTS)  # the run is inside a check: its throwaway database exists
    term.ctrl_c()
    try:
        assert term.finish() == 130, term.text
        assert "Traceback" not in term.text
        assert subprocess.run(["pgrep", "-f", f"postgres -D {cache}"], capture_output=True).returncode == 1, "a server is still running"
        started = subprocess.run([sys.executable, "-m", "checks", "db", "start"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert started.returncode == 0, started.stderr
        url = parse_database_url(started.stdout.splitlines()[0].removeprefix("export DATABASE_URL='").rstrip("'"))
        with psycopg2.connect(libpq_dsn(url)) as conn, conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'labtmp%'")
            assert cur.fetchall() == []
    finally:
        subprocess.run([sys.executable, "-m", "checks", "db", "stop"], cwd=REPO_ROOT, env=env, capture_output=True)
