"""The student's loop: clear failures for broken or hanging code, list, hint, watch, reset, db."""

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import threading
import time

import psutil
from watchfiles import Change

from checks.commands.watch import EDITED
from checks.registry import REPO_ROOT, find_stage


def test_syntax_error_names_file_and_line_and_other_stages_still_run(run_cli, make_target):
    target = make_target("01", files={"posts.py": "def connect(:\n    pass\n"})
    shutil.copytree(REPO_ROOT / "solutions" / "02_orm_crud", target / "02_orm_crud")
    proc = run_cli("01", "02", "--target", str(target))
    assert proc.returncode == 1
    assert "posts.py:1: SyntaxError" in proc.stdout
    stage02 = len(find_stage("02").checks)
    assert f"stage 02: {stage02}/{stage02} checks" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_every_check_of_a_module_that_does_not_import_gives_that_as_its_reason(run_checks, make_target):
    """Not a reason of its own built on it ("it tried 0 times", "needs step 2 first")."""
    target = make_target("01", files={"posts.py": "def connect(:\n    pass\n"})
    results = run_checks(target, "01")
    assert len(results) == len(find_stage("01").checks)
    wrong = {check: result.reason for check, result in results.items() if not result.reason.endswith("posts.py:1: SyntaxError: invalid syntax")}
    assert not wrong, wrong


def test_exception_at_import_names_file_and_line(run_checks, make_target):
    target = make_target("02", replace={"app/models.py": [("class User(Base):", "raise RuntimeError('oops')\n\n\nclass User(Base):")]})
    results = run_checks(target, "02", "-k", "ping")
    assert "02_orm_crud/app/models.py:9: RuntimeError: oops" in results["ping_answers_pong"].reason


def test_hanging_code_fails_its_check_after_the_time_limit(run_checks, make_target):
    target = make_target("01", replace={"posts.py": [('    """All posts, oldest first."""\n', '    """All posts, oldest first."""\n    while True:\n        pass\n')]})
    results = run_checks(target, "01", "--timeout", "2", "-k", "list_posts or get_post")
    assert results["list_posts_ordered_by_id"].status == "failed"
    assert "took longer than 2" in results["list_posts_ordered_by_id"].reason
    assert results["get_post_finds_one_or_none"].status == "passed", "the run must go on after a timeout"


def test_unknown_option_lists_the_valid_ones(run_cli):
    proc = run_cli("--frobnicate")
    assert proc.returncode == 2
    assert "--target" in proc.stderr and "list" in proc.stderr and "Traceback" not in proc.stderr


def test_a_reader_that_leaves_early_gets_no_traceback(checks_env):
    proc = subprocess.Popen([sys.executable, "-m", "checks", "02", "-k", "ping", "--json"], cwd=REPO_ROOT, env=checks_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head` that has already quit when the results come
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_list_shows_status_and_next_step(run_cli, starter):
    proc = run_cli("list", "--target", str(starter))
    assert proc.returncode == 1
    assert "not started" in proc.stdout and "Next: stage 01" in proc.stdout and "README step" in proc.stdout


def test_list_of_named_stages_shows_only_them(run_cli, starter):
    proc = run_cli("list", "stage02", "--checks", "--target", str(starter))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    shown = [line.split()[0] for line in proc.stdout.splitlines() if re.match(r"\d\d  ", line)]
    assert shown == ["02"], proc.stdout
    assert "ping_answers_pong: " in proc.stdout and "Next: stage 02" in proc.stdout, proc.stdout


def test_list_of_a_finished_stage_says_only_that_stage_is_done(run_cli):
    proc = run_cli("list", "01", "--target", "solutions")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Stage 01 is done." in proc.stdout and "Every stage" not in proc.stdout, proc.stdout


def test_hint_prints_the_first_hint_when_not_interactive(run_cli, starter):
    proc = run_cli("hint", "02", "--target", str(starter))
    count = len(find_stage("02").checks)
    assert f"[1/{count}]" in proc.stdout and "README step 1" in proc.stdout and f"[2/{count}]" not in proc.stdout


LIST_POSTS = '    """All posts, oldest first."""\n'


def test_what_the_code_prints_during_a_check_is_shown_with_it(make_target, run_cli):
    """print() debugging works: the first failing check shows the first lines its code printed
    (a line printed in two parts too), and ``--json`` has them all."""
    prints = LIST_POSTS + '    print("DEBUG list_posts", end="")\n    print(" called")\n    for n in range(8):\n        print("row", n)\n    return []\n'
    target = make_target("01", replace={"posts.py": [(LIST_POSTS, prints)]})
    proc = run_cli("01", "--target", str(target), "-k", "list_posts")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"printed: DEBUG list_posts called\n +row 0\n(.*\n){3} +… 4 more lines", proc.stdout), proc.stdout
    (result,) = json.loads(run_cli("01", "--target", str(target), "-k", "list_posts", "--json").stdout)["results"]
    assert result["printed"].splitlines() == ["DEBUG list_posts called", *(f"row {n}" for n in range(8))]


def test_a_check_that_hung_shows_its_prints_without_the_stack_the_checker_took(make_target, run_cli):
    hangs = LIST_POSTS + '    print("before the loop", flush=False)\n    while True:\n        pass\n'
    target = make_target("01", replace={"posts.py": [(LIST_POSTS, hangs)]})
    proc = run_cli("01", "--target", str(target), "-k", "list_posts", "--timeout", "3", "--json")
    (result,) = json.loads(proc.stdout)["results"]
    assert result["status"] == "failed" and result["printed"] == "before the loop", result


def test_reset_restores_the_starter_and_keeps_a_backup(workbook_clone, checks_env, starter):
    clone = workbook_clone
    folder = clone / "labs" / "01_psycopg2"
    posts = folder / "posts.py"
    posts.write_text("# my work\n")
    (folder / "notes.txt").write_text("mine")
    git = ["git", "-C", str(clone), "-c", "user.name=s", "-c", "user.email=s@s"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "my stage 01"], check=True)  # committed, as GitHub Classroom asks
    for _ in range(2):  # twice within a second: a backup each; from the stage folder, where a shell may be
        proc = subprocess.run([sys.executable, "-m", "checks", "reset", "01", "--yes"], cwd=folder, env=checks_env(PYTHONPATH=str(clone)), capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
        assert proc.stdout.rstrip().endswith("labs/01_psycopg2 is the starter again."), proc.stdout
        assert posts.read_text() == (starter / "01_psycopg2" / "posts.py").read_text()
        assert not (folder / "notes.txt").exists()
    first, second = sorted((clone / "backups").iterdir())
    assert first.name.startswith("01_psycopg2-") and (first / "posts.py").read_text() == "# my work\n"
    assert (second / "posts.py").read_text() == posts.read_text()
    status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    assert " M labs/01_psycopg2/posts.py" in status.splitlines(), "the reset is a change of the student's, not staged"


def test_reset_asks_first(workbook_clone, checks_env):
    clone = workbook_clone
    for answer in ("n\n", ""):  # a "no", and the end of input (Ctrl-D, or no terminal)
        proc = subprocess.run([sys.executable, "-m", "checks", "reset", "01"], cwd=clone, env=checks_env(), input=answer, capture_output=True, text=True)
        assert proc.returncode == 1 and "Nothing changed" in proc.stdout and not proc.stderr, proc.stderr
    assert not (clone / "backups").exists()


def test_ctrl_d_at_the_hint_prompt_stops_quietly(checks_env, starter):
    """In a terminal, hint waits for Enter between hints; Ctrl-D ends the hints like q."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(REPO_ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "checks", "hint", "01", "--target", str(starter)], checks_env())
    output = b""
    try:
        while b"q to stop" not in output:
            output += os.read(fd, 4096)
        os.write(fd, b"\x04")  # Ctrl-D
        while chunk := _read_pty(fd):
            output += chunk
    finally:
        _, status = os.waitpid(pid, 0)
    text = output.decode()
    assert os.waitstatus_to_exitcode(status) == 1 and "Traceback" not in text and "[2/" not in text, text


def _read_pty(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the process ended: its terminal is gone
        return b""


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:  # it ended meanwhile
        return []


def test_watch_follows_edits_not_what_the_code_writes():
    stage = "/w/labs/01_psycopg2"
    assert all(EDITED(Change.modified, f"{stage}/{name}") for name in ("posts.py", "schema.sql", ".env", "app/main.py"))
    assert not any(EDITED(Change.modified, f"{stage}/{name}") for name in ("app.log", "logs/posts.log", "__pycache__/posts.cpython-311.pyc", ".venv/lib/x.py"))


def test_watch_runs_again_after_an_edit(checks_env, make_target):
    target = make_target("01")
    proc = subprocess.Popen(
        [sys.executable, "-m", "checks", "watch", "01", "--target", str(target), "--debounce", "100"],
        cwd=REPO_ROOT, env=checks_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    posts = target / "01_psycopg2" / "posts.py"
    try:
        deadline = time.monotonic() + 120
        while not any("stage 01:" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            time.sleep(0.2)
        hosts = [child.pid for child in psutil.Process(proc.pid).children() if "checks.subject.host" in " ".join(_cmdline(child))]
        assert hosts == [], "watch keeps a subject host of its own, which no round uses (each round is a run of its own)"
        edited = posts.read_text().replace("ORDER BY id", "ORDER BY id DESC")
        while sum("stage 01:" in line for line in lines) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            if not any("Changed:" in line for line in lines):  # again until seen: the watcher may start after the first write
                posts.with_name("posts.py.new").write_text(edited)
                os.replace(posts.with_name("posts.py.new"), posts)  # whole: a re-run never imports half a file
            time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    output = "".join(lines)
    first, second = output.split("Changed:", 1)
    count = len(find_stage("01").checks)
    assert f"{count}/{count} checks" in first
    assert f"stage 01: {count - 1}/{count} checks" in second, "the re-run did not see the edit (list_posts now fails)"


def test_db_start_url_stop(cache_dir, checks_env):
    env = checks_env(SQL_LAB_CACHE_DIR=str(cache_dir))
    del env["DATABASE_URL"]
    started = subprocess.run([sys.executable, "-m", "checks", "db", "start"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.splitlines()[0].removeprefix("export DATABASE_URL='").rstrip("'")
        for readme in (REPO_ROOT / "README.md", REPO_ROOT / "solutions" / "01_psycopg2" / "README.md"):
            (quoted,) = set(re.findall(r"(export DATABASE_URL='postgresql\S*?)\.\.\.'", readme.read_text()))
            printed = re.sub(r"://workbook:[^@]*@", "://workbook:<password>@", started.stdout)  # the README hides the password
            assert printed.startswith(quoted), f"{readme.relative_to(REPO_ROOT)} quotes {quoted!r}: not what db start prints"
        assert url.endswith("/workbook?host=" + str(cache_dir / "pgdata-18").replace("/", "%2F"))
        again = subprocess.run([sys.executable, "-m", "checks", "db", "url"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert url in again.stdout
        graded = subprocess.run([sys.executable, "-m", "checks", "01", "--target", "solutions"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert graded.returncode == 0, graded.stdout
        still = subprocess.run([sys.executable, "-m", "checks", "db", "url"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert still.returncode == 0, "a check run stopped the server that `db start` keeps running"
    finally:
        stopped = subprocess.run([sys.executable, "-m", "checks", "db", "stop"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert "stopped" in stopped.stdout
    gone = subprocess.run([sys.executable, "-m", "checks", "db", "url"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert gone.returncode == 2 and "not running" in gone.stderr


def test_a_check_run_stops_the_server_it_started(cache_dir, checks_env):
    env = checks_env(SQL_LAB_CACHE_DIR=str(cache_dir))
    del env["DATABASE_URL"]
    graded = subprocess.run([sys.executable, "-m", "checks", "01", "--target", "solutions", "-k", "connect"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    left = subprocess.run([sys.executable, "-m", "checks", "db", "url"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert left.returncode == 2, "the embedded server is still running after the checks finished"


def test_db_start_during_a_run_keeps_the_server_that_run_started(cache_dir, embedded_env, make_target, tmp_path):
    """The run starts the server and would stop it as the last process to leave; `db start`,
    while the run waits in list_posts, asks to keep it: it outlives the run until `db stop`."""
    env = embedded_env(cache_dir)
    waiting, gate = tmp_path / "waiting", tmp_path / "gate"
    holds = LIST_POSTS + f"    open({str(waiting)!r}, 'w').close()\n    while not os.path.exists({str(gate)!r}):\n        time.sleep(0.05)\n"
    target = make_target("01", replace={"posts.py": [(LIST_POSTS, holds)]})

    def db(action: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "checks", "db", action], check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True)

    run = subprocess.Popen([sys.executable, "-m", "checks", "01", "--target", str(target), "-k", "list_posts", "--timeout", "120"],
                           cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not waiting.exists():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        started = db("start")
        assert started.returncode == 0, started.stderr
        gate.touch()
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stdout + stderr
        kept = db("url")
        assert kept.returncode == 0, "the run stopped the server that `db start` asked to keep"
    finally:
        gate.touch()
        run.wait(timeout=120)
        stopped = db("stop")
    assert "stopped" in stopped.stdout
    assert db("url").returncode == 2
