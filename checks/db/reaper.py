"""A watchdog for notebook kernels: when the kernel dies, drop its throwaway databases.

Jupyter may kill a kernel outright (nbval does), so exit handlers in the kernel never run.
``lab_database()`` starts this process first; it attaches to (or starts) the server, says
``ready`` (or ``failed: <the one-line reason>`` and ends), waits for the kernel to exit, drops every database the kernel created, and, if it
started the embedded server, stops it on its own way out.

Usage: ``python -m checks.db.reaper PID``
"""

from __future__ import annotations

import sys
import time

from ..errors import SetupError
from .server import forget_dead_handles, get_server, process_alive
from .throwaway import PREFIX, drop_database, leftover_databases


def main(pid: int) -> None:
    try:
        server = get_server()
    except Exception as exc:  # told to lab_database(), which raises it: this process's stderr goes nowhere
        reason = str(exc) if isinstance(exc, SetupError) else f"{type(exc).__name__}: {exc}"
        print(f"failed: {' '.join(reason.split())}", flush=True)
        return
    print("ready", flush=True)
    while process_alive(pid):
        time.sleep(0.5)
    for name in leftover_databases(server, f"{PREFIX}{pid}_"):
        drop_database(server, name)
    if server.embedded:
        forget_dead_handles()  # the killed kernel never detached; now the exit handler can stop the server


if __name__ == "__main__":
    main(int(sys.argv[1]))
