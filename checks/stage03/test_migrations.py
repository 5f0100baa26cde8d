"""Stage 03 checks: the revisions, run for real on empty and non-empty databases."""

from datetime import datetime

from pydantic import TypeAdapter

from .conftest import insert, sample_rows, stored

STAGE2_COLUMNS = {"id", "email", "username"}
CONVENTION_KEYS = {"ix", "uq", "ck", "fk", "pk"}


def test_metadata_has_a_naming_convention(subject):
    convention = subject.get("app.models:User.metadata.naming_convention")
    missing = sorted(key for key in CONVENTION_KEYS if key not in convention)
    assert not missing, f"the naming convention has no pattern for {', '.join(missing)}"


def test_app_leaves_the_schema_to_alembic(subject, database):
    subject.app("app.main", "start")
    tables = sorted(database.tables() | subject.tables_after_import)  # create_all at import counts too
    assert tables == [], f"importing and starting the app created {tables}: leave the schema to Alembic"


def test_revisions_form_one_line(migrations):
    heads, bases = migrations.heads(), migrations.bases()
    assert len(heads) == 1, f"there are {len(heads)} heads ({', '.join(heads)}): the revisions fork"
    assert len(bases) == 1, f"there are {len(bases)} base revisions ({', '.join(bases)})"
    revisions = migrations.revisions()
    assert len(revisions) == 3, f"expected 3 revisions (baseline, created_at, is_active), found {len(revisions)}"


def test_baseline_is_the_stage_2_table(migrations):
    migrations.upgrade(migrations.revisions()[0])
    columns = migrations.columns()
    assert columns, "after the first revision there is no users table"
    assert set(columns) == STAGE2_COLUMNS, f"the first revision should create {sorted(STAGE2_COLUMNS)}, it creates {sorted(columns)}"
    lengths = {name: getattr(columns[name]["type"], "length", None) for name in ("email", "username")}
    assert lengths == {"email": 255, "username": 50}, f"varchar lengths in the baseline: {lengths}"
    assert {("email",), ("username",)} <= migrations.unique_columns(), "the baseline should make email and username unique"


def test_columns_arrive_one_revision_each(migrations):
    revisions = migrations.revisions()
    seen = []
    for revision in revisions:
        migrations.upgrade(revision)
        seen.append(set(migrations.columns()))
    expected = [STAGE2_COLUMNS, STAGE2_COLUMNS | {"created_at"}, STAGE2_COLUMNS | {"created_at", "is_active"}]
    assert len(seen) == 3, f"expected 3 revisions, found {len(seen)}"
    for number, (got, want) in enumerate(zip(seen, expected), start=1):
        assert got == want, f"after revision {number} users has {sorted(got)}, expected {sorted(want)}"


def test_upgrade_head_matches_the_model(migrations):
    migrations.upgrade("head")
    drift = migrations.drift()
    assert drift == [], f"the models and the migrated database differ: {drift[:3]}"


def test_new_columns_have_types_and_defaults(migrations):
    migrations.upgrade("head")
    columns = {
        name: rest
        for name, *rest in migrations.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'users'"
        )
    }
    expected = {"created_at": ("timestamp with time zone", "now()"), "is_active": ("boolean", "true")}
    for name, (data_type, default) in expected.items():
        assert name in columns, f"users has no {name} column"
        got_type, nullable, got_default = columns[name]
        assert got_type == data_type, f"users.{name} should be {data_type}, it is {got_type}"
        assert nullable == "NO", f"users.{name} should be NOT NULL"
        assert got_default == default, f"users.{name} should have the server default {default}, it has {got_default}"


def test_existing_rows_survive_the_upgrade(migrations):
    migrations.upgrade(migrations.revisions()[0])
    insert(migrations, sample_rows(300))
    before = stored(migrations)
    migrations.upgrade("head")
    assert stored(migrations) == before, "rows changed or went missing during the upgrade"
    empty = migrations.execute("SELECT count(*) FROM users WHERE created_at IS NULL OR is_active IS NOT TRUE")[0][0]
    assert empty == 0, f"{empty} existing rows have no created_at or are not active after the upgrade"


def test_downgrade_one_step_removes_only_is_active(migrations):
    migrations.upgrade("head")
    insert(migrations, sample_rows(50))
    before = stored(migrations)
    migrations.downgrade("-1")
    columns = set(migrations.columns())
    assert columns == STAGE2_COLUMNS | {"created_at"}, f"after downgrade -1 users has {sorted(columns)}"
    assert stored(migrations) == before, "rows changed or went missing during the downgrade"


def test_downgrade_to_base_removes_users(migrations):
    migrations.upgrade("head")
    migrations.downgrade("base")
    assert migrations.columns() == {}, "after downgrade base the users table is still there"


def test_migrations_round_trip(migrations):
    migrations.upgrade("head")
    migrations.downgrade("base")
    migrations.upgrade("head")
    assert "is_active" in migrations.columns(), "upgrade head after downgrade base did not rebuild the table"
    assert migrations.drift() == [], "the rebuilt schema differs from the models"


def test_api_works_on_the_migrated_database(migrations, subject):
    migrations.upgrade("head")
    client = subject.client("app.main")
    response = client.post("/users", json={"email": "ada@example.com", "username": "ada"})
    assert response.status_code == 201, f"POST /users answered {response.status_code}: {response.text[:200]}"
    body = response.json()
    assert body.get("is_active") is True, f"a new user should be active: {body}"
    assert "created_at" in body, f"the answer has no created_at: {body}"
    TypeAdapter(datetime).validate_python(body["created_at"])  # ISO 8601; before 3.11 fromisoformat refuses "Z"
    listed = client.get("/users").json()
    assert [user["id"] for user in listed] == [body["id"]], "GET /users should list the new user"
    assert client.get("/users/4242").status_code == 404, "a missing user should be 404"
