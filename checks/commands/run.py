"""``python -m checks [STAGE ...]``: grade a target's stages and print what passes, what fails, and why."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from ..engine.runner import run_checks, subject_host
from ..errors import EXIT_INTERRUPTED, EXIT_SETUP, SetupError, UsageError
from ..registry import Check, load_stages
from ..reporting import classroom, terminal
from ..results import Run
from . import COMMANDS
from .common import (
    add_target_option,
    checks_folder,
    file_to_write,
    prepare,
    seconds,
    select,
)

EXPRESSION = re.compile(r"\b(and|or|not)\b|[()]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checks",
        usage=f"python -m checks [STAGE ...] [--target T] [-k PATTERN] [--timeout S] [--json] [--verbose] [--classroom]\n       python -m checks {{{','.join(COMMANDS)}}} ...",
        description="Grade the stages in labs/ (or another target) against PostgreSQL; in a stage folder, that stage.",
    )
    parser.add_argument("stages", nargs="*", metavar="STAGE", help="stage ids to grade, e.g. 01 02 (default: all; in a stage folder, its stage)")
    add_target_option(parser)
    parser.add_argument("-k", dest="pattern", metavar="PATTERN", help="only the checks whose title or id contains PATTERN (any case)")
    parser.add_argument("--timeout", type=seconds, metavar="S", help="seconds each check may take")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--verbose", "-v", action="store_true", help="show pytest's full output")
    parser.add_argument("--json-file", type=file_to_write, metavar="PATH", help="also write the JSON results to PATH")
    parser.add_argument(
        "--classroom", action="store_true", help="GitHub Classroom: write each check's points to $GITHUB_OUTPUT and exit 0 once graded"
    )
    parser.add_argument("--extra-checks", type=checks_folder, metavar="DIR", help="instructor-only checks to add (same layout as checks/)")
    return parser


def run_command(argv: Sequence[str]) -> int:
    """Grade the selected stages of a target and print the results."""
    args = build_parser().parse_args(argv)
    selection = select(args.stages, args.target)
    stages = selection.stages
    extra = args.extra_checks
    pattern = None
    if args.pattern:
        hidden = [s for s in (load_stages(extra) if extra else ()) if s.id in {st.id for st in stages}]
        pattern = keyword_expression(args.pattern, [check for stage in [*stages, *hidden] for check in stage.checks])
    classroom_output = _classroom_output() if args.classroom else None
    with subject_host((), stages) as options:  # it imports the libraries while the server starts
        target = prepare(selection.target)
        if selection.note and not args.json:
            print(selection.note, flush=True)
        progress = None if args.json or args.verbose else terminal.Progress(sys.stderr)
        run = run_checks(
            stages,
            target,
            pattern=pattern,
            timeout=args.timeout,
            verbose=args.verbose,
            extra=extra,
            on_start=progress.start if progress else None,
            options=options,
            apart=True,
        )
    if progress:
        progress.clear()
    if pattern and run.exit_code == pytest.ExitCode.USAGE_ERROR:  # pytest said why in its ERROR line, above
        raise UsageError(f"-k {args.pattern!r} is not an expression pytest can read; give a word of a check's title or id, or ids joined by and, or, not")
    if args.json_file:
        args.json_file.write_text(json.dumps(run.as_json(target), indent=2), encoding="utf-8")
    code = finish_run(run, target, as_json=args.json)
    if classroom_output and code in (0, 1):  # graded: the reporter step must run and record the points
        classroom.write_output(classroom_output, run.results, run.stages)
        return 0
    return code


def _classroom_output() -> Path:
    """The file a GitHub Actions step writes its outputs to."""
    if not os.environ.get("GITHUB_OUTPUT"):
        raise UsageError("--classroom writes the points to the file named by $GITHUB_OUTPUT, which is unset; it is meant for GitHub Actions")
    return Path(os.environ["GITHUB_OUTPUT"])


def keyword_expression(pattern: str, checks: Sequence[Check]) -> str:
    """pytest's ``-k`` for ``-k PATTERN``: exactly the checks whose title or id contains PATTERN
    (ignoring case). A pytest expression over ids (``"list_posts or get_post"``) that no title
    contains goes to pytest as it is."""
    needle = pattern.casefold()
    matched = {check.id for check in checks if needle in check.id.casefold() or needle in check.title.casefold()}
    if not matched:
        if EXPRESSION.search(pattern):
            return pattern
        stages = sorted({check.stage for check in checks})
        where = f"stage{'s' if len(stages) > 1 else ''} {', '.join(stages)}"
        raise UsageError(f"no check of {where} has {pattern!r} in its title or id; `python -m checks list --checks` shows every check")
    names = {f"test_{check.id}" for check in checks}
    # -k matches substrings of test names: test_x must not also select test_x_y
    clauses = []
    for name in sorted(f"test_{check_id}" for check_id in matched):
        others = sorted(other for other in names if name in other and other != name and other.removeprefix("test_") not in matched)
        clauses.append(" and ".join([name, *(f"not {other}" for other in others)]))
    return " or ".join(f"({clause})" for clause in clauses)


def finish_run(run: Run, target: Path, *, as_json: bool) -> int:
    """Print a run's results and pick the exit code."""
    if run.aborted and not run.interrupted and not run.results:
        raise SetupError(run.aborted)
    if as_json:
        print(json.dumps(run.as_json(target), indent=2))
    else:
        print(terminal.render(run, target))
    if run.interrupted:
        return EXIT_INTERRUPTED
    if run.exit_code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        print(f"error: pytest stopped with exit code {int(run.exit_code)}; rerun with --verbose to see why", file=sys.stderr)
        return EXIT_SETUP
    return 0 if run.all_passed else 1
