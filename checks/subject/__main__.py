"""``python -m checks.subject``: import a target's stage once, then serve each check in a fresh copy.

The process (the *zygote*) connects to the checker's unix socket, imports the stage's modules
(the checker limits how long that may take), reports what failed to import, and then waits.
For every check the checker asks it to fork: the copy starts from the pristine import,
connects to the socket again, and answers requests (see :mod:`.server`) until the checker
closes the connection or kills it. Nothing here decides a grade; the checker does.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import io
import os
import signal
import socket
import sys
from pathlib import Path

from .loader import StudentCodeError, import_from_stage, sources_only
from .protocol import Channel
from .server import serve


def connect(path: str) -> Channel:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    channel = Channel(sock)
    channel.send({"pid": os.getpid()})
    return channel


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m checks.subject")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--stage-dir", required=True, type=Path)
    parser.add_argument("--modules", default="", help="comma-separated modules to import up front")
    parser.add_argument("--alembic-dir", type=Path)
    args = parser.parse_args()
    zygote(args.socket, args.stage_dir, list(filter(None, args.modules.split(","))), args.alembic_dir)


def zygote(socket_path: str, stage_dir: Path, modules: list[str], alembic_dir: Path | None) -> None:
    """Import the stage, report, then fork a copy for every check the checker asks for; never returns."""
    # What the target prints reaches the log at once: the checker shows it with the check's result,
    # and a copy ends with os._exit, which flushes nothing.
    sys.stdout, sys.stderr = (io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), "utf-8", "backslashreplace", write_through=True) for fd in (1, 2))
    # SIGUSR1 prints every thread's stack to stderr (a log the checker reads): where a check hung.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stage_dir = stage_dir.resolve()
    control = connect(socket_path)
    sources_only(stage_dir)  # the target's .py files are what is graded, whatever bytecode lies next to them
    sys.path.insert(0, str(stage_dir))
    os.chdir(stage_dir)  # the code runs in its stage folder, as under uvicorn or alembic there (a relative path means the same)
    errors: dict[str, str] = {}
    for name in modules:
        try:
            import_from_stage(name, stage_dir)
        except StudentCodeError as exc:
            errors[name] = str(exc)
    if any(name.split(".")[-1] == "main" for name in modules):
        from .http import warm_up

        warm_up()
    if alembic_dir and (stage_dir / "versions").is_dir():
        from . import migrations  # noqa: F401  (Alembic loads once here, not in every copy)
    # What copies load (the Alembic revisions) is compiled too: no cached bytecode is read, none is written.
    sys.dont_write_bytecode = True
    sys.pycache_prefix = str(Path(socket_path).parent / "no-bytecode")
    gc.freeze()  # copies collect only their own garbage: no full pass over the import (~60 ms) per check
    control.send({"ready": True, "errors": errors})
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # copies are reaped by the kernel
    while (message := control.receive()) is not None:
        if message.get("op") != "fork":
            continue
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            try:
                serve(connect(socket_path), stage_dir, errors, alembic_dir)
            finally:
                os._exit(0)
    # The checker is done or gone: end the copies (and whatever they started) with the zygote.
    os.killpg(os.getpgid(0), signal.SIGKILL)


if __name__ == "__main__":
    main()
