"""Fixtures shared by the stage 02 checks: the target's app on the check's database."""

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
    """The target's app; an exception in it fails the check with the target's line."""
    return app.client("app.main")


@pytest.fixture
def create(client):
    """POST a user and return the answer's JSON, failing the check unless it is a 201."""

    def post(email="ada@example.com", username="ada"):
        response = client.post("/users", json={"email": email, "username": username})
        assert response.status_code == 201, f"POST /users answered {response.status_code}, expected 201: {response.text[:200]}"
        return response.json()

    return post


@pytest.fixture
def rows(database):
    """Rows of a query, read by a connection of the checks."""

    def fetch(query):
        conn = database.connect()
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()

    return fetch
