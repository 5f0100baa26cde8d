"""The wire between the checker and a subject: one JSON object per line over a unix socket.

Only JSON crosses it, never pickle. Values that JSON cannot hold travel tagged:

- ``{"$datetime": iso}``, ``{"$date": iso}``, ``{"$decimal": text}``: those Python values;
- ``{"$mapping": {...}, "$type": name}``: any mapping (a ``dict``, a ``RealDictRow``);
- ``{"$handle": n, "$type": name, "$repr": text}``: an object that stays in the subject
  (a connection, say); sent back as ``{"$handle": n}`` it means that object again;
- ``{"$ref": "module:attr.path"}`` (checker to subject only): an attribute of the target's code.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import socket
import struct
from collections.abc import Callable, Mapping
from typing import Any

MAX_LINE = 16 * 1024 * 1024


def encode(value: Any, keep: Callable[[Any], int] | None = None) -> Any:
    """``value`` as JSON data; objects JSON cannot hold are kept by ``keep`` and sent as handles."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "__subject_json__"):  # the checker's stand-in for a handle or a reference
        return value.__subject_json__()
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, Mapping):
        return {"$mapping": {str(k): encode(v, keep) for k, v in value.items()}, "$type": type(value).__name__}
    if isinstance(value, (list, tuple)):
        return [encode(item, keep) for item in value]
    if keep is None:
        return {"$repr": repr(value)[:200], "$type": type(value).__name__}
    return {"$handle": keep(value), "$type": type(value).__name__, "$repr": repr(value)[:200]}


def decode(data: Any, resolve: Callable[[dict], Any] | None = None) -> Any:
    """The inverse of :func:`encode`; handles and refs go to ``resolve`` (the subject's side)."""
    if isinstance(data, list):
        return [decode(item, resolve) for item in data]
    if not isinstance(data, dict):
        return data
    if "$datetime" in data:
        return dt.datetime.fromisoformat(data["$datetime"])
    if "$date" in data:
        return dt.date.fromisoformat(data["$date"])
    if "$decimal" in data:
        return decimal.Decimal(data["$decimal"])
    if "$mapping" in data:
        return {key: decode(value, resolve) for key, value in data["$mapping"].items()}
    if ("$handle" in data or "$ref" in data) and resolve is not None:
        return resolve(data)
    return {key: decode(value, resolve) for key, value in data.items()}


class Channel:
    """A socket carrying JSON lines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def send(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def receive(self) -> dict | None:
        """The next message, or None when the other side has closed. Socket timeouts propagate."""
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE:
                raise ValueError("message too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("a message must be a JSON object")
        return message

    def close(self) -> None:
        self.sock.close()


def peer_pid(sock: socket.socket) -> int | None:
    """The pid of the process at the other end of a unix socket, as this process sees it (Linux:
    ``SO_PEERCRED``, right across PID namespaces); None where the platform cannot tell."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    pid, _, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid
