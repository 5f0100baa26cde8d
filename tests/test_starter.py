"""The suite proves the checks against the starter as committed: finished work in labs/ changes nothing."""

import shutil
import subprocess
import sys

from checks.registry import REPO_ROOT, find_stage

STAGE = find_stage("01")
PROOFS = [f"tests/test_proof.py::test_check_fails_on_starter[{check.key}]" for check in STAGE.checks]


def _pytest(root, env, *args):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_a_finished_stage_in_labs_still_proves_its_checks_against_the_starter(workbook_clone, checks_env):
    for path in (REPO_ROOT / "solutions" / STAGE.folder).glob("*.py"):  # the student finished stage 01
        shutil.copy2(path, workbook_clone / "labs" / STAGE.folder / path.name)
    proc = _pytest(workbook_clone, checks_env(), *PROOFS)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"{len(PROOFS)} passed" in proc.stdout


def test_outside_a_git_checkout_the_starter_proofs_are_skipped_with_the_reason(workbook_clone, checks_env, tmp_path):
    copy = tmp_path / "no_git"
    shutil.copytree(workbook_clone, copy, ignore=shutil.ignore_patterns(".git"))
    proc = _pytest(copy, checks_env(), *PROOFS)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"{len(PROOFS)} skipped" in proc.stdout and "not a git checkout" in proc.stdout
