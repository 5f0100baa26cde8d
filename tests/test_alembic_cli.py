"""`alembic` from the workbook root works as the stage 03 README says, against DATABASE_URL."""

import shutil
import subprocess
import sys
from pathlib import Path

from checks.registry import REPO_ROOT

ALEMBIC = str(Path(sys.executable).with_name("alembic"))


def alembic(*args, url, cwd=REPO_ROOT):
    return subprocess.run([ALEMBIC, *args], cwd=cwd, env={"PATH": str(Path(sys.executable).parent), "DATABASE_URL": url},
                          capture_output=True, text=True, timeout=120)


def tables(database):
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        return [name for (name,) in cur.fetchall()]


def test_reference_chain_upgrades_and_downgrades_from_the_root(database):
    up = alembic("-n", "solutions", "upgrade", "head", url=database.url)
    assert up.returncode == 0, up.stderr
    assert "INFO  [alembic.runtime.migration] Running upgrade  -> 0001" in up.stderr, "the command line logs each step"
    assert tables(database) == ["alembic_version", "users"]
    check = alembic("-n", "solutions", "check", url=database.url)
    assert check.returncode == 0, check.stderr
    down = alembic("-n", "solutions", "downgrade", "base", url=database.url)
    assert down.returncode == 0, down.stderr
    assert tables(database) == ["alembic_version"]


def test_students_chain_is_the_default(database, starter, tmp_path):
    """In a workbook holding the committed starter, the default chain (labs/03_alembic) is empty."""
    shutil.copy2(REPO_ROOT / "alembic.ini", tmp_path)
    shutil.copytree(REPO_ROOT / "alembic", tmp_path / "alembic")
    shutil.copytree(starter, tmp_path / "labs")
    current = alembic("heads", url=database.url, cwd=tmp_path)
    assert current.returncode == 0 and current.stdout.strip() == "", "labs/03_alembic/versions starts empty"


def test_missing_database_url_is_one_clear_line():
    proc = subprocess.run([ALEMBIC, "current"], cwd=REPO_ROOT, env={"PATH": str(Path(sys.executable).parent)}, capture_output=True, text=True)
    assert proc.returncode != 0 and "DATABASE_URL is not set" in proc.stderr and "Traceback" not in proc.stderr


def test_a_caller_with_its_own_logging_gets_no_info_lines(database):
    """What notebook 03 does: Alembic's API with ``configure_logger=False`` leaves logging alone."""
    code = ("from alembic import command\nfrom alembic.config import Config\n"
            "config = Config('alembic.ini', ini_section='solutions', attributes={'configure_logger': False})\n"
            "command.upgrade(config, 'head')\ncommand.downgrade(config, 'base')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env={"PATH": str(Path(sys.executable).parent), "DATABASE_URL": database.url},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
