"""Fixtures shared by the stage 03 checks: the target's revisions, run in its copy, and the
checks' own view of the database they build."""

import pytest
from sqlalchemy import create_engine, inspect, pool, text


class Migrations:
    """Alembic commands run by the target's copy; the schema and rows read by the checks."""

    def __init__(self, subject, url: str) -> None:
        self.subject = subject
        self.engine = create_engine(url, poolclass=pool.NullPool)

    def revisions(self) -> list[str]:
        """Revision ids from the base up."""
        return self.subject.alembic("revisions")

    def heads(self) -> list[str]:
        return self.subject.alembic("heads")

    def bases(self) -> list[str]:
        return self.subject.alembic("bases")

    def upgrade(self, revision: str = "head") -> None:
        self.subject.alembic("upgrade", revision)

    def downgrade(self, revision: str) -> None:
        self.subject.alembic("downgrade", revision)

    def drift(self) -> list[str]:
        """What autogenerate would still change to make the database match the models."""
        return self.subject.alembic("drift")

    def columns(self, table: str = "users") -> dict[str, dict]:
        """Columns of ``table`` as the database has them ({} when there is no such table)."""
        inspector = inspect(self.engine)
        if not inspector.has_table(table):
            return {}
        return {column["name"]: column for column in inspector.get_columns(table)}

    def unique_columns(self, table: str = "users") -> set[tuple[str, ...]]:
        inspector = inspect(self.engine)
        unique = {tuple(index["column_names"]) for index in inspector.get_indexes(table) if index["unique"]}
        return unique | {tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)}

    def execute(self, sql: str, params: dict | list | None = None) -> list:
        with self.engine.begin() as connection:
            result = connection.execute(text(sql), params or {})
            return result.fetchall() if result.returns_rows else []


@pytest.fixture
def migrations(subject, stage_dir, database):
    """The target's revisions, ready to run against the check's empty database."""
    runner = Migrations(subject, database.url)
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
