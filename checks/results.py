"""Collecting check outcomes from a pytest run into plain records for reports and exports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pytest

from .plugin import CHECK, REASON
from .registry import Check


@dataclass
class CheckResult:
    """The outcome of one check, as every report and export sees it."""

    stage: str
    check: str
    title: str
    group: str
    max_points: int
    hint: str
    hidden: bool = False
    status: str = "not run"  # "passed", "failed" or "not run"
    reason: str = ""
    duration: float = 0.0

    @property
    def points(self) -> int:
        return self.max_points if self.status == "passed" else 0

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def as_dict(self) -> dict:
        return asdict(self) | {"points": self.points}

    @classmethod
    def for_check(cls, check: Check) -> CheckResult:
        return cls(check.stage, check.id, check.title, check.group, check.points, check.hint, check.hidden)


@dataclass(eq=False)  # pytest keeps plugins in sets: they must stay hashable
class ResultCollector:
    """A pytest plugin object: one :class:`CheckResult` per selected check, in registry order."""

    on_result: Callable[[CheckResult, int, int], None] | None = None
    results: dict[str, CheckResult] = field(default_factory=dict)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.results = {item.nodeid: CheckResult.for_check(item.stash[CHECK]) for item in session.items if CHECK in item.stash}

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
