"""A ``.env`` at the workbook's root sets DATABASE_URL for every way of running the checks: the
student CLI, ``grade`` and ``pytest checks``. In a clone of the workbook, ``.env`` names a server on
a closed port: each command must stop with exit code 2 and name that server, which it can only
know from the file (the embedded server would have worked)."""

import os
import shutil
import subprocess
import sys

import pytest

CLOSED = "postgresql://u:p@127.0.0.1:9/x"
SHOWN = "postgresql://u:***@127.0.0.1:9/x"  # as the error line prints it, password hidden


@pytest.fixture
def workbook(workbook_clone):
    """A clone of the workbook with a ``.env`` of its own."""
    (workbook_clone / ".env").write_text(f"DATABASE_URL={CLOSED}\n")
    return workbook_clone


def run_in(workbook, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return subprocess.run([sys.executable, *args], cwd=workbook, env=env, capture_output=True, text=True, timeout=120)


def test_the_student_cli_reads_dotenv(workbook):
    proc = run_in(workbook, "-m", "checks", "01")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: cannot connect to PostgreSQL at " + SHOWN), proc.stderr
    assert "remove DATABASE_URL from .env" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_grade_reads_dotenv(workbook, tmp_path):
    shutil.copytree(workbook / "solutions" / "01_psycopg2", tmp_path / "class" / "ada" / "01_psycopg2")
    proc = run_in(workbook, "-m", "checks", "grade", str(tmp_path / "class"), "--stage", "01", "--out", str(tmp_path / "grades"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: cannot connect to PostgreSQL at " + SHOWN), proc.stderr
    assert "remove DATABASE_URL from .env" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pytest_checks_reads_dotenv(workbook):
    proc = run_in(workbook, "-m", "pytest", "checks/stage01", "--target", "solutions", "-p", "no:cacheprovider")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot connect to PostgreSQL at {SHOWN}" in proc.stdout
    assert "remove DATABASE_URL from .env" in proc.stdout
