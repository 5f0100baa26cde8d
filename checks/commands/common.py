"""What every command shares: usage errors, exit codes, stage selection and set-up checks."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ..db.server import get_server
from ..registry import REPO_ROOT, Stage, find_stage, load_stages
from . import COMMANDS

EXIT_SETUP = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A wrong command line; the message lists what is valid."""


def resolve_target(value: str) -> Path:
    """``labs``/``solutions`` name the workbook's folders; anything else is a path."""
    named = REPO_ROOT / value
    path = named if value in ("labs", "solutions") else Path(value)
    return path.expanduser().resolve()


def add_target_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="labs", help="labs (default), solutions, or a path to a copy of labs/")


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
    get_server()
    return target
