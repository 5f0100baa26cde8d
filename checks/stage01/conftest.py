"""Fixtures shared by the stage 01 checks."""

import os
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from checks.engine.subject import StudentRaised

REFERENCE_TABLE = """
CREATE TABLE posts (
    id serial PRIMARY KEY,
    title text NOT NULL,
    content text NOT NULL,
    published boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


@pytest.fixture
def student_conn(subject):
    """A connection made by the target's own ``connect()`` (in its copy); a plain one made by
    the checks when ``connect()`` does not work yet, so one unfinished step fails one check."""
    try:
        return subject.call("posts:connect")
    except StudentRaised:
        return subject.connect()


@pytest.fixture
def conn(database, student_conn):
    """``student_conn`` on a database holding an empty posts table made by the checks, so each
    CRUD check grades one function and not create_table() too."""
    connection = database.connect()
    with connection.cursor() as cur:
        cur.execute(REFERENCE_TABLE)
    connection.commit()
    return student_conn


@pytest.fixture
def fetch_all(database):
    """Rows seen by a second, independent connection of the checks."""

    def fetch(query, params=()):
        other = database.connect()
        try:
            with other.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        finally:
            other.close()

    return fetch


@pytest.fixture
def refusing_server(exchange):
    """A database socket that accepts connections and closes them at once, like a server that
    is not ready yet; ``attempts`` counts how many connections came."""

    class Refusing:
        attempts = 0
        url = ""

    folder = Path(tempfile.mkdtemp(dir=exchange))
    folder.chmod(0o711)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / ".s.PGSQL.5432"))
    os.chmod(folder / ".s.PGSQL.5432", 0o666)
    listener.listen(16)
    listener.settimeout(0.1)
    refusing = Refusing()
    refusing.url = f"postgresql://nobody@/nowhere?host={folder}&connect_timeout=2"
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            refusing.attempts += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield refusing
    stop.set()
    thread.join()
    listener.close()
