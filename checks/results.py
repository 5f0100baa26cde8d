"""The outcome of one check, the record every report and export reads, and of one run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from .registry import Check, Stage


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
    printed: str = ""  # what the target's code printed during the check (capped)

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


@dataclass
class Run:
    """What one run of the checks produced."""

    results: list[CheckResult]
    exit_code: pytest.ExitCode | int
    output: str = ""
    aborted: str = ""  # why pytest stopped early, if it did
    stages: Sequence[Stage] = field(default_factory=tuple)

    @property
    def interrupted(self) -> bool:
        return self.exit_code == pytest.ExitCode.INTERRUPTED

    @property
    def all_passed(self) -> bool:
        return bool(self.results) and all(result.passed for result in self.results)

    def as_json(self, target: Path) -> dict:
        """Machine-readable results: per check stage, name, points, max points, status, reason."""
        return {
            "target": str(target),
            "interrupted": self.interrupted,
            "points": sum(r.points for r in self.results),
            "max_points": sum(r.max_points for r in self.results),
            "results": [r.as_dict() for r in self.results],
        }
