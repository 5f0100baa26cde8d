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
