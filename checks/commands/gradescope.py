"""Gradescope: ``python -m checks gradescope-bundle`` builds the autograder zip.

The zip holds ``setup.sh`` (the system's Python 3.10+ and a virtualenv with the requirements
that grading needs), ``run_autograder`` (grades ``/autograder/submission`` and writes
``/autograder/results/results.json``), and the parts of the workbook that grading needs. ``run_autograder`` calls ``python -m checks.commands.gradescope run``,
which grades one submission exactly as ``grade`` grades each student of a batch.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from ..db.server import get_server
from ..engine import sandbox
from ..engine.batch import Batch, submission_in
from ..errors import SetupError
from ..registry import REPO_ROOT, load_stages
from ..reporting.exports import gradescope
from .common import file_to_write

SHIPPED = ["checks", "alembic", "alembic.ini", "conftest.py", "pyproject.toml"]
# requirements.txt's lines above this one are what grading needs; the bundle's requirements.txt holds only them
GRADING_ONLY_ABOVE = "# --- grading needs the lines above"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image. Base image: Ubuntu 22.04
# (Python 3.10) or 24.04 (Python 3.12); the workbook supports Python 3.10 to 3.13.
set -euo pipefail
SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

provide_python() {  # the system's python3, and the venv module Ubuntu ships apart
    apt-get update -q
    apt-get install -y -q python3 python3-venv
}

install_workbook() {  # $1: a Python, $2: the virtualenv to make with it for the workbook
    "$1" -m venv "$2"
    "$2/bin/python" -m pip install -q --upgrade pip  # 22.04's venv has pip 22.0
    # from the source folder: requirements.txt installs the workbook itself as `-e .`, and pip reads `.` there
    (cd "$SOURCE" && "$2/bin/python" -m pip install -q -r requirements.txt)
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then  # run, not sourced (a dry run sources it and calls install_workbook)
    provide_python
    install_workbook python3 /autograder/venv
fi
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope copies this to /autograder/run_autograder and runs it for every submission.
# AUTOGRADER_ROOT stands in for /autograder in a dry run.
set -euo pipefail
ROOT=${AUTOGRADER_ROOT:-/autograder}
cd "$ROOT/source"
exec "$ROOT/venv/bin/python" -m checks.commands.gradescope run "$ROOT/submission" "$ROOT/results/results.json"
"""


def _executable(name: str, text: str) -> tuple[zipfile.ZipInfo, str]:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o100755 << 16  # a regular file, rwxr-xr-x
    return info, text


def grading_requirements() -> str:
    """The part of the workbook's requirements.txt that grading needs (no notebooks, no tests of the workbook)."""
    text = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
    above, marker, _ = text.partition(GRADING_ONLY_ABOVE)
    if not marker:
        raise SetupError(f"requirements.txt has no line starting {GRADING_ONLY_ABOVE!r}: which requirements grading needs is unknown")
    return above


def build_bundle(out: Path) -> Path:
    """Write the autograder zip to ``out``."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for info, text in (_executable("setup.sh", SETUP_SH), _executable("run_autograder", RUN_AUTOGRADER)):
            bundle.writestr(info, text)
        bundle.writestr("requirements.txt", grading_requirements())
        for name in SHIPPED:
            path = REPO_ROOT / name
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            for file in files:
                bundle.write(file, file.relative_to(REPO_ROOT).as_posix())
    return out


def bundle_command(argv: Sequence[str]) -> int:
    """Build the zip Gradescope's autograder expects."""
    parser = argparse.ArgumentParser(prog="python -m checks gradescope-bundle", description=bundle_command.__doc__)
    parser.add_argument("--out", type=file_to_write, default=Path("gradescope-autograder.zip"), help="the zip to write")
    args = parser.parse_args(argv)
    print(f"wrote {build_bundle(args.out)}: upload it as the autograder of a Gradescope programming assignment")
    return 0


def run(submission: Path, results_file: Path) -> None:
    """Grade one submission folder and write Gradescope's results.json."""
    stages = load_stages()
    batch = Batch(stages, get_server(), sandbox=sandbox.resolve("auto"), hide=[results_file.parent.resolve()])
    try:
        graded = batch.grade(submission_in(submission, stages))  # with no work found, where it looked
    finally:
        batch.close()
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(gradescope(graded.results, graded.seconds, graded.status, graded.problem), indent=2), encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:2] == ["run"]:
    run(Path(sys.argv[2]), Path(sys.argv[3]))
