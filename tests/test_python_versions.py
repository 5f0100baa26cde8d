"""The workbook installs and grades on every supported Python found here: a fresh virtualenv,
``pip install -r requirements.txt``, then the README's command: the solutions pass every stage,
the committed starter fails stage 01."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from checks.registry import REPO_ROOT

RUNNING = "%d.%d" % sys.version_info[:2]


def install(python: str, venv) -> str:
    """A virtualenv made with ``python`` holding the requirements; its interpreter."""
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    # --no-compile: the smoke imports a fraction of what it installs, and compiling it all costs a third of the time
    proc = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-compile", "-r", REPO_ROOT / "requirements.txt"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return str(venv / "bin" / "python")


@pytest.fixture(scope="module")
def installed(pythons, tmp_path_factory):
    """Per version found, a future of its virtualenv's interpreter. They are built side by side (pip
    spends much of its time waiting), except for the Python running this suite: its own virtualenv
    was installed from requirements.txt, and the whole suite runs there."""
    root = tmp_path_factory.mktemp("venvs")
    with ThreadPoolExecutor(max_workers=max(len(pythons), 1)) as pool:
        yield {version: pool.submit(lambda: sys.executable) if version == RUNNING else pool.submit(install, python, root / version)
               for version, python in pythons.items()}


@pytest.mark.slow
def test_installs_and_grades(python_version, installed, starter, checks_env):
    python = installed[python_version].result()

    def checks(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-m", "checks", *args], cwd=REPO_ROOT, env=checks_env(), capture_output=True, text=True, timeout=600)

    solutions = checks("--target", "solutions")
    assert solutions.returncode == 0, solutions.stdout[-3000:] + solutions.stderr[-2000:]
    started = checks("01", "--target", str(starter))
    assert started.returncode == 1, started.stdout[-3000:] + started.stderr[-2000:]
    assert "Traceback" not in started.stdout + started.stderr
