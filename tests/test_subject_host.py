"""The subject host and its zygotes end with the checker that started them, even when it is killed."""

import json
import subprocess
import sys
import time

import psutil

from checks.registry import REPO_ROOT

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
sys.stdin.readline()
os._exit(0)  # gone without closing anything, as if killed
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_checker_that_dies_takes_its_host_zygote_and_spinning_copy_along(tmp_path, database):
    stage = tmp_path / "01_psycopg2"
    stage.mkdir()
    (stage / "posts.py").write_text("def spin():\n    while True:\n        pass\n")
    checker = subprocess.Popen(
        [sys.executable, "-c", CHECKER, str(stage), database.url], cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    pids = json.loads(checker.stdout.readline())
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
        while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {name: _alive(pid) for name, pid in pids.items()} == {"host": False, "zygote": False, "copy": False}
    finally:
        for pid in pids.values():
            if _alive(pid):
                psutil.Process(pid).kill()
