"""Running checks: pytest underneath, results collected as :class:`CheckResult` records."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ..registry import REPO_ROOT, Stage, libraries_of, load_stages
from ..results import Run
from .collector import Listener, ResultCollector
from .host import SubjectHost, take_early
from .parallel import StagesApart


class _AbortWatcher:
    """Remembers why pytest stopped early (Ctrl-C, or ``pytest.exit`` from a fixture)."""

    reason = ""

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo) -> None:
        self.reason = getattr(excinfo.value, "msg", "") or "interrupted"


def pytest_args(
    stages: Sequence[Stage],
    target: Path,
    *,
    pattern: str | None,
    timeout: float | None,
    verbose: bool,
    extra: Path | None = None,
    options: Sequence[str] = (),
) -> list[str]:
    """The pytest command line for these stages: the workbook's settings, never the target's."""
    args = [str(stage.checks_dir) for stage in stages]
    args += ["--target", str(target), "--rootdir", str(REPO_ROOT), "-c", str(REPO_ROOT / "pyproject.toml")]
    # Only the plugins the checks use: none that happen to be installed (faster, and nothing else interferes).
    args += ["--disable-plugin-autoload", "-p", "pytest_timeout", "-p", "checks.plugin"]
    args += ["-o", "addopts=", "-p", "no:cacheprovider", "--no-header"]
    # Never needed here (the target's code runs in other processes), and each collects garbage at the end.
    args += ["-p", "no:unraisableexception", "-p", "no:threadexception"]
    if extra:
        args += ["--extra-checks", str(extra)]
    args += ["-v", "--tb=short"] if verbose else ["-q", "--tb=no", "--no-summary"]
    if pattern:
        args += ["-k", pattern]
    if timeout:
        args += ["--check-timeout", str(timeout)]
    return args + list(options)


@contextlib.contextmanager
def subject_host(options: Sequence[str], stages: Sequence[Stage]) -> Iterator[list[str]]:
    """``options`` with a subject host for the run, unless the target's code runs in a sandbox
    or a host is given: the one the command started early, else one started now when the run
    imports more than one stage folder. It imports the libraries once, while pytest starts.
    (For one stage started now, the stage's own process is as quick.)"""
    if "--sandbox" in options or "--subject-host" in options:
        yield list(options)
        return
    host = take_early() or (SubjectHost().start(libraries_of(stages)) if len({stage.folder for stage in stages}) > 1 else None)
    if host is None:
        yield list(options)
        return
    try:
        yield [*options, "--subject-host", str(host.socket_path)]
    finally:
        host.close()


def run_checks(
    stages: Sequence[Stage],
    target: Path,
    *,
    pattern: str | None = None,
    timeout: float | None = None,
    verbose: bool = False,
    extra: Path | None = None,
    on_result: Listener | None = None,
    on_start: Listener | None = None,
    options: Sequence[str] = (),
    apart: bool = False,
) -> Run:
    """Run the checks of ``stages`` (and the hidden ones under ``extra``) against ``target``;
    ``on_start`` and ``on_result`` hear of each check as it starts and ends (result, done, total);
    ``options`` are more of the plugin's options (grading's role and sandbox). With ``apart``,
    once collected, each stage folder's checks run in a process of their own, at the same time."""
    stages = list(stages) + [s for s in (load_stages(extra) if extra else ()) if s.id in {st.id for st in stages}]
    with subject_host(options, stages) as plugin_options:
        collector = ResultCollector(on_result=on_result, on_start=on_start)
        watcher = _AbortWatcher()
        plugins: list[object] = [collector, watcher]
        if apart and not verbose:
            plugins.append(StagesApart(collector))
        args = pytest_args(stages, target, pattern=pattern, timeout=timeout, verbose=verbose, extra=extra, options=plugin_options)
        buffer = io.StringIO()
        with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(buffer):
            exit_code = pytest.main(args, plugins=plugins)
        return Run(collector.ordered(), exit_code, buffer.getvalue(), watcher.reason, tuple(stages))
