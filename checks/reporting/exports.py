"""Grades for other tools: a class CSV, and per student Gradescope's results.json and JUnit XML."""

from __future__ import annotations

import csv
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ..engine.batch import COPY_LIMIT, FILE_LIMIT, NO_WORK, Submission
from ..registry import Stage
from ..results import CheckResult

# The first and last columns of grades.csv (a column per stage lies between them).
FIRST_COLUMNS, LAST_COLUMNS = ["student", "status"], ["total", "max_total"]


# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading ``'`` when it would start a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _column(stage: Stage) -> str:
    return f"stage_{stage.id}" + ("_hidden" if stage.hidden else "")


def _of(results: Sequence[CheckResult], stage: Stage) -> list[CheckResult]:
    return [r for r in results if r.stage == stage.id and r.hidden == stage.hidden]


OUTPUT_LIMIT = 300  # characters of a test's output on Gradescope: the reason, shortened if need be, and the hint


def _output(result: CheckResult) -> str:
    if result.passed:
        return ""
    hint = f"\nHint: {result.hint}"
    reason = result.reason or result.status
    room = OUTPUT_LIMIT - len(hint)
    if len(reason) > room:
        reason = reason[: max(room - 1, 0)] + "…"
    return (reason + hint)[:OUTPUT_LIMIT]


def gradescope(results: Sequence[CheckResult], seconds: float, status: str = "ok", problem: str = "") -> dict:
    """Gradescope's autograder format; hidden checks show once grades are published."""
    return {
        "score": sum(r.points for r in results),
        "execution_time": round(seconds, 2),
        "output": "" if status == "ok" else (f"Grading problem: {status}" + (f" ({problem})" if problem else ""))[:OUTPUT_LIMIT],
        "tests": [
            {
                "name": f"stage {r.stage}: {r.title}",
                "score": r.points,
                "max_score": r.max_points,
                "status": "passed" if r.passed else "failed",
                "output": _output(r),
                "visibility": "after_published" if r.hidden else "visible",
            }
            for r in results
        ],
    }


def junit(student: str, results: Sequence[CheckResult], seconds: float) -> ET.ElementTree:
    """One JUnit testsuite per student, one testcase per check."""
    failures = sum(not r.passed for r in results)
    suite = ET.Element("testsuite", name=student, tests=str(len(results)), failures=str(failures), time=f"{seconds:.2f}")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"stage{r.stage}" + (".hidden" if r.hidden else ""), name=r.check, time=f"{r.duration:.3f}")
        if not r.passed:
            ET.SubElement(case, "failure", message=r.reason or r.status).text = r.hint
    return ET.ElementTree(suite)


def keep_previous(out: Path) -> Path | None:
    """Rename the ``grades.csv`` an earlier run left in ``out`` to ``grades-<its time>.csv`` (never
    over another file); its new path, or None when there was none."""
    previous = out / "grades.csv"
    if not previous.is_file():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(previous.stat().st_mtime))
    kept, number = out / f"grades-{stamp}.csv", 1
    while kept.exists():
        number += 1
        kept = out / f"grades-{stamp}-{number}.csv"
    previous.rename(kept)
    return kept


def holds_exports(folder: Path) -> bool:
    """Whether ``folder`` holds a class table that :func:`write_all` wrote (``grades.csv``, or one
    kept as ``grades-<time>.csv``): the exports of a run, not a student's work."""
    for table in folder.glob("grades*.csv"):
        try:
            with table.open(encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        if header[:2] == FIRST_COLUMNS and header[-2:] == LAST_COLUMNS:
            return True
    return False


def write_all(out: Path, submissions: Sequence[Submission], stages: Sequence[Stage]) -> Path | None:
    """grades.csv for the class; results.json and junit.xml for each student (a student's earlier
    ones are replaced). A grades.csv already in ``out`` is kept under a new name, which is returned."""
    out.mkdir(parents=True, exist_ok=True)
    kept = keep_previous(out)
    with (out / "grades.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FIRST_COLUMNS, *[_column(s) for s in stages], *LAST_COLUMNS])
        for sub in submissions:
            per_stage = [sum(r.points for r in _of(sub.results, stage)) for stage in stages]
            writer.writerow([_text(sub.student), sub.status, *per_stage, sub.score, sum(s.max_points for s in stages)])
    for sub in submissions:
        folder = out / sub.student
        folder.mkdir(exist_ok=True)
        (folder / "results.json").write_text(json.dumps(gradescope(sub.results, sub.seconds, sub.status, sub.problem), indent=2), encoding="utf-8")
        junit(sub.student, sub.results, sub.seconds).write(folder / "junit.xml", encoding="utf-8", xml_declaration=True)
    return kept


def _printable(text: str) -> str:
    """Text fit for the terminal: a newline or an escape sequence (in a folder name) shown as ``\\n``, ``\\x1b``."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _files(count: int) -> str:
    return f"{count:,} file" + ("" if count == 1 else "s")


def summary(submissions: Sequence[Submission], stages: Sequence[Stage], out: Path) -> str:
    width = max([len(_printable(s.student)) for s in submissions] + [7])
    header = f"{'student':<{width}}  " + "  ".join(f"{_column(s):>9}" for s in stages) + "      total  status"
    lines = [header]
    for sub in submissions:
        cells = "  ".join(f"{sum(r.points for r in _of(sub.results, stage)):>5}/{stage.max_points:<3}" for stage in stages)
        lines.append(f"{_printable(sub.student):<{width}}  {cells}  {sub.score:>5}/{sum(s.max_points for s in stages):<4} {sub.status}")
    lines += [_printable(f"{sub.student}: {sub.status}: {sub.problem}") for sub in submissions if sub.problem]
    lines += [_printable(f"{sub.student}: {_files(sub.left_out)} left out of grading: unreadable, or over the {FILE_LIMIT:,} files and "
                         f"{COPY_LIMIT // 2**20} MB a submission brings (Python files first)") for sub in submissions if sub.left_out]
    empty = sum(sub.status == NO_WORK for sub in submissions)
    graded = len(submissions) - empty
    counted = f"{graded} submission{'' if graded == 1 else 's'} graded" + (f", {empty} with {NO_WORK}" if empty else "")
    lines.append(f"\n{counted}; grades.csv, results.json and junit.xml are in {out}")
    return "\n".join(lines)
