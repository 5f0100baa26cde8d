"""The pytest plugin behind every check: options, and the fixtures a check asks for.

Loaded by the root ``conftest.py``, so ``pytest checks --target solutions`` works as well as
``python -m checks``. Each test function ``test_<id>`` in ``checks/stageNN/`` is the check
``<id>`` of that stage's ``stage.toml``. Checks never import the target's code: they ask a
:class:`~checks.engine.subject.Copy` of it (the ``subject`` fixture) and read the database
themselves (the ``database`` fixture).

(PYTEST_DONT_REWRITE: the CLI imports this module before pytest starts.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from .commands.common import checks_folder, resolve_target, seconds, target_stage_folder
from .db.roles import drop_stale
from .db.server import Server, get_server
from .db.throwaway import ThrowawayDatabase
from .engine import tempdirs
from .engine.collector import CHECK, PRINTED, REASON, STAGE, failure_reason
from .engine.host import Contained, SubjectHost
from .engine.parallel import STUCK_SPOTS
from .engine.relay import SocketRelay
from .engine.stage_runs import StageRuns
from .engine.subject import IMPORT_TIMEOUT, Copy, Subject, SubjectFailure, socket_folder
from .engine.zygote import Launcher, plain_launcher
from .errors import SetupError
from .registry import (
    CHECKS_ROOT,
    Stage,
    display_path,
    libraries_of,
    load_stages,
    stage_for_path,
)

# pytest-timeout only guards the checker itself; the check's own limit is enforced on the subject.
BACKSTOP = 30.0
SANDBOX_HOST = pytest.StashKey[SubjectHost]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("checks", "workbook checks")
    group.addoption("--target", default="labs", help="folder holding the stage folders to grade: labs (default), solutions, or a path")
    group.addoption("--extra-checks", type=checks_folder, default=None, help="a folder of instructor-only checks in the same layout (stageNN/stage.toml + test_*.py)")
    group.addoption("--check-timeout", type=seconds, default=None, help="seconds each check may take (default: the registry's value per check)")
    group.addoption("--subject-role", default=None, help="the database role the target's code logs in as (password in $LAB_SUBJECT_PASSWORD); the run's database is made for it")
    group.addoption("--sandbox", action="store_true", help="run the target's code in a bubblewrap sandbox")
    group.addoption("--subject-host", default=None, metavar="SOCKET", help="a running subject host to start stages from (ignored with --sandbox)")
    group.addoption("--sandbox-hide", action="append", default=[], metavar="PATH", help="a folder the sandbox must not show (repeatable)")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remove the temporary folders that killed checkers left. With --sandbox: start the target's
    sandbox now, a subject host that imports the libraries while the checks are collected.
    (Before any process of a run's stages is forked: they all start their subjects from it.)"""
    tempdirs.remove_stale()
    config = session.config
    target, only = graded_target(config)
    if only is not None and only not in _stages_named(config):
        raise pytest.UsageError(f"--target {config.getoption('target')} is the folder of stage {only.id}, whose checks are not among those named")
    if not config.getoption("sandbox") or not target.is_dir():
        return
    hide = [Path(path) for path in config.getoption("sandbox_hide")]
    try:
        # A network only for a server over TCP: one on a unix socket is reached through the relay.
        over_tcp = socket_folder(get_server().url.render_as_string(hide_password=False)) is None
        host = SubjectHost(contained=Contained(target, hide, share_network=over_tcp))
        config.stash[SANDBOX_HOST] = host.start(libraries_of(_stages_named(config)))
    except SetupError as exc:
        pytest.exit(str(exc), returncode=2)


def graded_target(config: pytest.Config) -> tuple[Path, Stage | None]:
    """The folder holding the stage folders, and the one stage to check when ``--target`` names a
    stage's own folder (``--target labs/01_psycopg2``: stage 01 of ``labs``), as the CLI reads it."""
    given = target_stage_folder(config.getoption("target"))
    if given is not None:
        return given[1].parent, given[0]
    return resolve_target(config.getoption("target")), None


def names_only_checks(config: pytest.Config) -> bool:
    """Whether every path on the command line lies in ``checks/`` or the --extra-checks folder: a
    run that grades (``pytest checks --target ...``), not the workbook's own suite."""
    extra = config.getoption("extra_checks")
    roots = [CHECKS_ROOT, *([extra] if extra else [])]
    return all(any(path.resolve().is_relative_to(root) for root in roots) for path in _paths_named(config))


def _paths_named(config: pytest.Config) -> list[Path]:
    """The files and folders the command line names (its ``path::test`` ids too)."""
    return [config.invocation_params.dir / arg.split("::")[0] for arg in config.args]


def _stages_named(config: pytest.Config) -> list[Stage]:
    """The workbook's stages whose checks the command line names (all, when it names none)."""
    named = {stage_for_path(path) for path in _paths_named(config)}
    return [stage for stage in load_stages() if stage in named] or list(load_stages())


def pytest_collection_finish(session: pytest.Session) -> None:
    """Wait for the sandbox's host here, once, before a run forks its stages' processes (they
    would share the pipe on which it says it is ready)."""
    host = session.config.stash.get(SANDBOX_HOST, None)
    if host is not None:
        with contextlib.suppress(OSError):  # then every subject says it could not start
            host.ready()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the sandbox (in the process that started it, after every stage's process ended)."""
    host = config.stash.get(SANDBOX_HOST, None)
    if host is not None:
        host.close()


def stages_of(config: pytest.Config) -> tuple[Stage, ...]:
    """The workbook's stages, plus the instructor's hidden ones when --extra-checks is given."""
    extra = config.getoption("extra_checks")
    return load_stages() + (load_stages(Path(extra)) if extra else ())


def check_timeout(config: pytest.Config, item: pytest.Item) -> float:
    return config.getoption("check_timeout") or item.stash[CHECK].timeout


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
        item.add_marker(pytest.mark.timeout(check_timeout(config, item) + BACKSTOP, method="signal"))
    _keep_the_stage_of_a_stage_folder(config, items)
    items.sort(key=_registry_order)


def _keep_the_stage_of_a_stage_folder(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--target`` a stage's folder, deselect the other stages' checks (the whole run
    cannot grade them: that folder holds no other stage)."""
    _, only = graded_target(config)
    if only is None:
        return
    others = [item for item in items if STAGE in item.stash and item.stash[STAGE].id != only.id]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if STAGE not in item.stash or item.stash[STAGE].id == only.id]


def _registry_order(item: pytest.Item) -> tuple[str, int]:
    if CHECK not in item.stash:
        return ("~", 0)  # not a check: keep after the checks, in collection order (sort is stable)
    return (item.stash[STAGE].id, item.stash[STAGE].checks.index(item.stash[CHECK]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Attach a one-line, student-readable reason to every failed check. A check that fails
    with a reason of its own (``pytest.fail(..., pytrace=False)``, such as "needs step N first")
    shows that line alone, not also the exception it was handling when it failed."""
    if CHECK in item.stash and call.excinfo is not None and _own_reason(call.excinfo.value):
        call.excinfo.value.__suppress_context__ = True
    report = yield
    if CHECK in item.stash and report.failed and call.excinfo is not None:
        report.user_properties.append((REASON, failure_reason(call.excinfo.value)))
    return report


def _own_reason(exc: BaseException) -> bool:
    return isinstance(exc, pytest.fail.Exception) and not exc.pytrace


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Path:
    """The folder being graded (holding the stage folders)."""
    path, _ = graded_target(request.config)
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
def sandbox_host(request: pytest.FixtureRequest) -> SubjectHost | None:
    """With --sandbox: the target's sandboxed subject host (started with the session)."""
    return request.config.stash.get(SANDBOX_HOST, None)


@pytest.fixture(scope="session")
def exchange(sandbox_host: SubjectHost | None) -> Iterator[Path]:
    """A folder of the checker's that the target's code may see (read-only, even in a sandbox:
    it lies in the sandboxed host's folder): for sockets the checks open to it, such as the
    database relay."""
    folder = tempdirs.make("exchange", sandbox_host.folder if sandbox_host else None)
    folder.chmod(0o711)  # reachable by a sandbox's user, listable by nobody
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def relay(request: pytest.FixtureRequest, lab_server: Server, exchange: Path) -> Iterator[SocketRelay | None]:
    """With --sandbox and a server on a unix socket: a relay to it that sandboxes may reach."""
    server_folder = socket_folder(lab_server.url.render_as_string(hide_password=False))
    if not request.config.getoption("sandbox") or server_folder is None:
        yield None
        return
    relay = SocketRelay(exchange / "db", server_folder, int(lab_server.url.port or 5432))
    yield relay
    relay.close()


@pytest.fixture(scope="session")
def subject_url(request: pytest.FixtureRequest, relay: SocketRelay | None) -> Callable[[ThrowawayDatabase], str]:
    """``subject_url(database)``: the ``DATABASE_URL`` the target's code gets for a stage's
    database: as --subject-role if given, through the relay if there is one."""
    role = request.config.getoption("subject_role")

    def url_for(database: ThrowawayDatabase) -> str:
        url = make_url(database.url_as(role, os.environ.get("LAB_SUBJECT_PASSWORD", "")) if role else database.url)
        if relay is not None:
            url = url.update_query_dict({"host": str(relay.folder)})
        return url.render_as_string(hide_password=False)

    return url_for


@pytest.fixture(scope="session")
def launcher(request: pytest.FixtureRequest, sandbox_host: SubjectHost | None) -> Callable[[Path], Launcher]:
    """How a subject for a stage folder is started: forked by the sandboxed host (--sandbox) or
    by a subject host (--subject-host), else as a Python process of its own."""
    if request.config.getoption("sandbox"):
        if sandbox_host is None:
            pytest.exit("--sandbox: the sandbox did not start", returncode=2)
        return lambda stage_dir: sandbox_host
    given = request.config.getoption("subject_host")
    host = SubjectHost(Path(given)) if given else None
    return lambda stage_dir: host or plain_launcher


@pytest.fixture
def stage(request: pytest.FixtureRequest) -> Stage:
    found = request.node.stash.get(STAGE, None) or stage_for_path(Path(str(request.node.path)), stages_of(request.config))
    if found is None:
        raise LookupError(f"{request.node.nodeid} is not a check of any stage")
    return found


@pytest.fixture
def stage_dir(target: Path, stage: Stage) -> Path:
    """``<target>/<stage folder>``: where the code under test lives."""
    path = target / stage.folder
    if not path.is_dir():
        pytest.fail(f"{display_path(path)} is missing: the target has no folder for stage {stage.id}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def stage_runs(
    request: pytest.FixtureRequest,
    lab_server: Server,
    target: Path,
    subject_url: Callable[[ThrowawayDatabase], str],
    launcher: Callable[[Path], Launcher],
    sandbox_host: SubjectHost | None,
) -> Iterator[StageRuns]:
    """A database and a subject for every stage folder the run's checks grade, all started at
    once before the first check (a stage found later starts when first needed)."""
    import_timeout = request.config.getoption("check_timeout") or IMPORT_TIMEOUT
    shared_spots = request.config.stash.get(STUCK_SPOTS, None)  # when processes check one stage side by side

    def make_subject(stage_dir: Path, stage: Stage, url: str) -> Subject:
        return Subject(
            stage_dir, url, stage.modules, launcher(stage_dir), import_timeout, display=display_path(stage_dir),
            workroot=sandbox_host.folder if sandbox_host else None, stuck_spots=set() if shared_spots is None else shared_spots,
        )

    runs = StageRuns(lab_server, request.config.getoption("subject_role"), subject_url, make_subject)
    wanted = [(target / item.stash[STAGE].folder, item.stash[STAGE]) for item in request.session.items if STAGE in item.stash]
    try:
        runs.start((path, stage) for path, stage in wanted if path.is_dir())
        yield runs
    except SetupError as exc:
        pytest.exit(str(exc), returncode=2)
    finally:  # an interrupted start too: whatever was made is dropped
        runs.close()


@pytest.fixture
def database(stage_runs: StageRuns, stage: Stage, stage_dir: Path) -> Iterator[ThrowawayDatabase]:
    """The check's database (its stage's), emptied first; the checker's own connections to it
    close afterwards."""
    run = stage_runs.get(stage_dir, stage)
    run.wait()  # the import may still be using the database: never empty it under the import
    run.database.reset()
    try:
        yield run.database
    finally:
        run.database.close_connections()


@pytest.fixture
def subject(
    request: pytest.FixtureRequest, stage_runs: StageRuns, stage: Stage, stage_dir: Path, database: ThrowawayDatabase
) -> Iterator[Copy]:
    """A fresh copy of the target's stage for this check, on the check's (emptied) database."""
    try:
        copy = stage_runs.get(stage_dir, stage).wait().fork(check_timeout(request.config, request.node))
    except SubjectFailure as exc:
        pytest.fail(str(exc), pytrace=False)
    yield copy
    copy.close()
    if printed := copy.printed():  # shown to the student with the check's result
        request.node.user_properties.append((PRINTED, printed))


def pytest_report_header(config: pytest.Config) -> str | None:
    """What a run that grades checks; nothing for the workbook's own suite (it proves the checks
    on copies it makes, never grades ``labs/``)."""
    if not names_only_checks(config):
        return None
    target, only = graded_target(config)
    return f"checks target: {target}" + (f" (stage {only.id} only: --target is its folder)" if only else "")
