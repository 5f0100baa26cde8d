"""``list`` and ``hint``: where the student stands, and what to read next."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..engine.runner import run_checks
from ..registry import Stage
from ..reporting.terminal import stage_summary
from ..results import CheckResult
from .common import add_target_option, prepare, select_stages


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m checks {prog}", description=description)
    add_target_option(parser)
    return parser


def _results(stages: Sequence[Stage], target_name: str) -> list[CheckResult]:
    return run_checks(stages, prepare(target_name)).results


def list_command(argv: Sequence[str]) -> int:
    """Show every stage with its status and points, and the next step to do."""
    parser = _parser("list", "Show each stage's status and the next step to do.")
    parser.add_argument("--checks", action="store_true", help="also list every check with its id (for -k)")
    args = parser.parse_args(argv)
    stages = select_stages([])
    results = _results(stages, args.target)
    for stage in stages:
        mine = [r for r in results if r.stage == stage.id]
        passed = sum(r.passed for r in mine)
        status = "done" if passed == len(mine) else "not started" if passed == 0 else "in progress"
        print(f"{stage.id}  {stage.title:<40} {status:<12} {stage_summary(stage.id, mine).split(': ', 1)[1]}")
        if args.checks:
            for result in mine:
                print(f"    {'✓' if result.passed else '✗'} {result.check}: {result.title}")
    failing = next((r for r in results if not r.passed), None)
    print()
    print(f"Next: stage {failing.stage}, {failing.title}\n      {failing.hint}" if failing else "Every stage is done.")
    if not args.checks:
        print("Every check and its id: `python -m checks list --checks`; run some with `python -m checks -k WORD`.")
    return 0 if failing is None else 1


def hint_command(argv: Sequence[str]) -> int:
    """Show the hint for the first failing check, then the next ones on request."""
    parser = _parser("hint", "Show the hint for the first failing check, then the next ones.")
    parser.add_argument("stages", nargs="*", metavar="STAGE", help="stage ids (default: all)")
    parser.add_argument("--all", action="store_true", help="print every hint at once")
    args = parser.parse_args(argv)
    failing = [r for r in _results(select_stages(args.stages), args.target) if not r.passed]
    if not failing:
        print("Every check passes: no hints needed.")
        return 0
    interactive = sys.stdin.isatty() and not args.all
    for number, result in enumerate(failing if (args.all or interactive) else failing[:1], start=1):
        print(f"[{number}/{len(failing)}] stage {result.stage}: {result.title}")
        print(f"  why:  {result.reason}")
        print(f"  hint: {result.hint}")
        if interactive and number < len(failing):
            if input("Enter for the next hint, q to stop: ").strip().lower().startswith("q"):
                break
    return 1
