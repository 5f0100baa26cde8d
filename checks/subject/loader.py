"""Loading a target's code from its stage folder, and saying where in it something went wrong.

Stage folders start with digits and reuse module names (``app``, ``main``), so they cannot
be imported as packages of their own: the stage folder goes first on ``sys.path`` instead.
Locations are given relative to the stage folder (``posts.py:26``), so they read the same
inside a sandbox, where the folder lies at another path. What is graded is the folder's ``.py``
files (:func:`sources_only`), never bytecode shipped next to them.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, ModuleType

# Names a target may never take over, even for its own imports: the harness and the standard library.
PROTECTED = frozenset({"checks", "pytest", "_pytest", "pluggy", "conftest"}) | sys.stdlib_module_names


class StudentCodeError(Exception):
    """The target's code could not be imported; the message is ``file:line: what went wrong``."""


def relative_location(filename: str, lineno: int | None, folder: Path) -> str | None:
    """``file:line`` relative to ``folder`` when ``filename`` lies inside it (symlinks resolved);
    never for code without a file (``<frozen codecs>``, ``<string>``), whatever the working folder."""
    if filename.startswith("<"):
        return None
    real = os.path.realpath(filename)
    if not real.startswith(f"{folder}{os.sep}"):
        return None
    return f"{os.path.relpath(real, folder)}:{lineno}"


def where_in(frames: Iterable[traceback.FrameSummary], folder: Path) -> str | None:
    """``file:line in function`` of the innermost frame whose file lies in ``folder``."""
    for frame in reversed(list(frames)):
        location = relative_location(frame.filename, frame.lineno, folder)
        if location:
            return location if frame.name == "<module>" else f"{location} in {frame.name}"
    return None


def describe_exception(exc: BaseException, folder: Path) -> tuple[str, str | None]:
    """``(message, where)``: one line saying what went wrong, and where in ``folder``."""
    if isinstance(exc, SyntaxError) and exc.filename:
        if _lfs_pointer(exc.filename):
            return "the file is a Git LFS pointer, not the code: run `git lfs pull`, or commit it without LFS", relative_location(exc.filename, 1, folder)
        return f"SyntaxError: {exc.msg}", relative_location(exc.filename, exc.lineno, folder)
    if isinstance(exc, SystemExit):
        message = f"the code called exit({exc.code!r})"
    else:
        message = f"{type(exc).__name__}: {' '.join(str(exc).split()) or type(exc).__name__}"
    return message, where_in(traceback.extract_tb(exc.__traceback__), folder)


def _lfs_pointer(filename: str) -> bool:
    """Whether the file holds what Git LFS leaves in place of a file it did not fetch."""
    try:
        with open(filename, "rb") as file:
            return file.read(40).startswith(b"version https://git-lfs.github.com/spec/")
    except OSError:
        return False


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles the ``.py`` file it loads, never a cached ``.pyc`` (bytecode shipped next to the
    source may say something else: an unchecked-hash one is not even compared with it)."""

    def get_code(self, fullname: str) -> CodeType:
        return self.source_to_code(self.get_data(self.path), self.path)


def sources_only(stage_dir: Path) -> None:
    """From now on, modules found in ``stage_dir`` (and its packages) load from their ``.py``
    files only: no ``.pyc``, ``__pycache__`` or extension module of the folder is used."""
    stage_dir = stage_dir.resolve()

    def inside(path: object) -> bool:
        return isinstance(path, str) and (Path(path).resolve() == stage_dir or stage_dir in Path(path).resolve().parents)

    def finder(path: str) -> importlib.machinery.FileFinder:
        if not inside(path):
            raise ImportError("not in the stage folder")  # the next hook's
        return importlib.machinery.FileFinder(path, (_SourceLoader, importlib.machinery.SOURCE_SUFFIXES))

    sys.path_hooks.insert(0, finder)
    for path in [path for path in sys.path_importer_cache if inside(path)]:
        del sys.path_importer_cache[path]


def _top_level_names(stage_dir: Path) -> set[str]:
    names = {path.stem for path in stage_dir.glob("*.py")}
    names |= {path.name for path in stage_dir.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    return names - PROTECTED


@contextmanager
def stage_imports(stage_dir: Path) -> Iterator[None]:
    """Let imports inside the block resolve from ``stage_dir``; forget its modules afterwards
    (for the workbook's own tests and benchmarks, which load several stages in one process)."""
    stage_dir = stage_dir.resolve()
    names = _top_level_names(stage_dir)
    owned = [name for name in sys.modules if name.split(".", 1)[0] in names]
    shadowed = {name: sys.modules.pop(name) for name in owned}
    sys.path.insert(0, str(stage_dir))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(stage_dir))
        for name in [n for n in sys.modules if n.split(".", 1)[0] in names]:
            del sys.modules[name]
        sys.modules.update(shadowed)


def import_from_stage(name: str, stage_dir: Path) -> ModuleType:
    """Import ``name`` from ``stage_dir`` (first on ``sys.path``); :class:`StudentCodeError` on failure."""
    stage_dir = stage_dir.resolve()
    relative = name.replace(".", "/")
    if not (stage_dir / f"{relative}.py").exists() and not (stage_dir / relative / "__init__.py").exists():
        raise StudentCodeError(f"{relative}.py is missing")
    try:
        module = importlib.import_module(name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: student code must not end the run
        message, where = describe_exception(exc, stage_dir)
        raise StudentCodeError(f"{where or relative + '.py'}: {message}") from None
    file = getattr(module, "__file__", None) or ""
    if not os.path.realpath(file).startswith(f"{stage_dir}{os.sep}"):
        raise StudentCodeError(f"{relative}.py: {name} was imported from {file}, not from the stage folder")
    return module
