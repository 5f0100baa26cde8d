"""``grade SUBMISSIONS``: a whole class, each student in a process of their own.

One PostgreSQL server serves the batch. Every submission gets its own database role (allowed
to create databases, nothing more), so its code can neither read nor drop another student's
throwaway databases, and its own process, forked from a server process that imported the
workbook and its libraries before any submission was seen, with a working directory outside
the submission, so files the student ships (a ``conftest.py``, a ``checks/`` package,
``sitecustomize.py``, ``.pth`` files, pytest settings) never take part. The child writes its
results to a file; a child that hangs past the wall limit or dies leaves none, and the
student gets 0 with the reason.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from psycopg2 import sql

from ..db.server import Server, advisory_lock
from ..db.throwaway import drop_database
from ..registry import Stage, find_stage
from .runner import run_checks
from ..results import CheckResult

# Imported once by the process that children are forked from: what every grading run loads.
PRELOAD = ["checks.engine.runner", "checks.plugin", "checks.subject.http", "fastapi.testclient", "sqlalchemy.orm", "alembic.command", "alembic.autogenerate", "email_validator"]
LOG_TAIL = 2000


@dataclass
class Submission:
    """One student's folder and, if it has gradable work, the labs folder inside it."""

    student: str
    labs: Path | None
    status: str = "pending"
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> int:
        return sum(r.points for r in self.results)


def find_labs(folder: Path, stages: Sequence[Stage]) -> Path | None:
    """The folder holding stage folders: ``folder/labs`` (a repo copy) or ``folder`` (bare labs)."""
    for candidate in (folder / "labs", folder):
        if candidate.is_dir() and any((candidate / stage.folder).is_dir() for stage in stages):
            return candidate
    return None


def find_submissions(root: Path, stages: Sequence[Stage]) -> list[Submission]:
    return [Submission(path.name, find_labs(path, stages)) for path in sorted(root.iterdir()) if path.is_dir()]


def _zero(stages: Sequence[Stage], reason: str) -> list[CheckResult]:
    results = [CheckResult.for_check(check) for stage in stages for check in stage.checks]
    for result in results:
        result.status, result.reason = "failed", reason
    return results


class StudentRole:
    """A login role of its own for one submission: CREATEDB, not superuser."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.name = f"labstudent_{secrets.token_hex(4)}"
        self.password = secrets.token_urlsafe(16)

    def __enter__(self) -> str:
        self._admin(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(sql.Identifier(self.name), sql.Literal(self.password)))
        # The maintenance database is closed to PUBLIC now; this role still creates its own databases from it.
        self._admin(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(self.server.url.database), sql.Identifier(self.name)), locked=True)
        return self.server.url.set(username=self.name, password=self.password).render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        # End the role's sessions first: a killed child may have left a CREATE DATABASE running.
        role = sql.Literal(self.name)
        for _ in range(50):
            if not self._admin(sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}").format(role)):
                break
            time.sleep(0.1)
        owned = self._admin(sql.SQL("SELECT datname FROM pg_database WHERE datdba = {}::regrole").format(role))
        for (name,) in owned:
            drop_database(self.server, name)
        self._admin(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(sql.Identifier(self.server.url.database), sql.Identifier(self.name)), locked=True)
        self._admin(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.name)))

    def _admin(self, query: sql.Composable, locked: bool = False) -> list:
        conn = self.server.admin_connect()
        try:
            with conn.cursor() as cur, advisory_lock(cur) if locked else nullcontext():  # concurrent GRANTs on one row fail
                cur.execute(query)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


@dataclass
class Batch:
    """Grading settings and the processes still running (for a clean Ctrl-C)."""

    stages: Sequence[Stage]
    server: Server
    check_timeout: float | None = None
    wall: float = 600.0
    extra: Path | None = None
    running: set[multiprocessing.process.BaseProcess] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: bool = False

    def grade(self, submission: Submission) -> Submission:
        start = time.monotonic()
        if submission.labs is None:
            submission.status = "no gradable work found"
            submission.results = _zero(self.stages, "no gradable work found")
        else:
            with StudentRole(self.server) as url, tempfile.TemporaryDirectory(prefix="grade-") as workdir:
                submission.status, submission.results = self._run_child(submission.labs, url, Path(workdir))
        submission.seconds = time.monotonic() - start
        return submission

    def _run_child(self, labs: Path, url: str, workdir: Path) -> tuple[str, list[CheckResult]]:
        results_file, log_file = workdir / "results.json", workdir / "output.log"
        stage_ids = list(dict.fromkeys(s.id for s in self.stages if not s.hidden))
        args = (stage_ids, str(labs), self.check_timeout, str(self.extra) if self.extra else None, str(results_file))
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        env["DATABASE_URL"] = url
        child = _workers().Process(target=grade_one, args=(args, env, str(workdir), str(log_file)), daemon=True)
        with self.lock:
            if self.stopping:
                return "interrupted", _zero(self.stages, "grading was interrupted")
            child.start()
            self.running.add(child)
        try:
            child.join(self.wall)
            if child.exitcode is None:
                kill_group(child)
                return f"timed out after {self.wall:g} s", _zero(self.stages, f"the whole submission took longer than {self.wall:g} s")
        finally:
            with self.lock:
                self.running.discard(child)
        if results_file.exists():
            data = json.loads(results_file.read_text(encoding="utf-8"))
            return "ok", [CheckResult(**{k: v for k, v in r.items() if k != "points"}) for r in data["results"]]
        if self.stopping:
            return "interrupted", _zero(self.stages, "grading was interrupted")
        tail = _tail(log_file)
        reason = f"the grading process ended with exit code {child.exitcode} before reporting results"
        return "crashed", _zero(self.stages, f"{reason}: {tail}" if tail else reason)

    def stop(self) -> None:
        """Kill every running child (Ctrl-C)."""
        with self.lock:
            self.stopping = True
            for child in list(self.running):
                kill_group(child)


@cache
def _workers() -> multiprocessing.context.ForkServerContext:
    """Children are forked from a server process that has already imported the libraries every
    grading run needs (about a second per student saved), and nothing of any submission."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def grade_one(args: tuple, env: dict[str, str], workdir: str, log_file: str) -> None:
    """In a forked child: grade one submission in a session of its own, output to ``log_file``."""
    os.setsid()  # its own process group, so kill_group also ends whatever the student started
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(env)
    stage_ids, target, timeout, extra, results_file = args
    run = run_checks([find_stage(i) for i in stage_ids], Path(target), timeout=timeout, extra=Path(extra) if extra else None)
    if run.results:
        Path(results_file).write_text(json.dumps(run.as_json(Path(target))), encoding="utf-8")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def kill_group(child: multiprocessing.process.BaseProcess) -> None:
    for kill in (lambda: os.killpg(child.pid, signal.SIGKILL), child.kill):  # the group, or the child before setsid()
        try:
            kill()
        except ProcessLookupError:
            pass
    child.join()


def _tail(log_file: Path) -> str:
    with log_file.open("rb") as log:
        log.seek(max(0, log_file.stat().st_size - LOG_TAIL))
        lines = log.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:300] if lines else ""
