"""Fixtures shared by the stage 02 checks: the target's app on the check's database."""

import pytest
from checks.subject.http import app_client


@pytest.fixture
def engine(load):
    """The target's engine (app/database.py), bound to the check's database at import."""
    engine = load("app.database").engine
    yield engine
    engine.dispose()


@pytest.fixture
def app(load, engine):
    """The target's FastAPI app, with the users table created from the target's own model,
    so API checks do not depend on how (or whether) the app creates it at start-up."""
    main = load("app.main")
    load("app.models").User.metadata.create_all(engine)
    return main.app


@pytest.fixture
def client(app):
    """Server errors raise in the check, so the reason names the line of the target that failed."""
    with app_client(app) as client:
        yield client


def create(client, email="ada@example.com", username="ada"):
    """POST a user and return the answer's JSON, failing the check unless it is a 201."""
    response = client.post("/users", json={"email": email, "username": username})
    assert response.status_code == 201, f"POST /users answered {response.status_code}, expected 201: {response.text[:200]}"
    return response.json()
