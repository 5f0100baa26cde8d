"""``pytest checks --target FOLDER``, an instructor grading one student with pytest itself: the
workbook suite's settings in pyproject.toml (``-n auto``) do not apply, and a failure reads as the
CLI prints it."""

import re
import subprocess
import sys

from checks.registry import REPO_ROOT

# A check in each of two files: with -n auto and --dist loadfile, two workers would share them.
TWO_FILES = "connect_reads or api_creates_posts"


def test_pytest_checks_runs_in_one_process_on_one_server(cache_dir, embedded_env):
    """No xdist worker, so no second embedded server in a ``-gw1`` cache folder."""
    env = embedded_env(cache_dir)  # as an instructor runs it, not from a worker of this suite
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "checks/stage01", "--target", "solutions", "-k", TWO_FILES],
                          check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout and "[gw" not in proc.stdout, proc.stdout[-3000:]
    assert [path.name for path in cache_dir.parent.iterdir()] == [cache_dir.name]


def test_a_check_that_needs_an_earlier_step_fails_with_that_one_line(run_pytest, starter):
    """The reason is all its report holds, in the test and in a fixture: not the exception the
    check was handling when it found the earlier step undone."""
    proc = run_pytest("checks/stage01", "--target", str(starter), "-k", "api_creates_posts or api_lists_and_gets_posts")
    assert proc.returncode == 1, proc.stdout[-3000:]
    for heading in ("_ test_api_creates_posts _", "_ ERROR at setup of test_api_lists_and_gets_posts _"):
        assert re.search(re.escape(heading) + r"_*\nneeds step 2 first \(connect: [^\n]*\n(?:[=_]|1 failed)", proc.stdout), proc.stdout[-3000:]
    assert "During handling" not in proc.stdout


def test_only_a_run_that_grades_names_its_target(run_pytest):
    """``pytest checks --target ...`` says what it grades; the workbook's own suite (here one small
    file of it) grades no ``labs/`` and says no target."""
    grading = run_pytest("checks/stage01", "--target", "solutions", "-k", "connect_reads_database_url", "-v")
    suite = run_pytest("tests/test_registry.py", "-v")
    assert grading.returncode == 0 and suite.returncode == 0, grading.stdout[-2000:] + suite.stdout[-2000:]
    assert f"checks target: {REPO_ROOT / 'solutions'}" in grading.stdout
    assert "checks target" not in suite.stdout
