"""Collecting check outcomes from a pytest run into :class:`CheckResult` records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from _pytest.outcomes import Failed

from ..registry import Check, Stage
from ..results import CheckResult
from .subject import SubjectFailure

CHECK = pytest.StashKey[Check]()
STAGE = pytest.StashKey[Stage]()
REASON = "reason"
PRINTED = "printed"
REASON_LIMIT = 300
# Hears of a check as it starts or ends: (its result so far, checks done, checks in all).
Listener = Callable[[CheckResult, int, int], None]


def failure_reason(exc: BaseException) -> str:
    """What went wrong, in one line of at most 300 characters: the check's message, the
    target's error (file:line), or the time limit."""
    if isinstance(exc, (Failed, AssertionError, SubjectFailure)):
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else "failed"
    else:  # the checker itself hit something unexpected (a database error, say)
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 1] + "…"


@dataclass(eq=False)  # pytest keeps plugins in sets: they must stay hashable
class ResultCollector:
    """A pytest plugin object: one :class:`CheckResult` per selected check, in registry order."""

    on_result: Listener | None = None
    on_start: Listener | None = None
    results: dict[str, CheckResult] = field(default_factory=dict)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.results = {item.nodeid: CheckResult.for_check(item.stash[CHECK]) for item in session.items if CHECK in item.stash}

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        result = self.results.get(nodeid)
        if result is not None and self.on_start is not None:
            self.on_start(result, sum(r.status != "not run" for r in self.results.values()), len(self.results))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = self.results.get(report.nodeid)
        if result is None:
            return
        result.duration += report.duration
        if report.failed and result.status != "failed":
            result.status = "failed"
            result.reason = dict(report.user_properties).get(REASON, "") or _last_line(report.longreprtext)
        elif report.skipped and result.status != "failed":
            result.status = "failed"
            result.reason = "skipped: " + (str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "")
        elif report.when == "call" and report.passed and result.status == "not run":
            result.status = "passed"
        if report.when == "teardown":
            result.printed = dict(report.user_properties).get(PRINTED, "")
            if self.on_result is not None:
                done = sum(r.status != "not run" for r in self.results.values())
                self.on_result(result, done, len(self.results))

    def ordered(self) -> list[CheckResult]:
        return list(self.results.values())


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:REASON_LIMIT] if lines else ""
