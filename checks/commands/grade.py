"""``grade SUBMISSIONS``: a whole class, each student in a process of their own, with exports."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path

from ..db.roles import drop_stale
from ..db.server import Server, connection_room, get_server
from ..engine import sandbox
from ..engine.batch import (
    SESSIONS_PER_STUDENT,
    Batch,
    Submission,
    find_submissions,
    is_folder,
    machine_made,
)
from ..errors import EXIT_INTERRUPTED, UsageError
from ..registry import Stage, find_labs, load_stages
from ..reporting import exports, terminal
from .common import at_least_one, checks_folder, seconds, select_stages

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".7z")
HEARING = 0.2  # seconds between two looks for a Ctrl-C while the batch grades


class Progress:
    """A bar of the submissions graded so far, on stderr when it is a terminal."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.line = total, 0, terminal.Progress(sys.stderr)

    def advance(self, submission: Submission) -> None:
        self.done += 1
        filled = 30 * self.done // max(self.total, 1)
        self.line.show(f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {submission.student}")

    def clear(self) -> None:
        self.line.clear()


def grade_command(argv: Sequence[str]) -> int:
    """Grade a folder of submissions (one subfolder per student), in parallel, with exports."""
    parser = argparse.ArgumentParser(prog="python -m checks grade", description=grade_command.__doc__)
    parser.add_argument("submissions", type=Path, help="a folder with one subfolder per student")
    parser.add_argument("--stage", action="append", default=[], metavar="STAGE", help="grade only this stage (repeatable)")
    parser.add_argument("--jobs", type=at_least_one, default=os.cpu_count() or 1, help="submissions graded at once (default: cores)")
    parser.add_argument("--timeout", type=seconds, metavar="S", help="seconds each check may take")
    parser.add_argument("--wall", type=seconds, default=600, metavar="S", help="seconds a whole submission may take (default 600)")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="where to write the exports (default grades/)")
    parser.add_argument("--extra-checks", type=checks_folder, metavar="DIR", help="instructor-only checks, reported separately")
    parser.add_argument(
        "--sandbox", choices=("auto", "require", "off"), default="auto",
        help="run student code in a bubblewrap sandbox: auto (default: when this machine can), require, off",
    )
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a folder of submissions")
    stages = select_stages(args.stage)
    out = args.out.resolve()
    root = args.submissions.resolve()
    if out == root or (root in out.parents and (out.parent != root or find_labs(out, stages))):  # exports in a student's work
        raise UsageError(f"--out {args.out} lies in the submissions' own folders; name a folder beside them (or a new one in {args.submissions})")
    skip = {out, *earlier_exports(args.submissions, stages)}  # grades/ may lie among the students
    submissions = find_submissions(args.submissions, stages, skip)
    if not submissions:
        raise UsageError(nothing_to_grade(args.submissions, skip))
    extra = args.extra_checks
    hidden = [s for s in (load_stages(extra) if extra else ()) if s.id in {st.id for st in stages}]
    everything = list(stages) + hidden
    _prepare_out(out, args.out)  # before any grading: the class's results must have somewhere to go
    hide = [root, out, *([extra] if extra else [])]
    server = get_server()
    if server.embedded:
        drop_stale(server)
    batch = Batch(everything, server, args.timeout, args.wall, extra, sandbox.resolve(args.sandbox), hide)
    jobs = jobs_the_server_takes(server, min(args.jobs, len(submissions)))
    with ctrl_c_noted() as heard:
        interrupted = _grade_all(batch, submissions, jobs, heard)
        finished = [s for s in submissions if s.status not in ("pending", "interrupted")]
        kept = exports.write_all(args.out, finished, everything)
    print(exports.summary(finished, everything, args.out))
    if loose := loose_files(args.submissions, skip):
        print("; ".join(filter(None, [f"not graded, as they are not folders: {', '.join(loose)}", unpack_advice(loose)])))
    if kept:
        print(f"The grades.csv of the earlier run there is kept as {kept.name}.")
    if interrupted:
        print(f"interrupted: {len(finished)} of {len(submissions)} submissions graded; their results are in {args.out}")
        return EXIT_INTERRUPTED
    return 0


def jobs_the_server_takes(server: Server, wanted: int) -> int:
    """``wanted``, or fewer when the server has no room for that many students' sessions at once
    (PostgreSQL's "too many clients" would fail checks of correct work); says so once."""
    room = connection_room(server)
    fits = max(1, room // SESSIONS_PER_STUDENT)
    if fits >= wanted:
        return wanted
    print(
        f"note: grading {fits} at a time, not {wanted}: the server has room for {room} more sessions and each student's "
        f"checks may hold {SESSIONS_PER_STUDENT} (raise max_connections to grade more at once)", file=sys.stderr,
    )
    return fits


@contextmanager
def ctrl_c_noted() -> Iterator[list[int]]:
    """Within, Ctrl-C (SIGINT) raises nothing: each one is noted in the list given, for the grading
    to stop on, and no second one cuts the clean stop or the exports short. After one, the process
    goes on ignoring them (its exit handlers drop databases and stop the server); a process that
    ignored them on entry (a background job) goes on doing so."""
    heard: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, lambda signum, _frame: heard.append(signum))
    try:
        yield heard
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if heard else previous)


def _grade_all(batch: Batch, submissions: Sequence[Submission], jobs: int, heard: Sequence[int]) -> bool:
    """Grade the submissions, ``jobs`` at a time, until all are done or a Ctrl-C is ``heard``; then
    stop the checkers still running. Whether it stopped before the end."""
    progress = Progress(len(submissions))
    pool = ThreadPoolExecutor(max_workers=jobs)
    pending = {pool.submit(batch.grade, submission) for submission in submissions}
    try:
        while pending and not heard:
            done, pending = wait(pending, timeout=HEARING, return_when=FIRST_COMPLETED)
            for future in done:
                progress.advance(future.result())
        if pending:
            batch.stop()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        batch.close()
        progress.clear()
    return bool(pending)


def _prepare_out(out: Path, given: Path) -> None:
    """Make the ``--out`` folder, or a UsageError that says why it cannot hold the results."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {given} is a file; name a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {given}: cannot make that folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out {given}: that folder is not writable")


def earlier_exports(folder: Path, stages: Sequence[Stage]) -> set[Path]:
    """The folders in ``folder`` that hold an earlier run's exports and no stage folder: never a student's."""
    return {path.resolve() for path in folder.iterdir() if is_folder(path) and exports.holds_exports(path) and not find_labs(path, stages)}


def loose_files(folder: Path, skip: Collection[Path]) -> list[str]:
    """The names of what lies in ``folder`` and is not a folder (files, archives, symlinks), but for
    archives unpacked beside themselves (``ada.zip`` next to a student's folder ``ada``)."""
    folders = {path.name for path in folder.iterdir() if is_folder(path) and path.resolve() not in skip}
    return sorted(path.name for path in folder.iterdir() if not is_folder(path) and not machine_made(path.name) and _unpacked_name(path.name) not in folders)


def _unpacked_name(name: str) -> str | None:
    """The folder that the archive ``name`` unpacks into (``ada.tar.gz``: ``ada``); None for another file."""
    suffix = next((suffix for suffix in ARCHIVES if name.endswith(suffix)), None)
    return name.removesuffix(suffix) if suffix else None


def unpack_advice(names: Sequence[str]) -> str:
    """The advice to unpack the archives among ``names``; nothing when there is none."""
    return "unpack each archive into a folder of its own" if any(_unpacked_name(name) for name in names) else ""


def nothing_to_grade(folder: Path, skip: Collection[Path]) -> str:
    """Why a folder of submissions holds no student (the folders ``skip``, exports, aside), and what to do."""
    wanted = "one folder per student, with a copy of their repository or of its labs/"
    files = loose_files(folder, skip)
    if not files:
        return f"{folder} is empty; it should hold {wanted}"
    named = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
    unpack = f"{advice}: " if (advice := unpack_advice(files)) else ""
    return f"{folder} holds no student folders, only files ({named}); {unpack}it should hold {wanted}"
