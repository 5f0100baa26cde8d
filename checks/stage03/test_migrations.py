"""Stage 03 checks: the revisions, run for real on empty and non-empty databases."""

import re
from datetime import datetime

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text

from checks.engine.subject import Ref, StudentRaised

from .conftest import (
    RESET,
    describe_drift,
    insert,
    needs,
    sample_rows,
    schema_changes,
    schema_difference,
    stored,
)

STAGE2_COLUMNS = {"id", "email", "username"}
NEW_COLUMNS = ["created_at", "is_active"]  # one revision each, in this order
ELSEWHERE = "America/New_York"  # the time zone of the session that inserts a user without created_at


def names(items) -> str:
    return ", ".join(sorted(items)) or "nothing"


KINDS = {"ix": "index", "uq": "unique constraint", "ck": "check constraint", "fk": "foreign key", "pk": "primary key"}
NAMED = re.compile(r'(?:ADD CONSTRAINT|CREATE (?:UNIQUE )?INDEX) ("[^"]+"|\S+)')


def convention_names(subject) -> dict[str, dict[str, list[str | None]]]:
    """The names the models' naming convention gives, by kind and probe table, to the indexes and
    constraints of two tables built in the copy on a MetaData with that convention (each: a
    primary key, a foreign key, indexes, unique constraints and checks on two columns), as
    SQLAlchemy writes them into DDL. A pattern that cannot be filled fails the check.

    Checks are built twice, named (``code_set``: what a ``%(constraint_name)s`` pattern builds
    on) and unnamed on a column (what a ``%(column_0_name)s`` pattern needs); the shape the
    pattern names counts."""
    make = subject.call
    metadata = make("sqlalchemy:MetaData", naming_convention=Ref("app.models:User.metadata.naming_convention"))
    integer, text_type = Ref("sqlalchemy:Integer"), make("sqlalchemy:String", 10)
    make("sqlalchemy:Table", "parents", metadata, make("sqlalchemy:Column", "id", integer, primary_key=True))
    found: dict[str, dict[str, list[str | None]]] = {kind: {} for kind in KINDS}

    def cannot(kind: str, exc: StudentRaised) -> None:
        pytest.fail(f"the naming convention's {kind} pattern cannot be filled in for a {KINDS[kind]}: {exc}", pytrace=False)

    def ddl_names(table, constraints: list, ddl: str = "AddConstraint") -> list[str | None]:
        """Attach ``constraints`` to ``table`` (indexes attach as they are made) and read the
        names their DDL gives them; StudentRaised when the pattern cannot be filled."""
        for constraint in constraints if ddl == "AddConstraint" else ():
            make(make("builtins:getattr", table, "append_constraint"), constraint)
        named = []
        for constraint in constraints:
            match = NAMED.search(str(make("builtins:str", make(f"sqlalchemy.schema:{ddl}", constraint))))
            named.append(match[1].strip('"') if match else None)
        return named

    for table_name in ("orders", "invoices"):
        columns = {column: make("sqlalchemy:Column", column, integer if column.endswith("id") else text_type) for column in ("id", "parent_id", "code", "ref")}
        table = make("sqlalchemy:Table", table_name, metadata, *columns.values())
        built = {
            "pk": lambda: [make("sqlalchemy:PrimaryKeyConstraint", "id")],
            "fk": lambda: [make("sqlalchemy:ForeignKeyConstraint", ["parent_id"], ["parents.id"])],
            "uq": lambda: [make("sqlalchemy:UniqueConstraint", column) for column in ("code", "ref")],
        }
        for kind, build in built.items():
            try:
                found[kind][table_name] = ddl_names(table, build())
            except StudentRaised as exc:
                cannot(kind, exc)
        try:
            found["ix"][table_name] = ddl_names(table, [make("sqlalchemy:Index", None, columns[c]) for c in ("code", "ref")], "CreateIndex")
        except StudentRaised as exc:
            cannot("ix", exc)
        shapes, failures = [], []
        for given in (True, False):
            try:
                checks = [
                    make("sqlalchemy:CheckConstraint", f"{c} <> ''", name=f"{c}_set") if given
                    else make("sqlalchemy:CheckConstraint", make("operator:ne", columns[c], ""))
                    for c in ("code", "ref")
                ]
                named = ddl_names(table, checks)
            except StudentRaised as exc:
                failures.append(exc)
                continue
            if None not in named and not (given and set(named) <= CHECKS_NAMED):
                shapes.append(named)
        if failures and not shapes:  # the pattern names neither shape, and raised on one
            cannot("ck", failures[0])
        found["ck"][table_name] = shapes[0] if shapes else [None]
    return found


CHECKS_NAMED = {"code_set", "ref_set"}  # the probe's own check names: a ck pattern builds on them, or on the column
# Index names (ix, uq, pk) must differ in the whole schema; a check's or a foreign key's within its table.
SCHEMA_WIDE = {"ix", "uq", "pk"}


def test_metadata_has_a_naming_convention(subject):
    found = convention_names(subject)
    missing = [kind for kind, tables in found.items() if any(None in named for named in tables.values())]
    assert not missing, f"the naming convention has no pattern for {', '.join(missing)}"
    for kind, tables in found.items():
        groups = [[name for named in tables.values() for name in named]] if kind in SCHEMA_WIDE else list(tables.values())
        repeated = sorted({name for group in groups for name in group if group.count(name) > 1})
        assert not repeated, (
            f"the naming convention's {kind} pattern gives different {KINDS[kind]}s the same name {repeated[0]} "
            f"({'on two tables, or on two columns of one' if kind in SCHEMA_WIDE else 'on two columns of one table'}): "
            "use tokens like %(table_name)s and %(column_0_name)s"
        )


def test_app_leaves_the_schema_to_alembic(subject, database):
    subject.app("app.main", "start")
    tables = sorted(database.tables() | subject.tables_after_import)  # create_all at import counts too
    assert tables == [], f"importing and starting the app created {tables}: leave the schema to Alembic"
    client = subject.client("app.main", raise_server_exceptions=False)  # no users table: GET /users may fail
    for url in ("/ping", "/users"):
        client.get(url)
        tables = sorted(database.tables())
        assert tables == [], f"GET {url} on an empty database created {tables}: leave the schema to Alembic"


def test_revisions_form_one_line(migrations):
    heads, bases = migrations.heads(), migrations.bases()
    assert len(heads) == 1, f"there are {len(heads)} heads ({', '.join(heads)}): the revisions fork"
    assert len(bases) == 1, f"there are {len(bases)} base revisions ({', '.join(bases)})"


def test_baseline_is_the_stage_2_table(migrations):
    migrations.upgrade(1, own=True)
    unknown = migrations.unknown_tables()
    assert not unknown, f"the first revision creates {names(unknown)}, a table the models do not have: {RESET}"
    columns = migrations.columns()
    assert columns, "after the first revision there is no users table"
    assert set(columns) == STAGE2_COLUMNS, f"the first revision should create {sorted(STAGE2_COLUMNS)}, it creates {sorted(columns)}"
    id_type = str(columns["id"]["type"]).lower()
    assert id_type == "integer", f"users.id should be integer, as in stage 02; the first revision makes it {id_type}"
    lengths = {name: getattr(columns[name]["type"], "length", None) for name in ("email", "username")}
    assert lengths == {"email": 255, "username": 50}, f"varchar lengths in the baseline: {lengths}"
    nullable = [name for name in ("email", "username") if columns[name]["nullable"]]
    assert not nullable, f"users.{nullable[0]} should be NOT NULL, as in stage 02"
    assert {("email",), ("username",)} <= migrations.unique_columns(), "the baseline should make email and username unique"


def belongs_to(entry: str, shape: tuple, column: str) -> bool:
    """Whether an entry of :meth:`Migrations.schema` is the column itself or an index or
    unique constraint on that column alone (what a revision adding ``column`` may bring)."""
    if entry.startswith("column "):
        return entry == f"column {column}"
    columns = shape[0] if entry.startswith("index ") else shape
    return tuple(columns) == (column,)


def other_changes(before: dict[str, tuple], after: dict[str, tuple], column: str) -> str:
    """What a revision that adds ``column`` changed besides it, in words ("" when nothing)."""
    before = {name: shape for name, shape in before.items() if not belongs_to(name, shape, column)}
    after = {name: shape for name, shape in after.items() if not belongs_to(name, shape, column)}
    added, dropped, changed = schema_changes(before, after)
    parts = [f"adds {name}" for name in added] + [f"drops {name}" for name in dropped]
    parts += [f"changes {name}" + (f" from {shown(before[name])} to {shown(after[name])}" if name.startswith("column ") else "") for name in changed]
    return ", ".join(parts)


def shown(column: tuple) -> str:
    """A column's shape from :meth:`Migrations.schema` as SQL: ``VARCHAR(50) NOT NULL``."""
    kind, nullable, default = column
    return f"{kind}{'' if nullable else ' NOT NULL'}{f' DEFAULT {default}' if default is not None else ''}"


def test_columns_arrive_one_revision_each(migrations):
    chain = migrations.chain()
    migrations.upgrade(1)
    before, unknown = set(migrations.columns()), set(migrations.unknown_tables())
    if before != STAGE2_COLUMNS:
        needs(2, f"the first revision creates users with {names(before)}, not the stage 02 table")
    schema = migrations.schema()
    for number, column in enumerate(NEW_COLUMNS, start=2):
        assert len(chain) >= number, f"expected 3 revisions (baseline, created_at, is_active), found {len(chain)}"
        migrations.upgrade(number, own=True)
        created = set(migrations.unknown_tables()) - unknown
        assert not created, f"revision {number} creates {names(created)}, a table the models do not have: {RESET}"
        after = set(migrations.columns())
        added, removed = after - before, before - after
        assert added == {column} and not removed, (
            f"revision {number} should add {column} alone, it adds {names(added)}" + (f" and drops {names(removed)}" if removed else "")
        )
        now = migrations.schema()
        changed = other_changes(schema, now, column)
        assert not changed, f"revision {number} should add {column} and change nothing else in users, it also {changed}"
        before, schema = after, now
    assert len(chain) == 3, f"expected 3 revisions (baseline, created_at, is_active), found {len(chain)}: one change, one revision"


def test_upgrade_head_matches_the_model(migrations):
    migrations.upgrade()
    drift = migrations.drift()
    assert not drift, f"the models and the migrated database differ; `alembic check` finds: {describe_drift(drift)}"


def test_new_columns_have_types_and_defaults(migrations):
    migrations.upgrade()
    columns = {
        name: rest
        for name, *rest in migrations.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'users'"
        )
    }
    expected = {"created_at": "timestamp with time zone", "is_active": "boolean"}
    for name, data_type in expected.items():
        assert name in columns, f"users has no {name} column"
        got_type, nullable, default = columns[name]
        assert got_type == data_type, f"users.{name} should be {data_type}, it is {got_type}"
        assert nullable == "NO", f"users.{name} should be NOT NULL"
        assert default is not None, f"users.{name} has no server default: the table itself must fill it (server_default)"
    with migrations.engine.begin() as connection:  # in a session not on UTC: a UTC wall-clock default is hours off
        connection.execute(text(f"SET LOCAL timezone = '{ELSEWHERE}'"))
        fresh, active = connection.execute(text(
            "INSERT INTO users (email, username) VALUES ('new@example.com', 'new') "
            "RETURNING created_at BETWEEN now() AND clock_timestamp(), is_active"
        )).one()
    assert fresh, (
        f"a new row's created_at should be the time of its insert, like now(), in any session time zone; "
        f"the default is {columns['created_at'][2]}, which is off in a session on {ELSEWHERE}"
    )
    assert active is True, f"a new row should be active by default; the default of users.is_active is {columns['is_active'][2]}"


def test_existing_rows_survive_the_upgrade(migrations):
    migrations.upgrade(1)
    insert(migrations, sample_rows(300))
    before = stored(migrations)
    migrations.upgrade(own=True)
    assert stored(migrations) == before, "rows changed or went missing during the upgrade"
    empty = migrations.execute("SELECT count(*) FROM users WHERE created_at IS NULL OR is_active IS NOT TRUE")[0][0]
    assert empty == 0, f"{empty} existing rows have no created_at or are not active after the upgrade"


def test_each_downgrade_undoes_its_revision(migrations):
    chain = migrations.chain()
    made = []
    for number in range(1, len(chain) + 1):
        migrations.upgrade(number)
        made.append(migrations.schema())
    present = migrations.columns()
    rows = sample_rows(50)
    for active, half in (("true", rows[::2]), ("false", rows[1::2])):  # inactive users must survive too
        given = {name: value for name, value in (("created_at", "now()"), ("is_active", active)) if name in present}
        insert(migrations, half, given)  # step 4 grades the defaults, not this check
    before = stored(migrations)
    for number in range(len(chain), 1, -1):
        migrations.downgrade(number - 1)
        difference = schema_difference(made[number - 2], migrations.schema())
        assert not difference, f"the downgrade of revision {number} ({chain[number - 1]}) should leave users as revision {number - 1} made it: {difference}"
        after = stored(migrations)
        assert after == before, f"rows changed or went missing in the downgrade of revision {number}: {len(before)} users before it, {len(after)} after"


def test_downgrade_to_base_removes_users(migrations):
    sequences = set(migrations.sequences())
    migrations.upgrade()
    made = migrations.tables()
    migrations.downgrade(0)
    left = migrations.tables()
    assert "users" not in left, "after downgrade base the users table is still there"
    unknown = set(migrations.unknown_tables())
    kept = unknown & made
    assert not kept, f"after downgrade base {names(kept)} is still there: the revisions create it and no downgrade() drops it"
    assert not unknown, f"downgrade base creates {names(unknown)}, a table the models do not have: {RESET}"
    left_sequences = set(migrations.sequences()) - sequences
    assert not left_sequences, f"after downgrade base the sequence {names(left_sequences)} is still there: the downgrade() of the revision that creates it must drop it"


def test_migrations_round_trip(migrations):
    migrations.upgrade()
    first = migrations.schema(defaults=False)  # a default fixed at migration time may differ, as step 3 grades
    migrations.downgrade(0)
    migrations.upgrade(own=True)
    difference = schema_difference(first, migrations.schema(defaults=False))
    assert not difference, f"upgrade head after downgrade base builds users differently from the first time: {difference}"


def test_api_works_on_the_migrated_database(migrations, subject):
    migrations.upgrade()
    client = subject.client("app.main")
    try:
        response = client.post("/users", json={"email": "ada@example.com", "username": "ada"})
    except StudentRaised as exc:
        drift = migrations.drift()
        if "UndefinedColumn" in str(exc) and drift:
            needs(3, f"the models have columns the migrated database lacks: {describe_drift(drift)}")
        raise
    if response.status_code != 201 and (drift := migrations.drift()):
        said = describe_drift(drift)
        needs(4 if "is_active" in said else 3, f"POST /users answered {response.status_code}, and the models and the migrated database differ: {said}")
    assert response.status_code == 201, f"POST /users answered {response.status_code}: {response.text[:200]}"
    body = response.json()
    assert body.get("is_active") is True, f"a new user should be active: {body}"
    assert "created_at" in body, f"the answer has no created_at: {body}"
    try:
        TypeAdapter(datetime).validate_strings(body["created_at"])  # ISO 8601; before 3.11 fromisoformat refuses "Z"
    except (ValidationError, TypeError):
        pytest.fail(f"created_at should be an ISO 8601 time, it is {body['created_at']!r}", pytrace=False)
    listed = client.get("/users").json()
    assert [user["id"] for user in listed] == [body["id"]], "GET /users should list the new user"
    assert client.get("/users/4242").status_code == 404, "a missing user should be 404"
