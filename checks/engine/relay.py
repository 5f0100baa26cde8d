"""A unix-socket relay to the database server, for sandboxes that may see nothing else.

The embedded server's socket lies in its data directory, which no sandbox may see (the data
files of every class run are there). The checker relays instead: a socket of its own, in a
folder the sandbox is shown, passes each connection on to the server's socket, byte for byte.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

SOCKET_NAME = ".s.PGSQL.{port}"


class SocketRelay:
    """Listens in ``folder`` under the server's socket name and forwards to ``server_folder``."""

    def __init__(self, folder: Path, server_folder: Path, port: int = 5432) -> None:
        self.folder = folder
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
