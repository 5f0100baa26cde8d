"""``list`` and ``hint``: where the student stands, and what to read next."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..engine.runner import run_checks
from ..registry import Stage
from ..reporting.terminal import (
    Progress,
    fill,
    printed_lines,
    stage_summary,
    text_width,
)
from ..results import CheckResult
from .common import add_target_option, prepare, select, select_stages


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m checks {prog}", description=description)
    add_target_option(parser)
    return parser


def _results(stages: Sequence[Stage], target_name: str) -> list[CheckResult]:
    progress = Progress(sys.stderr)
    results = run_checks(stages, prepare(target_name), on_start=progress.start, apart=True).results
    progress.clear()
    return results


def list_command(argv: Sequence[str]) -> int:
    """Show every stage with its status and points, and the next step to do."""
    parser = _parser("list", "Show each stage's status and the next step to do.")
    parser.add_argument("stages", nargs="*", metavar="STAGE", help="stages to show (default: all, also in a stage folder)")
    parser.add_argument("--checks", action="store_true", help="also list every check with its id (for -k)")
    args = parser.parse_args(argv)
    selection = select(args.stages, args.target)  # in a stage folder: the folder that holds it
    stages = selection.stages if args.stages else select_stages([])
    results = _results(stages, selection.target)
    width = text_width(sys.stdout)
    for stage in stages:
        mine = [r for r in results if r.stage == stage.id]
        passed = sum(r.passed for r in mine)
        status = "done" if passed == len(mine) else "not started" if passed == 0 else "in progress"
        line = f"{stage.id}  {stage.title:<40} {status:<12} {stage_summary(stage.id, mine).split(': ', 1)[1]}"
        if width is not None and len(line) > width:  # the status and points go on a line of their own
            line = f"{stage.id}  {stage.title}\n" + fill(f"{status}, {stage_summary(stage.id, mine).split(': ', 1)[1]}", width, "    ")
        print(line)
        if args.checks:
            for result in mine:
                print(fill(f"{result.check}: {result.title}", width, f"    {'✓' if result.passed else '✗'} "))
    failing = next((r for r in results if not r.passed), None)
    print()
    if failing:
        print(fill(f"Next: stage {failing.stage}, {failing.title}", width, hanging="      "))
        print(fill(failing.hint, width, "      "))
    elif args.stages:  # only these were checked: say nothing of the others
        ids = [stage.id for stage in stages]
        print(f"Stage {ids[0]} is done." if len(ids) == 1 else f"Stages {', '.join(ids)} are done.")
    else:
        print("Every stage is done.")
    if not args.checks:
        print(fill("Every check and its id: `python -m checks list --checks`; run some with `python -m checks -k WORD`.", width))
    return 0 if failing is None else 1


def hint_command(argv: Sequence[str]) -> int:
    """Show the hint for the first failing check, then the next ones on request."""
    parser = _parser("hint", "Show the hint for the first failing check, then the next ones.")
    parser.add_argument("stages", nargs="*", metavar="STAGE", help="stage ids (default: all; in a stage folder, its stage)")
    parser.add_argument("--all", action="store_true", help="print every hint at once")
    args = parser.parse_args(argv)
    selection = select(args.stages, args.target)
    if selection.note:
        print(selection.note, flush=True)
    failing = [r for r in _results(selection.stages, selection.target) if not r.passed]
    if not failing:
        print("Every check passes: no hints needed.")
        return 0
    interactive = sys.stdin.isatty() and not args.all
    width = text_width(sys.stdout)
    for number, result in enumerate(failing if (args.all or interactive) else failing[:1], start=1):
        print(fill(f"[{number}/{len(failing)}] stage {result.stage}: {result.title}", width, hanging="  "))
        print(fill(result.reason, width, "  why:  "))
        for line in printed_lines(result.printed, width, indent="  "):
            print(line)
        print(fill(result.hint, width, "  hint: "))
        if interactive and number < len(failing) and not _next_hint_wanted():
            break
    return 1


def _next_hint_wanted() -> bool:
    """Enter: yes; q, or the end of input (Ctrl-D): no."""
    try:
        return not input("Enter for the next hint, q to stop: ").strip().lower().startswith("q")
    except EOFError:
        print()
        return False
