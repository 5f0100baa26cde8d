"""A ``.env`` at the workbook's root sets DATABASE_URL for every way of running the checks: the
student CLI, ``grade`` and ``pytest checks``. In a copy of the workbook, ``.env`` names a server on
a closed port: each command must stop with exit code 2 and name that server, which it can only
know from the file (the embedded server would have worked)."""

import os
import shutil
import subprocess
import sys

import pytest

from checks.registry import REPO_ROOT

CLOSED = "postgresql://u:p@127.0.0.1:9/x"
SHOWN = "postgresql://u:***@127.0.0.1:9/x"  # as the error line prints it, password hidden


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    """A copy of the workbook's files (tracked or new, as git lists them) with its own ``.env``."""
    copy = tmp_path_factory.mktemp("workbook")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (REPO_ROOT / name).is_file():  # a file deleted in the work tree is still listed until committed
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, copy / name)
    (copy / ".env").write_text(f"DATABASE_URL={CLOSED}\n")
    return copy


def run_in(workbook, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return subprocess.run([sys.executable, *args], cwd=workbook, env=env, capture_output=True, text=True, timeout=120)


def test_the_student_cli_reads_dotenv(workbook):
    proc = run_in(workbook, "-m", "checks", "01")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: cannot connect to PostgreSQL at " + SHOWN), proc.stderr
    assert "Traceback" not in proc.stderr


def test_grade_reads_dotenv(workbook, tmp_path):
    shutil.copytree(workbook / "solutions" / "01_psycopg2", tmp_path / "ada" / "01_psycopg2")
    proc = run_in(workbook, "-m", "checks", "grade", str(tmp_path), "--stage", "01", "--out", str(tmp_path / "grades"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: cannot connect to PostgreSQL at " + SHOWN), proc.stderr
    assert "Traceback" not in proc.stderr


def test_pytest_checks_reads_dotenv(workbook):
    proc = run_in(workbook, "-m", "pytest", "checks/stage01", "--target", "solutions", "-p", "no:cacheprovider")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot connect to PostgreSQL at {SHOWN}" in proc.stdout
    assert "DATABASE_URL set" in proc.stdout  # the report header too
