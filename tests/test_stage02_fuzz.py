"""Fuzzing the reference solution's API from its own OpenAPI schema: no request gets a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from checks.db.throwaway import create_database
from checks.registry import REPO_ROOT
from checks.subject.loader import import_from_stage, stage_imports

STAGE = REPO_ROOT / "solutions" / "02_orm_crud"


@pytest.fixture(scope="module")
def solution_app(lab_server):
    """The solution's app on one throwaway database shared by every generated request."""
    db = create_database(lab_server, purpose="fuzz")
    with pytest.MonkeyPatch.context() as patch, stage_imports(STAGE):
        patch.setenv("DATABASE_URL", db.url)
        database = import_from_stage("app.database", STAGE)
        app = import_from_stage("app.main", STAGE).app
        import_from_stage("app.models", STAGE).User.metadata.create_all(database.engine)
        yield app
        database.engine.dispose()
    db.drop()


def test_no_request_gets_a_server_error(solution_app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", solution_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:200]}"
            )

        no_server_error()
