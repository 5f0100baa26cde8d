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
    # TODO (step 2): read DATABASE_URL, accept the SQLAlchemy form, retry, then raise a clear error.
    raise NotImplementedError("TODO step 2: read DATABASE_URL, accept the SQLAlchemy form, retry, then raise a clear error")


def create_table(conn) -> None:
    """Create the posts table if it does not exist yet."""
    # TODO (step 3): run CREATE_TABLE and commit.
    raise NotImplementedError("TODO step 3: run CREATE_TABLE and commit")


def _run(conn, query: str, params: tuple = ()) -> list[dict]:
    """Execute one statement with parameters, commit, and return its rows as plain dicts."""
    # TODO (step 4): use a RealDictCursor, pass params separately, commit; on error roll back and re-raise.
    raise NotImplementedError("TODO step 4: use a RealDictCursor, pass params separately, commit; on error roll back and re-raise")


def create_post(conn, title: str, content: str, published: bool = True) -> dict:
    """Insert a post and return the new row."""
    # TODO (step 4): INSERT ... RETURNING in one round trip.
    raise NotImplementedError("TODO step 4: INSERT ... RETURNING in one round trip")


def list_posts(conn) -> list[dict]:
    """All posts, oldest first."""
    # TODO (step 5): SELECT every post ordered by id.
    raise NotImplementedError("TODO step 5: SELECT every post ordered by id")


def get_post(conn, post_id: int) -> dict | None:
    """One post, or None when there is no post with that id."""
    # TODO (step 5): SELECT one post by id.
    raise NotImplementedError("TODO step 5: SELECT one post by id")


def update_post(conn, post_id: int, *, title: str, content: str, published: bool) -> dict | None:
    """Replace a post's fields; the updated row, or None when there is no such post."""
    # TODO (step 6): UPDATE ... RETURNING.
    raise NotImplementedError("TODO step 6: UPDATE ... RETURNING")


def delete_post(conn, post_id: int) -> bool:
    """Delete a post; True when a row was deleted."""
    # TODO (step 6): DELETE ... RETURNING id.
    raise NotImplementedError("TODO step 6: DELETE ... RETURNING id")
