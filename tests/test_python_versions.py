"""The workbook installs and grades on every supported Python found here: a fresh virtualenv,
``pip install -r requirements.txt``, then the README's command: the solutions pass every stage,
the committed starter fails stage 01."""

import subprocess

import pytest

from checks.registry import REPO_ROOT

from .variants import checks_env


@pytest.mark.slow
def test_installs_and_grades(supported_python, tmp_path):
    subprocess.run([supported_python, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    # --no-compile: the smoke imports a fraction of what it installs; compiling all of it costs ~1/3 of the install
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-compile", "-r", str(REPO_ROOT / "requirements.txt")],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]

    def checks(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-m", "checks", *args], cwd=REPO_ROOT, env=checks_env(), capture_output=True, text=True, timeout=600)

    solutions = checks("--target", "solutions")
    assert solutions.returncode == 0, solutions.stdout[-3000:] + solutions.stderr[-2000:]
    starter = checks("01")
    assert starter.returncode == 1, starter.stdout[-3000:] + starter.stderr[-2000:]
    assert "Traceback" not in starter.stdout + starter.stderr
