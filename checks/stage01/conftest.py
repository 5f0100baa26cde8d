"""Fixtures shared by the stage 01 checks.

Each check grades one README rule. The CRUD checks call one function of posts.py on a posts
table made by the checks and read the results with a connection of their own. The API checks
put their own rows in the table the app made; when an API check fails because a function of
posts.py it relies on does not work yet, its reason says "needs step N first" (see ``needs``).
"""

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest

from checks.engine.subject import (
    CheckTimedOut,
    Copy,
    Handle,
    ImportFailed,
    StudentRaised,
    SubjectFailure,
)

REFERENCE_TABLE = """
CREATE TABLE posts (
    id serial PRIMARY KEY,
    title text NOT NULL,
    content text NOT NULL,
    published boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
# The README step that teaches each function of posts.py.
STEPS = {"connect": 2, "create_table": 3, "create_post": 4, "list_posts": 5, "get_post": 5, "update_post": 6, "delete_post": 6}


def own_connection(subject: Copy) -> Handle:
    """A connection from the target's ``connect()``; a plain one made in the copy when that
    does not work yet, so one unfinished step fails one check."""
    try:
        return subject.call("posts:connect")
    except StudentRaised:
        return subject.connect()


@pytest.fixture
def student_conn(subject):
    return own_connection(subject)


def make_reference_table(database) -> None:
    connection = database.connect()
    with connection.cursor() as cur:
        cur.execute(REFERENCE_TABLE)
    connection.commit()


@pytest.fixture
def conn(database, student_conn):
    """``student_conn`` on a database holding an empty posts table made by the checks, so each
    CRUD check grades one function and not create_table() too."""
    make_reference_table(database)
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
            database.give_back(other)

    return fetch


@pytest.fixture
def insert(database) -> Callable[..., list[int]]:
    """``insert(*titles)``: posts with these titles (content "text"), added and committed by the
    checks; their ids, in order."""

    def add(*titles: str) -> list[int]:
        other = database.connect()
        try:
            with other.cursor() as cur:
                ids = []
                for title in titles:
                    cur.execute("INSERT INTO posts (title, content) VALUES (%s, 'text') RETURNING id", (title,))
                    ids.append(cur.fetchone()[0])
            other.commit()
            return ids
        finally:
            database.give_back(other)

    return add


def table_problem(fetch_all) -> str | None:
    """Why the posts table cannot hold a post given only a title and content, or None."""
    try:
        fetch_all("INSERT INTO posts (title, content) VALUES ('probe', 'probe') RETURNING id, published, created_at")
    except psycopg2.Error as exc:
        return f"the posts table does not take a post: {' '.join(str(exc).split())}"
    return None


# --- "needs step N first" --------------------------------------------------------------------


class Probe:
    """Whether one function of posts.py works on its own, tried after a check failed."""

    def __init__(self, subject: Copy, database, insert, fetch_all) -> None:
        self.subject, self.database, self.insert, self.fetch_all = subject, database, insert, fetch_all
        self._conn: Handle | None = None

    @property
    def conn(self) -> Handle:
        if self._conn is None:
            self._conn = own_connection(self.subject)
        return self._conn

    def problem(self, name: str) -> str | None:
        """What is wrong with ``posts.<name>``, or None when it does its job."""
        if name not in ("connect", "create_table") and "posts" not in self.database.tables():
            make_reference_table(self.database)
        try:
            return getattr(self, name)()
        except CheckTimedOut:
            raise
        except SubjectFailure as exc:
            return str(exc)

    def call(self, name: str, *args, **kwargs):
        return self.subject.call(f"posts:{name}", self.conn, *args, **kwargs)

    def connect(self) -> str | None:
        self.subject.sql(self.subject.call("posts:connect"), "SELECT 1")
        return None

    def create_table(self) -> str | None:
        if "posts" not in self.database.tables():
            self.call("create_table")
            if "posts" not in self.database.tables():
                return "create_table() left no posts table that another connection can see"
        return table_problem(self.fetch_all)

    def create_post(self) -> str | None:
        row = self.call("create_post", "probe", "probe text", published=False)
        if not isinstance(row, dict) or row.get("title") != "probe" or row.get("published") is not False:
            return f"create_post(conn, 'probe', 'probe text', published=False) returned {row!r:.100}"
        if not self.fetch_all("SELECT 1 FROM posts WHERE id = %s", (row.get("id"),)):
            return "another connection cannot see the new post"
        return None

    def list_posts(self) -> str | None:
        ids = self.insert("probe")
        listed = self.call("list_posts")
        if not isinstance(listed, list) or not all(isinstance(row, dict) for row in listed) or ids[0] not in [r.get("id") for r in listed]:
            return f"list_posts(conn) returned {listed!r:.100}"
        return None

    def get_post(self) -> str | None:
        (post_id,) = self.insert("probe")
        found, missing = self.call("get_post", post_id), self.call("get_post", post_id + 1000)
        if not isinstance(found, dict) or found.get("id") != post_id or missing is not None:
            return f"get_post(conn, id) returned {found!r:.80}, and {missing!r:.40} for a missing id"
        return None

    def update_post(self) -> str | None:
        (post_id,) = self.insert("probe")
        row = self.call("update_post", post_id, title="changed", content="text", published=False)
        if not isinstance(row, dict) or row.get("title") != "changed":
            return f"update_post(conn, id, ...) returned {row!r:.100}"
        if self.fetch_all("SELECT title FROM posts WHERE id = %s", (post_id,)) != [("changed",)]:
            return "another connection does not see the update"
        if (missing := self.call("update_post", post_id + 1000, title="x", content="y", published=True)) is not None:
            return f"update_post returned {missing!r:.60} for a missing id"
        return None

    def delete_post(self) -> str | None:
        (post_id,) = self.insert("probe")
        if (deleted := self.call("delete_post", post_id)) is not True:
            return f"delete_post(conn, id) returned {deleted!r:.60} for a post that exists"
        if self.fetch_all("SELECT 1 FROM posts WHERE id = %s", (post_id,)):
            return "another connection still sees the deleted post"
        if (again := self.call("delete_post", post_id)) is not False:
            return f"delete_post returned {again!r:.60} for a missing id"
        return None


@pytest.fixture
def needs(subject, database, insert, fetch_all) -> Callable[..., Iterator[None]]:
    """``with needs("connect", "get_post"): ...``: when the block fails and one of these
    functions of posts.py does not work on its own, the check fails with "needs step N first"
    and what is wrong with it, instead of its own reason (an earlier step must come first)."""
    probe = Probe(subject, database, insert, fetch_all)

    @contextmanager
    def guard(*functions: str) -> Iterator[None]:
        try:
            yield
        except (CheckTimedOut, ImportFailed):  # its own reason: no earlier step is to blame
            raise
        except (AssertionError, pytest.fail.Exception, SubjectFailure):
            for name in functions:
                if (problem := probe.problem(name)) is not None:
                    pytest.fail(f"needs step {STEPS[name]} first ({name}: {problem})", pytrace=False)
            raise

    return guard


# --- a server that is not up yet -------------------------------------------------------------


@pytest.fixture
def refusing_server(exchange):
    """A database socket that accepts connections and closes them at once, like a server that
    is not ready yet; ``attempts`` counts how many connections came, ``times`` says when
    (``time.monotonic()``, as each was accepted)."""

    class Refusing:
        attempts = 0
        url = ""

        def __init__(self) -> None:
            self.times: list[float] = []

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
            refusing.times.append(time.monotonic())
            refusing.attempts += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield refusing
    stop.set()
    thread.join()
    listener.close()


# --- the app ---------------------------------------------------------------------------------


@pytest.fixture
def start_app(subject, database, needs, fetch_all) -> Callable[[], None]:
    """``start_app()``: run the app's start-up (its lifespan), which should make a posts table
    that takes a post; "needs step 2/3 first" when connect() or create_table() is the cause."""

    def start() -> None:
        with needs("connect", "create_table"):
            subject.app("main", "start")
            if "posts" not in database.tables() and "posts" in subject.tables_after_import:
                raise AssertionError(
                    "the posts table was made when main.py was imported, and the app's start-up made none: "
                    "call setup_database() from the app's lifespan, at start-up, not at import"
                )
            assert "posts" in database.tables(), "the app started without a posts table: its lifespan should call setup_database(), which calls create_table()"
            problem = table_problem(fetch_all)
            assert problem is None, f"the app started with a broken posts table: {problem}"

    return start
