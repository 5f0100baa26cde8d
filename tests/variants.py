"""Building targets for the workbook's own tests, and grading them in a separate process.

A *variant* is a copy of one stage of ``solutions/`` (or ``labs/``) with a few edits: a typical
mistake that must fail a named check, or another correct style that must pass every check.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from checks.registry import REPO_ROOT, find_stage
from checks.db.server import get_server


@dataclass(frozen=True)
class Result:
    status: str
    reason: str
    points: int


def make_target(
    tmp_path: Path,
    stage: str,
    *,
    base: str = "solutions",
    replace: dict[str, list[tuple[str, str]]] | None = None,
    files: dict[str, str] | None = None,
    delete: list[str] = (),
) -> Path:
    """A target under ``tmp_path`` holding a copy of ``base``'s stage folder with edits applied.

    ``replace`` maps a file to (old, new) pairs; each ``old`` must occur in the file, so a
    variant breaks loudly when the solution it edits changes.
    """
    folder = find_stage(stage).folder
    target = tmp_path / "target"
    shutil.copytree(REPO_ROOT / base / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name, pairs in (replace or {}).items():
        path = target / folder / name
        text = path.read_text(encoding="utf-8")
        for old, new in pairs:
            assert old in text, f"variant edit not applicable: {old!r} is not in {base}/{folder}/{name}"
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    for name, text in (files or {}).items():
        path = target / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name in delete:
        (target / folder / name).unlink()
    return target


def checks_env(**extra: str) -> dict[str, str]:
    """Environment for a ``python -m checks`` subprocess: the test session's own server."""
    env = dict(os.environ)
    env["DATABASE_URL"] = get_server().url.render_as_string(hide_password=False)
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m checks ARGS`` from the workbook root."""
    return subprocess.run(
        [sys.executable, "-m", "checks", *args],
        cwd=REPO_ROOT,
        env=checks_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_checks(target: Path | str, stage: str, *extra: str) -> dict[str, Result]:
    """Grade one stage of ``target`` in a subprocess; results by check id."""
    proc = run_cli(stage, "--target", str(target), "--json", *extra)
    assert proc.returncode in (0, 1), f"checks exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    data = json.loads(proc.stdout)
    return {r["check"]: Result(r["status"], r["reason"], r["points"]) for r in data["results"]}


@cache
def graded(target: str, stage: str) -> dict[str, Result]:
    """``run_checks`` for the workbook's own targets (labs, solutions), once per test session."""
    return run_checks(target, stage)


def sigint_not_ignored() -> None:
    """For a child that the test will Ctrl-C: a shell's background job inherits SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
