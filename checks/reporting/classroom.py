"""GitHub Classroom: a run's results as the output of an autograding step, for partial credit.

GitHub Classroom's reporter (``autograding-grading-reporter``) reads, for each runner id, the
environment variable ``<ID>_RESULTS``: base64 of JSON with ``max_score``, ``status`` and
``tests`` (``name``, ``status`` pass/fail/error, ``score``, ``message``, ...). It records the sum
of the tests' ``score`` against the sum of the runners' ``max_score``. The command graders write
one test worth all or nothing; here every check is a test worth the points it earned.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

from ..registry import Stage
from ..results import CheckResult

STATUS = {"passed": "pass", "failed": "fail"}  # anything else ("not run") is an error


def _message(result: CheckResult) -> str:
    if result.passed:
        return ""
    return f"{result.reason or result.status}\nHint: {result.hint}"


def classroom(results: Sequence[CheckResult], stages: Sequence[Stage]) -> dict:
    """The reporter's JSON: one test per check, scored with the points it earned."""
    return {
        "version": 1,
        "status": "pass" if results and all(r.passed for r in results) else "fail",
        "max_score": sum(stage.max_points for stage in stages),  # from the registry: a check that never ran still counts
        "tests": [
            {
                "name": f"stage {r.stage}: {r.title}",
                "status": STATUS.get(r.status, "error"),
                "score": r.points,
                "message": _message(r),
                "test_code": "" if r.passed else f"python -m checks {r.stage} -k {r.check}",  # the reporter prints it
                "filename": "",
                "line_no": 0,
                "duration": round(r.duration * 1000),
            }
            for r in results
        ],
    }


def write_output(path: Path, results: Sequence[CheckResult], stages: Sequence[Stage]) -> None:
    """Append ``result=<base64 JSON>`` to the step's output file, as the graders do."""
    encoded = base64.b64encode(json.dumps(classroom(results, stages)).encode("utf-8")).decode("ascii")
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"result={encoded}\n")
