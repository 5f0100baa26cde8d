"""Collecting check outcomes from a pytest run into :class:`CheckResult` records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from ..plugin import CHECK, REASON
from ..results import CheckResult


@dataclass(eq=False)  # pytest keeps plugins in sets: they must stay hashable
class ResultCollector:
    """A pytest plugin object: one :class:`CheckResult` per selected check, in registry order."""

    on_result: Callable[[CheckResult, int, int], None] | None = None
    on_start: Callable[[CheckResult, int, int], None] | None = None
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
        if report.when == "teardown" and self.on_result is not None:
            done = sum(r.status != "not run" for r in self.results.values())
            self.on_result(result, done, len(self.results))

    def ordered(self) -> list[CheckResult]:
        return list(self.results.values())


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
