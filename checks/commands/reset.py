"""``reset STAGE``: back up the student's stage folder, then restore the starter from git."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..registry import REPO_ROOT, display_path
from .common import confirmed, select_stages


class ResetError(Exception):
    """The stage could not be reset; the message says why."""


def backup(folder: Path, backups: Path) -> Path:
    """Copy ``folder`` to ``backups/<name>-<timestamp>/`` and return where it went."""
    destination = backups / f"{folder.name}-{datetime.now():%Y%m%d-%H%M%S}"
    shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def restore_starter(repo: Path, folder: Path) -> None:
    """Put the committed starter files back, removing files the student added."""
    relative = folder.relative_to(repo)
    try:
        subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"HEAD:{relative.as_posix()}"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        raise ResetError(f"cannot find the starter of {relative} in git; reset needs a git clone of the workbook") from None
    shutil.rmtree(folder)
    subprocess.run(["git", "-C", str(repo), "checkout", "HEAD", "--", relative.as_posix()], check=True, capture_output=True)


def reset_command(argv: Sequence[str], repo: Path = REPO_ROOT) -> int:
    """Restore a stage's starter files, after backing yours up."""
    parser = argparse.ArgumentParser(prog="python -m checks reset", description="Restore a stage's starter files (after a backup).")
    parser.add_argument("stage", metavar="STAGE")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    (stage,) = select_stages([args.stage])
    folder = repo / "labs" / stage.folder
    if not args.yes and not confirmed(f"Replace {display_path(folder)} with the starter files (your files are backed up first)?"):
        print("Nothing changed.")
        return 1
    saved = backup(folder, repo / "backups")
    try:
        restore_starter(repo, folder)
    except ResetError as exc:
        print(f"error: {exc}; your files are unchanged (a copy is in {display_path(saved)})")
        return 2
    print(f"Your files are saved in {display_path(saved)}; {display_path(folder)} is the starter again.")
    return 0
