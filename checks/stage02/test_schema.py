"""Stage 02 checks on database.py and models.py, read back from PostgreSQL's catalog."""

from checks.subject.http import app_client

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


def _rows(database, query):
    conn = database.connect()
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


def test_database_module_configures_pool_and_sessions(load, engine):
    pool = engine.pool
    assert pool.size() == 5, f"pool_size should be 5, it is {pool.size()}"
    assert getattr(pool, "_max_overflow", None) == 10, "max_overflow should be 10"
    assert getattr(pool, "_pre_ping", False), "pool_pre_ping should be on"
    factory = load("app.database").SessionLocal
    assert factory.kw.get("autoflush") is False, "SessionLocal should be made with autoflush=False"


def test_users_table_has_the_right_columns(app, database):
    columns = {name: rest for name, *rest in _rows(database, COLUMNS)}
    assert set(columns) == {"id", "email", "username"}, f"users should have id, email, username; it has {sorted(columns)}"
    assert columns["id"][0] == "integer", f"users.id should be integer, it is {columns['id'][0]}"
    for name, length in (("email", 255), ("username", 50)):
        data_type, max_length, nullable = columns[name]
        assert (data_type, max_length) == ("character varying", length), (
            f"users.{name} should be varchar({length}), it is {data_type}" + (f"({max_length})" if max_length else " without a length")
        )
        assert nullable == "NO", f"users.{name} should be NOT NULL"


def test_email_and_username_are_unique(app, database):
    unique = {name for name, is_unique in _rows(database, INDEXES) if is_unique}
    for name in ("email", "username"):
        assert name in unique, f"users.{name} is not unique in the database"


def test_email_and_username_are_indexed(app, database):
    indexed = {name for name, _ in _rows(database, INDEXES)}
    for name in ("email", "username"):
        assert name in indexed, f"users.{name} has no index"


def test_users_table_is_created_at_startup(load, database, engine):
    with app_client(load("app.main").app, raise_server_exceptions=False):
        pass
    tables = _rows(database, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    assert ("users",) in tables, "after the app started there is no users table"
