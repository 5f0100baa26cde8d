"""The suite proves the checks against the starter as committed: finished work in labs/ changes nothing."""

import shutil
import subprocess

import pytest

from checks.registry import REPO_ROOT, find_stage

STAGE = find_stage("01")
PROOFS = [f"tests/test_proof.py::test_check_fails_on_starter[{check.key}]" for check in STAGE.checks]


@pytest.mark.parametrize("committed", [False, True], ids=["in the working tree", "committed"])
def test_a_finished_stage_in_labs_still_proves_its_checks_against_the_starter(workbook_clone, run_pytest, committed):
    for path in (REPO_ROOT / "solutions" / STAGE.folder).glob("*.py"):  # the student finished stage 01
        shutil.copy2(path, workbook_clone / "labs" / STAGE.folder / path.name)
    if committed:  # and committed it, as GitHub Classroom asks
        subprocess.run(["git", "-C", str(workbook_clone), "commit", "-qam", "my stage 01"], check=True,
                       env={"GIT_AUTHOR_NAME": "s", "GIT_AUTHOR_EMAIL": "s@s", "GIT_COMMITTER_NAME": "s", "GIT_COMMITTER_EMAIL": "s@s"})
    proc = run_pytest(*PROOFS, cwd=workbook_clone)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"{len(PROOFS)} passed" in proc.stdout


def test_outside_a_git_checkout_the_starter_proofs_are_skipped_with_the_reason(workbook_clone, run_pytest, tmp_path):
    copy = tmp_path / "no_git"
    shutil.copytree(workbook_clone, copy, ignore=shutil.ignore_patterns(".git"))
    proc = run_pytest(*PROOFS, cwd=copy)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"{len(PROOFS)} skipped" in proc.stdout and "not a git checkout" in proc.stdout
