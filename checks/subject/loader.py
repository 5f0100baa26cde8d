"""Loading a target's code: fresh, from its own stage folder, isolated from other stages.

Stage folders start with digits and reuse module names (``app``, ``main``), so they cannot
be imported as packages of their own. Instead the stage folder goes first on ``sys.path``
while a check imports from it, and afterwards every module that came from that folder is
removed from ``sys.modules`` again; a module of the same name imported earlier from
elsewhere is put back.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType


class StudentCodeError(Exception):
    """The target's code could not be imported; the message is ``file:line: what went wrong``."""


def display_path(path: str | Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@cache
def _real_path(filename: str) -> str:
    return os.path.realpath(filename)


def is_inside(filename: str, folder: Path) -> bool:
    """Whether ``filename`` (symlinks resolved) lies in ``folder`` (a resolved path). Cached and
    string-based: every check asks this of the same ~1,500 module files."""
    return _real_path(filename).startswith(f"{folder}{os.sep}")


def where_in(tb: traceback.StackSummary | list[traceback.FrameSummary], folder: Path) -> str | None:
    """``file:line`` of the innermost frame whose file lies in ``folder``."""
    folder = folder.resolve()
    for frame in reversed(tb):
        if is_inside(frame.filename, folder):
            return f"{display_path(frame.filename)}:{frame.lineno}"
    return None


def describe_exception(exc: BaseException, folder: Path) -> str:
    """One line naming the student's file and line where ``exc`` came from, if it did."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{display_path(exc.filename)}:{exc.lineno}: {type(exc).__name__}: {exc.msg}"
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, SystemExit):
        message = f"the code called exit({exc.code!r}) while being imported"
    else:
        message = f"{type(exc).__name__}: {message}"
    location = where_in(traceback.extract_tb(exc.__traceback__), folder)
    return f"{location}: {message}" if location else message


# Names a target may never take over, even for its own imports: the harness and the standard library.
PROTECTED = frozenset({"checks", "pytest", "_pytest", "pluggy", "conftest"}) | sys.stdlib_module_names


def _top_level_names(stage_dir: Path) -> set[str]:
    names = {path.stem for path in stage_dir.glob("*.py")}
    names |= {path.name for path in stage_dir.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    return names - PROTECTED


def _owned(name: str, names: set[str]) -> bool:
    return name.split(".", 1)[0] in names


@contextmanager
def stage_imports(stage_dir: Path) -> Iterator[None]:
    """Let imports inside the block resolve from ``stage_dir``; undo everything afterwards."""
    stage_dir = stage_dir.resolve()
    names = _top_level_names(stage_dir) if stage_dir.is_dir() else set()
    shadowed = {name: module for name, module in sys.modules.items() if _owned(name, names)}
    for name in shadowed:
        del sys.modules[name]
    before = dict(sys.modules)
    sys.path.insert(0, str(stage_dir))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        if str(stage_dir) in sys.path:
            sys.path.remove(str(stage_dir))
        changed = [(n, m) for n, m in sys.modules.items() if before.get(n) is not m]  # only these can come from the stage
        for name in [n for n, m in changed if _owned(n, names) or (_from(m, stage_dir) and not _owned(n, PROTECTED))]:
            del sys.modules[name]
        sys.modules.update(shadowed)


def _from(module: ModuleType, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    return bool(file) and is_inside(file, folder)


def import_from_stage(name: str, stage_dir: Path) -> ModuleType:
    """Import ``name`` inside :func:`stage_imports`; raise :class:`StudentCodeError` on failure."""
    stage_dir = stage_dir.resolve()
    expected = stage_dir / (name.replace(".", "/") + ".py")
    package = stage_dir / name.replace(".", "/") / "__init__.py"
    if not expected.exists() and not package.exists():
        raise StudentCodeError(f"{display_path(expected)} is missing")
    try:
        module = importlib.import_module(name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: student code must not end the run
        raise StudentCodeError(describe_exception(exc, stage_dir)) from None
    if not _from(module, stage_dir):
        raise StudentCodeError(f"{name} was imported from {module.__file__}, not from {display_path(stage_dir)}")
    return module


class StudentCodeStopped(BaseException):
    """Raised inside a thread still running the target's code after its check ended."""


def stop_stray_threads(folder: Path) -> int:
    """Interrupt other threads that are still running code from ``folder`` (say, a request
    handler in an endless loop whose check timed out), so they stop burning the CPU the next
    checks need. A thread blocked in C (a long sleep) stops when it next runs Python code."""
    folder = folder.resolve()
    stopped = 0
    for thread_id, frame in sys._current_frames().items():
        if thread_id == threading.get_ident():
            continue
        while frame is not None and not is_inside(frame.f_code.co_filename, folder):
            frame = frame.f_back
        if frame is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(StudentCodeStopped))
            stopped += 1
    return stopped
