"""Turning a run's results into text for a terminal, or JSON for other tools."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ..registry import display_path
from ..results import CheckResult, Run


def _color(enabled: bool):
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if enabled else text

    return paint


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def text_width(stream: TextIO) -> int | None:
    """Columns a line may fill on a terminal (one less than its width, so that no line wraps on
    its own); None when ``stream`` is not a terminal, where lines stay whole for grep."""
    return shutil.get_terminal_size().columns - 1 if stream.isatty() else None


def fill(text: str, width: int | None, indent: str = "", hanging: str | None = None) -> str:
    """``indent + text``, wrapped to ``width`` with continuation lines indented by ``hanging``
    (default: as deep as the text starts); one line when ``width`` is None."""
    if width is None:
        return indent + text
    hanging = " " * len(indent) if hanging is None else hanging
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=hanging, break_on_hyphens=False)


def _wrap(label: str, text: str, width: int | None) -> str:
    """``label`` and ``text`` indented under a check, continuation lines aligned under the text."""
    return fill(text, width, " " * 6 + label)


PRINTED_LINES = 5  # of what the target printed during a failing check, shown under it


def printed_lines(printed: str, width: int | None, indent: str = " " * 6) -> list[str]:
    """What the target's code printed during a check, as the lines shown under it: the first
    ``PRINTED_LINES``, each cut to the width, and how many more there are."""
    if not printed:
        return []
    label = "printed: "
    source = printed.splitlines()
    lines = [(indent + (label if number == 0 else " " * len(label)) + line) for number, line in enumerate(source[:PRINTED_LINES])]
    if width:
        lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
    if len(source) > PRINTED_LINES:
        lines.append(f"{indent}{' ' * len(label)}… {len(source) - PRINTED_LINES} more lines (`--json` shows them)")
    return lines


def stage_summary(stage_id: str, results: Iterable[CheckResult]) -> str:
    results = list(results)
    passed = sum(r.passed for r in results)
    points = sum(r.points for r in results)
    return f"stage {stage_id}: {passed}/{len(results)} checks, {points}/{sum(r.max_points for r in results)} points"


def render(run: Run, target: Path) -> str:
    """Per stage: a line per check (✓/✗, points) and a progress line; the reason and the hint for
    the first failing check."""
    paint = _color(use_color(sys.stdout))
    wrap = text_width(sys.stdout)
    width = min(wrap or 100, 100)
    lines: list[str] = []
    first_failure = next((r for r in run.results if not r.passed), None)
    for stage in run.stages:
        results = [r for r in run.results if r.stage == stage.id and r.hidden == stage.hidden]
        if not results:
            continue
        label = f"Stage {stage.id} · {stage.title}" + (" (instructor checks)" if stage.hidden else "")
        where = display_path(target / stage.folder)
        folder = "(this folder)" if where == "." else f"({where})"
        if wrap and len(label) + 2 + len(folder) > wrap:
            lines += [paint(label, "1"), fill(folder, wrap, "  ")]
        else:
            lines.append(paint(label, "1") + "  " + folder)
        for result in results:
            mark = paint("✓", "32") if result.passed else paint("✗", "31")
            score = f"{result.points}/{result.max_points}"
            title = result.title if len(result.title) <= width - 16 else result.title[: width - 17] + "…"
            lines.append(f"  {mark} {title.ljust(width - 16)} {score:>6}")
            if result is first_failure:
                lines.append(paint(_wrap("why:  ", result.reason or result.status, wrap), "33"))
                lines += printed_lines(result.printed, wrap)
                lines.append(_wrap("hint: ", result.hint, wrap))
        lines.append("  " + paint(stage_summary(stage.id, results), "1"))
        lines.append("")
    if run.interrupted:
        lines.append(paint(fill("interrupted: the results above are the checks that finished", wrap), "31"))
    elif run.results:
        advice = "All checks pass." if run.all_passed else "Fix the first ✗ above, then run again (`python -m checks hint` for more hints)."
        lines.append(paint(fill(advice, wrap), "1"))
    else:
        lines.append("No checks matched.")
    return "\n".join(lines)


class Progress:
    """One status line on a terminal: a bar and the check that is running, never wider than the
    terminal; silent when the stream is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def start(self, result: CheckResult, done: int, total: int) -> None:
        filled = 20 * done // max(total, 1)
        self.show(f"[{'#' * filled}{'.' * (20 - filled)}] {done}/{total}  stage {result.stage}: {result.title}")

    def show(self, text: str) -> None:
        """Replace the status line with ``text``, cut to the terminal's width."""
        if not self.enabled:
            return
        width = shutil.get_terminal_size().columns - 1
        line = text if len(text) <= width else text[: width - 1] + "…"
        self.stream.write(f"\r{line}\033[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
