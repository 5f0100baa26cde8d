"""Stage 02 checks on database.py and models.py, read back from PostgreSQL."""

COLUMNS = """
SELECT column_name, data_type, character_maximum_length, is_nullable
FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users'
"""


def test_database_module_configures_pool_and_sessions(subject):
    size = subject.call("app.database:engine.pool.size")
    assert size == 5, f"pool_size should be 5, it is {size}"
    assert subject.get("app.database:engine.pool._max_overflow") == 10, "max_overflow should be 10"
    assert subject.get("app.database:engine.pool._pre_ping"), "pool_pre_ping should be on"
    autoflush = subject.call("app.database:SessionLocal.kw.get", "autoflush")
    assert autoflush is False, "SessionLocal should be made with autoflush=False"


def test_users_table_has_the_right_columns(app, rows):
    columns = {name: rest for name, *rest in rows(COLUMNS)}
    assert set(columns) == {"id", "email", "username"}, f"users should have id, email, username; it has {sorted(columns)}"
    assert columns["id"][0] == "integer", f"users.id should be integer, it is {columns['id'][0]}"
    for name, length in (("email", 255), ("username", 50)):
        data_type, max_length, nullable = columns[name]
        assert (data_type, max_length) == ("character varying", length), (
            f"users.{name} should be varchar({length}), it is {data_type}" + (f"({max_length})" if max_length else " without a length")
        )
        assert nullable == "NO", f"users.{name} should be NOT NULL"


def test_email_and_username_are_unique(seed, accepts_duplicate):
    name = accepts_duplicate(seed())
    assert name is None, f"users.{name} is not unique in the database: a second user with the same {name} was saved"


def test_users_table_is_created_at_startup(subject, database):
    subject.app("app.main", "start")
    tables = database.tables() | subject.tables_after_import  # create_all at import counts too
    assert "users" in tables, "after the app started there is no users table"
