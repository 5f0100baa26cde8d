"""``python -m checks.subject.host --fd N [--preload LIBS]``: the libraries imported once, a zygote forked per stage.

Importing SQLAlchemy, FastAPI and Alembic costs a new Python process over half a second. The
host imports what the run's stages use (and nothing of any target) once; for each stage a
checker asks it to start, it forks a child that takes the environment, working folder and log it
is given and becomes that stage's zygote (:func:`checks.subject.__main__.zygote`). Used by a run
of several stages and by a class; in a sandbox, one host serves the stages of one target.

The checker binds the host's unix socket and passes it as file descriptor ``N``; the host
listens on it. Each request comes with the zygote's log as a file descriptor (the host needs
no writable folder); a checker may also ask for the exit code of a zygote that ended. The
host answers no process of its own family (a target's code cannot ask it for more); with
``--outside-only`` (in a sandbox), only processes outside its PID namespace, that is, the
checker. It ends when the process that started it does.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import sys
from pathlib import Path

from .__main__ import zygote
from .protocol import Channel, peer_pid

# What the subject side itself uses, loaded before any target's code (each only if installed);
# ``--preload`` adds what the stages' code imports (their ``libraries`` in the registry).
PRELOAD = ("psycopg2", "fastapi.testclient")


def preload(libraries: list[str]) -> None:
    for name in [*PRELOAD, *libraries]:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if "alembic" in sys.modules:
        from . import migrations  # noqa: F401
    from .http import warm_up

    warm_up()


def _family(pid: int) -> bool:
    """Whether ``pid`` descends from this process (a zygote or a copy), read from /proc."""
    try:
        while pid > 1:
            if pid == os.getpid():
                return True
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                pid = int(stat.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return True  # unknown: refuse
    return False


def spawn(request: dict, log: int, inherited: list[socket.socket]) -> int:
    """Fork a zygote for one stage: its own session, environment, working folder and log (and
    none of the host's sockets)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        for sock in inherited:
            sock.close()
        os.setsid()
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        alembic_dir = Path(request["alembic_dir"]) if request.get("alembic_dir") else None
        zygote(str(request["socket"]), Path(request["stage_dir"]), list(request["modules"]), alembic_dir)
    finally:
        os._exit(70)


ENDED: dict[int, int] = {}  # exit codes of the zygotes that ended, by pid (the latest ones)


def reap(signum: int, frame: object) -> None:
    """SIGCHLD: note the exit codes of the zygotes that ended (a checker asks for them)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ENDED[pid] = os.waitstatus_to_exitcode(status)
        if len(ENDED) > 1000:
            del ENDED[next(iter(ENDED))]


def allowed(peer: int | None, outside_only: bool) -> bool:
    """Whether to answer a peer: never one of this process's family; with ``outside_only``, only
    one outside this PID namespace (its pid reads as 0 here)."""
    if outside_only:
        return peer == 0
    return not (peer is not None and _family(peer))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m checks.subject.host")
    parser.add_argument("--fd", required=True, type=int, help="a bound unix socket to listen on")
    parser.add_argument("--outside-only", action="store_true", help="answer only processes outside this PID namespace")
    parser.add_argument("--preload", default="", help="comma-separated libraries the stages' code imports")
    args = parser.parse_args()
    preload(list(filter(None, args.preload.split(","))))
    signal.signal(signal.SIGCHLD, reap)
    listener = socket.socket(fileno=args.fd)
    listener.set_inheritable(False)
    listener.listen(16)  # here, not in the checker: a client's SO_PEERCRED names the process that listens
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    parent = os.getppid()
    listener.settimeout(1.0)
    while True:
        try:
            sock, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the checker that started it is gone: so is the host
                os._exit(0)
            continue
        sock.settimeout(10.0)  # a request comes right after the connection, or never
        channel = Channel(sock)
        fds: list[int] = []
        try:
            if allowed(peer_pid(sock), args.outside_only):
                _, fds, _, _ = socket.recv_fds(sock, 1, 1)  # a new zygote's log
                request = channel.receive()
                if request is not None and "ended" in request:
                    channel.send({"exit_code": ENDED.get(int(request["ended"]))})
                elif request is not None and len(fds) == 1:
                    channel.send({"pid": spawn(request, fds[0], [listener, sock])})
        except (OSError, ValueError, KeyError, TypeError):
            pass
        finally:
            for fd in fds:
                os.close(fd)
            channel.close()


if __name__ == "__main__":
    main()
