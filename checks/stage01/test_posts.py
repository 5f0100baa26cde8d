"""Stage 01 checks on posts.py: connecting, the table, and the CRUD functions."""

import pytest

from checks.engine.subject import StudentRaised

INJECTION = "x'); DROP TABLE posts; --"


def test_connect_reads_database_url(subject, database):
    conn = subject.call("posts:connect")  # DATABASE_URL holds the SQLAlchemy form: postgresql+psycopg2://
    rows = subject.sql(conn, "SELECT current_database()")
    assert rows == [[database.name]], "connect() did not connect to the database in DATABASE_URL"


def test_connect_retries_then_fails_clearly(subject, refusing_server):
    with pytest.raises(StudentRaised) as info:
        subject.call("posts:connect", refusing_server.url, attempts=3, delay=0.01)
    assert refusing_server.attempts == 3, f"connect() should try 3 times when attempts=3, it tried {refusing_server.attempts}"
    assert str(info.value).split(": ", 1)[-1].strip(), "the final error should say what went wrong"


def _columns(fetch_all):
    return {
        name: (data_type, nullable, default or "")
        for name, data_type, nullable, default in fetch_all(
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'posts'",
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
    assert columns["published"][2] == "true", "posts.published should default to true"
    assert columns["created_at"][2] == "now()", "posts.created_at should default to now()"
    primary = fetch_all(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = 'posts'::regclass AND i.indisprimary",
    )
    assert primary == [("id",)], "posts.id should be the primary key"


def test_create_table_is_idempotent(subject, student_conn, fetch_all):
    subject.call("posts:create_table", student_conn)
    try:
        subject.call("posts:create_table", student_conn)
    except StudentRaised as exc:
        pytest.fail(f"the second create_table() failed: {exc}", pytrace=False)
    assert _columns(fetch_all), "create_table() left no posts table"


def test_create_post_returns_the_new_row_as_a_dict(subject, conn):
    row = subject.call("posts:create_post", conn, "Hello", "First post")
    assert isinstance(row, dict), f"create_post should return the row as a dict, not {type(row).__name__}"
    assert set(row) >= {"id", "title", "content", "published", "created_at"}, f"the dict lacks columns: {sorted(row)}"
    assert (row["title"], row["content"], row["published"]) == ("Hello", "First post", True)
    assert isinstance(row["id"], int) and row["created_at"] is not None, "id and created_at should come from the database"
    draft = subject.call("posts:create_post", conn, "Draft", "later", published=False)
    assert draft["published"] is False and draft["id"] != row["id"], "published=False should be stored"


def test_writes_are_committed(subject, conn, fetch_all):
    subject.call("posts:create_post", conn, "Committed?", "yes")
    assert fetch_all("SELECT title FROM posts") == [("Committed?",)], "another connection cannot see the new post: commit after writing"


def test_values_are_parameters_not_sql(subject, conn, fetch_all):
    row = subject.call("posts:create_post", conn, INJECTION, "it's got 'quotes' and %s and %(name)s")
    stored = fetch_all("SELECT title, content FROM posts WHERE id = %s", (row["id"],))
    assert stored == [(INJECTION, "it's got 'quotes' and %s and %(name)s")], "the text was not stored verbatim"
    assert subject.call("posts:get_post", conn, row["id"])["title"] == INJECTION, "get_post should find the post by its id"


def test_failed_write_rolls_back(subject, conn):
    with pytest.raises(StudentRaised) as info:
        subject.call("posts:create_post", conn, None, "no title")
    assert info.value.is_a("psycopg2.Error"), f"a failed INSERT should raise psycopg2's error, it raised {info.value}"
    try:
        row = subject.call("posts:create_post", conn, "After the error", "still works")
    except StudentRaised as exc:
        if exc.is_a("psycopg2.errors.InFailedSqlTransaction"):
            pytest.fail("after a failed write the connection is stuck: call conn.rollback() before re-raising", pytrace=False)
        raise
    assert row["title"] == "After the error"


def test_list_posts_ordered_by_id(subject, conn):
    ids = [subject.call("posts:create_post", conn, f"post {n}", "x")["id"] for n in range(3)]
    subject.call("posts:update_post", conn, ids[0], title="moved", content="x", published=False)  # changes physical order
    listed = subject.call("posts:list_posts", conn)
    assert isinstance(listed, list) and all(isinstance(row, dict) for row in listed), "list_posts should return a list of dicts"
    assert [row["id"] for row in listed] == ids, "list_posts should return every post ordered by id"


def test_get_post_finds_one_or_none(subject, conn):
    row = subject.call("posts:create_post", conn, "Find me", "here")
    found = subject.call("posts:get_post", conn, row["id"])
    assert isinstance(found, dict) and found["title"] == "Find me", "get_post should return the post as a dict"
    assert subject.call("posts:get_post", conn, row["id"] + 1000) is None, "get_post should return None for a missing id"


def test_update_post_changes_the_row(subject, conn, fetch_all):
    row = subject.call("posts:create_post", conn, "Old", "old text")
    updated = subject.call("posts:update_post", conn, row["id"], title="New", content="new text", published=False)
    assert isinstance(updated, dict), "update_post should return the updated row as a dict"
    assert (updated["title"], updated["content"], updated["published"]) == ("New", "new text", False)
    assert fetch_all("SELECT title FROM posts") == [("New",)], "the update is not committed"
    missing = subject.call("posts:update_post", conn, row["id"] + 1000, title="x", content="y", published=True)
    assert missing is None, "update_post should return None for a missing id"


def test_delete_post_reports_what_it_did(subject, conn, fetch_all):
    row = subject.call("posts:create_post", conn, "Short-lived", "bye")
    assert subject.call("posts:delete_post", conn, row["id"]) is True, "delete_post should return True when it deleted a row"
    assert fetch_all("SELECT count(*) FROM posts") == [(0,)], "the delete is not committed"
    assert subject.call("posts:delete_post", conn, row["id"]) is False, "delete_post should return False for a missing id"
