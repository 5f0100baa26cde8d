"""Fixtures shared by the stage 03 checks: the target's revisions, run in its copy one at a time,
and the checks' own view of the database they build.

Revisions are numbered from 1 (the baseline, README step 2) up; revision 2 is step 3 and every
later one step 4. A revision that fails ends the check, as the check's own failure when it grades
that revision, else as "needs step N first".
"""

import re
from functools import cache

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from checks.engine.subject import Ref, StudentRaised

RESET = "autogenerate against an empty database (python -m checks db reset)"
BACKGROUND = re.compile(r"\s*\(Background on this error at: \S+\)")
MISSING_TABLE = re.compile(r'table "(?P<name>[^"]+)" does not exist')
DIFF_TABLE = re.compile(r"Table\('(?P<name>[^']+)'|table=<(?P<of>[^>]+)>")
# ('add_column', None, 'users', Column('bio', ...)), [('modify_default', None, 'users', 'created_at', ...)],
# ('add_index', Index('ix_users_bio', ...)), ('remove_table', Table('posts', ...))
DIFF = re.compile(
    r"\[?\('(?P<kind>\w+)', (?:None, '(?P<table>\w+)', (?:'(?P<column>\w+)'|Column\('(?P<new>\w+)')"
    r"|(?:Index|Table|UniqueConstraint)\('(?P<name>\w+)')?"
)


def step_of(number: int) -> int:
    """The README step that teaches revision ``number``."""
    return {1: 2, 2: 3}.get(number, 4)


def needs(step: int, reason: str) -> None:
    pytest.fail(f"needs step {step} first: {reason}", pytrace=False)


def revision_name(number: int, revision: str) -> str:
    return "the first revision" if number == 1 else f"revision {number} ({revision})"


@cache
def engine_for(url: str) -> Engine:
    """The checks' engine for a database, one for the whole run: SQLAlchemy prepares its
    reflection queries once. Its one connection, reused by every read (idle, it holds no lock
    a revision could wait for), is closed after each check (``engine.dispose()``)."""
    return create_engine(url, pool_size=1)


class Migrations:
    """Alembic commands run by the target's copy; the schema and rows read by the checks."""

    def __init__(self, subject, url: str) -> None:
        self.subject = subject
        self.engine = engine_for(url)
        self._model_tables: set[str] | None = None
        self._chain: list[str] | None = None

    # -- the revision graph -------------------------------------------------------------------
    def revisions(self) -> list[str]:
        """Revision ids from the base up."""
        return self.subject.alembic("revisions")

    def heads(self) -> list[str]:
        return self.subject.alembic("heads")

    def bases(self) -> list[str]:
        return self.subject.alembic("bases")

    def base(self) -> str:
        """The baseline's id, when there is exactly one (else the check needs step 5)."""
        bases = self.bases()
        if len(bases) != 1:
            needs(5, f"there are {len(bases)} base revisions ({', '.join(bases)}), so no single baseline")
        return bases[0]

    def chain(self) -> list[str]:
        """The revisions from the base up, when they form one line (else the check needs step 5)."""
        if self._chain is None:
            heads = self.heads()
            if len(heads) != 1:
                needs(5, f"the revisions fork into {len(heads)} heads ({', '.join(heads)}), so `upgrade head` has no single target")
            self.base()
            self._chain = self.revisions()
        return self._chain

    def position(self, chain: list[str]) -> int:
        """The number of the revision the database is at (0: none applied)."""
        if not inspect(self.engine).has_table("alembic_version"):
            return 0
        current = [row[0] for row in self.execute("SELECT version_num FROM alembic_version")]
        return chain.index(current[0]) + 1 if current else 0

    # -- running revisions ----------------------------------------------------------------------
    def upgrade(self, to: int | None = None, *, own: bool = False) -> None:
        """Apply revisions one at a time up to number ``to`` (all when None). When one fails, the
        check fails with its own reason if ``own``, else as "needs step N first"."""
        if to == 1:
            todo = [(1, self.base())]
        else:
            chain = self.chain()
            to = len(chain) if to is None else to
            todo = [(number, chain[number - 1]) for number in range(self.position(chain) + 1, to + 1)]
        for number, revision in todo:
            try:
                self.subject.alembic("upgrade", revision)
            except StudentRaised as exc:
                reason = self.upgrade_failure(number, revision, exc)
                if own:
                    pytest.fail(reason, pytrace=False)
                needs(step_of(number), reason)

    def upgrade_failure(self, number: int, revision: str, exc: StudentRaised) -> str:
        """One line on why revision ``number`` failed: a table the models do not have is named."""
        message = BACKGROUND.sub("", str(exc))
        missing = MISSING_TABLE.search(message)
        if missing and missing["name"] not in self.model_tables():
            return f"{revision_name(number, revision)} drops {missing['name']}, a table the models do not have: {RESET}"
        return f"{revision_name(number, revision)} fails: {message}"

    def downgrade(self, to: int) -> None:
        """Undo revisions one at a time down to number ``to`` (0: base); a failing downgrade()
        fails the check (every downgrade check grades step 5)."""
        chain = self.chain()
        for number in range(self.position(chain), to, -1):
            try:
                self.subject.alembic("downgrade", chain[number - 2] if number > 1 else "base")
            except StudentRaised as exc:
                pytest.fail(f"the downgrade of {revision_name(number, chain[number - 1])} fails: {BACKGROUND.sub('', str(exc))}", pytrace=False)

    def drift(self) -> list[str]:
        """What autogenerate would still change to make the database match the models, about
        the models' tables only (as `alembic check` sees it: env.py leaves other tables alone)."""
        known = self.model_tables()
        found = []
        for diff in self.subject.alembic("drift"):
            match = DIFF_TABLE.search(diff)
            if match is None or (match["name"] or match["of"]) in known:
                found.append(diff)
        return found

    # -- the database, as the checks read it ------------------------------------------------------
    def model_tables(self) -> set[str]:
        """The tables the target's models define."""
        if self._model_tables is None:
            self._model_tables = set(self.subject.call("builtins:sorted", Ref("app.models:User.metadata.tables")))
        return self._model_tables

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names()) - {"alembic_version"}

    def sequences(self) -> list[str]:
        """The sequences in the database (those a column owns go with its table)."""
        return [row[0] for row in self.execute("SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'")]

    def unknown_tables(self) -> list[str]:
        """Tables in the database that the models do not have."""
        return sorted(self.tables() - self.model_tables())

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

    def schema(self, table: str = "users", defaults: bool = True) -> dict[str, tuple]:
        """What a downgrade must restore: each column (type, NULL, and default unless not
        ``defaults``) and each index or unique constraint of ``table``, by name."""
        inspector = inspect(self.engine)
        if not inspector.has_table(table):
            return {}
        found = {
            f"column {c['name']}": (str(c["type"]), c["nullable"], c["default"] if defaults else None)
            for c in inspector.get_columns(table)
        }
        found |= {f"index {i['name']}": (tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)}
        found |= {f"constraint {c['name']}": tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)}
        return found

    def execute(self, sql: str, params: dict | list | None = None) -> list:
        with self.engine.begin() as connection:
            result = connection.execute(text(sql), params or {})
            return result.fetchall() if result.returns_rows else []


def describe_drift(drift: list[str], shown: int = 4) -> str:
    """The first few differences autogenerate found, each as ``kind table.column`` or ``kind name``."""
    said = []
    for diff in drift[:shown]:
        match = DIFF.match(diff)
        if match is None:
            said.append(diff[:80])
            continue
        if match["name"]:
            said.append(f"{match['kind']} {match['name']}")
        elif match["table"]:
            said.append(f"{match['kind']} {match['table']}.{match['column'] or match['new']}")
        else:
            said.append(match["kind"])
    return "; ".join(said) + (f" and {len(drift) - shown} more" if len(drift) > shown else "")


def schema_changes(before: dict[str, tuple], after: dict[str, tuple]) -> tuple[list[str], list[str], list[str]]:
    """The entries of two :meth:`Migrations.schema` results that only ``after`` has, that only
    ``before`` has, and that both have but differently."""
    return (
        [name for name in after if name not in before],
        [name for name in before if name not in after],
        [name for name in before if name in after and before[name] != after[name]],
    )


def schema_difference(want: dict[str, tuple], got: dict[str, tuple]) -> str:
    """How ``got`` differs from ``want`` (two :meth:`Migrations.schema` results), in words."""
    extra, missing, changed = schema_changes(want, got)
    parts = [f"{name} is still there" for name in extra] + [f"{name} is missing" for name in missing]
    return ", ".join(parts + [f"{name} changed" for name in changed])


@pytest.fixture
def migrations(subject, stage_dir, database):
    """The target's revisions, ready to run against the check's empty database."""
    runner = Migrations(subject, database.url)
    try:
        if not runner.revisions():
            pytest.fail(f"there are no revisions in {stage_dir.name}/versions yet", pytrace=False)
        yield runner
    finally:
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


def insert(migrations, rows, given: dict[str, str] | None = None) -> None:
    """Insert users; ``given`` sets more columns to SQL expressions (``{"is_active": "true"}``)."""
    given = given or {}
    columns = ", ".join(["email", "username", *given])
    values = ", ".join([":email", ":username", *given.values()])
    migrations.execute(f"INSERT INTO users ({columns}) VALUES ({values})", rows)


def stored(migrations) -> list[tuple]:
    return [tuple(row) for row in migrations.execute("SELECT id, email, username FROM users ORDER BY id")]
