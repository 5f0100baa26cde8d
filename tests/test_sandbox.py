"""The sandbox (checks/engine/sandbox.py) holds: each attack is a small program run through ``wrap``."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from checks.engine import sandbox
from checks.errors import SetupError
from checks.registry import REPO_ROOT

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


@pytest.fixture
def work(scratch):
    """The one folder the sandbox may write, bound at its own path and used as its cwd and HOME."""
    path = scratch / "work"
    path.mkdir()
    return path


@pytest.fixture
def command(work):
    """``command(code, *args, **wrap_options)``: the sandboxed ``python -c code args``."""

    def command(code, *args, **options):
        options.setdefault("writable", {work: work})
        argv = [sys.executable, "-c", textwrap.dedent(code), *args]
        return sandbox.wrap(argv, env=ENV | {"HOME": str(work)}, cwd=work, **options)

    return command


@pytest.fixture
def run(command):
    """``run(code, *args, **wrap_options)``: run it in the sandbox; what it printed, as JSON."""

    def run(code, *args, **options):
        cmd = command(code, *args, **options)
        done = subprocess.run(cmd.argv, **cmd.popen_kwargs, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def wait_until_gone(alive, tag):
    """Return once no process holding ``tag`` is left (the kernel ends them asynchronously)."""
    deadline = time.monotonic() + 60
    while alive(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(tag) == []


# Started in the sandbox with a tag: a setsid()'d grandchild sleeps, then "up" is printed.
GRANDCHILD = """
    import os, sys, time
    tag = sys.argv[1]
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", tag + "-grandchild"])
        os._exit(0)
    os.wait()
    def up():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if tag + "-grandchild" in open(f"/proc/{pid}/cmdline").read():
                    return True
            except OSError:
                pass
    while not up():
        time.sleep(0.01)
    print("up", flush=True)
    if sys.argv[2] == "stay":
        time.sleep(600)
"""


@pytest.mark.sandbox
def test_writing_outside_the_writable_folder_fails(run, scratch, work):
    targets = [REPO_ROOT / "checks" / "conftest.py", REPO_ROOT / "results.json", REPO_ROOT.parent / "pwned",
               Path.home() / "pwned", scratch / "pwned", Path("/var/tmp/pwned"), Path("/etc/pwned")]
    said = run(
        """
        import json, sys
        said = {}
        for path in sys.argv[1:]:
            try:
                with open(path, "a") as f:
                    f.write("pwned")
                said[path] = "written"
            except OSError as exc:
                said[path] = exc.strerror
        with open("mine.txt", "w") as f:
            f.write("ok")
        print(json.dumps(said))
        """,
        *map(str, targets),
    )
    # A path under /tmp lands in the sandbox's own /tmp (a workbook cloned under /tmp, say): the
    # write may succeed there, but the host's file must not change. Anywhere else it must fail.
    private = [str(path) for path in targets if path.resolve().is_relative_to("/tmp")]
    assert "written" not in [result for path, result in said.items() if path not in private], said
    assert not any(path.exists() and "pwned" in path.read_text() for path in targets)
    assert (work / "mine.txt").read_text() == "ok"


@pytest.mark.sandbox
def test_hidden_folders_are_empty_and_a_shown_subfolder_is_read_only(run, scratch):
    others = [scratch / name for name in ("classmate", "out", "extra_checks", "cache")]
    for folder in others:
        folder.mkdir()
        (folder / "secret.txt").write_text("secret")
    workbook = scratch / "workbook"
    subject = workbook / "checks" / "subject"
    subject.mkdir(parents=True)
    (subject / "protocol.py").write_text("VERSION = 1\n")
    (workbook / "checks" / "test_hidden.py").write_text("secret")
    (scratch / ".env").write_text("DATABASE_URL=postgresql://admin:secret@/x")
    said = run(
        """
        import json, os, sys
        others, workbook, subject, env_file = sys.argv[1:5], *sys.argv[5:]
        def write(path):
            try:
                with open(path, "w") as f:
                    f.write("x")
                return "written"
            except OSError as exc:
                return exc.strerror
        def read(path):
            try:
                return open(path).read()
            except OSError as exc:
                return exc.strerror
        print(json.dumps({
            "others": [os.listdir(folder) for folder in others],
            "workbook": os.listdir(workbook),
            "checks": os.listdir(os.path.dirname(subject)),
            "subject": open(os.path.join(subject, "protocol.py")).read(),
            "env_file": read(env_file),
            "writes": [write(os.path.join(path, "x")) for path in [*others, workbook, subject]] + [write(env_file)],
        }))
        """,
        *map(str, [*others, workbook, subject, scratch / ".env"]),
        hide=[*others, workbook, scratch / ".env"],
        read_only=[subject],
    )
    assert said["others"] == [[], [], [], []]
    assert said["workbook"] == ["checks"] and said["checks"] == ["subject"]
    assert said["subject"] == "VERSION = 1\n"
    assert said["env_file"] == "Permission denied"
    assert "written" not in said["writes"], said["writes"]
    assert sorted(p.name for p in subject.iterdir()) == ["protocol.py"]


@pytest.mark.sandbox
def test_home_folders_are_hidden_but_the_python_running_the_sandbox_is_not(run):
    folders = [Path("/home"), Path.home()]
    said = run("import json, os, sys; print(json.dumps([os.listdir(p) if os.path.isdir(p) else [] for p in sys.argv[1:]]))", *map(str, folders))
    python = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    for folder, listing in zip(folders, said):
        assert set(listing) == {p.relative_to(folder).parts[0] for p in python if folder in p.parents}


@pytest.mark.sandbox
def test_proc_shows_only_the_sandbox_and_no_host_environment(run, monkeypatch, work):
    secret = f"secret-{uuid.uuid4()}"
    monkeypatch.setenv("SANDBOX_TEST_SECRET", secret)
    said = run(
        """
        import json, os
        pids = sorted(int(pid) for pid in os.listdir("/proc") if pid.isdigit())
        environs = {}
        for pid in pids:
            try:
                environs[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
            except OSError as exc:
                environs[pid] = exc.strerror
        print(json.dumps({"pids": pids, "me": os.getpid(), "environ": dict(os.environ), "environs": environs}))
        """
    )
    assert said["pids"] == [1, said["me"]] and os.getpid() not in said["pids"]
    assert said["environ"] == ENV | {"HOME": str(work), "PWD": str(work)}
    assert "PATH=" in said["environs"]["1"]  # /proc/1/environ is readable, and holds only what was given
    assert secret not in json.dumps(said)


@pytest.mark.sandbox
@pytest.mark.parametrize("end", ["main process exits", "sandbox.kill", "bwrap killed"])
def test_a_setsid_grandchild_ends_with_the_sandbox(command, end, alive):
    tag = f"sandbox-test-{uuid.uuid4()}"
    proc = command(GRANDCHILD, tag, "exit" if end == "main process exits" else "stay").popen(
        stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "up\n"  # the grandchild runs
        if end == "main process exits":
            proc.wait()
            wait_until_gone(alive, tag)  # the namespace's init is gone: the kernel kills what is left
        elif end == "sandbox.kill":
            assert alive(tag + "-grandchild")
            sandbox.kill(proc)
            assert alive(tag) == []
        else:
            assert alive(tag + "-grandchild")
            proc.kill()
            proc.wait()
            wait_until_gone(alive, tag)
    finally:
        sandbox.kill(proc)
        proc.stdout.close()


@pytest.mark.sandbox
def test_spawning_200_processes_stops_at_the_limit_and_leaves_nothing(run, alive):
    tag = f"sandbox-test-{uuid.uuid4()}"
    said = run(
        """
        import json, os, sys, time
        children, error = 0, None
        for _ in range(200):
            try:
                pid = os.fork()
            except OSError as exc:
                error = exc.strerror
                break
            if pid == 0:
                time.sleep(600)
                os._exit(0)
            children += 1
        print(json.dumps({"children": children, "error": error}))
        """,
        tag,
    )
    assert said["error"] == "Resource temporarily unavailable"
    assert said["children"] < sandbox.Limits().processes
    assert alive(tag) == []


@pytest.mark.sandbox
def test_the_sandbox_runs_as_an_unprivileged_host_user(command):
    tag = f"sandbox-test-{uuid.uuid4()}"
    proc = command(GRANDCHILD, tag, "stay").popen(stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "up\n"
        inside = psutil.Process(proc.pid).children(recursive=True)
        assert len(inside) >= 3  # the sandbox's init, the main process, the grandchild
        assert all(0 not in p.uids() for p in [psutil.Process(proc.pid), *inside])
    finally:
        sandbox.kill(proc)
        proc.stdout.close()


@pytest.mark.sandbox
def test_allocating_4_gb_raises_memory_error(run):
    said = run(
        """
        import json
        small = len(bytearray(100 * 2**20))
        try:
            bytearray(4 * 2**30)
            big = "allocated"
        except MemoryError:
            big = "MemoryError"
        print(json.dumps({"small": small, "big": big}))
        """
    )
    assert said == {"small": 100 * 2**20, "big": "MemoryError"}


@pytest.mark.sandbox
def test_writing_a_200_mb_file_fails(run, work):
    said = run(
        """
        import json
        said = {}
        for path in ("big.bin", "/tmp/big.bin"):
            try:
                with open(path, "wb") as f:
                    for _ in range(200):
                        f.write(bytes(2**20))
                said[path] = "written"
            except OSError as exc:
                said[path] = exc.strerror
        print(json.dumps(said))
        """
    )
    assert said["big.bin"] == "File too large"
    assert said["/tmp/big.bin"] in ("File too large", "No space left on device")
    assert (work / "big.bin").stat().st_size <= sandbox.Limits().file_size


@pytest.mark.sandbox
def test_the_sandbox_dies_with_the_process_that_started_it(command, alive):
    tag = f"sandbox-test-{uuid.uuid4()}"
    cmd = command(GRANDCHILD, tag, "stay")
    starter = subprocess.Popen(
        [sys.executable, "-c", "import json, subprocess, sys; c = json.loads(sys.argv[1]); "
         "subprocess.Popen(c['argv'], **c['kwargs']).wait()",
         json.dumps({"argv": cmd.argv, "kwargs": cmd.popen_kwargs})],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert starter.stdout.readline() == "up\n"
        assert alive(tag + "-grandchild")
        starter.send_signal(signal.SIGKILL)
        starter.wait()
        wait_until_gone(alive, tag)
    finally:
        starter.kill()
        starter.wait()
        starter.stdout.close()


def test_resolve_follows_the_mode(monkeypatch, capsys):
    reason = f"user namespaces are disabled ({uuid.uuid4()})"
    monkeypatch.setattr(sandbox, "available", lambda: reason)
    assert sandbox.resolve("off") is False
    with pytest.raises(SetupError, match="user namespaces are disabled"):
        sandbox.resolve("require")
    assert sandbox.resolve("auto") is False and sandbox.resolve("auto") is False
    assert capsys.readouterr().err == f"note: grading without a sandbox: {reason}\n"
    monkeypatch.setattr(sandbox, "available", lambda: None)
    assert sandbox.resolve("auto") is True and sandbox.resolve("require") is True
    assert sandbox.resolve("off") is False


@pytest.mark.sandbox
def test_a_bwrap_that_fails_gives_its_reason_in_one_line(monkeypatch, scratch):
    fake = scratch / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox, "_bwrap", lambda: fake)
    assert sandbox.available.__wrapped__() == (
        "bubblewrap cannot make a sandbox here: bwrap: No permissions to create a new namespace"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the sandbox to another user")
@pytest.mark.sandbox
def test_as_root_a_folder_the_sandbox_user_cannot_enter_is_named(command, scratch):
    shown = scratch / "private" / "subject"
    shown.mkdir(parents=True)
    (scratch / "private").chmod(0o700)
    with pytest.raises(SetupError, match="cannot enter .*private"):
        command("pass", read_only=[shown])


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the sandbox a folder of its own")
@pytest.mark.sandbox
def test_as_root_a_writable_folder_is_given_back_to_its_owners(command, work):
    """While the sandbox runs, its user owns the folder it may write; afterwards every path there
    is its owner's again, and what the sandbox made (a symbolic link to a system file too) the
    folder's owner's. Nothing is followed out of the folder."""
    (work / "mine.txt").write_text("mine")
    (work / "theirs.txt").write_text("theirs")
    (work / "link").symlink_to("/etc/hostname")  # root's
    for path, owner in ((work, 1234), (work / "mine.txt", 1234), (work / "theirs.txt", 4321)):
        os.chown(path, owner, owner)
    cmd = command("""
        import os, pathlib
        pathlib.Path("made").mkdir()
        pathlib.Path("made", "new.txt").write_text("new")
        os.symlink("/etc/passwd", "made/to-passwd")
        print(os.stat(".").st_uid)
    """)
    done = subprocess.run(cmd.argv, **cmd.popen_kwargs, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert work.stat().st_uid == cmd.user[0]  # the sandbox's user's, until given back
    sandbox.give_back(cmd)
    owners = {path.name: (path.lstat().st_uid, path.lstat().st_gid) for path in [work, *work.rglob("*")]}
    assert owners == {
        "work": (1234, 1234), "mine.txt": (1234, 1234), "theirs.txt": (4321, 4321), "link": (0, 0),
        "made": (1234, 1234), "new.txt": (1234, 1234), "to-passwd": (1234, 1234),
    }
    assert (Path("/etc/passwd").stat().st_uid, Path("/etc/hostname").stat().st_uid) == (0, 0)
