"""Gradescope: ``python -m checks gradescope-bundle`` builds the autograder zip.

The zip holds ``setup.sh`` (installs the workbook's requirements), ``run_autograder`` (grades
``/autograder/submission`` and writes ``/autograder/results/results.json``), and the parts of
the workbook that grading needs. ``run_autograder`` calls ``python -m checks.commands.gradescope run``,
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
from ..engine.batch import Batch, Submission, find_labs
from ..registry import REPO_ROOT, load_stages
from ..reporting.exports import gradescope

SHIPPED = ["checks", "alembic", "alembic.ini", "conftest.py", "pyproject.toml", "requirements.txt"]

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once while building the autograder image.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q -r /autograder/source/requirements.txt
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. The variables allow a local dry run.
set -euo pipefail
cd "${AUTOGRADER_SOURCE:-/autograder/source}"
exec "${AUTOGRADER_PYTHON:-/autograder/venv/bin/python}" -m checks.commands.gradescope run \\
    "${SUBMISSION_DIR:-/autograder/submission}" "${RESULTS_FILE:-/autograder/results/results.json}"
"""


def _executable(name: str, text: str) -> tuple[zipfile.ZipInfo, str]:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o100755 << 16  # a regular file, rwxr-xr-x
    return info, text


def build_bundle(out: Path) -> Path:
    """Write the autograder zip to ``out``."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for info, text in (_executable("setup.sh", SETUP_SH), _executable("run_autograder", RUN_AUTOGRADER)):
            bundle.writestr(info, text)
        for name in SHIPPED:
            path = REPO_ROOT / name
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            for file in files:
                bundle.write(file, file.relative_to(REPO_ROOT).as_posix())
    return out


def bundle_command(argv: Sequence[str]) -> int:
    """Build the zip Gradescope's autograder expects."""
    parser = argparse.ArgumentParser(prog="python -m checks gradescope-bundle", description=bundle_command.__doc__)
    parser.add_argument("--out", type=Path, default=Path("gradescope-autograder.zip"), help="the zip to write")
    args = parser.parse_args(argv)
    print(f"wrote {build_bundle(args.out)}: upload it as the autograder of a Gradescope programming assignment")
    return 0


def run(submission: Path, results_file: Path) -> None:
    """Grade one submission folder and write Gradescope's results.json."""
    stages = load_stages()
    graded = Batch(stages, get_server()).grade(Submission("submission", find_labs(submission, stages)))
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(gradescope(graded.results, graded.seconds, graded.status), indent=2), encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:2] == ["run"]:
    run(Path(sys.argv[2]), Path(sys.argv[3]))
