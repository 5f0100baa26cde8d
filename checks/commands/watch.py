"""``watch [STAGE]``: run a stage's checks again whenever a file of it is edited."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

from watchfiles import PythonFilter, watch

from ..registry import REPO_ROOT
from .common import add_target_option, at_least_one, prepare, select

CLEAR_SCREEN = "\033[2J\033[H"
# What a student edits (code, SQL, settings), never what the code writes as it runs (a log file,
# say), nor caches and virtualenvs (watchfiles' own list).
EDITED = PythonFilter(extra_extensions=(".sql", ".ini", ".toml", ".cfg", ".json", ".yaml", ".yml", ".mako", ".env"))


def watch_command(argv: Sequence[str]) -> int:
    """Re-run the checks whenever a file in the stage changes."""
    parser = argparse.ArgumentParser(prog="python -m checks watch", description="Re-run the checks whenever you save a file.")
    parser.add_argument("stages", nargs="*", metavar="STAGE", help="stage ids (default: all; in a stage folder, its stage)")
    add_target_option(parser)
    parser.add_argument("--debounce", type=at_least_one, default=300, metavar="MS", help="wait this long for more changes (default 300)")
    args = parser.parse_args(argv)
    selection = select(args.stages, args.target)
    stages = selection.stages
    target = prepare(selection.target)
    folders = [target / stage.folder for stage in stages if (target / stage.folder).is_dir()]
    command = [sys.executable, "-m", "checks", *[s.id for s in stages], "--target", str(target)]
    clear = CLEAR_SCREEN if sys.stdout.isatty() else ""
    print(f"{clear}Watching {', '.join(str(f) for f in folders)} (Ctrl-C to stop)", flush=True)
    run_to_the_end(command)
    for changes in watch(*folders, debounce=args.debounce, watch_filter=EDITED):
        changed = sorted({path for _, path in changes})
        print(f"{clear}Changed: {', '.join(changed)}", flush=True)
        run_to_the_end(command)
    return 0


def run_to_the_end(command: list[str]) -> None:
    """Run the checks in a child process. Ctrl-C reaches the child too (the terminal signals the
    whole process group): wait, through any further Ctrl-C, while it drops its databases and stops
    the server it started (``subprocess.run`` would kill it after a quarter of a second)."""
    child = subprocess.Popen(command, cwd=REPO_ROOT)
    interrupted = False
    while True:
        try:
            child.wait()
            break
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        raise KeyboardInterrupt
