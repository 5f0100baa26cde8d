"""Ctrl-C in the middle of a run: the partial results are printed and every throwaway database is dropped."""

import os
import shutil
import signal
import subprocess
import sys
import time

from checks.db.server import get_server
from checks.db.throwaway import leftover_databases
from checks.engine.parallel import SHARDS
from checks.registry import REPO_ROOT


def test_ctrl_c_drops_the_runs_databases(checks_env, make_target, sigint_not_ignored):
    """One stage's checks are shared out between processes (on more than one core), each with a
    database of its own: one SIGINT to the run drops them all."""
    target = make_target("01", files={"posts.py": "import time\ntime.sleep(60)\n"})
    before = set(leftover_databases(get_server()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "checks", "01", "--target", str(target)],
        cwd=REPO_ROOT, env=checks_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=sigint_not_ignored,
    )
    deadline = time.monotonic() + 60
    shares = SHARDS if (os.cpu_count() or 1) > 1 else 1
    while sum("check" in name for name in set(leftover_databases(get_server())) - before) < shares:
        assert proc.poll() is None and time.monotonic() < deadline, f"the run never made {shares} databases for its checks"
        time.sleep(0.1)

    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, out + err
    assert "interrupted" in out
    assert "Traceback" not in out + err
    assert set(leftover_databases(get_server())) - before == set()


def test_ctrl_c_stops_every_stage_and_drops_their_databases(checks_env, tmp_path, sigint_not_ignored):
    """Stages run side by side, each in a process of its own: one SIGINT to the run stops them all."""
    target = tmp_path / "labs"
    shutil.copytree(REPO_ROOT / "solutions", target, ignore=shutil.ignore_patterns("__pycache__"))
    for module in ("01_psycopg2/posts.py", "02_orm_crud/app/main.py", "03_alembic/app/main.py"):
        (target / module).write_text("import time\ntime.sleep(60)\n")
    before = set(leftover_databases(get_server()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "checks", "--target", str(target)],
        cwd=REPO_ROOT, env=checks_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=sigint_not_ignored,
    )
    deadline = time.monotonic() + 60
    while len(set(leftover_databases(get_server())) - before) < 3:  # one database per stage
        assert proc.poll() is None and time.monotonic() < deadline, "the run never made its stages' databases"
        time.sleep(0.1)

    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, out + err
    assert "interrupted" in out and "Traceback" not in out + err
    assert all(f"stage {stage}:" in out for stage in ("01", "02", "03")), out
    assert set(leftover_databases(get_server())) - before == set()


def test_ctrl_c_while_the_run_starts_leaves_no_server_running(embedded_env, cache_dir, sigint_not_ignored):
    """The embedded server starts in a thread while the run imports: a Ctrl-C at any moment of
    the start still ends with the server stopped."""
    env = embedded_env(cache_dir)
    command = [sys.executable, "-m", "checks", "01", "--target", "solutions", "-k", "connect_reads"]
    first = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stdout + first.stderr  # the data directory is made: later starts are quick
    running = cache_dir / "pgdata-18" / "postmaster.pid"
    for delay in (0.05, 0.1, 0.15, 0.2, 0.3, 0.5):
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=sigint_not_ignored)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)  # how it ends depends on the moment (interrupted, done first, before Python took over Ctrl-C)
        assert not running.exists(), f"a Ctrl-C {delay} s into the run left the server running"
