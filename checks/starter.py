"""The starter as the workbook ships it, read from git.

The starter is ``labs/`` as of the newest commit that changed the workbook itself (``checks/``,
``solutions/`` or ``tests/``): a student's own commits change only ``labs/``, so work committed
(and pushed, as GitHub Classroom asks) never becomes the starter, and an update of the workbook
merged in brings its new starter. ``reset`` restores from it; the workbook's tests prove every
check fails on it. A merge's ``labs/`` is never read, so the workbook's own history must not end
in a merge of branches that changed ``labs/``: a commit of the workbook after it (or a rebase)
makes the merged starter the starter (``test_labs_mirror_solutions_file_by_file`` fails until then).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

WORKBOOK_PATHS = ("checks", "solutions", "tests")


class NoStarter(Exception):
    """The workbook is not a git checkout of its own, so its starter cannot be read."""


def _git(repo: Path, *args: str, failure: str = "") -> str:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise NoStarter(failure or f"{repo} is not a git checkout of the workbook") from None


def starter_commit(repo: Path) -> str:
    """The commit whose ``labs/`` is the starter (merges skipped: their ``labs/`` holds the student's work)."""
    if Path(_git(repo, "rev-parse", "--show-toplevel")).resolve() != repo.resolve():
        raise NoStarter(f"{repo} is not the top of its git checkout")
    commit = _git(repo, "log", "-1", "--no-merges", "--format=%H", "--", *WORKBOOK_PATHS)
    if not commit:
        raise NoStarter(f"no commit of {repo} holds the workbook's {', '.join(WORKBOOK_PATHS)}")
    return commit


def locate(repo: Path, folder: Path) -> tuple[str, str]:
    """The starter commit and ``folder``'s path in it (a stage folder in ``labs/``); NoStarter
    when that commit has no such folder."""
    commit = starter_commit(repo)
    relative = folder.resolve().relative_to(repo.resolve()).as_posix()
    _git(repo, "cat-file", "-e", f"{commit}:{relative}", failure=f"the starter (commit {commit[:10]}) has no {relative}")
    return commit, relative


def restore(repo: Path, located: tuple[str, str]) -> None:
    """Write the starter's files of a stage folder (as :func:`locate` found them) into the working
    tree, leaving the index alone: ``git status`` then shows the reset as a change of the student's."""
    commit, relative = located
    _git(repo, "restore", f"--source={commit}", "--worktree", "--", relative, failure=f"git could not restore {relative}")


def archive(repo: Path) -> bytes:
    """The starter's ``labs/`` as a tar archive."""
    commit = starter_commit(repo)
    try:
        return subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit, "labs"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise NoStarter(f"the starter commit {commit[:10]} of {repo} has no labs/") from None
