"""The outcome of one check: the record every report and export reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
