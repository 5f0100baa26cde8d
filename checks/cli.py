"""``python -m checks``: grade a target's stages and print what passes, what fails, and why."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from dotenv import load_dotenv

from . import dbserver, gradescope, grading, report, reset, student, watch
from .plugin import resolve_target
from .registry import REPO_ROOT, Stage, find_stage, load_stages
from .runner import Run, run_checks
from .server import SetupError, get_server

EXIT_SETUP = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A wrong command line; the message lists what is valid."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checks",
        usage=f"python -m checks [STAGE ...] [--target T] [-k PATTERN] [--timeout S] [--json] [--verbose]\n       python -m checks {{{','.join(COMMANDS)}}} ...",
        description="Grade the stages in labs/ (or another target) against PostgreSQL.",
        epilog="Commands: " + "; ".join(f"{name}: {(fn.__doc__ or '').strip().splitlines()[0]}" for name, fn in COMMANDS.items()),
    )
    parser.add_argument("stages", nargs="*", metavar="STAGE", help="stage ids to grade, e.g. 01 02 (default: all)")
    parser.add_argument("--target", default="labs", help="labs (default), solutions, or a path to a copy of labs/")
    parser.add_argument("-k", dest="pattern", metavar="PATTERN", help="only checks whose name matches (pytest -k)")
    parser.add_argument("--timeout", type=float, metavar="S", help="seconds each check may take")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--verbose", "-v", action="store_true", help="show pytest's full output")
    parser.add_argument("--json-file", type=Path, metavar="PATH", help="also write the JSON results to PATH")
    parser.add_argument("--extra-checks", type=Path, metavar="DIR", help="instructor-only checks to add (same layout as checks/)")
    return parser


def select_stages(ids: Sequence[str]) -> list[Stage]:
    """The stages named on the command line (all when none are), or a UsageError."""
    if not ids:
        return list(load_stages())
    selected = []
    for stage_id in ids:
        try:
            selected.append(find_stage(stage_id))
        except KeyError:
            valid = ", ".join(f"{s.id} ({s.title})" for s in load_stages())
            raise UsageError(f"unknown stage {stage_id!r}; valid stages: {valid}; commands: {', '.join(COMMANDS)}") from None
    return selected


def prepare(target_name: str) -> Path:
    """Find the target and the database server, or raise SetupError/UsageError."""
    target = resolve_target(target_name)
    if not target.is_dir():
        raise UsageError(f"target {target} is not a folder; use --target labs, solutions or a path to a copy of labs/")
    load_dotenv(REPO_ROOT / ".env")
    get_server()
    return target


def grade(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    stages = select_stages(args.stages)
    target = prepare(args.target)
    progress = None if args.json or args.verbose else report.Progress(sys.stderr)
    run = run_checks(
        stages,
        target,
        pattern=args.pattern,
        timeout=args.timeout,
        verbose=args.verbose,
        extra=args.extra_checks.resolve() if args.extra_checks else None,
        on_result=progress.update if progress else None,
    )
    if progress:
        progress.clear()
    if args.json_file:
        args.json_file.write_text(json.dumps(report.as_json(run, target), indent=2), encoding="utf-8")
    return finish_run(run, target, as_json=args.json)


def finish_run(run: Run, target: Path, *, as_json: bool) -> int:
    """Print a run's results and pick the exit code."""
    if run.aborted and not run.interrupted and not run.results:
        raise SetupError(run.aborted)
    if as_json:
        print(json.dumps(report.as_json(run, target), indent=2))
    else:
        print(report.render(run, target))
    if run.interrupted:
        return EXIT_INTERRUPTED
    if run.exit_code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        print(f"error: pytest stopped with exit code {int(run.exit_code)}; rerun with --verbose to see why", file=sys.stderr)
        return EXIT_SETUP
    return 0 if run.all_passed else 1


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "list": student.list_command,
    "hint": student.hint_command,
    "watch": watch.watch_command,
    "reset": reset.reset_command,
    "db": dbserver.db_command,
    "grade": grading.grade_command,
    "gradescope-bundle": gradescope.bundle_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    try:
        code = command(argv[1:]) if command else grade(argv)
    except (SetupError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_SETUP
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader left early (`python -m checks --json | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    return exit_now_if_stuck(code)


def exit_now_if_stuck(code: int) -> int:
    """Student code may leave threads running forever (an endless loop in a request handler);
    don't wait for them: run the exit handlers (drop databases, stop the server) and leave."""
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        atexit._run_exitfuncs()
        os._exit(code)
    return code
