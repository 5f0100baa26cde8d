"""The checker's side of the subject host: start it once, have it fork each stage's zygote.

Without a sandbox, a subject need not be a new Python process: the host
(:mod:`checks.subject.host`) has imported the libraries once and forks a zygote per stage, so
a run of three stages (or a class of submissions) pays for those imports once. The host starts
from a clean environment, like every subject, and holds nothing of the checker's.
"""

from __future__ import annotations

import contextlib
import select
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from ..subject.protocol import Channel
from .processes import kill_tree
from .zygote import Zygote, subject_env, subject_python

START_TIMEOUT = 60.0


class HostedProcess:
    """A zygote the host forked: not the checker's child, so watched through its pid."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        try:
            return None if psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE else -1
        except psutil.NoSuchProcess:
            return -1

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("zygote", timeout)
            time.sleep(0.01)
        return None  # the host reaps it: its exit code is not known here


class SubjectHost:
    """The host process of a run or a batch; a launcher for :class:`~checks.engine.subject.Subject`."""

    def __init__(self, socket_path: Path | None = None) -> None:
        self.socket_path = socket_path
        self._process: subprocess.Popen | None = None
        self._folder: Path | None = None

    def start(self) -> SubjectHost:
        """Start the host; it imports the libraries while the caller goes on."""
        self._folder = Path(tempfile.mkdtemp(prefix="labhost-"))
        self.socket_path = self._folder / "host.sock"
        self._process = subprocess.Popen(
            subject_python("host", "--socket", str(self.socket_path)), env=subject_env(self._folder), cwd=self._folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        return self

    def ready(self) -> SubjectHost:
        """Wait until the host has imported the libraries and listens (once; a no-op for a host
        started by another process)."""
        if self._process is None or self._process.stdout is None:
            return self
        ready, _, _ = select.select([self._process.stdout], [], [], START_TIMEOUT)
        if not ready or self._process.stdout.readline().strip() != b"ready":
            raise OSError("the subject host did not start")
        self._process.stdout.close()
        self._process.stdout = None
        return self

    def __call__(self, zygote: Zygote, env: dict[str, str], workdir: Path, log: int) -> HostedProcess:
        """A :data:`~checks.engine.zygote.Launcher`: the host forks the zygote."""
        channel = Channel(self._connect())
        try:
            channel.send({
                "socket": str(zygote.socket), "stage_dir": str(zygote.stage_dir), "modules": list(zygote.modules),
                "alembic_dir": str(zygote.alembic_dir), "env": env, "cwd": str(workdir), "log": str(workdir / "subject.log"),
            })
            answer = channel.receive()
        finally:
            channel.close()
        if not answer or not isinstance(answer.get("pid"), int):
            raise OSError("the subject host did not start the stage")
        return HostedProcess(answer["pid"])

    def _connect(self) -> socket.socket:
        """A connection to the host, waiting for it to listen (it may still be importing)."""
        self.ready()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(START_TIMEOUT)
            try:
                sock.connect(str(self.socket_path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        """Stop the host and whatever of it still runs (each subject stops its own zygote first)."""
        if self._process is not None:
            kill_tree(self._process.pid)
            self._process.wait()
            self._process = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


_early: list[SubjectHost] = []


@contextlib.contextmanager
def started_early() -> Iterator[None]:
    """Start a subject host now, before the checker's own imports, for the run that follows to
    take (:func:`take_early`); stop it afterwards if nothing took it."""
    host = SubjectHost().start()
    _early.append(host)
    try:
        yield
    finally:
        if host in _early:
            _early.remove(host)
            host.close()


def take_early() -> SubjectHost | None:
    """The host started early, if there is one; the caller closes it."""
    return _early.pop() if _early else None
