"""Stage 01 checks on posts.py: connecting, the table, and the CRUD functions.

Each check calls the function it grades and nothing else of posts.py: the rows it needs are put
in the table by the checks, and what a function did is read by another connection.
"""

import re
from itertools import pairwise

import pytest

from checks.engine.subject import StudentRaised

INJECTION = "x'); DROP TABLE posts; --"
QUOTED = "it's got 'quotes' and %s and %(name)s"


def test_connect_reads_database_url(subject, database):
    conn = subject.call("posts:connect")  # DATABASE_URL holds the SQLAlchemy form: postgresql+psycopg2://
    rows = subject.sql(conn, "SELECT current_database()")
    assert rows == [[database.name]], "connect() did not connect to the database in DATABASE_URL"


DELAY = 0.1  # seconds between the attempts of the retry check (a sleep is never shorter; what it costs, every run waits)
SLACK = 1.5  # what a slow, loaded machine may add to the waits, at most


def test_connect_retries_then_fails_clearly(subject, refusing_server):
    try:
        returned = subject.call("posts:connect", refusing_server.url, attempts=3, delay=DELAY)
    except StudentRaised as exc:
        error = str(exc).split(": ", 1)[-1]
    else:
        pytest.fail(f"connect() returned {returned!r:.60} from a server that refused it: it should raise", pytrace=False)
    assert refusing_server.attempts == 3, f"connect() should try 3 times when attempts=3, it tried {refusing_server.attempts}"
    # Each attempt ends when the server has closed it, so the next one comes at least `delay` after.
    times = refusing_server.times
    gaps = ", ".join(f"{later - earlier:.2f} s" for earlier, later in pairwise(times))
    waited = times[-1] - times[0]
    said = f"with delay={DELAY} connect() should wait {DELAY} s before each new attempt, its attempts came {gaps} apart: sleep `delay`"
    assert waited >= 2 * DELAY * 0.9, said
    assert waited < 2 * DELAY + SLACK, f"{said}, not a fixed time"
    assert re.search(r"\b(3|three)\b", error, re.IGNORECASE), f"the final error should say that 3 attempts failed, it says: {error[:150]}"


NOW = {"now()", "CURRENT_TIMESTAMP", "transaction_timestamp()"}  # one function, three spellings


def _columns(fetch_all):
    """Column name -> (type, nullable, default). An unbounded varchar counts as the text it is,
    an identity column as having a default from a sequence, like serial."""
    return {
        name: (
            "text" if (data_type, length) == ("character varying", None) else data_type,
            nullable,
            "nextval (identity)" if identity == "YES" else default or "",
        )
        for name, data_type, length, nullable, default, identity in fetch_all(
            "SELECT column_name, data_type, character_maximum_length, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'posts'",
        )
    }


def test_create_table_makes_the_posts_columns(subject, student_conn, fetch_all):
    subject.call("posts:create_table", student_conn)
    columns = _columns(fetch_all)
    assert columns, "create_table() left no posts table (did it commit?)"
    expected_types = {
        "id": "integer",
        "title": "text",
        "content": "text",
        "published": "boolean",
        "created_at": "timestamp with time zone",
    }
    assert set(columns) == set(expected_types), f"posts should have exactly the columns {sorted(expected_types)}, it has {sorted(columns)}"
    for name, data_type in expected_types.items():
        assert columns[name][0] == data_type, f"posts.{name} should be {data_type}, it is {columns[name][0]}"
        assert columns[name][1] == "NO", f"posts.{name} should be NOT NULL"
    assert "nextval" in columns["id"][2], "posts.id should be serial (a default from a sequence)"
    assert columns["published"][2] == "true", f"posts.published should default to true, its default is {columns['published'][2] or 'none'}"
    assert columns["created_at"][2] in NOW, f"posts.created_at should default to now(), its default is {columns['created_at'][2] or 'none'}"
    primary = fetch_all(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = 'posts'::regclass AND i.indisprimary",
    )
    assert primary == [("id",)], "posts.id should be the primary key"


def test_create_table_is_idempotent(subject, student_conn, fetch_all):
    subject.call("posts:create_table", student_conn)
    table = fetch_all("SELECT to_regclass('posts')::oid")
    if table == [(None,)]:
        pytest.fail("create_table() left no posts table that another connection can see", pytrace=False)
    try:
        subject.call("posts:create_table", student_conn)
    except StudentRaised as exc:
        pytest.fail(f"the second create_table() failed: {exc}", pytrace=False)
    assert fetch_all("SELECT to_regclass('posts')::oid") == table, "a second create_table() replaced the posts table, and its rows: never drop it"


def test_create_post_returns_the_new_row_as_a_dict(subject, conn):
    row = subject.call("posts:create_post", conn, "Hello", "First post")
    assert isinstance(row, dict), f"create_post should return the row as a dict, not {type(row).__name__}"
    assert set(row) >= {"id", "title", "content", "published", "created_at"}, f"the dict lacks columns: {sorted(row)}"
    assert (row["title"], row["content"], row["published"]) == ("Hello", "First post", True)
    assert isinstance(row["id"], int) and row["created_at"] is not None, "id and created_at should come from the database"
    draft = subject.call("posts:create_post", conn, "Draft", "later", published=False)
    assert isinstance(draft, dict) and draft.get("published") is False and draft.get("id") != row["id"], "published=False should be stored"


def test_writes_are_committed(subject, conn, fetch_all):
    try:
        subject.call("posts:create_post", conn, "Committed?", "yes")
    except StudentRaised as exc:
        raised = exc
    else:
        raised = None
    if fetch_all("SELECT title FROM posts") != [("Committed?",)]:
        pytest.fail(f"nothing was committed: create_post raised {raised}" if raised else "another connection cannot see the new post: commit after writing", pytrace=False)


def _stored(subject, conn, create_post_args) -> tuple[list[tuple], StudentRaised | None]:
    """Call create_post; the rows its own connection sees then, and what it raised."""
    try:
        subject.call("posts:create_post", conn, *create_post_args)
    except StudentRaised as exc:
        raised = exc
    else:
        raised = None
    return [tuple(row) for row in subject.sql(conn, "SELECT title, content FROM posts ORDER BY id")], raised


def test_values_are_parameters_not_sql(subject, conn, database):
    stored, raised = _stored(subject, conn, ("plain", "text"))
    if ("plain", "text") not in stored:
        why = f": it raised {raised}" if raised else ""
        pytest.fail(f"create_post must store a plain post before it can be tried on SQL-like text{why}", pytrace=False)
    stored, _ = _stored(subject, conn, (INJECTION, QUOTED))
    assert "posts" in database.tables(), "the title was run as SQL and dropped the table"
    assert (INJECTION, QUOTED) in stored, "a title and content full of quotes and %s were not stored verbatim: pass values as parameters"


def test_failed_write_rolls_back(subject, conn, database, insert, needs):
    refuse = database.connect()
    with refuse.cursor() as cur:
        cur.execute("ALTER TABLE posts ADD CONSTRAINT title_not_refused CHECK (title <> 'refused')")
    refuse.commit()
    try:
        returned = subject.call("posts:create_post", conn, "refused", "the database refuses this title")
    except StudentRaised as exc:
        assert exc.is_a("psycopg2.Error"), f"a write the database refuses should raise psycopg2's error, it raised {exc}"
    else:
        pytest.fail(f"create_post returned {returned!r:.60} for a write the database refused: roll back, then re-raise", pytrace=False)
    try:
        subject.call("posts:create_post", conn, "After the error", "still works")
    except StudentRaised as exc:
        if exc.is_a("psycopg2.errors.InFailedSqlTransaction"):
            pytest.fail("after a failed write the connection is stuck: call conn.rollback() before re-raising", pytrace=False)
    titles = subject.sql(conn, "SELECT title FROM posts")
    assert titles == [["After the error"]], f"create_post after a failed write did not store its post: the connection sees {titles}"
    (post_id,) = insert("Before the update")
    with needs("update_post"):  # every write: an update the database refuses too
        try:
            returned = subject.call("posts:update_post", conn, post_id, title="refused", content="refused text", published=True)
        except StudentRaised as exc:
            assert exc.is_a("psycopg2.Error"), f"an update the database refuses should raise psycopg2's error, update_post raised {exc}"
        else:
            pytest.fail(f"update_post returned {returned!r:.60} for an update the database refused: roll back, then re-raise", pytrace=False)
        try:
            subject.call("posts:update_post", conn, post_id, title="After the failed update", content="still works", published=True)
        except StudentRaised as exc:
            if exc.is_a("psycopg2.errors.InFailedSqlTransaction"):
                pytest.fail("after a failed update the connection is stuck: update_post should call conn.rollback() before re-raising", pytrace=False)
        titles = subject.sql(conn, "SELECT title FROM posts WHERE id = %s", [post_id])
        assert titles == [["After the failed update"]], f"update_post after a failed update did not save its change: the connection sees {titles}"


def test_list_posts_ordered_by_id(subject, conn, insert, database):
    ids = insert("post 0", "post 1", "post 2")
    other = database.connect()
    with other.cursor() as cur:  # the updated row moves to the end of the table on disk
        cur.execute("UPDATE posts SET title = 'moved' WHERE id = %s", (ids[0],))
    other.commit()
    listed = subject.call("posts:list_posts", conn)
    assert isinstance(listed, list) and all(isinstance(row, dict) for row in listed), "list_posts should return a list of dicts"
    assert [row.get("id") for row in listed] == ids, f"list_posts should return every post ordered by id: {ids}, it gave {[row.get('id') for row in listed]}"


def test_get_post_finds_one_or_none(subject, conn, insert):
    ids = insert("Other", "Find me")
    found = subject.call("posts:get_post", conn, ids[1])
    assert isinstance(found, dict) and found.get("title") == "Find me", f"get_post should return the post as a dict, it returned {found!r:.80}"
    assert subject.call("posts:get_post", conn, ids[1] + 1000) is None, "get_post should return None for a missing id"


def test_update_post_changes_the_row(subject, conn, fetch_all, insert):
    ids = insert("Old", "Untouched")
    updated = subject.call("posts:update_post", conn, ids[0], title="New", content="new text", published=False)
    assert isinstance(updated, dict), f"update_post should return the updated row as a dict, it returned {updated!r:.80}"
    assert (updated.get("title"), updated.get("content"), updated.get("published")) == ("New", "new text", False), "update_post should return the row with the new values"
    assert fetch_all("SELECT title, published FROM posts ORDER BY id") == [("New", False), ("Untouched", True)], (
        "another connection should see exactly that post changed: commit, and UPDATE ... WHERE id = %s"
    )
    try:
        subject.call("posts:update_post", conn, ids[0], title=QUOTED, content=INJECTION, published=True)
    except StudentRaised as exc:
        pytest.fail(f"update_post failed on text holding quotes and %s, so it formats values into the SQL: pass them as parameters ({exc})", pytrace=False)
    assert fetch_all("SELECT title, content FROM posts WHERE id = %s", (ids[0],)) == [(QUOTED, INJECTION)], "text holding quotes and %s was not stored verbatim: pass values as parameters"
    missing = subject.call("posts:update_post", conn, ids[1] + 1000, title="x", content="y", published=True)
    assert missing is None, f"update_post should return None for a missing id, it returned {missing!r:.60}"


def test_delete_post_reports_what_it_did(subject, conn, fetch_all, insert):
    ids = insert("Short-lived", "Stays")
    deleted = subject.call("posts:delete_post", conn, ids[0])
    assert deleted is True, f"delete_post should return True when it deleted a row, it returned {deleted!r:.60}"
    assert fetch_all("SELECT id FROM posts") == [(ids[1],)], "another connection should see exactly that post gone: commit, and DELETE ... WHERE id = %s"
    again = subject.call("posts:delete_post", conn, ids[0])
    assert again is False, f"delete_post should return False for a missing id, it returned {again!r:.60}"
