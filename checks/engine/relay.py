"""A unix-socket relay to the database server, for sandboxes that may see nothing else.

The embedded server's socket lies in its data directory, which no sandbox may see (the data
files of every class run are there). The checker relays instead: a socket of its own, in a
folder the sandbox is shown, passes each connection on to the server's socket, byte for byte.

The relay passes at most ``limit`` connections at once and closes any more at once. A role's
``CONNECTION LIMIT`` counts only sessions that logged in: a login that never answers the
password challenge holds one of the server's connection slots (until ``authentication_timeout``,
a minute) without counting, so without this limit one sandbox could fill every slot and
classmates graded next to it, and the grader itself, could no longer connect.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from ..db.roles import CONNECTION_LIMIT

SOCKET_NAME = ".s.PGSQL.{port}"
# Connections relayed at once: what the student's role may hold, and a few closing or logging in.
RELAY_LIMIT = CONNECTION_LIMIT + 4


class SocketRelay:
    """Listens in ``folder`` under the server's socket name and forwards to ``server_folder``,
    at most ``limit`` connections at once."""

    def __init__(self, folder: Path, server_folder: Path, port: int = 5432, limit: int = RELAY_LIMIT) -> None:
        self.folder = folder
        self.limit = limit
        self.target = str(server_folder / SOCKET_NAME.format(port=port))
        folder.mkdir(exist_ok=True)
        folder.chmod(0o711)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = folder / SOCKET_NAME.format(port=port)
        self.listener.bind(str(path))
        os.chmod(path, 0o666)  # a sandbox runs as another user; the folder is not listable
        self.listener.listen(64)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="db-relay").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                full = len(self._open) >= 2 * self.limit  # both ends of each relayed connection
            if full:
                client.close()
                continue
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(self.target)
            except OSError:
                client.close()
                server.close()
                continue
            with self._lock:
                self._open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._lock:
            for sock in (source, sink):
                if sock in self._open:
                    self._open.discard(sock)
                    sock.close()

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()
