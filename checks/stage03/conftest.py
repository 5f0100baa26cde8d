"""Fixtures shared by the stage 03 checks."""

import pytest

from .migrations import Migrations


@pytest.fixture
def migrations(load, stage_dir, database):
    """The target's revisions, ready to run against the check's empty database."""
    metadata = load("app.models").User.metadata
    runner = Migrations(stage_dir, database.url, metadata)
    if not runner.revisions():
        pytest.fail(f"there are no revisions in {stage_dir.name}/versions yet", pytrace=False)
    yield runner
    runner.engine.dispose()


UNUSUAL_TEXT = [
    "O'Brien", 'say "hi"', "back\\slash", "ünïcödé ñ", "emoji 🐘🚀", "tab\there", "semi;colon --", "%s %(x)s",
]


def sample_rows(count: int) -> list[dict]:
    """Users with unusual but valid text: quotes, backslashes, unicode, emoji, long names."""
    rows = []
    for n in range(count):
        odd = UNUSUAL_TEXT[n % len(UNUSUAL_TEXT)]
        rows.append({"email": f"user{n}.{odd}@example.com"[:255], "username": f"{odd} {n}"[:50]})
    rows.append({"email": "long" + "x" * 239 + "@example.com", "username": "y" * 50})
    return rows


def insert(migrations, rows) -> None:
    migrations.execute("INSERT INTO users (email, username) VALUES (:email, :username)", rows)


def stored(migrations) -> list[tuple]:
    return [tuple(row) for row in migrations.execute("SELECT id, email, username FROM users ORDER BY id")]
