"""``reset STAGE``: back up the student's stage folder, then restore the starter from git (:mod:`checks.starter`)."""

from __future__ import annotations

import argparse
import itertools
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .. import starter
from ..registry import REPO_ROOT, display_path
from .common import confirmed, select_stages


def backup(folder: Path, backups: Path) -> Path:
    """Copy ``folder`` to ``backups/<name>-<timestamp>/`` (``-2``, ``-3``... for a second backup
    within the same second) and return where it went."""
    stamp = f"{folder.name}-{datetime.now():%Y%m%d-%H%M%S}"
    destination = backups / stamp
    for number in itertools.count(2):
        if not destination.exists():
            break
        destination = backups / f"{stamp}-{number}"
    shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def empty(folder: Path) -> None:
    """Remove what ``folder`` holds, keeping the folder itself (a shell may be in it)."""
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def reset_command(argv: Sequence[str], repo: Path = REPO_ROOT) -> int:
    """Restore a stage's starter files, after backing yours up."""
    parser = argparse.ArgumentParser(prog="python -m checks reset", description="Restore a stage's starter files (after a backup).")
    parser.add_argument("stage", metavar="STAGE", help="the stage to reset: 01, 02 or 03 (or its folder's name)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    (stage,) = select_stages([args.stage])
    folder = repo / "labs" / stage.folder
    shown = folder.relative_to(repo).as_posix()
    try:
        located = starter.locate(repo, folder)
    except starter.NoStarter as exc:
        print(f"error: cannot find the starter of {shown} in git ({exc}); reset needs a git clone of the workbook. Nothing changed.")
        return 2
    if not args.yes and not confirmed(f"Replace {shown} with the starter files (your files are backed up first)?"):
        print("Nothing changed.")
        return 1
    saved = backup(folder, repo / "backups") if folder.is_dir() else None
    kept = f"your files are saved in {display_path(saved)}" if saved else f"there was no {shown} to back up"
    folder.mkdir(parents=True, exist_ok=True)
    empty(folder)
    try:
        starter.restore(repo, located)
    except starter.NoStarter as exc:
        print(f"error: {exc}; {kept}")
        return 2
    print(f"{kept[0].upper()}{kept[1:]}; {shown} is the starter again.")
    return 0
