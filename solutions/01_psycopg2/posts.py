"""Posts stored with raw SQL through psycopg2: a connection, a table, and CRUD functions."""

from __future__ import annotations

import os
import time

import psycopg2
from psycopg2.extras import RealDictCursor

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS posts (
    id         serial      PRIMARY KEY,
    title      text        NOT NULL,
    content    text        NOT NULL,
    published  boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
COLUMNS = "id, title, content, published, created_at"


def connect(dsn: str | None = None, *, attempts: int = 5, delay: float = 0.5):
    """Open a connection to ``dsn`` (default: ``DATABASE_URL``), retrying while the server is not up."""
    # Step 2: read DATABASE_URL, accept the SQLAlchemy form, retry, then raise a clear error.
    dsn = dsn or os.environ.get("DATABASE_URL")
    if not dsn:
        raise RuntimeError("no database given: pass a DSN or set DATABASE_URL")
    dsn = dsn.replace("postgresql+psycopg2://", "postgresql://", 1)
    for attempt in range(1, attempts + 1):
        try:
            return psycopg2.connect(dsn)
        except psycopg2.OperationalError as exc:
            if attempt == attempts:
                raise RuntimeError(f"could not connect after {attempts} attempts: {exc}".strip()) from exc
            time.sleep(delay)


def create_table(conn) -> None:
    """Create the posts table if it does not exist yet."""
    # Step 3: run CREATE_TABLE and commit.
    with conn.cursor() as cur:
        cur.execute(CREATE_TABLE)
    conn.commit()


def _run(conn, query: str, params: tuple = ()) -> list[dict]:
    """Execute one statement with parameters, commit, and return its rows as plain dicts."""
    # Step 4: use a RealDictCursor, pass params separately, commit; on error roll back and re-raise.
    try:
        with conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute(query, params)
            rows = [dict(row) for row in cur.fetchall()] if cur.description else []
        conn.commit()
        return rows
    except Exception:
        conn.rollback()
        raise


def create_post(conn, title: str, content: str, published: bool = True) -> dict:
    """Insert a post and return the new row."""
    # Step 4: INSERT ... RETURNING in one round trip.
    query = f"INSERT INTO posts (title, content, published) VALUES (%s, %s, %s) RETURNING {COLUMNS}"
    return _run(conn, query, (title, content, published))[0]


def list_posts(conn) -> list[dict]:
    """All posts, oldest first."""
    # Step 5: SELECT every post ordered by id.
    return _run(conn, f"SELECT {COLUMNS} FROM posts ORDER BY id")


def get_post(conn, post_id: int) -> dict | None:
    """One post, or None when there is no post with that id."""
    # Step 5: SELECT one post by id.
    rows = _run(conn, f"SELECT {COLUMNS} FROM posts WHERE id = %s", (post_id,))
    return rows[0] if rows else None


def update_post(conn, post_id: int, *, title: str, content: str, published: bool) -> dict | None:
    """Replace a post's fields; the updated row, or None when there is no such post."""
    # Step 6: UPDATE ... RETURNING.
    query = f"UPDATE posts SET title = %s, content = %s, published = %s WHERE id = %s RETURNING {COLUMNS}"
    rows = _run(conn, query, (title, content, published, post_id))
    return rows[0] if rows else None


def delete_post(conn, post_id: int) -> bool:
    """Delete a post; True when a row was deleted."""
    # Step 6: DELETE ... RETURNING id.
    return bool(_run(conn, "DELETE FROM posts WHERE id = %s RETURNING id", (post_id,)))
