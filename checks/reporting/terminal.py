"""Turning a run's results into text for a terminal, or JSON for other tools."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ..engine.runner import Run
from ..registry import display_path
from ..results import CheckResult


def _color(enabled: bool):
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if enabled else text

    return paint


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _wrap(label: str, text: str, width: int | None) -> str:
    """``label`` and ``text`` indented under a check; on a terminal (``width`` given), long text
    wraps with continuation lines aligned under it, elsewhere it stays on one line for grep."""
    indent = " " * 6 + label
    if width is None:
        return indent + text
    return textwrap.fill(
        text, width, initial_indent=indent, subsequent_indent=" " * len(indent), break_long_words=False, break_on_hyphens=False
    )


def stage_summary(stage_id: str, results: Iterable[CheckResult]) -> str:
    results = list(results)
    passed = sum(r.passed for r in results)
    points = sum(r.points for r in results)
    return f"stage {stage_id}: {passed}/{len(results)} checks, {points}/{sum(r.max_points for r in results)} points"


def render(run: Run, target: Path) -> str:
    """Per stage: a line per check (✓/✗, points) and a progress line; the reason and the hint for
    the first failing check."""
    paint = _color(use_color(sys.stdout))
    width = min(shutil.get_terminal_size((100, 20)).columns, 100)
    wrap = width if sys.stdout.isatty() else None
    lines: list[str] = []
    first_failure = next((r for r in run.results if not r.passed), None)
    for stage in run.stages:
        results = [r for r in run.results if r.stage == stage.id and r.hidden == stage.hidden]
        if not results:
            continue
        label = f"Stage {stage.id} · {stage.title}" + (" (instructor checks)" if stage.hidden else "")
        lines.append(paint(label, "1") + f"  ({display_path(target / stage.folder)})")
        for result in results:
            mark = paint("✓", "32") if result.passed else paint("✗", "31")
            score = f"{result.points}/{result.max_points}"
            title = result.title if len(result.title) <= width - 16 else result.title[: width - 17] + "…"
            lines.append(f"  {mark} {title.ljust(width - 16)} {score:>6}")
            if result is first_failure:
                lines.append(paint(_wrap("why:  ", result.reason or result.status, wrap), "33"))
                lines.append(_wrap("hint: ", result.hint, wrap))
        lines.append("  " + paint(stage_summary(stage.id, results), "1"))
        lines.append("")
    if run.interrupted:
        lines.append(paint("interrupted: the results above are the checks that finished", "31"))
    elif run.results:
        lines.append(paint("All checks pass." if run.all_passed else "Fix the first ✗ above, then run again (`python -m checks hint` for more hints).", "1"))
    else:
        lines.append("No checks matched.")
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on a terminal; silent when the stream is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def update(self, result: CheckResult, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar_width = 30
        filled = bar_width * done // max(total, 1)
        text = f"\r[{'#' * filled}{'.' * (bar_width - filled)}] {done}/{total}  stage {result.stage}: {result.title[:40]}"
        self.stream.write(text.ljust(100)[:100])
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()
