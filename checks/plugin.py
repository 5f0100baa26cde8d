"""The pytest plugin behind every check: target selection, throwaway databases, time limits.

Loaded by the root ``conftest.py``, so ``pytest checks --target solutions`` works as well as
``python -m checks``. Each test function ``test_<id>`` in ``checks/stageNN/`` is the check
``<id>`` of that stage's ``stage.toml``.

(PYTEST_DONT_REWRITE: the CLI imports this module before pytest starts.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.outcomes import Failed

from .commands.common import resolve_target
from .db.server import Server, SetupError, configured_url, get_server
from .db.throwaway import ThrowawayDatabase, create_database, drop_stale
from .subject.loader import StudentCodeError, describe_exception, import_from_stage, stage_imports, stop_stray_threads
from .registry import Check, Stage, load_stages, stage_for_path

CHECK = pytest.StashKey[Check]()
STAGE = pytest.StashKey[Stage]()
STAGE_DIR = pytest.StashKey[Path]()
REASON = "reason"
TIMEOUT_MESSAGE = "Timeout (>"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("checks", "workbook checks")
    group.addoption(
        "--target",
        default="labs",
        help="folder holding the stage folders to grade: labs (default), solutions, or a path",
    )
    group.addoption(
        "--extra-checks",
        default=None,
        help="a folder of instructor-only checks in the same layout (stageNN/stage.toml + test_*.py)",
    )
    group.addoption(
        "--check-timeout",
        type=float,
        default=None,
        help="seconds each check may take (default: the registry's value per check)",
    )


def stages_of(config: pytest.Config) -> tuple[Stage, ...]:
    """The workbook's stages, plus the instructor's hidden ones when --extra-checks is given."""
    extra = config.getoption("extra_checks")
    return load_stages() + (load_stages(Path(extra)) if extra else ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tie each check function to its registry entry, give it a time limit, order as listed."""
    for item in items:
        stage = stage_for_path(Path(str(item.path)), stages_of(config))
        if stage is None or not item.name.startswith("test_"):
            continue
        check_id = getattr(item, "originalname", item.name).removeprefix("test_")
        check = next((c for c in stage.checks if c.id == check_id), None)
        if check is None:
            raise pytest.UsageError(f"{item.nodeid} has no entry in {stage.checks_dir / 'stage.toml'}")
        item.stash[CHECK] = check
        item.stash[STAGE] = stage
        seconds = config.getoption("check_timeout") or check.timeout
        item.add_marker(pytest.mark.timeout(seconds, method="signal"))
    items.sort(key=_registry_order)


def _registry_order(item: pytest.Item) -> tuple[str, int]:
    if CHECK not in item.stash:
        return ("~", 0)  # not a check: keep after the checks, in collection order (sort is stable)
    return (item.stash[STAGE].id, item.stash[STAGE].checks.index(item.stash[CHECK]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Attach a one-line, student-readable reason to every failed check."""
    report = yield
    if CHECK in item.stash and report.failed and call.excinfo is not None:
        stage_dir = item.stash.get(STAGE_DIR, None) or Path.cwd()
        report.user_properties.append((REASON, failure_reason(call.excinfo.value, stage_dir, item.stash[CHECK])))
    return report



def failure_reason(exc: BaseException, stage_dir: Path, check: Check) -> str:
    """What went wrong, in one line: the assertion message, the timeout, or the student's error."""
    if isinstance(exc, Failed):
        message = str(exc)
        if message.startswith(TIMEOUT_MESSAGE):
            seconds = message.removeprefix(TIMEOUT_MESSAGE).split("s", 1)[0]
            return f"took longer than {seconds} s and was stopped (an endless loop, or waiting on something that never comes?)"
        return message.strip().splitlines()[0] if message.strip() else "failed"
    if isinstance(exc, AssertionError):
        lines = str(exc).strip().splitlines()
        return lines[0] if lines else "assertion failed"
    return describe_exception(exc, stage_dir)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Path:
    """The folder being graded."""
    path = resolve_target(request.config.getoption("target"))
    if not path.is_dir():
        pytest.exit(f"target {path} is not a folder; use --target labs, solutions or a path", returncode=2)
    return path


@pytest.fixture(scope="session")
def lab_server() -> Server:
    """The PostgreSQL server of this run (embedded unless DATABASE_URL is set)."""
    try:
        server = get_server()
        if server.embedded:
            drop_stale(server)
        return server
    except SetupError as exc:
        pytest.exit(str(exc), returncode=2)


@pytest.fixture(scope="session")
def run_database(lab_server: Server) -> Iterator[ThrowawayDatabase]:
    """The throwaway database of this run, emptied before every check."""
    try:
        database = create_database(lab_server, purpose="check")
    except SetupError as exc:
        pytest.exit(str(exc), returncode=2)
    yield database
    database.drop()


@pytest.fixture
def database(run_database: ThrowawayDatabase, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThrowawayDatabase]:
    """An empty database for one check; ``DATABASE_URL`` points at it while the check runs."""
    run_database.reset()
    monkeypatch.setenv("DATABASE_URL", run_database.url)
    try:
        yield run_database
    finally:
        run_database.close_connections()


@pytest.fixture
def stage(request: pytest.FixtureRequest) -> Stage:
    found = request.node.stash.get(STAGE, None) or stage_for_path(Path(str(request.node.path)), stages_of(request.config))
    if found is None:
        raise LookupError(f"{request.node.nodeid} is not a check of any stage")
    return found


@pytest.fixture
def stage_dir(request: pytest.FixtureRequest, target: Path, stage: Stage) -> Path:
    """``<target>/<stage folder>``: where the code under test lives."""
    path = target / stage.folder
    request.node.stash[STAGE_DIR] = path
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the target has no folder for stage {stage.id}", pytrace=False)
    return path


@pytest.fixture
def load(stage_dir: Path, database: ThrowawayDatabase) -> Iterator[Callable[[str], ModuleType]]:
    """Import modules of the target's stage folder, fresh and isolated; purged afterwards,
    and any thread still running them is stopped."""
    with stage_imports(stage_dir):

        def _load(name: str) -> ModuleType:
            try:
                return import_from_stage(name, stage_dir)
            except StudentCodeError as exc:
                pytest.fail(str(exc), pytrace=False)

        yield _load
        stop_stray_threads(stage_dir)


def pytest_report_header(config: pytest.Config) -> str:
    return f"checks target: {resolve_target(config.getoption('target'))}; DATABASE_URL {'set' if configured_url() else 'unset (embedded PostgreSQL)'}"
