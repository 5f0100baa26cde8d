"""Fixtures shared by the workbook's own tests."""

import glob
import os
import shutil
import subprocess

import pytest

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


@pytest.fixture(scope="session", params=SUPPORTED_PYTHONS)
def supported_python(request) -> str:
    """Each supported Python found on this machine (a test using it is skipped for the others)."""
    return _find_python(request.param) or pytest.skip(f"no Python {request.param} on this machine")


@pytest.fixture(scope="session")
def oldest_python() -> str:
    """The oldest supported Python found on this machine."""
    return next(filter(None, map(_find_python, SUPPORTED_PYTHONS)), None) or pytest.skip("no supported Python can make a virtualenv")
