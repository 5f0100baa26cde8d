"""``python -m checks.subject.host --socket PATH``: the libraries imported once, a zygote forked per stage.

Importing SQLAlchemy, FastAPI and Alembic costs a new Python process over half a second. The
host imports them (and nothing of any target) once; for each stage a checker asks it to start,
it forks a child that takes the environment and log it is given and becomes that stage's zygote
(:func:`checks.subject.__main__.zygote`). Used by a run of several stages and by a class, when the
target's code runs without a sandbox (a sandbox needs a process of its own from the start). The
host answers no process of its own family (a target's code cannot ask it for more) and ends when
the process that started it does.
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

# What stages import, loaded before any target's code (each only if installed).
PRELOAD = (
    "psycopg2",
    "psycopg2.extras",
    "dotenv",
    "sqlalchemy.orm",
    "pydantic",
    "email_validator",
    "fastapi",
    "fastapi.testclient",
    "alembic.command",
    "alembic.autogenerate",
    "alembic.runtime.migration",
    "alembic.script",
)


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
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


def spawn(request: dict, inherited: list[socket.socket]) -> int:
    """Fork a zygote for one stage: its own session, environment, working folder and log (and
    none of the host's sockets)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        for sock in inherited:
            sock.close()
        os.setsid()
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        alembic_dir = Path(request["alembic_dir"]) if request.get("alembic_dir") else None
        zygote(str(request["socket"]), Path(request["stage_dir"]), list(request["modules"]), alembic_dir)
    finally:
        os._exit(70)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m checks.subject.host")
    parser.add_argument("--socket", required=True)
    args = parser.parse_args()
    preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # zygotes are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.socket)
    listener.listen(16)
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
        try:
            peer = peer_pid(sock)
            request = channel.receive()
            if request is not None and not (peer is not None and _family(peer)):
                channel.send({"pid": spawn(request, [listener, sock])})
        except (OSError, ValueError, KeyError, TypeError):
            pass
        finally:
            channel.close()


if __name__ == "__main__":
    main()
