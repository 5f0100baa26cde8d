"""Fixtures shared by the stage 01 checks."""

import pytest

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
def posts(load):
    """The target's posts module."""
    return load("posts")


@pytest.fixture
def conn(database):
    """A connection to the check's database holding an empty posts table made by the checks,
    so each CRUD check grades one function and not create_table() too."""
    connection = database.connect()
    with connection.cursor() as cur:
        cur.execute(REFERENCE_TABLE)
    connection.commit()
    return connection


def fetch_all(database, query, params=()):
    """Rows seen by a second, independent connection."""
    other = database.connect()
    try:
        with other.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        other.close()
