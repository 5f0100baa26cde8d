"""What a subject's process is asked to be, and how one starts: from a clean environment, as
``python -I`` running a module of :mod:`checks.subject`. (Light to import: a run starts its
subject host with it before the checker's own imports.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..registry import CHECKS_ROOT, REPO_ROOT


@dataclass(frozen=True)
class Zygote:
    """What a subject's process is asked to do: import ``modules`` of ``stage_dir`` and answer on ``socket``."""

    socket: Path
    stage_dir: Path
    modules: Sequence[str]
    alembic_dir: Path = REPO_ROOT / "alembic"

    def argv(self) -> list[str]:
        """A new Python process that becomes this zygote."""
        return subject_python(
            "__main__", "--socket", str(self.socket), "--stage-dir", str(self.stage_dir), "--modules", ",".join(self.modules),
            "--alembic-dir", str(self.alembic_dir),
        )


class Process(Protocol):
    """What the checker needs of a subject's process (a ``subprocess.Popen`` has it)."""

    pid: int | None  # None: it ended before the checker could see it

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...


# How a subject's process starts: (zygote, environment, working folder, log file descriptor).
Launcher = Callable[[Zygote, dict[str, str], Path, int], Process]


def subject_env(home: Path, database_url: str | None = None) -> dict[str, str]:
    """A clean environment for the subject (and ``DATABASE_URL`` if given): no variable of the
    checker's is inherited."""
    env = {"HOME": str(home), "PATH": os.defpath, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    return env | ({"DATABASE_URL": database_url} if database_url is not None else {})


def subject_python(module: str, *args: str) -> list[str]:
    """A new, isolated Python process (``python -I``: nothing of the environment) that runs
    ``main()`` of ``checks.subject.<module>`` with ``args``."""
    code = f"import sys; sys.path.insert(0, {str(CHECKS_ROOT.parent)!r}); from checks.subject.{module} import main; main()"
    return [sys.executable, "-I", "-c", code, *args]


def plain_launcher(zygote: Zygote, env: dict[str, str], workdir: Path, log: int) -> subprocess.Popen:
    """Run the subject as a new Python process in a session of its own (no sandbox)."""
    return subprocess.Popen(zygote.argv(), env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
