"""The stage registry: every stage, its checks, their points and hints.

Each stage lives in a folder ``stageNN/`` beside this file, holding ``stage.toml`` (the
registry entry) and the ``test_*.py`` modules that implement its checks: the check with id
``x`` is the test function ``test_x``. The CLI, the pytest plugin, the workbook's own tests
and the exports all read the registry through :func:`load_stages`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

CHECKS_ROOT = Path(__file__).resolve().parent
REPO_ROOT = CHECKS_ROOT.parent
DEFAULT_TIMEOUT = 20.0


def display_path(path: str | Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Check:
    """One graded check: implemented by the test function ``test_<id>``."""

    stage: str
    id: str
    title: str
    points: int
    hint: str
    group: str = "core"
    timeout: float = DEFAULT_TIMEOUT
    hidden: bool = False  # an instructor-only check (--extra-checks), reported separately

    @property
    def key(self) -> str:
        return f"{self.stage}.{self.id}"


@dataclass(frozen=True)
class Stage:
    """A stage of the workbook: its folder in a target and the checks that grade it."""

    id: str
    title: str
    folder: str
    checks_dir: Path
    checks: tuple[Check, ...]
    modules: tuple[str, ...] = ()  # what the subject imports up front, before any check runs
    libraries: tuple[str, ...] = ()  # what those modules import (a subject host preloads them)

    @property
    def hidden(self) -> bool:
        """Instructor-only checks from an --extra-checks folder."""
        return not self.checks_dir.is_relative_to(CHECKS_ROOT)

    @property
    def max_points(self) -> int:
        return sum(check.points for check in self.checks)


def _read_stage(stage_toml: Path, hidden: bool) -> Stage:
    data = tomllib.loads(stage_toml.read_text(encoding="utf-8"))
    stage_id = str(data["id"])
    checks = tuple(
        Check(
            stage=stage_id,
            id=entry["id"],
            title=entry["title"],
            points=int(entry["points"]),
            hint=entry["hint"],
            group=entry.get("group", "core"),
            timeout=float(entry.get("timeout", DEFAULT_TIMEOUT)),
            hidden=hidden,
        )
        for entry in data.get("checks", [])
    )
    modules, libraries = tuple(data.get("modules", ())), tuple(data.get("libraries", ()))
    return Stage(stage_id, data["title"], data["folder"], stage_toml.parent, checks, modules, libraries)


def libraries_of(stages: Sequence[Stage]) -> list[str]:
    """The libraries the code of these stages imports, each once, in stage order."""
    return list(dict.fromkeys(name for stage in stages for name in stage.libraries))


@cache
def load_stages(root: Path = CHECKS_ROOT) -> tuple[Stage, ...]:
    """All stages found under ``root`` (folders ``stage*/stage.toml``), ordered by id.

    Stages from another root (an instructor's ``--extra-checks`` folder) are hidden checks.
    """
    hidden = root.resolve() != CHECKS_ROOT
    stages = [_read_stage(path, hidden) for path in sorted(root.resolve().glob("stage*/stage.toml"))]
    return tuple(sorted(stages, key=lambda stage: stage.id))


def rule_table(stage: Stage) -> dict:
    """The stage's ``rules.toml``: the README's rules, the checks that grade them, and the
    mutants and styles that prove those checks (``tests/test_rules.py`` applies them)."""
    path = stage.checks_dir / "rules.toml"
    table = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {"rules": [], "styles": []} | table


def find_stage(stage_id: str, stages: tuple[Stage, ...] | None = None) -> Stage:
    """The stage with this id; ``"2"`` and ``"02"`` both name stage 02."""
    for stage in stages if stages is not None else load_stages():
        if stage.id == stage_id.zfill(len(stage.id)):
            return stage
    raise KeyError(stage_id)


def find_labs(folder: Path, stages: Sequence[Stage]) -> Path | None:
    """The folder holding stage folders: ``folder/labs`` (a repo copy) or ``folder`` (bare labs)."""
    for candidate in (folder / "labs", folder):
        if candidate.is_dir() and not candidate.is_symlink() and any((candidate / stage.folder).is_dir() for stage in stages):
            return candidate
    return None


def stage_for_path(path: Path, stages: tuple[Stage, ...] | None = None) -> Stage | None:
    """The stage whose checks folder holds ``path`` (a test module), if any."""
    for stage in stages if stages is not None else load_stages():
        if path.resolve().is_relative_to(stage.checks_dir):
            return stage
    return None
