"""The subject host and its zygotes end with the checker that started them, even when it is
killed (the next run removes the folders it left); in a sandbox, the host answers the checker
alone."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from checks.db.server import process_alive
from checks.engine import tempdirs
from checks.engine.host import Contained, SubjectHost
from checks.engine.processes import kill_tree, watch
from checks.engine.subject import Subject
from checks.registry import REPO_ROOT, load_stages

CHECKER = """
import json, os, sys
from pathlib import Path
from checks.engine.host import SubjectHost
from checks.engine.subject import Subject

host = SubjectHost().start()
subject = Subject(Path(sys.argv[1]), sys.argv[2], ["posts"], host).start()
copy = subject.fork(600)
copy.channel.send({"op": "call", "target": "posts:spin", "args": [], "kwargs": {}})
print(json.dumps({"host": host._process.pid, "zygote": subject._process.pid, "copy": copy.pid}), flush=True)
print(json.dumps([str(host.folder), str(subject._workdir)]), flush=True)
sys.stdin.readline()
os._exit(0)  # gone without closing anything, as if killed
"""


def test_a_checker_that_dies_takes_its_host_zygote_and_spinning_copy_along(tmp_path, database, scratch, monkeypatch):
    """Its processes end with it; its temporary folders stay, until the next run removes them (in
    a temp folder of the test's own: any other run on this machine would remove them too)."""
    stage = tmp_path / "01_psycopg2"
    stage.mkdir()
    (stage / "posts.py").write_text("def spin():\n    while True:\n        pass\n")
    checker = subprocess.Popen(
        [sys.executable, "-c", CHECKER, str(stage), database.url], cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=os.environ | {"TMPDIR": str(scratch)},
    )
    pids = json.loads(checker.stdout.readline())
    folders = [Path(folder) for folder in json.loads(checker.stdout.readline())]
    try:
        copy = psutil.Process(pids["copy"])
        deadline = time.monotonic() + 30
        while copy.cpu_times().user < 0.2:  # the target's code runs
            assert time.monotonic() < deadline, "the copy never started spinning"
            time.sleep(0.05)
        checker.stdin.write("\n")
        checker.stdin.flush()
        checker.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(process_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {name: process_alive(pid) for name, pid in pids.items()} == {"host": False, "zygote": False, "copy": False}
        assert all(folder.is_dir() for folder in folders)
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        tempdirs.remove_stale()  # as the next run does
        assert not any(folder.exists() for folder in folders)
    finally:
        for pid in pids.values():
            if process_alive(pid):
                psutil.Process(pid).kill()



RUN_APART = """
import json, sys
from pathlib import Path
from checks.engine.runner import run_checks
from checks.registry import load_stages

run = run_checks(load_stages(), Path(sys.argv[1]), options=["--sandbox"], apart=True)
print(json.dumps([result.status for result in run.results]))
"""


@pytest.mark.sandbox
def test_stages_side_by_side_start_their_subjects_from_one_sandbox(scratch, checks_env):
    """A run of every stage at once, each in a process of its own, all from one sandboxed host:
    the solutions pass every check (a copy: as root, the sandbox's user gets what it may write)."""
    solutions = shutil.copytree(REPO_ROOT / "solutions", scratch / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-c", RUN_APART, str(solutions)], cwd=REPO_ROOT, env=checks_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    statuses = json.loads(proc.stdout.splitlines()[-1])
    assert statuses == ["passed"] * sum(len(stage.checks) for stage in load_stages())


ASK_THE_HOST = """
import json, os, socket, sys, time


def _host_folder():  # found as an attacker would: the zygote's socket path, up the stack
    frame = sys._getframe()
    while "socket_path" not in frame.f_locals:
        frame = frame.f_back
    return os.path.dirname(os.path.dirname(frame.f_locals["socket_path"]))


def _request():
    path = os.path.join(_host_folder(), "host.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(path)
    wanted = {"socket": "/nowhere", "stage_dir": ".", "modules": [], "alembic_dir": "", "env": {}, "cwd": "/"}
    try:
        socket.send_fds(sock, [b"L"], [1])
        sock.sendall(json.dumps(wanted).encode() + b"\\n")
        answer = sock.recv(200)
    except OSError as exc:  # closed on it
        return f"no answer ({type(exc).__name__})"
    return f"answered: {answer.decode()}" if answer else "no answer"


def ask(orphan):
    if not orphan:
        return _request()
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # its parent is gone: the sandbox's init adopts it, out of the host's family
            time.sleep(0.3)
            os.write(write, _request().encode())
        os._exit(0)
    os.close(write)
    return os.read(read, 200).decode()
"""


@pytest.mark.sandbox
def test_a_sandboxed_host_answers_only_the_checker(database, scratch):
    """The target's code sees the host's socket; neither a copy nor an orphan it left behind
    gets a zygote of its own from it, while the checker does."""
    labs = scratch / "labs"
    stage = labs / "01_psycopg2"
    stage.mkdir(parents=True)
    (stage / "posts.py").write_text(ASK_THE_HOST)
    host = SubjectHost(contained=Contained(labs)).start()
    try:
        subject = Subject(stage, database.url, ["posts"], host, workroot=host.folder).start()
        assert not subject.failure, subject.failure
        (host.folder / "host.sock").chmod(0o777)  # as root the sandbox's user could not even connect: let it
        copy = subject.fork(30)
        try:
            assert copy.call("posts:ask", False).startswith("no answer")
            assert copy.call("posts:ask", True).startswith("no answer")
        finally:
            copy.close()
        subject.close()
        again = Subject(stage, database.url, ["posts"], host, workroot=host.folder).start()
        assert not again.failure, again.failure
        again.close()
    finally:
        host.close()


@pytest.mark.sandbox
def test_a_sandboxed_hosts_target_is_its_owners_again_once_the_host_stops(scratch):
    """As root the sandbox's user owns the target while the host runs (it may write there); when
    the host stops, the target and what is in it belong to whoever owned them before."""
    labs = scratch / "labs"
    (labs / "01_psycopg2").mkdir(parents=True)
    (labs / "01_psycopg2" / "posts.py").write_text("")
    before = {path: path.stat().st_uid for path in [labs, *labs.rglob("*")]}
    host = SubjectHost(contained=Contained(labs)).start().ready()
    try:
        if os.geteuid() == 0:
            assert labs.stat().st_uid != 0
    finally:
        host.close()
    assert {path: path.stat().st_uid for path in [labs, *labs.rglob("*")]} == before


def test_a_run_removes_only_the_folders_of_checkers_that_are_gone(scratch, run_cli, checks_env):
    """A run removes what killed checkers left in the temp folder, never a running process's
    folder, another user's, or one that is not the workbook's."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True).stdout.strip()
    names = [f"labhost-{gone}-x", f"labsubject-{os.getpid()}-x", "labhost-abc-x", "notlab-1-x", f"labrador-{gone}-x"]
    if os.geteuid() == 0:
        names.append(f"labexchange-{gone}-y")
    for name in names:
        (scratch / name / "home").mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(scratch / names[-1], 65534, 65534)
    run = run_cli("01", "--target", "solutions", "-k", "connect_reads_database_url", env=checks_env(TMPDIR=str(scratch)))
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(path.name for path in scratch.iterdir()) == sorted(names[1:])


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may choose the next pid (/proc/sys/kernel/ns_last_pid)")
def test_a_process_that_ended_is_never_confused_with_the_next_owner_of_its_pid():
    """Zygotes and checkers are reaped by another process (the host, the forkserver), so their
    pid can be another process's when the checker cleans up: that process lives on."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    watched = watch(ended.pid)
    ended.wait()
    time.sleep(0.05)  # a start time of its own (the kernel counts in ticks)
    for _ in range(20):
        with open("/proc/sys/kernel/ns_last_pid", "w") as last:
            last.write(str(ended.pid - 1))
        owner = subprocess.Popen(["sleep", "60"], start_new_session=True)  # its own process group, as a checker's
        if owner.pid == ended.pid:
            break
        owner.kill()
        owner.wait()
    else:
        pytest.skip("other processes took the pid first")
    try:
        kill_tree(watched)
        time.sleep(0.1)
        assert owner.poll() is None, "the pid's new owner was killed"
    finally:
        owner.kill()
        owner.wait()
