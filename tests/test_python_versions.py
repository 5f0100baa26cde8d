"""The workbook installs and grades on every supported Python found here: a fresh virtualenv,
``pip install -r requirements.txt``, then stage 01: ``python -m checks`` in the solution's stage
folder (the install makes the grader importable from any folder) passes, the README's command on
the committed starter fails. (The whole suite runs on the Python of .ci/run, the oldest found.)"""

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
    # from the root, as the README says: requirements.txt installs the workbook itself (`-e .`)
    proc = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-compile", "-r", "requirements.txt"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
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
@pytest.mark.timeout(900)  # a safety limit: the first test waits for the virtualenvs built side by side
def test_installs_and_grades(python_version, installed, starter, checks_env):
    python = installed[python_version].result()

    def checks(*args: str, cwd=REPO_ROOT) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-m", "checks", *args], cwd=cwd, env=checks_env(), capture_output=True, text=True, timeout=600)

    solutions = checks(cwd=REPO_ROOT / "solutions" / "01_psycopg2")
    assert solutions.returncode == 0, solutions.stdout[-3000:] + solutions.stderr[-2000:]
    assert solutions.stdout.startswith("In solutions/01_psycopg2: checking stage 01 of solutions"), solutions.stdout[:500]
    started = checks("01", "--target", str(starter))
    assert started.returncode == 1, started.stdout[-3000:] + started.stderr[-2000:]
    assert "Traceback" not in started.stdout + started.stderr
