"""The checker's side of the subject host: start it once, have it fork each stage's zygote.

A subject need not be a new Python process: the host (:mod:`checks.subject.host`) has imported
the libraries once and forks a zygote per stage, so a run of three stages (or, without a
sandbox, a class of submissions) pays for those imports once. In a sandbox (``Contained``) the
host serves one target's stages. The host starts from a clean environment, like every subject,
and holds nothing of the checker's.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..registry import CHECKS_ROOT, REPO_ROOT
from ..subject.protocol import Channel, peer_pid
from . import sandbox, tempdirs
from .processes import kill_tree, watch
from .zygote import Zygote, subject_env, subject_python

START_TIMEOUT = 60.0
ASK_EXIT_CODE = 3.0  # seconds a zygote that ended may wait to be reaped by a busy host


class HostedProcess:
    """A zygote the host forked: not the checker's child, so watched through its pid (``pid``
    here, None if it ended before it was seen; ``number`` in the host's PID namespace); the
    host knows its exit code."""

    def __init__(self, pid: int | None, number: int, host: SubjectHost) -> None:
        self.pid = pid
        self.process = watch(pid)  # the host reaps it: once it ends, its pid may soon be another process's
        self.number = number
        self.host = host

    def poll(self) -> int | None:
        if self.process is None:
            return -1
        try:
            return None if self.process.is_running() and self.process.status() != psutil.STATUS_ZOMBIE else -1
        except psutil.NoSuchProcess:
            return -1

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("zygote", timeout)
            time.sleep(0.01)
        asked_until = time.monotonic() + ASK_EXIT_CODE  # the host notes it as it reaps it, a moment after it ends
        while time.monotonic() < asked_until:
            try:
                code = self.host.exit_code(self.number)
            except OSError:  # the host is gone too
                return None
            if code is not None:
                return code
            time.sleep(0.01)
        return None


@dataclass(frozen=True)
class Contained:
    """A host in a sandbox: it sees ``target`` (writable) and, of the workbook, only
    ``checks/subject`` and the Alembic environment; nothing of ``hide``, the workbook or the
    server's files. A network only when the database is reached over TCP."""

    target: Path
    hide: Sequence[Path] = ()
    share_network: bool = False


class SubjectHost:
    """The host process of a run or a batch; a launcher for :class:`~checks.engine.subject.Subject`.

    A host started here has a folder of its own (``folder``): its socket, and in a sandbox the
    subjects' folders and the database relay's, which the sandbox shows read-only."""

    def __init__(self, socket_path: Path | None = None, contained: Contained | None = None) -> None:
        self.socket_path = socket_path
        self.contained = contained
        self.folder: Path | None = None  # made by ``start``
        self._process: subprocess.Popen | None = None
        self._sandbox: sandbox.Command | None = None  # how the sandbox was started (its user, when the grader is root)

    def start(self, libraries: Sequence[str] = ()) -> SubjectHost:
        """Start the host; it imports the ``libraries`` (the stages', see :func:`libraries_of`)
        while the caller goes on."""
        self.folder = tempdirs.make("host")
        self.socket_path = self.folder / "host.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.socket_path))
            argv = subject_python("host", "--fd", str(listener.fileno()), "--preload", ",".join(libraries))
            options = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL, "start_new_session": True, "pass_fds": (listener.fileno(),)}
            if self.contained is None:
                self._process = subprocess.Popen(argv, env=subject_env(self.folder), cwd=self.folder, **options)
            else:
                self._process = self._sandboxed(argv, options)
        finally:
            listener.close()
        return self

    def _sandboxed(self, argv: list[str], options: dict) -> subprocess.Popen:
        # Imported here: the CLI imports this module before anything heavy.
        from ..db.server import CACHE_DIR

        self.folder.chmod(0o711)  # the sandbox's user must reach the sockets inside; nobody may list it
        contained = self.contained
        command = sandbox.wrap(
            [*argv, "--outside-only"], env=subject_env(self.folder),
            read_only=[CHECKS_ROOT / "__init__.py", CHECKS_ROOT / "subject", REPO_ROOT / "alembic", self.folder],
            writable={contained.target: contained.target}, hide=[REPO_ROOT, CACHE_DIR, *contained.hide], cwd=contained.target,
            share_network=contained.share_network,
        )
        self._sandbox = command
        return command.popen(**options)

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
        """A :data:`~checks.engine.zygote.Launcher`: the host forks the zygote (which then works in
        its stage folder). In a sandbox, whose host folder is read-only, its home is the sandbox's /tmp."""
        if self.contained:
            env = {**env, "HOME": "/tmp"}
            workdir.chmod(0o711)
            if self._sandbox and self._sandbox.user:
                os.chown(zygote.socket, *self._sandbox.user)
        sock = self._connect()
        channel = Channel(sock)
        try:
            host = peer_pid(sock)
            socket.send_fds(sock, [b"L"], [log])
            channel.send({
                "socket": str(zygote.socket), "stage_dir": str(zygote.stage_dir), "modules": list(zygote.modules),
                "alembic_dir": str(zygote.alembic_dir), "env": env, "cwd": str(workdir),
            })
            answer = channel.receive()
        finally:
            channel.close()
        if not answer or not isinstance(answer.get("pid"), int):
            raise OSError("the subject host did not start the stage")
        return HostedProcess(_seen_from_here(host, answer["pid"]), answer["pid"], self)

    def exit_code(self, number: int) -> int | None:
        """The exit code of the host's zygote ``number`` (a pid in the host's namespace), if it ended."""
        channel = Channel(self._connect())
        try:
            channel.sock.sendall(b"?")
            channel.send({"ended": number})
            answer = channel.receive()
        finally:
            channel.close()
        code = (answer or {}).get("exit_code")
        return code if isinstance(code, int) else None

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
        if self._sandbox is not None:  # the target is its owners' again
            sandbox.give_back(self._sandbox)
            self._sandbox = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _seen_from_here(host: int | None, pid: int) -> int | None:
    """The pid, in this process's PID namespace, of the host's child that the host calls ``pid``
    (a sandboxed host has a namespace of its own); None when that child has already ended."""
    try:
        if not host or os.readlink(f"/proc/{host}/ns/pid") == os.readlink("/proc/self/ns/pid"):
            return pid
        for child in psutil.Process(host).children():
            with open(f"/proc/{child.pid}/status", encoding="ascii") as status:
                line = next((row for row in status if row.startswith("NSpid:")), "")
            if line.split()[-1:] == [str(pid)]:
                return child.pid
    except (psutil.Error, OSError):
        pass
    return None


_early: list[SubjectHost] = []


@contextlib.contextmanager
def started_early(libraries: Sequence[str]) -> Iterator[None]:
    """Start a subject host now, before the checker's own imports, for the run that follows to
    take (:func:`take_early`); stop it afterwards if nothing took it."""
    host = SubjectHost().start(libraries)
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
