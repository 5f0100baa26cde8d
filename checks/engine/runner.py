"""Running checks: pytest underneath, results collected as :class:`CheckResult` records."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..registry import REPO_ROOT, Stage, load_stages
from ..results import CheckResult
from .collector import ResultCollector
from .host import SubjectHost


@dataclass
class Run:
    """What one run of the checks produced."""

    results: list[CheckResult]
    exit_code: pytest.ExitCode | int
    output: str = ""
    aborted: str = ""  # why pytest stopped early, if it did
    stages: Sequence[Stage] = field(default_factory=tuple)

    @property
    def interrupted(self) -> bool:
        return self.exit_code == pytest.ExitCode.INTERRUPTED

    @property
    def all_passed(self) -> bool:
        return bool(self.results) and all(result.passed for result in self.results)

    def as_json(self, target: Path) -> dict:
        """Machine-readable results: per check stage, name, points, max points, status, reason."""
        return {
            "target": str(target),
            "interrupted": self.interrupted,
            "points": sum(r.points for r in self.results),
            "max_points": sum(r.max_points for r in self.results),
            "results": [r.as_dict() for r in self.results],
        }


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
def subject_host(options: Sequence[str]) -> Iterator[list[str]]:
    """``options`` with a subject host started for the run, unless the target's code runs in a
    sandbox or a host is given: it imports the libraries while pytest starts."""
    if "--sandbox" in options or "--subject-host" in options:
        yield list(options)
        return
    host = SubjectHost().start()
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
    on_result: Callable[[CheckResult, int, int], None] | None = None,
    on_start: Callable[[CheckResult, int, int], None] | None = None,
    options: Sequence[str] = (),
) -> Run:
    """Run the checks of ``stages`` (and the hidden ones under ``extra``) against ``target``;
    ``on_start`` and ``on_result`` hear of each check as it starts and ends (result, done, total);
    ``options`` are more of the plugin's options (grading's role and sandbox)."""
    with subject_host(options) as plugin_options:
        collector = ResultCollector(on_result=on_result, on_start=on_start)
        watcher = _AbortWatcher()
        stages = list(stages) + [s for s in (load_stages(extra) if extra else ()) if s.id in {st.id for st in stages}]
        args = pytest_args(stages, target, pattern=pattern, timeout=timeout, verbose=verbose, extra=extra, options=plugin_options)
        buffer = io.StringIO()
        with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(buffer):
            exit_code = pytest.main(args, plugins=[collector, watcher])
    return Run(collector.ordered(), exit_code, buffer.getvalue(), watcher.reason, tuple(stages))
