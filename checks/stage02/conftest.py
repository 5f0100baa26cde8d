"""Fixtures shared by the stage 02 checks: the target's app on the check's database.

Checks that grade one endpoint put their users in the table with SQL (``seed``) and read the
result back with SQL (``rows``), so each depends on its own step only and not on POST or GET.
"""

import psycopg2.errors
import pytest

from checks.engine.subject import Ref


@pytest.fixture
def app(subject):
    """The check's copy with the users table created from the target's own model, so API
    checks do not depend on how (or whether) the app creates it at start-up."""
    subject.call("app.models:User.metadata.create_all", Ref("app.database:engine"))
    return subject


@pytest.fixture
def client(app):
    """The target's app, answering 500 for an exception as a real server would (``answered``
    names the target's line)."""
    return app.client("app.main", raise_server_exceptions=False)


@pytest.fixture
def answered(subject):
    """``answered(response)``: its status for a reason, with the target's error behind a 500
    and a word on redirects (the checks never follow them, like most clients for a POST)."""

    def describe(response):
        text = str(response.status_code)
        if response.exception:
            where, message = response.exception.get("where"), response.exception.get("message", "")
            text += f" ({subject.subject.shown(where)}: {message})" if where else f" ({message})"
        elif 300 <= response.status_code < 400:
            location = response.headers.get("location", "elsewhere")
            text += f" (a redirect to {location}: declare the route without a trailing slash)"
        elif response.status_code == 405:
            text += " (no route takes this method at this path: check the decorator's path, without a trailing slash)"
        return text

    return describe


@pytest.fixture
def checks_conn(database):
    """The checks' own connection to the check's database, each statement committed at once."""
    conn = database.connect()
    conn.autocommit = True
    return conn


@pytest.fixture
def rows(checks_conn):
    """Rows of a query (or of a statement's RETURNING), run by the checks' own connection."""

    def fetch(query, params=()):
        with checks_conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()

    return fetch


@pytest.fixture
def seed(app, checks_conn):
    """``seed(email, username)``: a user put in the table with SQL, as the API would answer it."""

    def insert(email="ada@example.com", username="ada"):
        try:
            with checks_conn.cursor() as cur:
                cur.execute("INSERT INTO users (email, username) VALUES (%s, %s) RETURNING id", (email, username))
                (user_id,) = cur.fetchone()
        except psycopg2.Error as exc:
            pytest.fail(f"needs step 3 (The User model) first: the checks cannot add a user to the users table ({' '.join(str(exc).split())})")
        return {"id": user_id, "email": email, "username": username}

    return insert


@pytest.fixture
def accepts_duplicate(checks_conn):
    """``accepts_duplicate(user)``: the first of email and username that PostgreSQL lets a
    second user share with ``user`` (that second user is removed again), or None."""

    def probe(user):
        for name, values in (("email", (user["email"], "someone")), ("username", ("someone@example.com", user["username"]))):
            try:
                with checks_conn.cursor() as cur:
                    cur.execute("INSERT INTO users (email, username) VALUES (%s, %s) RETURNING id", values)
                    (second,) = cur.fetchone()
            except psycopg2.errors.UniqueViolation:
                continue
            with checks_conn.cursor() as cur:
                cur.execute("DELETE FROM users WHERE id = %s", (second,))
            return name
        return None

    return probe


@pytest.fixture
def taken(seed, accepts_duplicate):
    """A user whose email and username are taken, for checks that need step 3's unique columns."""
    user = seed()
    if name := accepts_duplicate(user):
        pytest.fail(f"needs step 3 (The User model) first: PostgreSQL does not refuse a second user with the same {name}")
    return user


@pytest.fixture
def create(client, answered, rows):
    """``create(email, username)``: POST a user for a check that needs step 5 done; the check
    fails with "needs step 5 first" unless the answer is a 201 and the user is saved."""

    def post(email="ada@example.com", username="ada"):
        response = client.post("/users", json={"email": email, "username": username})
        if response.status_code != 201:
            pytest.fail(f"needs step 5 (Create users) first: POST /users answered {answered(response)}, expected 201")
        if not rows("SELECT 1 FROM users WHERE email = %s", (email,)):
            pytest.fail("needs step 5 (Create users) first: a created user is not saved in the database")
        return response.json()

    return post
