"""Stage 02 checks on database.py and models.py, read back from PostgreSQL."""

import pytest

from checks.engine.subject import Handle, StudentRaised

COLUMNS = """
SELECT column_name, data_type, character_maximum_length, is_nullable
FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users'
"""
# The indexes on email or username alone (the primary key's own index on id is not asked about).
SINGLE_COLUMN_INDEXES = """
SELECT a.attname, c.relname, i.indisunique
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = 'public.users'::regclass AND i.indnkeyatts = 1 AND i.indexprs IS NULL AND a.attname IN ('email', 'username')
ORDER BY c.relname
"""


def yielded_session(subject):
    """What ``get_db()`` yields first, driven in the copy as FastAPI drives a dependency: a
    generator (``def``) or an async generator (``async def``), or what it returns."""
    made = subject.call("app.database:get_db")
    kind = made.type if isinstance(made, Handle) else ""
    if kind == "generator":
        return subject.call("builtins:next", made)
    if kind == "async_generator":
        loop = subject.call("asyncio:new_event_loop")
        return subject.call(subject.call("builtins:getattr", loop, "run_until_complete"), subject.call("builtins:anext", made))
    return made


def test_database_module_configures_pool_and_sessions(subject):
    size = subject.call("app.database:engine.pool.size")
    assert size == 5, f"pool_size should be 5, it is {size}"
    assert subject.get("app.database:engine.pool._max_overflow") == 10, "max_overflow should be 10"
    assert subject.get("app.database:engine.pool._pre_ping"), "pool_pre_ping should be on"
    # The session a request gets, whatever made it: get_db's generator, driven as FastAPI does.
    try:
        session = yielded_session(subject)
    except StudentRaised as exc:
        pytest.fail(f"get_db() raised {exc}; it should yield a session")
    autoflush = subject.call("builtins:getattr", session, "autoflush", "no autoflush attribute")
    shown = "on" if autoflush is True else repr(autoflush)
    assert autoflush is False, f"the session get_db yields has autoflush {shown}: yield a session of SessionLocal, made with autoflush=False"


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


def test_email_and_username_are_unique(seed, accepts_duplicate, rows):
    name = accepts_duplicate(seed())
    assert name is None, f"users.{name} is not unique in the database: a second user with the same {name} was saved"
    indexes = rows(SINGLE_COLUMN_INDEXES)
    for column in ("email", "username"):
        found = [(index, unique) for name, index, unique in indexes if name == column]
        if len(found) > 1:
            listed = ", ".join(f"{index} ({'unique' if unique else 'plain'})" for index, unique in found)
            pytest.fail(f"users.{column} has {len(found)} indexes, {listed}; expected one, the unique one: each more slows every write down")


def test_users_table_is_created_at_startup(subject, database):
    subject.app("app.main", "start")
    tables = database.tables() | subject.tables_after_import  # create_all at import counts too
    assert "users" in tables, "after the app started there is no users table"
