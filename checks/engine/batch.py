"""Grading a class: every submission checked by a trusted process, its code run apart from it.

For each student the batch makes a private copy of the stage folders (regular files only),
a database role of the student's own, and a *checker* process: forked from a server process
that imported the workbook before any submission was seen, it runs the checks (pytest), which
run the student's code in *subjects* (separate processes, in a sandbox when one is available)
and never import it themselves. The checker streams one JSON line per finished check to a
file the student's code cannot reach; the batch accepts only check ids the registry knows and
statuses it knows, takes points, titles and hints from the registry, and turns anything it
cannot read into "crashed" for that student alone.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import psutil
import psycopg2

from ..db.roles import CONNECTION_LIMIT, StudentRole
from ..db.server import Server
from ..errors import SetupError
from ..registry import Stage, find_labs, find_stage, libraries_of
from ..results import CheckResult
from . import tempdirs
from .host import SubjectHost
from .processes import kill_tree, watch
from .runner import run_checks

# Imported once by the process that checkers are forked from: what every grading run loads.
PRELOAD = ["checks.engine.runner", "checks.plugin", "checks.engine.subject", "sqlalchemy.orm", "psycopg2"]
STATUSES = frozenset({"passed", "failed"})
REASON_LIMIT = 300
COPY_LIMIT = 50 * 1024 * 1024  # bytes of a submission copied for grading; the rest is left out
FILE_LIMIT = 20_000  # files of a submission copied for grading
# Never copied for grading, as none is the student's code: folders of tools, caches and archivers,
# a virtualenv's or conda environment's folder (it holds ``pyvenv.cfg`` or ``conda-meta``), macOS
# metadata (``._name`` beside each file of an archive made on a Mac: Alembic would load those in
# versions/), and ``.env``: a run sets DATABASE_URL itself, and a student's own settings (their
# password, a server of their own) never take part, sandboxed or not.
NEVER_COPIED = frozenset({"__pycache__", ".git", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "__MACOSX", "site-packages"})
ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")
NEVER_COPIED_FILES = frozenset({".env", ".DS_Store"})
# Sessions one student's grading may hold at once: its role's limit, and the checker's own (per
# stage a database with an admin session and a few connections; about 15 measured at the peak).
SESSIONS_PER_STUDENT = CONNECTION_LIMIT + 16
NO_WORK = "no gradable work found"  # the status of a student's folder without stage folders


@dataclass
class Submission:
    """One student's folder and, if it has gradable work, the labs folder inside it."""

    student: str
    labs: Path | None
    status: str = "pending"
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    problem: str = ""  # when it "crashed" or has no gradable work: why, in one line
    left_out: int = 0  # files of its stage folders not copied for grading (over the limits, or unreadable)

    @property
    def score(self) -> int:
        return sum(r.points for r in self.results)


def find_submissions(root: Path, stages: Sequence[Stage], skip: Collection[Path] = ()) -> list[Submission]:
    """A submission per folder in ``root`` (symlinks and the folders in ``skip``, exports, left out)."""
    folders = [path for path in sorted(root.iterdir()) if is_folder(path) and path.resolve() not in skip]
    return [submission_in(path, stages) for path in folders]


def is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder that may be a student's: a symlink never is (it could point at
    a classmate's), nor a hidden one (``.git``) or the ``__MACOSX`` that a Mac's zip adds."""
    return path.is_dir() and not path.is_symlink() and not machine_made(path.name)


def machine_made(name: str) -> bool:
    """A name of the machine's, not of a student's work: ``.git``, ``.DS_Store``, ``__MACOSX``."""
    return name.startswith(".") or name == "__MACOSX"


def submission_in(folder: Path, stages: Sequence[Stage]) -> Submission:
    """The submission of a student's folder; without gradable work, where the grader looked is its problem."""
    labs = find_labs(folder, stages)
    return Submission(text_of(folder.name), labs, problem="" if labs else text_of(where_looked(folder, stages)))


def text_of(name: str) -> str:
    """A file name as text that can be written anywhere: bytes that are not UTF-8 (a zip made on
    Windows, say) as ``\\xe9``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def where_looked(folder: Path, stages: Sequence[Stage]) -> str:
    """Where a student's stage folders were looked for, in one line, naming a ``labs/`` deeper
    down when there is exactly one (a repository unpacked into a folder of its own)."""
    names = ", ".join(dict.fromkeys(stage.folder for stage in stages))
    said = f"looked for {names} in {folder.name}/labs/ and {folder.name}/"
    deeper = nested_labs(folder, stages)
    return said + (f"; found {folder.name}/{deeper[0].relative_to(folder)}: move it up?" if len(deeper) == 1 else "")


def nested_labs(folder: Path, stages: Sequence[Stage]) -> list[Path]:
    """The ``labs/`` folders with a stage folder one or two levels below ``folder``, none through a symlink."""
    inside = folder.resolve()
    found = [path for pattern in ("*/labs", "*/*/labs") for path in sorted(folder.glob(pattern)) if not any(map(machine_made, path.relative_to(folder).parts))]
    return [path for path in found if path.resolve() == inside / path.relative_to(folder) and find_labs(path.parent, stages) == path]


def private_copy(labs: Path, stages: Sequence[Stage], destination: Path) -> int:
    """Copy the stage folders of ``labs`` to ``destination``: regular files and folders, and a
    symlink to a file only when that file lies in ``labs`` too (one elsewhere could be a
    classmate's work), none of what is never copied, at most ``FILE_LIMIT`` files and
    ``COPY_LIMIT`` bytes: Python files first, the least deep and then the smallest first. The
    number of files (or folders) left out: over the limits, symlinks out of ``labs``, or unreadable."""
    destination.mkdir(parents=True, exist_ok=True)
    inside = os.path.realpath(labs) + os.sep
    found: list[tuple[bool, int, int, Path, str]] = []  # (not Python, depth, size, path relative to labs, the file to read)
    left_out: list[object] = []  # unreadable files and folders, symlinked folders, symlinks out of labs
    for folder in dict.fromkeys(stage.folder for stage in stages):
        source = labs / folder
        if not source.is_dir() or source.is_symlink():
            continue
        for root, folders, files in os.walk(source, onerror=left_out.append):  # never into a symlinked folder
            here = Path(root)
            left_out += [name for name in folders if os.path.islink(here / name)]
            folders[:] = sorted(name for name in folders if name not in NEVER_COPIED and not _environment(here / name))
            (destination / here.relative_to(labs)).mkdir(parents=True, exist_ok=True)
            for name in files:
                if name in NEVER_COPIED_FILES or name.startswith("._"):
                    continue
                path = here / name
                link = os.path.islink(path)
                real = os.path.realpath(path) if link else str(path)
                try:
                    info = os.stat(real, follow_symlinks=False)
                except OSError:  # unreadable, or a link to nothing
                    left_out.append(name)
                    continue
                if link and not real.startswith(inside):
                    left_out.append(name)
                    continue
                if not stat.S_ISREG(info.st_mode):  # a pipe, a socket: nothing to grade
                    continue
                relative = path.relative_to(labs)
                found.append((not name.endswith(".py"), len(relative.parts), info.st_size, relative, real))
    budget, copied = COPY_LIMIT, 0
    for *_, size, relative, real in sorted(found):
        if copied == FILE_LIMIT:
            break
        if size > budget:
            continue
        try:
            shutil.copyfile(real, destination / relative, follow_symlinks=False)
        except OSError:  # unreadable (a grader that is not root)
            continue
        budget, copied = budget - size, copied + 1
    return len(left_out) + len(found) - copied


def _environment(folder: Path) -> bool:
    """Whether ``folder`` is a virtualenv or a conda environment (unreadable: no)."""
    return any(os.path.lexists(folder / marker) for marker in ENVIRONMENT_MARKERS)


def _zero(stages: Sequence[Stage], reason: str) -> list[CheckResult]:
    results = [CheckResult.for_check(check) for stage in stages for check in stage.checks]
    for result in results:
        result.status, result.reason = "failed", reason
    return results


def read_results(results_file: Path, stages: Sequence[Stage], secrets: Sequence[str]) -> dict[str, CheckResult]:
    """The checker's lines, trusted for nothing but a known check's status and reason: points,
    titles, hints and hidden flags come from the registry. Secrets never reach a reason."""
    known = {(check.key, check.hidden): check for stage in stages for check in stage.checks}
    results: dict[str, CheckResult] = {}
    for line in results_file.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        check = known.get((f"{data['stage']}.{data['check']}", bool(data["hidden"])))
        if check is None or data["status"] not in STATUSES:
            raise ValueError(f"unexpected result line: {line[:100]}")
        result = CheckResult.for_check(check)
        result.status = data["status"]
        result.reason = scrub(str(data["reason"]), secrets)
        result.duration = float(data["duration"])
        results[f"{check.key}.{check.hidden}"] = result
    return results


# libpq names the grader's socket (a long path) before what went wrong: the reason's room is for the latter.
SOCKET_FAILED = re.compile(r'connection to server on socket "[^"]*" failed: ')


def scrub(text: str, secrets: Sequence[str]) -> str:
    """A reason as exports show it: no secret, one line, the grader's socket path left out, capped."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = SOCKET_FAILED.sub("connection to the server failed: ", " ".join(text.split()))
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


@dataclass
class Batch:
    """Grading settings and the checkers still running (for a clean Ctrl-C)."""

    stages: Sequence[Stage]
    server: Server
    check_timeout: float | None = None
    wall: float = 600.0
    extra: Path | None = None
    sandbox: bool = False
    hide: Sequence[Path] = ()  # folders no student's code may see (the class, the exports, hidden checks)
    running: dict[multiprocessing.process.BaseProcess, psutil.Process | None] = field(default_factory=dict)  # each checker, watched
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: bool = False
    host: SubjectHost | None = None  # without a sandbox: one subject host for every submission

    def _host_options(self) -> list[str]:
        if self.sandbox:
            return []
        with self.lock:
            if self.host is None:
                self.host = SubjectHost().start(libraries_of(self.stages))
            return ["--subject-host", str(self.host.ready().socket_path)]

    def close(self) -> None:
        """Stop the subject host, if one was started; remove the temporary folders that the checkers
        killed (by Ctrl-C or the wall) left."""
        if self.host is not None:
            self.host.close()
            self.host = None
        tempdirs.remove_stale()

    def grade(self, submission: Submission) -> Submission:
        start = time.monotonic()
        if submission.labs is None:
            submission.status = NO_WORK
            submission.results = _zero(self.stages, NO_WORK)
        else:
            try:
                role = StudentRole(self.server)
                with role, tempfile.TemporaryDirectory(prefix=tempdirs.prefix("grade")) as workdir:
                    work = Path(workdir)
                    work.chmod(0o711)  # a sandbox's user must reach the student's copy inside
                    target = work / "labs"
                    submission.left_out = private_copy(submission.labs, self.stages, target)
                    submission.status, submission.results, submission.problem = self._check(target, role, work)
            except (psycopg2.Error, SetupError, OSError) as exc:  # this student alone; the batch goes on
                said = " ".join(str(exc).split())[:200]
                submission.problem = f"grading could not run: {type(exc).__name__}: {said}"
                submission.status, submission.results = "crashed", _zero(self.stages, submission.problem)
        submission.seconds = time.monotonic() - start
        return submission

    def _check(self, target: Path, role: StudentRole, work: Path) -> tuple[str, list[CheckResult], str]:
        """Run the checker on a student's copy: the status, the results, and what went wrong if anything did."""
        results_file, log_file = work / "results.jsonl", work / "checker.log"
        results_file.touch()
        options = ["--subject-role", role.name, *(["--sandbox"] if self.sandbox else self._host_options())]
        options += [arg for path in self.hide for arg in ("--sandbox-hide", str(path))]
        stage_ids = list(dict.fromkeys(s.id for s in self.stages if not s.hidden))
        job = CheckerJob(stage_ids, str(target), self.check_timeout, str(self.extra) if self.extra else None, str(results_file), options)
        env = dict(os.environ, DATABASE_URL=self.server.url.render_as_string(hide_password=False), LAB_SUBJECT_PASSWORD=role.password)
        child = _checkers().Process(target=run_checker, args=(job, env, str(work), str(log_file)), daemon=True)
        with self.lock:
            if self.stopping:
                return "interrupted", _zero(self.stages, "grading was interrupted"), ""
            child.start()
            self.running[child] = watch(child.pid)  # the forkserver's child, reaped there: its pid is reused once it ends
        try:
            child.join(self.wall)
            timed_out = child.exitcode is None
            if timed_out:
                kill_tree(self.running[child])
                child.join()
        finally:
            with self.lock:
                self.running.pop(child, None)
        if self.stopping:
            return "interrupted", _zero(self.stages, "grading was interrupted"), ""
        secrets = [role.password, self.server.url.password or ""]
        try:
            found = read_results(results_file, self.stages, secrets)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problem = f"the checker's results could not be read ({type(exc).__name__})"
            return "crashed", _zero(self.stages, problem), problem
        if timed_out:
            status, missing = f"timed out after {self.wall:g} s", f"not run: the whole submission took longer than {self.wall:g} s"
        elif child.exitcode != 0:
            status, missing = "crashed", scrub(f"the checker stopped with exit code {child.exitcode}: {_tail(log_file)}", secrets)
        else:
            status, missing = "ok", "not run"
        results = []
        for result in _zero(self.stages, missing):
            results.append(found.get(f"{result.stage}.{result.check}.{result.hidden}", result))
        if status == "ok" and len(found) < len(results):
            status, missing = "crashed", f"the checker reported {len(found)} of {len(results)} checks"
        return status, results, missing if status == "crashed" else ""  # "timed out after N s" says it all

    def stop(self) -> None:
        """Kill every running checker and what it started (Ctrl-C)."""
        with self.lock:
            self.stopping = True
            for checker in list(self.running.values()):
                kill_tree(checker)


@dataclass(frozen=True)
class CheckerJob:
    stage_ids: list[str]
    target: str
    timeout: float | None
    extra: str | None
    results_file: str
    options: list[str]


@cache
def _checkers() -> multiprocessing.context.ForkServerContext:
    """Checkers are forked from a server process that has already imported the libraries every
    grading run needs, and nothing of any submission."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def run_checker(job: CheckerJob, env: dict[str, str], workdir: str, log_file: str) -> None:
    """In a forked child: check one submission, in a session of its own, output to ``log_file``."""
    os.setsid()  # its own process group, so kill_tree also ends whatever it started
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(env)
    lines = open(job.results_file, "a", encoding="utf-8")  # noqa: SIM115 (open until the process ends)

    def record(result: CheckResult, done: int, total: int) -> None:
        fields = {"stage": result.stage, "check": result.check, "hidden": result.hidden, "status": result.status, "reason": result.reason, "duration": result.duration}
        lines.write(json.dumps(fields) + "\n")
        lines.flush()

    run = run_checks(
        [find_stage(i) for i in job.stage_ids], Path(job.target), timeout=job.timeout,
        extra=Path(job.extra) if job.extra else None, on_result=record, options=job.options,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if run.results and not run.aborted else 3)


def _tail(log_file: Path) -> str:
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""
