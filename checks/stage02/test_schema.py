"""Stage 02 checks on database.py and models.py, read back from PostgreSQL's catalog."""

COLUMNS = """
SELECT column_name, data_type, character_maximum_length, is_nullable
FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users'
"""
# Single-column indexes on users (unique constraints are backed by one too): column -> is it unique?
INDEXES = """
SELECT a.attname, bool_or(i.indisunique)
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = 'public.users'::regclass AND i.indnatts = 1 AND NOT i.indisprimary
GROUP BY a.attname
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


def test_email_and_username_are_unique(app, rows):
    unique = {name for name, is_unique in rows(INDEXES) if is_unique}
    for name in ("email", "username"):
        assert name in unique, f"users.{name} is not unique in the database"


def test_email_and_username_are_indexed(app, rows):
    indexed = {name for name, _ in rows(INDEXES)}
    for name in ("email", "username"):
        assert name in indexed, f"users.{name} has no index"


def test_users_table_is_created_at_startup(subject, database):
    subject.app("app.main", "start")
    tables = database.tables() | subject.tables_after_import  # create_all at import counts too
    assert "users" in tables, "after the app started there is no users table"
