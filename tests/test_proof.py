"""Every check is proven: it passes on solutions/ and fails on the starter as committed in labs/."""

import pytest

from checks.registry import load_stages

CHECKS = [pytest.param(check, id=check.key) for stage in load_stages() for check in stage.checks]


@pytest.mark.parametrize("check", CHECKS)
def test_check_passes_on_solution(check, graded):
    result = graded("solutions", check.stage)[check.id]
    assert result.status == "passed", result.reason


@pytest.mark.parametrize("check", CHECKS)
def test_check_fails_on_starter(check, graded, starter):
    result = graded(str(starter), check.stage)[check.id]
    assert result.status == "failed", "the untouched starter passes this check, so it proves nothing"
    assert result.reason, "a failing check must say why"
